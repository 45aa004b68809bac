"""Changing a secret or the encrypted bot config: validated, backed up, audit-logged.

Every change to a secret or to `.env_bot.enc` rotates the key that encrypts it in the same
step (`key_rotation.rotate_keys`): the previous key and file are backed up under
`storage/backups/keys/<stamp>/`, the new content is written under a never-used key, and two
audit rows say what changed and that the key rotated, by whom and why.

Two locks, two jobs:

- The file work runs under the home's rotation lock (`key_rotation.rotation_lock`), which
  every rotation and an engine's start-up recovery take: no two rotations, and no recovery
  finishing a rotation still being made.
- The audit rows go to the ledger. When its writer lock is free, this command writes them
  itself (holding the lock from before the change to after the rows). When a running
  engine holds it, the engine writes them: the command asks it over its control socket
  (`keys.rotated`, admin role), after checking BEFORE changing anything that the engine
  answers and would accept the call. If neither way is open, nothing is changed. If the
  engine vanishes between the change and the rows, the rows are written directly once its
  lock is free, or the command fails loudly with the rows in its message: they are never
  dropped without a word.

A running engine keeps the values it decrypted at start and takes the new ones on
`config.reload` (see `tbot.engine.control_methods`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from tbot.admin.bot_home import BotHome
from tbot.clock import Clock
from tbot.config.atomic_write import atomic_write_bytes
from tbot.config.key_rotation import (
    BeforeReplace,
    RotationReport,
    rotate_keys,
    rotation_lock,
)
from tbot.config.loader import parse_bot_text, read_bot_config_text
from tbot.config.secret_names import SECRETS
from tbot.config.secret_store import SecretStore
from tbot.control.client import EngineUnavailableError, RpcCallError, call_once
from tbot.control.socket_path import socket_override
from tbot.errors import TbotError
from tbot.ledger.errors import LedgerError, LedgerLockedError
from tbot.ledger.posting import LedgerWriter

log = logging.getLogger(__name__)

KEYS_ROTATED_METHOD: Final = "keys.rotated"
"""The engine's control method that writes these audit rows while it holds the ledger."""
AUDITED_ACTIONS: Final = (
    "keys.rotate",
    "keys.rotate_interrupted",
    "secrets.set",
    "config.encrypt",
    "config.decrypt",
)
"""The only audit actions `keys.rotated` writes for a command."""
# How long the engine gets to write the rows: it may be finishing a config.reload first.
ENGINE_AUDIT_TIMEOUT_SECONDS: Final = 20.0


@dataclass(frozen=True)
class ConfigChange:
    """What a change wrote and where the previous version was kept."""

    written: Path
    backup: Path | None
    rotation: RotationReport | None = None
    audited_by: str = "ledger"
    """Who wrote the audit rows: "ledger" (this command) or "engine" (the running one)."""


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


@dataclass(frozen=True)
class AuditRow:
    """One audit row a command owes the ledger (never a secret value in `details`)."""

    action: str
    subject: str
    details: dict[str, Any]


class AuditNotRecordedError(TbotError):
    """The change was made but its audit rows could not be written anywhere."""


class AuditRoute(Protocol):
    """Where a command's audit rows go: the ledger directly, or the running engine."""

    via: str

    def record(self, rows: Sequence[AuditRow]) -> None:
        """Write `rows`, or raise saying why they could not be written."""


class _LedgerRoute:
    """The writer lock was free: this command holds it and writes the rows itself."""

    via = "ledger"

    def __init__(self, writer: LedgerWriter, actor: str) -> None:
        self._writer = writer
        self._actor = actor

    def record(self, rows: Sequence[AuditRow]) -> None:
        for row in rows:
            self._writer.record_event(
                row.action, actor=self._actor, subject=row.subject, details=row.details
            )


