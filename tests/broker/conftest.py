"""Fixtures for the simulated broker's tests: a real state file in tmp_path, a frozen clock,
and a `Market` that delivers minute bars the way the engine does (bars of the minute that
just ended, at its end)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.broker.models import BrokerFill, BrokerOrder, OrderRequest, OrderSide
from tbot.broker.sim import SimBroker, SimBrokerSettings, SimFault
from tbot.clock import FrozenClock
from tbot.market.bars import Bar

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
"""A Monday, the US open."""
ACCOUNT_ID = "SIM-TBOT_US_SIM_BOT01"
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)

BrokerOpener = Callable[..., SimBroker]
BarSpec = tuple[Any, ...]
"""(symbol, open[, close[, volume]]), prices as text."""


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that only moves when a test (or the market) moves it."""
    return FrozenClock(START)


@pytest.fixture
def settings() -> SimBrokerSettings:
    """100k of cash, half a cent a share, 2 bps of slippage, 10% of a bar's volume."""
    return SimBrokerSettings(
        account_id=ACCOUNT_ID,
        starting_cash=Decimal("100000"),
        fee_per_share=Decimal("0.005"),
        slippage_bps=Decimal("2"),
        max_volume_participation=Decimal("0.1"),
    )


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """Where the account lives (its folder does not exist yet)."""
    return tmp_path / "storage" / "sim_broker" / "broker.db"


@pytest.fixture
def open_broker(
    state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> Iterator[BrokerOpener]:
    """Open the broker on `state_file` (default settings, or `faults=`/`settings=` given);
    everything opened is closed at the end."""
    opened: list[SimBroker] = []

    def opener(
        *, settings: SimBrokerSettings = settings, faults: frozenset[SimFault] | None = None
    ) -> SimBroker:
        if faults is not None:
            settings = replace(settings, faults=faults)
        broker = SimBroker.open(state_file, settings, clock)
        opened.append(broker)
        return broker

    yield opener
    for broker in opened:
        broker.close()


@pytest.fixture
def broker(open_broker: BrokerOpener) -> SimBroker:
    """A fresh simulated account."""
    return open_broker()


def make_bar(
    symbol: str, start: datetime, open_: str, close: str | None = None, volume: int = 100_000
) -> Bar:
    """A minute bar; high/low bracket open and close."""
    first, last = Decimal(open_), Decimal(close if close is not None else open_)
    return Bar(symbol, start, first, max(first, last), min(first, last), last, volume)


class Market:
    """Delivers minutes to a broker as the engine does: the bars of the minute starting at
    `clock.now()`, handed over at the minute's end (the clock then moves there)."""

    def __init__(self, broker: SimBroker, clock: FrozenClock) -> None:
        self.broker = broker
        self.clock = clock

    def minute(self, *bars: BarSpec) -> list[BrokerFill]:
        """One minute; each bar is (symbol, open[, close[, volume]])."""
        start = self.clock.now()
        end = start + timedelta(minutes=1)
        delivered = {spec[0]: make_bar(spec[0], start, *spec[1:]) for spec in bars}
        self.clock.set(end)
        return self.broker.on_bars(delivered, end)

    def buy(self, client_order_id: str, symbol: str, quantity: str) -> BrokerOrder:
        """Submit a market buy."""
        return self.broker.submit(
            OrderRequest(client_order_id, symbol, OrderSide.BUY, Decimal(quantity))
        )

    def sell(self, client_order_id: str, symbol: str, quantity: str) -> BrokerOrder:
        """Submit a market sell."""
        return self.broker.submit(
            OrderRequest(client_order_id, symbol, OrderSide.SELL, Decimal(quantity))
        )

    def jump_to(self, moment: datetime) -> None:
        """Move the clock (the next minute starts there)."""
        self.clock.set(moment)


@pytest.fixture
def market(broker: SimBroker, clock: FrozenClock) -> Market:
    """The default broker's market."""
    return Market(broker, clock)


def order_of(broker: SimBroker, order_id: str) -> BrokerOrder:
    """The broker's current view of one order."""
    return next(order for order in broker.orders() if order.order_id == order_id)


def all_trades(broker: SimBroker) -> list[BrokerFill]:
    """Every reported fill, all pages."""
    fills: list[BrokerFill] = []
    token: str | None = None
    while True:
        page = broker.fetch_all_trades(LONG_AGO, page_token=token, page_size=1000)
        fills.extend(page.items)
        token = page.next_token
        if token is None:
            return fills
