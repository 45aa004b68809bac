"""Fixtures for reconciliation: a real bot home, its real simulated broker account and
real ledger, a trading session booked exactly as the engine books fills, and the offline
reconciliation service over them (the same code the engine runs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import BotHome, open_home
from tbot.admin.init_home import init_home
from tbot.admin.sim_account import sim_broker_settings
from tbot.booking.broker_accounts import CAPITAL_FLOAT, accounts_for
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.broker.models import BrokerFill, CashActivity, OrderRequest, OrderSide
from tbot.broker.sim.sim_broker import SimBroker
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.setting_types import BrokerName
from tbot.engine.order_intents import Purpose, client_order_id
from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.ledger.errors import DuplicateFitidError, LedgerError
from tbot.ledger.posting import LedgerWriter
from tbot.market.bars import Bar
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.service import ReconService
from tests.cli.cli_support import replace_setting

IDENTITY = BotIdentity(ENTITY_CODE="TBOT", JURISDICTION_CODE="US", BROKER_CODE="SIM",
                       BOT_ID="BOT01")
DAY_START = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
ACCOUNTS = accounts_for(BrokerName.SIM)


def bar(symbol: str, at: datetime, price: str, volume: int = 1_000_000) -> Bar:
    """A flat one-minute bar at `price`."""
    value = Decimal(price)
    return Bar(symbol, at, value, value, value, value, volume)


class SimSession:
    """A trading session on the home's simulated account, booked into its ledger as the
    engine books it: the ledger entry first (FITID = the broker's fill id), then the lots."""

    def __init__(self, home: BotHome, clock: FrozenClock) -> None:
        self.home = home
        self.clock = clock
        self.broker = SimBroker.open(
            home.paths.sim_broker_file,
            sim_broker_settings(home.config.bot, home.identity.bot_identity), clock)
        self.writer = LedgerWriter(home.paths, clock, home.backup_policy).open()
        self.booker = FillBooker(BrokerName.SIM, LotBook.from_ledger(
            home.paths.ledger_db, ACCOUNTS.equities))
        self.minute = clock.now()
        self.prices: dict[str, str] = {}
        self.booked: list[BrokerFill] = []
        self._book_funding()

    def _book_funding(self) -> None:
        page = self.broker.fetch_cash_activity(datetime(1970, 1, 1, tzinfo=UTC))
        funding: CashActivity = page.items[0]
        # The funding entry, as the engine's start-up books it (once).
        with contextlib.suppress(DuplicateFitidError):
            self.writer.post(self.booker.funding_entry(funding), actor="engine")

    def advance(self, prices: dict[str, str], minutes: int = 1) -> list[BrokerFill]:
        """Deliver `minutes` minutes of bars at `prices`; book every fill returned."""
        self.prices.update(prices)
        fills: list[BrokerFill] = []
        for _ in range(minutes):
            at = self.minute + timedelta(minutes=1)
            self.clock.set(at)
            bars = {s: bar(s, self.minute, p) for s, p in self.prices.items()}
            for fill in self.broker.on_bars(bars, at):
                self.book(fill)
                fills.append(fill)
            self.minute = at
        return fills

    def order(self, symbol: str, side: OrderSide, quantity: str,
              purpose: Purpose = Purpose.ENTRY, strategy: str = "open") -> str:
        """Submit a market order under an engine-style client order id."""
        cid = client_order_id(strategy, self.minute, symbol, purpose)
        self.broker.submit(OrderRequest(cid, symbol, side, Decimal(quantity)))
        return cid

    def book(self, fill: BrokerFill, strategy: str = "open") -> None:
        """Post `fill` as the engine does."""
        draft = self.booker.entry_for_fill(fill, FillContext(strategy=strategy, side="long"))
        self.writer.post(draft, actor="engine")
        self.booker.commit(fill)
        self.booked.append(fill)

    def round_trip(self, symbol: str, quantity: str, buy_at: str, sell_at: str) -> None:
        """Buy, hold a minute, sell."""
        self.advance({symbol: buy_at})
        self.order(symbol, OrderSide.BUY, quantity)
        self.advance({symbol: buy_at})
        self.order(symbol, OrderSide.SELL, quantity, Purpose.EXIT)
        self.advance({symbol: sell_at})

    def post_manual(self, fitid: str, amount: str, account: str = CAPITAL_FLOAT) -> None:
        """A cash entry against `account` (to make the ledger disagree on purpose)."""
        value = Decimal(amount)
        self.writer.post(EntryDraft(
            fitid=fitid, dtposted=self.clock.now(), trntype="CREDIT", memo="test",
            postings=(PostingDraft(ACCOUNTS.cash, value), PostingDraft(account, -value)),
        ), actor="test")

    def close(self) -> None:
        """Release the ledger lock and the broker file."""
        self.writer.close()
        self.broker.close()


@pytest.fixture
def make_home(tmp_path: Path) -> Any:
    """A fresh home; `make_home(SIM_FAULTS="drop_fill,...")` with settings changed."""

    def make(**settings: str) -> BotHome:
        target = tmp_path / "home"
        init_home(target, IDENTITY, FrozenClock(DAY_START), actor="test")
        for key, value in settings.items():
            replace_setting(target, key, value)
        return open_home(target)

    return make


@pytest.fixture
def home(make_home: Any) -> BotHome:
    """A fresh home with the template's settings (no faults)."""
    return make_home()


@pytest.fixture
def clock() -> FrozenClock:
    """The session's clock, starting at the open."""
    return FrozenClock(DAY_START)


@pytest.fixture
def session_of(clock: FrozenClock) -> Iterator[Any]:
    """`session_of(home)`: a SimSession, closed at teardown."""
    sessions: list[SimSession] = []

    def make(home: BotHome) -> SimSession:
        session = SimSession(home, clock)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        with contextlib.suppress(LedgerError, OSError):  # closed by the test already
            session.close()


class Recon:
    """The offline reconciliation service of a home, opened per call (as the CLI does)."""

    def __init__(self, home: BotHome, clock: FrozenClock) -> None:
        self.home = home
        self.clock = clock

    def run(self, work: Any) -> Any:
        """`work(service)` (a coroutine function) with the service open."""
        with OfflineReconciliation(self.home, self.clock, actor="cli:test") as offline:
            service: ReconService = offline.service  # type: ignore[assignment]
            return asyncio.run(work(service))

    def sync(self, **kwargs: Any) -> Any:
        from tbot.reconcile.statuses import SyncTrigger

        trigger = kwargs.pop("trigger", SyncTrigger.MANUAL)
        return self.run(lambda service: service.sync(trigger, **kwargs))

    def read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of `sql` on the ledger, read-only."""
        import sqlite3

        path = self.home.paths.ledger_db
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            return connection.execute(sql, parameters).fetchall()


@pytest.fixture
def recon_of(clock: FrozenClock) -> Any:
    """`recon_of(home)`: the home's offline reconciliation."""
    return lambda home: Recon(home, clock)
