"""Config on disk versus config in force.

The engine runs on the configuration it validated at start. Edits on disk are noticed
(`changed_on_disk`) but ignored until an operator asks for `config.reload`, which either
applies a whole new, valid configuration or nothing at all.

Secrets too: the engine keeps what it decrypted at start, so a key rotation beside it
(`tbot secrets set`, `tbot config encrypt`, `tbot keys rotate`) changes nothing in the
running engine. `config.reload` reads them again with the new keys (`SecretDigests` tells
which changed value), takes the alert channels live and names the others that need a
restart (`RESTART_SECRETS`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from tbot.config.bot_settings import BotSettings
from tbot.config.encrypted_files import decrypt_file
from tbot.config.loader import LoadedConfig
from tbot.config.paths import HomePaths
from tbot.config.secret_store import SecretStore
from tbot.errors import TbotError

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


# == secrets ==============================================================================
# The secrets a running engine has read, and what a new value needs. Only `alert` is taken
# live (`config.reload` swaps the alert channels); the others are held by something built
# at start. The broker secret counts only with a real broker (the simulated one reads none).
LIVE_SECRETS = frozenset({"alert"})
RESTART_SECRETS: dict[str, str] = {
    "broker": "the engine is connected to the broker with the credentials it started with; "
              "restart it to use the new ones",
    "screener_api": "the fundamentals source is built at start; restart the engine to use "
                    "the new screener_api secret",
    "bot_identity": "the bot's identity names its ledgers and outputs; a new identity needs "
                    "a restart",
}


def engine_secrets(uses_broker_secret: bool) -> tuple[str, ...]:
    """The secrets an engine reads: `alert`, `screener_api`, `bot_identity`, and `broker`
    when it trades through a real broker."""
    names = ["alert", "screener_api", "bot_identity"]
    if uses_broker_secret:
        names.append("broker")
    return tuple(names)


UNREADABLE = "unreadable"


@dataclass(frozen=True)
class SecretDigests:
    """Keyed digests (HMAC-SHA256 under a key made for this process) of the decrypted
    secrets an engine reads, by name; None for a secret that does not exist. They tell a
    reload which secrets changed VALUE: a rotation alone re-encrypts without changing one.
    The key never leaves memory, so no digest can be matched against a guessed value."""

    key: bytes
    digests: dict[str, str | None]

    @classmethod
    def read(cls, paths: HomePaths, names: tuple[str, ...], key: bytes, *,
             strict: bool) -> SecretDigests:
        """Decrypt and digest `names`. `strict` raises the store's error for a secret
        that does not open (a reload refuses then); else it is recorded as unreadable."""
        store = SecretStore(paths)
        digests: dict[str, str | None] = {}
        for name in names:
            if not store.exists(name):
                digests[name] = None
                continue
            try:
                plaintext = decrypt_file(store.path(name), paths.secret_key_file(name))
            except (TbotError, OSError):
                if strict:
                    raise
                digests[name] = UNREADABLE
                continue
            digests[name] = hmac.new(key, plaintext, hashlib.sha256).hexdigest()
        return cls(key, digests)

    @classmethod
    def new_key(cls) -> bytes:
        """A fresh digest key for one engine process."""
        return secrets.token_bytes(32)

    def changed(self, other: SecretDigests) -> list[str]:
        """The names whose value differs in `other` (same names and key assumed)."""
        return [name for name, digest in other.digests.items()
                if self.digests.get(name) != digest]

    def with_values_of(self, other: SecretDigests, names: list[str]) -> SecretDigests:
        """These digests, with `names` taken from `other` (the secrets now applied)."""
        merged = dict(self.digests)
        merged.update({name: other.digests[name] for name in names})
        return SecretDigests(self.key, merged)
