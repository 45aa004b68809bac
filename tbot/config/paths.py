"""The one path resolver. Every file tbot reads or writes gets its place here.

`HomePaths` knows the layout that does not depend on who the bot is (config, keys, secrets,
backups); `BotPaths` adds the identity-scoped outputs (ledgers, logs, trades...). No other
module joins path segments for a bot home.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

from tbot.clock import utc_stamp
from tbot.config.identity import BotIdentity
from tbot.config.secret_names import KEYS, SECRETS

HOME_ENV_VAR = "TBOT_HOME"
COA_VERSION = "v1.1.0"


def resolve_home(explicit: str | os.PathLike[str] | None) -> Path:
    """The bot home: `--home` if given, else `$TBOT_HOME`, else the current directory."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(HOME_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return Path.cwd().resolve()


class HomePaths:
    """Paths inside one bot home that do not depend on the bot's identity.

    `overrides` are the path keys of a validated `.env` (ENV_BOT_PATH, ENV_KEY_PATH, ...);
    keys not given take the default layout of `.env.template`.
    """

    def __init__(self, home: Path, overrides: Mapping[str, str] | None = None) -> None:
        self.home = Path(home)
        self._overrides = dict(overrides or {})

    def _inside(self, relative: str) -> Path:
        path = (self.home / relative).resolve()
        if not path.is_relative_to(self.home.resolve()):
            raise ValueError(f"{relative!r} points outside the bot home {self.home}")
        return path

    def _configured(self, env_key: str, default: str) -> Path:
        return self._inside(self._overrides.get(env_key, default))

    # -- configuration -------------------------------------------------------------------
    @property
    def env_file(self) -> Path:
        """`.env`: where the keys, secrets and bot config live."""
        return self.home / ".env"

    @property
    def env_bot_file(self) -> Path:
        """The plain `.env_bot`."""
        return self._configured("ENV_BOT_PATH", ".env_bot")

    @property
    def env_bot_enc_file(self) -> Path:
        """The encrypted `.env_bot.enc`, preferred over the plain file when present."""
        plain = self.env_bot_file
        return plain.with_name(plain.name + ".enc")

    # -- keys and secrets ----------------------------------------------------------------
    def key_file(self, name: str) -> Path:
        """The Fernet key file called `name` (see `secret_names.KEYS`)."""
        spec = KEYS[name]
        return self._configured(spec.env_key, spec.default_path)

    def secret_file(self, name: str) -> Path:
        """The encrypted JSON secret called `name` (see `secret_names.SECRETS`)."""
        spec = SECRETS[name]
        return self._configured(spec.env_key, spec.default_path)

    def secret_key_file(self, name: str) -> Path:
        """The key file that encrypts secret `name`."""
        return self.key_file(SECRETS[name].key.name)

    @property
    def storage_dir(self) -> Path:
        """`storage/`: keys, secrets and backups."""
        return self.home / "storage"

    @property
    def backups_dir(self) -> Path:
        """`storage/backups/`."""
        return self.storage_dir / "backups"

    def key_backup_dir(self, moment: datetime) -> Path:
        """Where `tbot keys rotate` copies the previous keys and encrypted files."""
        return self.backups_dir / "keys" / utc_stamp(moment)

    def secret_backup_dir(self, moment: datetime) -> Path:
        """Where a secret or `.env_bot.enc` is copied before `tbot secrets set` or
        `tbot config encrypt` replaces it."""
        return self.backups_dir / "config" / utc_stamp(moment)

    @property
    def archive_dir(self) -> Path:
        """`storage/archive/`: the encrypted cold archive (`tbot.archive`)."""
        return self.storage_dir / "archive"

    def archive_year_dir(self, year: int) -> Path:
        """`storage/archive/{year}/`: archived material of one calendar year (UTC)."""
        return self.archive_dir / f"{year:04d}"

    @property
    def archive_key_file(self) -> Path:
        """`storage/keys/archive.key`: the archive's own Fernet key (0600). It is not one of
        `secret_names.KEYS`: `tbot keys rotate` would have to re-encrypt years of archive."""
        return self.storage_dir / "keys" / "archive.key"

    def ledger_backup_dir(self, day: date) -> Path:
        """`storage/backups/{date}/`: the online ledger backups taken on `day` (UTC)."""
        return self.backups_dir / day.isoformat()

    @property
    def control_dir(self) -> Path:
        """The engine's run directory (control socket, pid), from CONTROL_DIR."""
        return self._configured("CONTROL_DIR", "control")

    @property
    def control_socket(self) -> Path:
        """The engine's control socket (JSON-RPC), `{CONTROL_DIR}/engine.sock`. Under systemd
        the engine binds in its RuntimeDirectory and links this path to it."""
        return self.control_dir / "engine.sock"

    def for_bot(self, identity: BotIdentity) -> BotPaths:
        """The identity-scoped paths of this home."""
        return BotPaths(self.home, identity, self._overrides)


