"""`tbot config validate|encrypt`, `tbot secrets set|show|list`, `tbot keys rotate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import BotHome, local_operator, open_home
from tbot.admin.config_changes import (
    ConfigChange,
    decrypt_bot_config,
    encrypt_bot_config,
    set_secret_from_file,
)
from tbot.admin.key_rotation import rotate_all_keys
from tbot.alerts.routing import AlertRouting, load_routed_channels
from tbot.cli.output import Output
from tbot.clock import SystemClock
from tbot.config.feature_status import unbuilt_settings
from tbot.config.loader import load_env, read_bot_config_text
from tbot.config.paths import HomePaths, resolve_home
from tbot.config.secret_names import SECRETS
from tbot.config.secret_store import SecretStore, redact
from tbot.errors import EXIT_OK
from tbot.version import current_tag


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `config`, `secrets` and `keys` to the `tbot` parser."""
    config = commands.add_parser("config", help="validate or encrypt the bot configuration")
    config_actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = config_actions.add_parser(
        "validate", parents=[common], help="check .env, .env_bot(.enc) and the identity"
    )
    validate.set_defaults(handler=run_config_validate)
    encrypt = config_actions.add_parser(
        "encrypt",
        parents=[common],
        help="write .env_bot.enc from .env_bot under a new env.key (old one backed up)",
    )
    encrypt.add_argument(
        "--remove-plaintext", action="store_true", help="delete .env_bot once encrypted"
    )
    encrypt.set_defaults(handler=run_config_encrypt)
    decrypt = config_actions.add_parser(
        "decrypt", parents=[common], help="write .env_bot back from .env_bot.enc, to edit it"
    )
    decrypt.add_argument(
        "--force", action="store_true", help="replace an existing .env_bot (kept as a backup)"
    )
    decrypt.set_defaults(handler=run_config_decrypt)

    secrets = commands.add_parser("secrets", help="set, show or list encrypted secrets")
    secret_actions = secrets.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_parser = secret_actions.add_parser(
        "set",
        parents=[common],
        help="encrypt a JSON object file as secret NAME (its key rotates; old one backed up)",
    )
    set_parser.add_argument("name", choices=sorted(SECRETS), metavar="NAME")
    set_parser.add_argument("--from-file", required=True, type=Path, metavar="FILE")
    set_parser.set_defaults(handler=run_secrets_set)
    show = secret_actions.add_parser(
        "show", parents=[common], help="show secret NAME (values redacted unless --reveal)"
    )
    show.add_argument("name", choices=sorted(SECRETS), metavar="NAME")
    show.add_argument("--reveal", action="store_true", help="print the values in clear")
    show.set_defaults(handler=run_secrets_show)
    listing = secret_actions.add_parser("list", parents=[common], help="which secrets exist")
    listing.set_defaults(handler=run_secrets_list)

    keys = commands.add_parser("keys", help="manage the Fernet keys")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = key_actions.add_parser(
        "rotate", parents=[common], help="new keys for everything; old files backed up first"
    )
    rotate.set_defaults(handler=run_keys_rotate)


def run_config_validate(args: argparse.Namespace, out: Output) -> int:
    """Validate the whole home; problems raise a ConfigError that main() prints (exit 2)."""
    bot = open_home(resolve_home(args.home))
    home = bot.paths.home
    # A malformed alert secret, or a routed group it lacks, is a ConfigError here too.
    alert_channels = load_routed_channels(bot.paths, AlertRouting.from_settings(bot.config.bot))
    result = {
        "ok": True,
        "env": str(bot.config.env_source.relative_to(home)),
        "bot_config": str(bot.config.bot_source.relative_to(home)),
        "bot_config_encrypted": bot.config.bot_encrypted,
        "bot_identity": bot.identity.bot_identity,
        "version_tag": current_tag(),
        "plaintext_differs": _plaintext_differs(bot),
        "not_built": [{"key": u.key, "value": u.value, "says": u.message,
                       "refuses_trading": u.refuses_trading}
                      for u in unbuilt_settings(bot.config.bot)],
        # Group names and schemes only: a channel's URL is a secret.
        "alert_groups": None if alert_channels is None else {
            name: [channel.scheme for channel in alert_channels.group(name)]
            for name in alert_channels.names},
    }
    if out.json_mode:
        out.emit_json(result)
    else:
        kind = "encrypted" if bot.config.bot_encrypted else "plain"
        out.say(
            f"[green]configuration valid[/]: {result['env']}, {result['bot_config']} ({kind}), "
            f"identity {result['bot_identity']}, VERSION_TAG {result['version_tag']}"
        )
        if alert_channels is None:
            out.say("alerts: no alert secret; alerts stay in the engine log and on the console")
        else:
            groups = ", ".join(f"{name} ({len(alert_channels.group(name))})"
                               for name in alert_channels.names)
            out.say(f"alerts: channel groups {groups}")
        for unbuilt in unbuilt_settings(bot.config.bot):
            word = "[red]refused[/]" if unbuilt.refuses_trading else "[yellow]not built yet[/]"
            out.say(f"{word}: {unbuilt}")
        if result["plaintext_differs"]:
            out.say(
                "[yellow]warning[/]: .env_bot differs from .env_bot.enc, and the encrypted file "
                "is the one that runs; `tbot config encrypt` applies your edits"
            )
    return EXIT_OK