class _EngineRoute:
    """A running engine holds the writer lock: it writes the rows (`keys.rotated`)."""

    via = "engine"

    def __init__(self, bot: BotHome, clock: Clock, socket: Path, actor: str,
                 command: str) -> None:
        self._bot = bot
        self._clock = clock
        self._socket = socket
        self._actor = actor
        self._command = command

    @classmethod
    def reach(cls, bot: BotHome, clock: Clock, *, actor: str, command: str,
              locked: LedgerLockedError) -> _EngineRoute:
        """The engine's route, once its socket answers and would accept `keys.rotated`
        from us; else refuse (nothing has been changed yet)."""
        socket = socket_override(None) or bot.paths.control_socket

        def refuse(why: str) -> TbotError:
            return TbotError(
                f"{command}: {locked}, so the audit row must be written by the running "
                f"engine, but {why}. Nothing was changed. Run it when the engine answers "
                "(`tbot ctl engine.status`), or with the engine stopped"
            )

        try:
            found = call_once(socket, "rpc.discover", timeout=5.0)
        except (EngineUnavailableError, RpcCallError) as error:
            raise refuse(f"its control socket does not answer ({error})") from None
        methods = found.get("methods", []) if isinstance(found, Mapping) else []
        spec = next((m for m in methods if isinstance(m, Mapping)
                     and m.get("name") == KEYS_ROTATED_METHOD), None)
        if spec is None:
            raise refuse(f"that engine has no {KEYS_ROTATED_METHOD} method (restart it "
                         "with this version of tbot)")
        if not spec.get("allowed"):
            role = found.get("role") if isinstance(found, Mapping) else None
            raise refuse(f"{KEYS_ROTATED_METHOD} needs the {spec.get('min_role')} role in "
                         f"CONTROL_ROLES and you are {role}")
        return cls(bot, clock, socket, actor, command)

    def record(self, rows: Sequence[AuditRow]) -> None:
        params = {
            "command": self._command,
            "at": self._clock.now().isoformat(),
            "rows": [asdict(row) for row in rows],
        }
        try:
            call_once(self._socket, KEYS_ROTATED_METHOD, params,
                      timeout=ENGINE_AUDIT_TIMEOUT_SECONDS)
            return
        except (EngineUnavailableError, RpcCallError) as error:
            engine_error: TbotError = error  # a timeout: it may still write them
        # The engine stopped (or refused) after the change: its lock may be free now.
        try:
            with LedgerWriter(self._bot.paths, self._clock, self._bot.backup_policy) as writer:
                _LedgerRoute(writer, self._actor).record(rows)
            log.warning("%s: the engine did not record the audit rows (%s); written directly",
                        self._command, engine_error)
            return
        except LedgerError as error:
            ledger_error: TbotError = error
        shown = json.dumps([asdict(row) for row in rows], default=str, sort_keys=True)
        log.error("%s: AUDIT ROWS NOT WRITTEN: %s", self._command, shown)
        raise AuditNotRecordedError(
            f"{self._command}: the change WAS made, but its audit rows could not be written: "
            f"the engine answered {engine_error} and the ledger {ledger_error}. Record them "
            f"by hand (they name no secret): {shown}"
        )


@contextlib.contextmanager
def audit_route(bot: BotHome, clock: Clock, *, actor: str, command: str
                ) -> Iterator[AuditRoute]:
    """Where `command`'s audit rows will go, settled before it changes anything: the ledger
    (its writer lock held for the block) or the running engine that holds it. Raises a
    TbotError (nothing changed) when neither is available."""
    writer = LedgerWriter(bot.paths, clock, bot.backup_policy)
    engine: _EngineRoute | None = None
    try:
        writer.open()
    except LedgerLockedError as locked:
        engine = _EngineRoute.reach(bot, clock, actor=actor, command=command, locked=locked)
    if engine is not None:
        yield engine
        return
    try:
        yield _LedgerRoute(writer, actor)
    finally:
        writer.close()


def _rotating(
    bot: BotHome,
    route: AuditRoute,
    change: Callable[[], RotationReport],
    *,
    reason: str,
    subject: str | None = None,
) -> tuple[RotationReport, AuditRow]:
    """Run `change` (a rotation writing new content) under the rotation lock; return its
    report and its `keys.rotate` audit row, or fail clearly.

    A rotation that fails part-way leaves every file readable (the pending key opens those
    already re-encrypted); the next rotation or engine start finishes or undoes it. That
    failure is audited too (`keys.rotate_interrupted`): the new content may already be in.
    """
    try:
        with rotation_lock(bot.paths):
            report = change()
    except TbotError:
        raise  # already says what is wrong (a RotationError: that nothing was changed)
    except Exception as error:
        why = (error.strerror or str(error)) if isinstance(error, OSError) else str(error)
        with contextlib.suppress(TbotError):  # the failure below is what the person needs
            route.record([AuditRow("keys.rotate_interrupted", subject or reason,
                                   {"reason": reason, "error": why})])
        if not isinstance(error, OSError):
            raise
        raise TbotError(
            f"{reason}: the key rotation failed ({why}); the previous keys "
            "and files still open, and the next `tbot keys rotate` or engine start finishes "
            "or undoes the interrupted rotation"
        ) from None
    row = AuditRow(
        "keys.rotate",
        subject or ", ".join(report.rotated_keys),
        {"reason": reason, **report.as_audit_details()},
    )
    return report, row


