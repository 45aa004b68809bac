"""`tbot init`."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import ValidationError

from tbot.admin.bot_home import local_operator
from tbot.admin.init_home import init_home
from tbot.cli.output import Output
from tbot.clock import SystemClock
from tbot.config.identity import CODE_RULE, BotIdentity
from tbot.config.paths import resolve_home
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.errors import EXIT_OK


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `init` to the `tbot` parser."""
    init = commands.add_parser(
        "init",
        parents=[common],
        help="create a new bot home (config, keys, identity, chart of accounts, empty ledger)",
    )
    init.add_argument("--entity-code", default="TBOT", help="ENTITY_CODE (default TBOT)")
    init.add_argument("--jurisdiction-code", default="US", help="JURISDICTION_CODE (default US)")
    init.add_argument("--broker-code", default="SIM", help="BROKER_CODE (default SIM)")
    init.add_argument("--bot-id", default="BOT01", help="BOT_ID (default BOT01)")
    init.set_defaults(handler=run_init)


def _identity_from(args: argparse.Namespace) -> BotIdentity:
    """The identity given on the command line, validated like the identity file."""
    raw = {
        "ENTITY_CODE": args.entity_code,
        "JURISDICTION_CODE": args.jurisdiction_code,
        "BROKER_CODE": args.broker_code,
        "BOT_ID": args.bot_id,
    }
    try:
        return BotIdentity.model_validate(raw)
    except ValidationError as error:
        problems = [
            ConfigProblem("command line", str(item["loc"][0]), str(item["input"]), CODE_RULE)
            for item in error.errors()
        ]
        raise ConfigError(problems, headline="invalid bot identity") from None


def run_init(args: argparse.Namespace, out: Output) -> int:
    """Create a new home and say what was made."""
    identity = _identity_from(args)
    home = resolve_home(args.home)
    bot = init_home(home, identity, SystemClock(), actor=local_operator())
    result = {
        "ok": True,
        "home": bot.paths.home,
        "bot_identity": identity.bot_identity,
        "ledger": bot.paths.ledger_db,
        "coa": bot.paths.coa_db(),
    }
    if out.json_mode:
        out.emit_json(result)
    else:
        out.say(f"Created bot home [bold]{home}[/] for [bold]{identity.bot_identity}[/]")
        out.say(f"  ledger: {bot.paths.ledger_db}")
        out.say(f"  chart of accounts: {bot.paths.coa_db()}")
        out.say("Next: edit .env_bot, then `tbot config validate` and `tbot config encrypt`.")
    return EXIT_OK