def _plaintext_differs(bot: BotHome) -> bool:
    """True when an edited plain `.env_bot` sits beside the `.env_bot.enc` that is used:
    an operator's edits would otherwise be ignored without a word."""
    paths = bot.config.paths
    if not (bot.config.bot_encrypted and paths.env_bot_file.exists()):
        return False
    encrypted_text, _, _ = read_bot_config_text(paths)
    return encrypted_text != paths.env_bot_file.read_text(encoding="utf-8")


def run_config_encrypt(args: argparse.Namespace, out: Output) -> int:
    """Encrypt .env_bot into .env_bot.enc."""
    bot = open_home(resolve_home(args.home))
    change = encrypt_bot_config(
        bot, SystemClock(), actor=local_operator(), remove_plaintext=args.remove_plaintext
    )
    return _report_change(out, change, f"wrote {change.written}")


def run_config_decrypt(args: argparse.Namespace, out: Output) -> int:
    """Decrypt .env_bot.enc into an editable .env_bot."""
    bot = open_home(resolve_home(args.home))
    change = decrypt_bot_config(bot, SystemClock(), actor=local_operator(), force=args.force)
    return _report_change(
        out, change, f"wrote {change.written}; edit it, then `tbot config encrypt`"
    )


def run_secrets_set(args: argparse.Namespace, out: Output) -> int:
    """Encrypt a JSON file as a secret."""
    bot = open_home(resolve_home(args.home))
    change = set_secret_from_file(
        bot, SystemClock(), args.name, args.from_file, actor=local_operator()
    )
    return _report_change(out, change, f"secret {args.name} written to {change.written}")


def _report_change(out: Output, change: ConfigChange, summary: str) -> int:
    rotation = change.rotation
    if out.json_mode:
        result: dict[str, Any] = {
            "ok": True,
            "written": change.written,
            "previous_backup": change.backup,
        }
        if rotation is not None:
            result["rotated_keys"] = rotation.rotated_keys
            result["key_backup_dir"] = rotation.backup_dir
        result["audited_by"] = change.audited_by
        out.emit_json(result)
    else:
        out.say(summary)
        if rotation is not None:
            out.say(
                f"rotated key {', '.join(rotation.rotated_keys)}; previous keys and files "
                f"backed up in {rotation.backup_dir}"
            )
        if change.backup:
            out.say(f"previous version kept at {change.backup}")
        if change.audited_by == "engine":
            out.say("audit rows written by the running engine; it keeps the values it read "
                    "until `tbot ctl config.reload`")
    return EXIT_OK


def _home_paths(args: argparse.Namespace) -> HomePaths:
    # Reading a secret needs only .env (for the paths), not a valid .env_bot.
    _, paths = load_env(resolve_home(args.home))
    return paths


def run_secrets_show(args: argparse.Namespace, out: Output) -> int:
    """Print a secret's keys, values redacted unless --reveal."""
    values = SecretStore(_home_paths(args)).load(args.name)
    shown = values if args.reveal else redact(values)
    if out.json_mode:
        out.emit_json({"ok": True, "name": args.name, "redacted": not args.reveal, "values": shown})
    else:
        rows = [[key, str(value)] for key, value in _flatten(shown)]
        note = "" if args.reveal else " (redacted; --reveal to show)"
        out.table(f"secret {args.name}{note}", ["key", "value"], rows)
    return EXIT_OK


def run_secrets_list(args: argparse.Namespace, out: Output) -> int:
    """List the known secrets and whether each exists."""
    store = SecretStore(_home_paths(args))
    rows = [(name, store.exists(name)) for name in store.names()]
    if out.json_mode:
        out.emit_json({"ok": True, "secrets": {name: present for name, present in rows}})
    else:
        out.table(
            "secrets", ["name", "present"], [[name, "yes" if ok else "no"] for name, ok in rows]
        )
    return EXIT_OK


def run_keys_rotate(args: argparse.Namespace, out: Output) -> int:
    """Rotate every key; old keys and files are backed up first."""
    bot = open_home(resolve_home(args.home))
    report = rotate_all_keys(bot, SystemClock(), actor=local_operator())
    if out.json_mode:
        out.emit_json({"ok": True, **report.as_audit_details(), "backup_dir": report.backup_dir})
    else:
        out.say(
            f"rotated {len(report.rotated_keys)} keys, re-encrypted {len(report.reencrypted)} files"
        )
        out.say(f"previous keys and files backed up in {report.backup_dir}")
    return EXIT_OK


def _flatten(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested secret objects as dotted keys, for a two-column table."""
    if isinstance(values, dict):
        rows: list[tuple[str, Any]] = []
        for key, value in values.items():
            rows += _flatten(value, f"{prefix}{key}.")
        return rows
    return [(prefix.rstrip("."), values)]