def set_secret_from_file(
    bot: BotHome,
    clock: Clock,
    name: str,
    source: Path,
    *,
    actor: str,
    before_replace: BeforeReplace | None = None,
) -> ConfigChange:
    """Encrypt the JSON object in `source` as secret `name` under a new key of its own.

    The secret's key rotates in the same atomic, backed-up step; the previous file and key
    stay in the rotation's backup directory. Works beside a running engine (see the module
    doc); `before_replace` is the rotation's hook for tests that inject failures.
    """
    if name not in SECRETS:
        raise TbotError(f"unknown secret {name!r}; known secrets: {', '.join(sorted(SECRETS))}")
    store = SecretStore(bot.paths)
    target = bot.paths.secret_file(name)
    values = store.read_values_file(name, source)  # refuse a bad file before taking the lock
    reason = f"tbot secrets set {name}"
    with audit_route(bot, clock, actor=actor, command=reason) as route:
        report, rotated = _rotating(
            bot,
            route,
            lambda: store.set(name, values, clock, before_replace=before_replace),
            reason=reason,
        )
        backup = report.backup_of(target)  # beside the key that opens it
        route.record([
            rotated,
            AuditRow("secrets.set", name, {
                "file": _relative(bot, target),
                "previous_backup": _relative(bot, backup) if backup else None,
                "key_rotated": SECRETS[name].key.name,
                "key_backup_dir": _relative(bot, report.backup_dir),
            }),
        ])
    return ConfigChange(written=target, backup=backup, rotation=report, audited_by=route.via)


def encrypt_bot_config(
    bot: BotHome, clock: Clock, *, actor: str, remove_plaintext: bool = False
) -> ConfigChange:
    """Write `.env_bot.enc` from the plain `.env_bot`, after validating it in full.

    The config key (`env`) rotates in the same atomic, backed-up step. Works beside a
    running engine, which takes the new config on `config.reload`.
    """
    plain = bot.paths.env_bot_file
    if not plain.exists():
        raise TbotError(f"{plain} not found: nothing to encrypt")
    text = plain.read_text(encoding="utf-8")
    parse_bot_text(text, plain.name)  # refuse to encrypt a config that would not start
    target = bot.paths.env_bot_enc_file
    details: dict[str, Any] = {"file": _relative(bot, target)}
    reason = "tbot config encrypt"
    with audit_route(bot, clock, actor=actor, command=reason) as route:
        report, rotated = _rotating(
            bot,
            route,
            lambda: rotate_keys(
                bot.paths, clock, keys=["env"], new_contents={target: text.encode("utf-8")}
            ),
            reason=reason,
        )
        backup = report.backup_of(target)  # beside the key that opens it
        if remove_plaintext:
            plain.unlink()
        details["previous_backup"] = _relative(bot, backup) if backup else None
        details["plaintext_removed"] = remove_plaintext
        details["key_rotated"] = "env"
        details["key_backup_dir"] = _relative(bot, report.backup_dir)
        route.record([rotated, AuditRow("config.encrypt", plain.name, details)])
    return ConfigChange(written=target, backup=backup, rotation=report, audited_by=route.via)


def decrypt_bot_config(
    bot: BotHome, clock: Clock, *, actor: str, force: bool = False
) -> ConfigChange:
    """Write the plain `.env_bot` back from `.env_bot.enc`, so an operator can edit it.

    Refuses to overwrite an existing plain file unless `force` (which keeps a copy first).
    Reads under the rotation lock, so never from a config key half-way through a rotation.
    """
    plain = bot.paths.env_bot_file
    if not bot.config.bot_encrypted:
        raise TbotError(f"{bot.paths.env_bot_enc_file} not found: nothing to decrypt")
    if plain.exists() and not force:
        raise TbotError(
            f"{plain} already exists; edit it, or pass --force to replace it with the "
            "decrypted .env_bot.enc (the current file is kept as a backup)"
        )
    with audit_route(bot, clock, actor=actor, command="tbot config decrypt") as route:
        with rotation_lock(bot.paths):
            text, _, _ = read_bot_config_text(bot.paths)
            backup = _backup_previous(bot, clock, plain)
            atomic_write_bytes(plain, text.encode("utf-8"), mode=0o600)
        route.record([AuditRow("config.decrypt", plain.name, {
            "file": _relative(bot, plain),
            "previous_backup": _relative(bot, backup) if backup else None,
        })])
    return ConfigChange(written=plain, backup=backup, audited_by=route.via)