class BotPaths(HomePaths):
    """Every path of one bot: the home layout plus `output/{BOT_IDENTITY}/...`."""

    def __init__(
        self, home: Path, identity: BotIdentity, overrides: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(home, overrides)
        self.identity = identity

    @property
    def output_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/`."""
        return self.home / "output" / self.identity.bot_identity

    @property
    def ledgers_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/ledgers/`."""
        return self.output_dir / "ledgers"

    @property
    def ledger_db(self) -> Path:
        """The bot's ledger: `{BOT_IDENTITY}_BOT_ledger.db`."""
        return self.ledgers_dir / f"{self.identity.bot_identity}_BOT_ledger.db"

    def coa_db(self, version: str = COA_VERSION) -> Path:
        """The chart of accounts, versioned in its name: `{BOT_IDENTITY}_BOT_COA_v1.1.0.db`."""
        return self.ledgers_dir / f"{self.identity.bot_identity}_BOT_COA_{version}.db"

    @property
    def writer_lock_file(self) -> Path:
        """The lock that makes one process at a time the writer of this bot's ledgers."""
        return self.ledgers_dir / f"{self.identity.bot_identity}_BOT_ledger.writer.lock"

    @property
    def logs_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/logs/`."""
        return self.output_dir / "logs"

    def rotated_logs_dir(self, day: date) -> Path:
        """`logs/rotated/{YYYY-MM-DD}/`: log files rotated out of `logs/` for `day`'s lines,
        waiting there until `tbot archive run` moves them into the archive."""
        return self.logs_dir / "rotated" / day.isoformat()

    @property
    def trades_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/trades/`."""
        return self.output_dir / "trades"

    @property
    def summaries_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/summaries/`."""
        return self.output_dir / "summaries"

    @property
    def cache_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/data/cache/`: per-day caches of what was asked of outside
        services (fundamentals), so a restart asks nothing twice."""
        return self.output_dir / "data" / "cache"

    @property
    def transfers_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/transfers/`: outbound transfer proposals."""
        return self.output_dir / "transfers"

    @property
    def transfers_ack_dir(self) -> Path:
        """`output/{BOT_IDENTITY}/transfers_ack/`: acknowledgments from accounting."""
        return self.output_dir / "transfers_ack"

    def ledger_backup_file(self, moment: datetime) -> Path:
        """The file one online backup of the ledger taken at `moment` goes to."""
        return self.ledger_backup_dir(moment.date()) / (
            f"{self.identity.bot_identity}_BOT_ledger.{utc_stamp(moment)}.db"
        )

    @property
    def sim_broker_file(self) -> Path:
        """The simulated broker's own state (cash, positions, orders, fills, its clock):
        `storage/sim_broker/{BOT_IDENTITY}_SIM_broker.db`, apart from the ledger as a remote
        paper account would be."""
        return self.storage_dir / "sim_broker" / f"{self.identity.bot_identity}_SIM_broker.db"

    def strategy_log_file(self, strategy: str) -> Path:
        """`logs/{strategy}.log`: every decision and trade of one strategy (open, mid, close)."""
        return self.logs_dir / f"{strategy}.log"

    @property
    def unresolved_orders_log(self) -> Path:
        """`logs/unresolved_orders.log`: rejects, partial fills left open, stale orders."""
        return self.logs_dir / "unresolved_orders.log"

    @property
    def error_tracebacks_log(self) -> Path:
        """`logs/error_tracebacks.log`: the full traceback of every error the engine caught
        (`tbot.engine.error_journal`)."""
        return self.logs_dir / "error_tracebacks.log"

    @property
    def disaster_mode_log(self) -> Path:
        """`logs/disaster_mode.log`: defense mode's entries, exits and why."""
        return self.logs_dir / "disaster_mode.log"

    @property
    def engine_log_file(self) -> Path:
        """`logs/engine.log`: the engine's own operational log."""
        return self.logs_dir / "engine.log"

    def trade_history_file(self, log_format: str) -> Path:
        """`trades/{BOT_IDENTITY}_BOT_trade_history.{csv|json}` (LOG_FORMAT picks one)."""
        return self.trades_dir / f"{self.identity.bot_identity}_BOT_trade_history.{log_format}"

    def daily_summary_file(self, day: date) -> Path:
        """`summaries/{BOT_IDENTITY}_BOT_daily_summary_{YYYY-MM-DD}.json`, one per session."""
        return self.summaries_dir / (
            f"{self.identity.bot_identity}_BOT_daily_summary_{day.isoformat()}.json"
        )

    def output_dirs(self) -> list[Path]:
        """Every output directory a new home creates."""
        return [
            self.ledgers_dir,
            self.logs_dir,
            self.trades_dir,
            self.summaries_dir,
            self.transfers_dir,
            self.transfers_ack_dir,
        ]
