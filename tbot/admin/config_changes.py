"""Changing a secret or the encrypted bot config: validated, backed up, audit-logged.

Every change to a secret or to `.env_bot.enc` rotates the key that encrypts it in the same
step (`key_rotation.rotate_keys`): the previous key and file are backed up under
`storage/backups/keys/<stamp>/`, the new content is written under a never-used key, and two
audit rows say what changed and that the key rotated, by whom and why. All of it runs under
the ledger's writer lock, which also keeps a starting engine's rotation recovery from racing
this rotation.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import BotHome
from tbot.clock import Clock
from tbot.config.atomic_write import atomic_write_bytes
from tbot.config.encrypted_files import CryptoError
from tbot.config.key_rotation import RotationError, RotationReport, rotate_keys
from tbot.config.loader import parse_bot_text, read_bot_config_text
from tbot.config.secret_names import SECRETS
from tbot.config.secret_store import SecretStore
from tbot.errors import TbotError
from tbot.ledger.posting import LedgerWriter


@dataclass(frozen=True)
class ConfigChange:
    """What a change wrote and where the previous version was kept."""

    written: Path
    backup: Path | None
    rotation: RotationReport | None = None


def _backup_previous(bot: BotHome, clock: Clock, target: Path) -> Path | None:
    """Copy `target` (if it exists) under storage/backups/config/<stamp>/ before it changes."""
    if not target.exists():
        return None
    backup_dir = bot.paths.secret_backup_dir(clock.now())
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    destination = backup_dir / target.name
    if destination.exists():
        raise TbotError(f"backup {destination} already exists; wait a second and retry")
    shutil.copy2(target, destination)
    destination.chmod(0o600)
    return destination


def _relative(bot: BotHome, path: Path) -> str:
    return (
        str(path.relative_to(bot.paths.home)) if path.is_relative_to(bot.paths.home) else str(path)
    )


def _rotating(
    writer: LedgerWriter,
    change: Callable[[], RotationReport],
    *,
    actor: str,
    reason: str,
) -> RotationReport:
    """Run `change` (a rotation writing new content), audit the rotation, or fail clearly.

    A rotation that fails part-way leaves every file readable (the pending key opens those
    already re-encrypted); the next rotation or engine start finishes or undoes it.
    """
    try:
        report = change()
    except (RotationError, CryptoError):
        raise  # already say what is wrong and that nothing was changed
    except OSError as error:
        raise TbotError(
            f"{reason}: the key rotation failed ({error.strerror or error}); the previous keys "
            "and files still open, and the next `tbot keys rotate` or engine start finishes "
            "or undoes the interrupted rotation"
        ) from None
    writer.record_event(
        "keys.rotate",
        actor=actor,
        subject=", ".join(report.rotated_keys),
        details={"reason": reason, **report.as_audit_details()},
    )
    return report


def set_secret_from_file(
    bot: BotHome, clock: Clock, name: str, source: Path, *, actor: str
) -> ConfigChange:
    """Encrypt the JSON object in `source` as secret `name` under a new key of its own.

    The secret's key rotates in the same atomic, backed-up step; the previous file and key
    stay in the rotation's backup directory.
    """
    if name not in SECRETS:
        raise TbotError(f"unknown secret {name!r}; known secrets: {', '.join(sorted(SECRETS))}")
    store = SecretStore(bot.paths)
    target = bot.paths.secret_file(name)
    values = store.read_values_file(name, source)  # refuse a bad file before taking the lock
    with LedgerWriter(bot.paths, clock, bot.backup_policy) as writer:
        report = _rotating(
            writer,
            lambda: store.set(name, values, clock),
            actor=actor,
            reason=f"tbot secrets set {name}",
        )
        backup = report.backup_of(target)  # beside the key that opens it
        writer.record_event(
            "secrets.set",
            actor=actor,
            subject=name,
            details={
                "file": _relative(bot, target),
                "previous_backup": _relative(bot, backup) if backup else None,
                "key_rotated": SECRETS[name].key.name,
                "key_backup_dir": _relative(bot, report.backup_dir),
            },
        )
    return ConfigChange(written=target, backup=backup, rotation=report)


def encrypt_bot_config(
    bot: BotHome, clock: Clock, *, actor: str, remove_plaintext: bool = False
) -> ConfigChange:
    """Write `.env_bot.enc` from the plain `.env_bot`, after validating it in full.

    The config key (`env`) rotates in the same atomic, backed-up step.
    """
    plain = bot.paths.env_bot_file
    if not plain.exists():
        raise TbotError(f"{plain} not found: nothing to encrypt")
    text = plain.read_text(encoding="utf-8")
    parse_bot_text(text, plain.name)  # refuse to encrypt a config that would not start
    target = bot.paths.env_bot_enc_file
    details: dict[str, Any] = {"file": _relative(bot, target)}
    with LedgerWriter(bot.paths, clock, bot.backup_policy) as writer:
        report = _rotating(
            writer,
            lambda: rotate_keys(
                bot.paths, clock, keys=["env"], new_contents={target: text.encode("utf-8")}
            ),
            actor=actor,
            reason="tbot config encrypt",
        )
        backup = report.backup_of(target)  # beside the key that opens it
        if remove_plaintext:
            plain.unlink()
        details["previous_backup"] = _relative(bot, backup) if backup else None
        details["plaintext_removed"] = remove_plaintext
        details["key_rotated"] = "env"
        details["key_backup_dir"] = _relative(bot, report.backup_dir)
        writer.record_event("config.encrypt", actor=actor, subject=plain.name, details=details)
    return ConfigChange(written=target, backup=backup, rotation=report)


def decrypt_bot_config(
    bot: BotHome, clock: Clock, *, actor: str, force: bool = False
) -> ConfigChange:
    """Write the plain `.env_bot` back from `.env_bot.enc`, so an operator can edit it.

    Refuses to overwrite an existing plain file unless `force` (which keeps a copy first).
    """
    plain = bot.paths.env_bot_file
    if not bot.config.bot_encrypted:
        raise TbotError(f"{bot.paths.env_bot_enc_file} not found: nothing to decrypt")
    if plain.exists() and not force:
        raise TbotError(
            f"{plain} already exists; edit it, or pass --force to replace it with the "
            "decrypted .env_bot.enc (the current file is kept as a backup)"
        )
    text, _, _ = read_bot_config_text(bot.paths)
    with LedgerWriter(bot.paths, clock, bot.backup_policy) as writer:
        backup = _backup_previous(bot, clock, plain)
        atomic_write_bytes(plain, text.encode("utf-8"), mode=0o600)
        writer.record_event(
            "config.decrypt",
            actor=actor,
            subject=plain.name,
            details={
                "file": _relative(bot, plain),
                "previous_backup": _relative(bot, backup) if backup else None,
            },
        )
    return ConfigChange(written=plain, backup=backup)
