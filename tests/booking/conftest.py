"""Fixtures for the booking tests: a real bot home (init_home) with its COA and ledger
files, an open writer, a booker on fresh lots, and helpers to make fills, book them the way
the engine does (draft, post, commit) and read back what the ledger holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import BotHome
from tbot.admin.init_home import init_home
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.booking.trade_records import TradeRecord
from tbot.broker.models import BrokerFill, OrderSide
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.config.setting_types import BrokerName
from tbot.ledger.amounts import MONEY_PLACES, QUANTITY_PLACES, from_scaled
from tbot.ledger.posting import LedgerWriter, PostedEntry

IDENTITY = BotIdentity(ENTITY_CODE="TBOT", JURISDICTION_CODE="US", BROKER_CODE="SIM",
                       BOT_ID="BOT01")
START = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
OPEN_LONG = FillContext(strategy="open", side="long")

FillFactory = Callable[..., BrokerFill]
Booking = Callable[..., PostedEntry]
Leg = tuple[str, Decimal, Decimal | None, str | None]


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that only moves when a test (or the fill factory) moves it."""
    return FrozenClock(START)


@pytest.fixture
def home(tmp_path: Path, clock: FrozenClock) -> BotHome:
    """A complete bot home made by `tbot init`'s own code."""
    return init_home(tmp_path / "home", IDENTITY, clock, actor="test")


@pytest.fixture
def paths(home: BotHome) -> BotPaths:
    """The bot's paths inside `home`."""
    return home.paths


@pytest.fixture
def plain_paths(tmp_path: Path) -> BotPaths:
    """Paths of a bot in an empty directory, for report files that need no ledger."""
    return BotPaths(tmp_path / "bot", IDENTITY)


@pytest.fixture
def writer(home: BotHome, clock: FrozenClock) -> Iterator[LedgerWriter]:
    """The ledger writer, open for the test."""
    with LedgerWriter(home.paths, clock, home.backup_policy) as open_writer:
        yield open_writer


@pytest.fixture
def booker() -> FillBooker:
    """A booker for the simulated broker on empty lots."""
    return FillBooker(BrokerName.SIM, LotBook())


@pytest.fixture
def make_fill(clock: FrozenClock) -> FillFactory:
    """Build a fill: ``make_fill("buy", "12", "187.2537", fee="0.06")``. Each fill gets the
    next id (SIM-FILL-0001...) and a time one minute after the previous one."""
    numbers = count(1)

    def build(side: str, quantity: str, price: str, *, fee: str = "0", symbol: str = "AAPL",
              fill_id: str | None = None) -> BrokerFill:
        number = next(numbers)
        clock.advance(timedelta(minutes=1))
        return BrokerFill(
            fill_id=fill_id or f"SIM-FILL-{number:04d}",
            order_id=f"SIM-ORDER-{number:04d}",
            client_order_id=f"open-20261120-{number:04d}",
            symbol=symbol,
            side=OrderSide(side),
            quantity=Decimal(quantity),
            price=Decimal(price),
            fee=Decimal(fee),
            filled_at=clock.now(),
        )

    return build


@pytest.fixture
def book(booker: FillBooker, writer: LedgerWriter) -> Booking:
    """Book a fill as the engine does: draft, post, and commit once the post succeeded."""

    def run(fill: BrokerFill, context: FillContext = OPEN_LONG) -> PostedEntry:
        posted = writer.post(booker.entry_for_fill(fill, context), actor="test")
        booker.commit(fill)
        return posted

    return run


def _read(paths: BotPaths, sql: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


@pytest.fixture
def legs(paths: BotPaths) -> Callable[[str], list[Leg]]:
    """The postings of the entry with a FITID as (account, amount, quantity, symbol)."""

    def read(fitid: str) -> list[Leg]:
        rows = _read(
            paths,
            "SELECT p.account_code, p.amount, p.quantity, p.symbol FROM ledger_postings p "
            "JOIN ledger_entries e ON e.id = p.entry_id WHERE e.fitid = ? ORDER BY p.id",
            (fitid,),
        )
        return [
            (str(account), from_scaled(int(amount), MONEY_PLACES),
             None if quantity is None else from_scaled(int(quantity), QUANTITY_PLACES),
             None if symbol is None else str(symbol))
            for account, amount, quantity, symbol in rows
        ]

    return read


@pytest.fixture
def trade_row(paths: BotPaths) -> Callable[[str], dict[str, object]]:
    """The trades row of a FITID as a dict of its raw stored columns."""

    def read(fitid: str) -> dict[str, object]:
        connection = sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        try:
            row = connection.execute("SELECT * FROM trades WHERE fitid = ?", (fitid,)).fetchone()
        finally:
            connection.close()
        assert row is not None, f"no trades row for {fitid}"
        return dict(row)

    return read


@pytest.fixture
def account_balance(paths: BotPaths) -> Callable[[str], Decimal]:
    """The debit-minus-credit balance of an account over the whole ledger."""

    def read(account: str) -> Decimal:
        (total,), = _read(paths, "SELECT COALESCE(SUM(amount), 0) FROM ledger_postings "
                                 "WHERE account_code = ?", (account,))
        return from_scaled(int(total), MONEY_PLACES)

    return read


RecordFactory = Callable[..., TradeRecord]


@pytest.fixture
def make_record() -> RecordFactory:
    """Build a round trip of `strategy` in `ticker` with `pnl`, held `held` seconds;
    any other TradeRecord field can be overridden by keyword."""

    def build(strategy: str = "open", ticker: str = "AAPL", pnl: str = "22.0956",
              held: int = 1800, **overrides: object) -> TradeRecord:
        entry_time = START + timedelta(minutes=21)
        exit_time = entry_time + timedelta(seconds=held)
        values: dict[str, object] = {
            "timestamp": exit_time,
            "strategy_name": strategy,
            "ticker": ticker,
            "side": "long",
            "size": Decimal("12"),
            "entry_price": Decimal("187.2537"),
            "exit_price": Decimal("189.10"),
            "PnL": Decimal(pnl),
            "broker": "SIM",
            "error_code": None,
            "signal_time": entry_time - timedelta(seconds=2),
            "entry_time": entry_time,
            "exit_time": exit_time,
            "exit_reason": "trailing_stop",
            "holding_seconds": held,
            "fitid": "SIM-FILL-0002",
            "order_id": "SIM-ORDER-0002",
            "tag": "none",
        }
        values.update(overrides)
        return TradeRecord(**values)  # type: ignore[arg-type]

    return build
