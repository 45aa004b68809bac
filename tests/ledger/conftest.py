"""Fixtures for the ledger tests: a real bot home in tmp_path with real COA and ledger files,
a frozen clock, an open writer, and helpers to build drafts and to look at (or tamper with)
the SQLite files directly."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.ledger.coa_file import create_coa_file
from tbot.ledger.posting import (
    BackupPolicy,
    EntryDraft,
    LedgerWriter,
    PostingDraft,
    TradeDraft,
    create_ledger_file,
)
from tbot.ledger.schema import APPEND_ONLY_TABLES

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)

EntryFactory = Callable[..., EntryDraft]
Snapshot = Callable[[Path], dict[str, list[tuple[object, ...]]]]


@pytest.fixture
def identity() -> BotIdentity:
    """The bot the files belong to."""
    return BotIdentity(entity_code="ACME", jurisdiction_code="US", broker_code="ALP",
                       bot_id="B01")


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that only moves when a test moves it."""
    return FrozenClock(START)


@pytest.fixture
def paths(tmp_path: Path, identity: BotIdentity) -> BotPaths:
    """An empty bot home."""
    return BotPaths(tmp_path / "home", identity)


@pytest.fixture
def ledger_paths(paths: BotPaths, identity: BotIdentity, clock: FrozenClock) -> BotPaths:
    """A bot home with a fresh COA file and ledger file."""
    create_coa_file(paths.coa_db(), identity, clock)
    create_ledger_file(paths, clock)
    return paths


@pytest.fixture
def policy() -> BackupPolicy:
    """Generous retention: tests about pruning make their own."""
    return BackupPolicy(retention_days=30, keep_per_day=1000)


@pytest.fixture
def writer(ledger_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
           ) -> Iterator[LedgerWriter]:
    """An open writer on the fresh ledger; closed after the test."""
    with LedgerWriter(ledger_paths, clock, policy) as open_writer:
        yield open_writer


@pytest.fixture
def make_entry(clock: FrozenClock) -> EntryFactory:
    """Build a balanced two-posting entry: `amount` debited to `debit`, credited to
    `credit`. Keyword overrides: currency, dtposted, trntype, memo, trade, postings."""

    def build(
        fitid: str,
        amount: Decimal | str = "100.00",
        *,
        debit: str = "1111",
        credit: str = "1030",
        currency: str = "USD",
        dtposted: datetime | None = None,
        trntype: str = "BUY",
        memo: str = "test entry",
        trade: TradeDraft | None = None,
        postings: tuple[PostingDraft, ...] | None = None,
    ) -> EntryDraft:
        value = Decimal(amount)
        legs = postings if postings is not None else (
            PostingDraft(debit, value, currency),
            PostingDraft(credit, -value, currency),
        )
        return EntryDraft(
            fitid=fitid,
            dtposted=dtposted if dtposted is not None else clock.now(),
            trntype=trntype,
            memo=memo,
            postings=legs,
            trade=trade,
        )

    return build


@pytest.fixture
def buy_trade() -> TradeDraft:
    """An opening long leg: 1.5 AAPL at 67.00."""
    return TradeDraft(
        trntype="BUY", strategy="open", symbol="AAPL", side="long", size=Decimal("1.5"),
        entry_price=Decimal("67.00"), pnl=Decimal(0), broker="alpaca",
    )


@pytest.fixture
def snapshot() -> Snapshot:
    """Every row of every append-only table (plus metadata), to compare before/after."""

    def take(ledger: Path) -> dict[str, list[tuple[object, ...]]]:
        connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
        try:
            return {
                table: connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
                for table in (*APPEND_ONLY_TABLES, "coa_metadata")
            }
        finally:
            connection.close()

    return take


@pytest.fixture
def tamper(ledger_paths: BotPaths) -> Iterator[sqlite3.Connection]:
    """A plain read-write sqlite3 connection on the ledger, as an intruder (or an auditor's
    tool) would open it: no tbot code in the way."""
    connection = sqlite3.connect(ledger_paths.ledger_db, isolation_level=None)
    yield connection
    connection.close()


@pytest.fixture
def unguard(tamper: sqlite3.Connection) -> Callable[[], sqlite3.Connection]:
    """Drop the append-only triggers through the intruder's connection (as someone
    bypassing tbot would before editing rows) and hand the connection back."""

    def drop() -> sqlite3.Connection:
        names = [row[0] for row in tamper.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        )]
        for name in names:
            tamper.execute(f'DROP TRIGGER "{name}"')
        return tamper

    return drop
