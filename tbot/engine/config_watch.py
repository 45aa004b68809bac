"""Config on disk versus config in force.

The engine runs on the configuration it validated at start. Edits on disk are noticed
(`changed_on_disk`) but ignored until an operator asks for `config.reload`, which either
applies a whole new, valid configuration or nothing at all.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from tbot.config.bot_settings import BotSettings
from tbot.config.loader import LoadedConfig

# Keys that shape what is already running (the broker account, the socket's roles, the
# simulated market): changing them needs a restart, so a reload that touches them is
# refused as a whole rather than half-applied.
RESTART_ONLY_BOT_KEYS = frozenset(
    {
        "BROKER_NAME",
        "VERSION_TAG",
        "SIM_STARTING_CASH",
        "SIM_FEE_PER_SHARE",
        "SIM_SLIPPAGE_BPS",
        "SIM_MAX_VOLUME_PARTICIPATION",
        "SIM_SEED",
        "SIM_FAULTS",
        "LEDGER_BACKUP_RETENTION_DAYS",
        "LEDGER_BACKUP_KEEP_PER_DAY",
        "LOG_ROTATE_MAX_MB",
    }
)


# A config edit shows in engine.status within this many seconds.
RECHECK_SECONDS = 0.5


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@dataclass
class ConfigFingerprint:
    """Digests of the files a configuration was read from.

    `changed()` is asked on every `engine.status`, so it compares cheap stat keys first and
    hashes a file only when its stat key moved (a touched but unchanged file is unchanged).
    """

    files: tuple[tuple[Path, str | None], ...]
    _stats: dict[Path, tuple[int, int, int] | None] = field(default_factory=dict)
    _last_answer: bool = False
    _checked_at: float = float("-inf")

    @classmethod
    def of(cls, config: LoadedConfig) -> ConfigFingerprint:
        """Fingerprint `.env` and every candidate bot config file (plain and encrypted)."""
        paths = config.paths
        watched = (config.env_source, paths.env_bot_file, paths.env_bot_enc_file)
        fingerprint = cls(tuple((path, _digest(path)) for path in watched))
        fingerprint._stats = {path: _stat_key(path) for path in watched}
        return fingerprint

    def changed(self) -> bool:
        """True when any watched file's content differs from when the fingerprint was taken.
        Looks at the disk at most every `RECHECK_SECONDS`."""
        now = time.monotonic()
        if now - self._checked_at < RECHECK_SECONDS:
            return self._last_answer
        self._checked_at = now
        stats = {path: _stat_key(path) for path, _ in self.files}
        if stats == self._stats:
            return self._last_answer
        self._stats = stats
        self._last_answer = any(_digest(path) != digest for path, digest in self.files)
        return self._last_answer


def changed_bot_keys(before: BotSettings, after: BotSettings) -> list[str]:
    """The `.env_bot` keys whose values differ."""
    old, new = before.model_dump(), after.model_dump()
    return [key for key in old if old[key] != new[key]]


def changed_env_keys(before: LoadedConfig, after: LoadedConfig) -> list[str]:
    """The `.env` keys whose values differ (any of them needs a restart)."""
    old, new = before.env.model_dump(), after.env.model_dump()
    return [key for key in old if old[key] != new[key]]
