"""The engine's only door into its ledger: posting fills, audit rows and reading back
what is already booked, all on one dedicated thread.

SQLite connections belong to the thread that opened them, and a post (backup, fsync) can
take tens of milliseconds: running every ledger call on one worker keeps the event loop
free and the writer single-threaded, as the foundation's `LedgerWriter` expects.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.booking.fifo_lots import LotBook
from tbot.booking.ledger_results import LedgerResults, day_bounds, results_between
from tbot.booking.lot_checkpoint import (
    LOTS_CHECKPOINT_ACTION,
    checkpoint_details,
    latest_checkpoint,
)
from tbot.clock import Clock
from tbot.config.paths import BotPaths
from tbot.ledger.backup import BackupPolicy
from tbot.ledger.balances import (
    BALANCES_ACTION,
    BALANCES_SUBJECT,
    BalanceCheckpoint,
    balance_checkpoint,
    balances_details,
    latest_balances,
)
from tbot.ledger.batch import BatchResult, LedgerBatch
from tbot.ledger.database import open_reader_connection
from tbot.ledger.drafts import EntryDraft, PostedEntry
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.verify import VerifyReport, verify_ledger

T = TypeVar("T")

# The actor of the ledger rows the engine writes on its own account (fills, halts).
ENGINE_ACTOR = "engine"


@dataclass
class StrategyDay:
    """One strategy's booked results for one day, read back from the ledger."""

    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    trades: int = 0


@dataclass
class BookedDay:
    """What the ledger says happened on one day, per strategy (`results` is the whole
    reading, for the daily summary)."""

    results: LedgerResults
    by_strategy: dict[str, StrategyDay] = field(default_factory=dict)
    entry_keys: list[tuple[str, str, str]] = field(default_factory=list)  # strategy, symbol, side


class LedgerDesk:
    """Owns the bot's `LedgerWriter` and runs every ledger call on one thread."""

    def __init__(self, paths: BotPaths, clock: Clock, policy: BackupPolicy) -> None:
        self._paths = paths
        self._writer = LedgerWriter(paths, clock, policy)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._closed = False

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the ledger thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args))

    def open_blocking(self) -> None:
        """Open the writer (takes the writer lock: LedgerLockedError if another engine has
        it). Runs on the ledger thread so the connection lives there."""
        self._executor.submit(self._writer.open).result()

    def close_blocking(self) -> None:
        """Close the writer (releasing the lock) and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._executor.submit(self._writer.close).result()
        finally:
            self._executor.shutdown(wait=True)

    # -- writes (call through `run`) -------------------------------------------------------
    def post(self, draft: EntryDraft, actor: str) -> PostedEntry:
        """Post one entry."""
        return self._writer.post(draft, actor=actor)

    def record_event(
        self, action: str, actor: str, subject: str, details: Mapping[str, Any]
    ) -> int:
        """Append an audit row."""
        return self._writer.record_event(action, actor=actor, subject=subject, details=details)

    def commit_batch(
        self, batch: LedgerBatch, actor: str, action: str, subject: str,
        details: Mapping[str, Any],
    ) -> BatchResult:
        """Write entries, reversals and reconciliation rows in one transaction."""
        return self._writer.commit_batch(
            batch, actor=actor, action=action, subject=subject, details=details
        )

    def write_checkpoints(self, equities_account: str) -> list[int]:
        """Write the end-of-day checkpoints, each computed from the ledger in one read
        transaction and skipped when nothing was booked since the last one: the open lots
        of `equities_account` (`tbot.booking.lot_checkpoint`) and the sums of every
        account's postings (`tbot.ledger.balances`). The audit rows' ids."""

        def read(connection: sqlite3.Connection) -> tuple[int | None, LotBook, int,
                                                          BalanceCheckpoint | None,
                                                          BalanceCheckpoint]:
            connection.execute("BEGIN")
            try:
                previous_lots = latest_checkpoint(connection, equities_account)
                book, through = LotBook.replayed(connection, equities_account)
                previous_sums = latest_balances(connection)
                sums = balance_checkpoint(connection)
            finally:
                connection.execute("COMMIT")
            return (None if previous_lots is None else previous_lots.through_entry_id, book,
                    through, previous_sums, sums)

        previous_lots, book, through, previous_sums, sums = self.read_with(read)
        written = []
        if previous_lots != through:
            written.append(self.record_event(
                LOTS_CHECKPOINT_ACTION, ENGINE_ACTOR, equities_account,
                checkpoint_details(through, book.checkpoint_lots())))
        if previous_sums is None or previous_sums.through_entry_id != sums.through_entry_id:
            written.append(self.record_event(BALANCES_ACTION, ENGINE_ACTOR, BALANCES_SUBJECT,
                                             balances_details(sums)))
        return written

    def read_with(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """`function(connection)` over a short-lived read-only connection."""
        with _Reader(self._paths) as connection:
            return function(connection)

    # -- reads -----------------------------------------------------------------------------
    def booked_fitids(self, fitids: Iterable[str]) -> set[str]:
        """Which of `fitids` the ledger already has."""
        wanted = list(dict.fromkeys(fitids))
        if not wanted:
            return set()
        found: set[str] = set()
        with _Reader(self._paths) as connection:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT fitid FROM ledger_entries WHERE fitid IN ({marks})",  # noqa: S608
                    chunk,
                )
                found.update(row[0] for row in rows)
        return found

    def booked_day(self, day: date, accounts: BrokerAccounts) -> BookedDay:
        """Realized gains, fees and round trips per strategy for `day` (UTC), read by
        `tbot.booking.ledger_results` (the daily summary's and trade history's rules)."""
        with _Reader(self._paths) as connection:
            results = results_between(connection, accounts, *day_bounds(day))
        booked = BookedDay(results=results)
        for strategy, figures in results.by_strategy.items():
            booked.by_strategy[strategy] = StrategyDay(
                realized=figures.realized_gains, fees=figures.fees,
                trades=len(figures.round_trips),
            )
        booked.entry_keys = [(fill.strategy, fill.symbol, fill.side)
                             for fill in results.total.entry_fills]
        return booked

    def verify(self) -> VerifyReport:
        """`tbot ledger verify` on the live file (read-only; safe beside the writer)."""
        return verify_ledger(self._paths.ledger_db, self._paths.coa_db())


class _Reader:
    """A short-lived read-only connection (WAL lets it read beside the writer)."""

    def __init__(self, paths: BotPaths) -> None:
        self._path = paths.ledger_db
        self._connection: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        self._connection = open_reader_connection(self._path)
        return self._connection

    def __exit__(self, *_: object) -> None:
        if self._connection is not None:
            self._connection.close()
