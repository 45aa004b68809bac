"""Opening an existing bot home: its validated configuration, identity and paths."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from tbot.config.identity import BotIdentity
from tbot.config.identity_store import load_identity
from tbot.config.loader import LoadedConfig, load_config, load_env
from tbot.config.paths import BotPaths
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.ledger.posting import BackupPolicy


@dataclass(frozen=True)
class BotHome:
    """A bot home whose `.env`, `.env_bot` and identity all validated."""

    config: LoadedConfig
    identity: BotIdentity
    paths: BotPaths

    @property
    def backup_policy(self) -> BackupPolicy:
        """How many ledger backups to keep, from `.env_bot`."""
        bot = self.config.bot
        return BackupPolicy(
            retention_days=bot.LEDGER_BACKUP_RETENTION_DAYS,
            keep_per_day=bot.LEDGER_BACKUP_KEEP_PER_DAY,
        )


def open_home(home: Path) -> BotHome:
    """Validate everything a writing command needs; one ConfigError lists every problem."""
    problems: list[ConfigProblem] = []
    config: LoadedConfig | None = None
    identity: BotIdentity | None = None
    try:
        config = load_config(home)
    except ConfigError as error:
        problems += error.problems
    try:
        # Reuse the paths load_config resolved; re-read .env only when it failed.
        home_paths = config.paths if config is not None else load_env(home)[1]
        identity = load_identity(home_paths)
    except ConfigError as error:
        # .env problems were already collected by load_config; keep only the identity ones.
        problems += [p for p in error.problems if p not in problems]
    if problems or config is None or identity is None:
        raise ConfigError(problems)
    return BotHome(config=config, identity=identity, paths=config.paths.for_bot(identity))


def open_bot_paths(home: Path) -> BotPaths:
    """The paths of a bot for read-only commands: needs only `.env` and the identity, so a
    broken `.env_bot` never stops anyone from reading or verifying the ledger."""
    _, home_paths = load_env(home)
    return home_paths.for_bot(load_identity(home_paths))


def local_operator() -> str:
    """Who is acting, for audit rows written by CLI commands: ``cli:<user>(uid=<n>)``."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "unknown"
    return f"cli:{name}(uid={uid})"
