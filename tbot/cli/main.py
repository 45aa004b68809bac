"""Entry point of the `tbot` command: argument parsing and the one place errors become exit codes.

Exit status: 0 success, 1 a finding (e.g. `ledger verify` found problems), 2 bad input
(invalid config, unknown secret, corrupt file...). Errors print as one readable message,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict

from tbot.cli import (
    alert_commands,
    archive_commands,
    broker_commands,
    config_commands,
    console_commands,
    control_commands,
    engine_commands,
    home_commands,
    ledger_commands,
    mapping_commands,
    recon_commands,
)
from tbot.cli.output import Output
from tbot.config.problems import ConfigError
from tbot.errors import EXIT_BAD_INPUT, TbotError
from tbot.version import current_tag


def build_parser() -> argparse.ArgumentParser:
    """The full `tbot` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        help="the bot home directory (default: $TBOT_HOME, else the current directory)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")

    parser = argparse.ArgumentParser(
        prog="tbot",
        description="Intraday trading bot: configuration, ledger and operations.",
    )
    parser.add_argument("--version", action="version", version=f"tbot {current_tag()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    home_commands.register(commands, common)
    config_commands.register(commands, common)
    ledger_commands.register(commands, common)
    engine_commands.register(commands, common)
    control_commands.register(commands, common)
    console_commands.register(commands, common)
    recon_commands.register(commands, common)
    mapping_commands.register(commands, common)
    broker_commands.register(commands, common)
    alert_commands.register(commands, common)
    archive_commands.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `tbot` command and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse reports usage errors itself
        return int(exit_request.code or 0) if exit_request.code in (0, None) else EXIT_BAD_INPUT
    out = Output(json_mode=getattr(args, "json", False))
    try:
        return int(args.handler(args, out))
    except ConfigError as error:
        if out.json_mode:
            out.emit_json(
                {
                    "ok": False,
                    "error": "invalid configuration",
                    "problems": [asdict(problem) for problem in error.problems],
                }
            )
        else:
            out.error(error.message)
        return error.exit_code
    except TbotError as error:
        out.error(error.message)
        return error.exit_code
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
