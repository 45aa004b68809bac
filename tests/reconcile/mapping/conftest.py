"""Fixtures for the mapping room: the offline mapping service of a real home (the same
service the engine runs), and days of the simulated broker with its cash faults."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tbot.admin.bot_home import BotHome
from tbot.broker.models import OrderSide
from tbot.clock import FrozenClock
from tbot.reconcile.mapping.offline import OfflineMapping
from tests.reconcile.conftest import DAY_START

CASH_FAULTS = "dividend,deposit,unknown_fee"


class Mapping:
    """The home's offline mapping service, opened per call (as the CLI does)."""

    def __init__(self, home: BotHome, clock: FrozenClock) -> None:
        self.home = home
        self.clock = clock

    def run(self, work: Any) -> Any:
        """`work(service)` (a coroutine function) with the service open."""
        with OfflineMapping(self.home, self.clock) as service:
            async def run() -> Any:
                await service.ensure_defaults()
                return await work(service)

            return asyncio.run(run())

    def queue(self, **kwargs: Any) -> dict[str, Any]:
        return self.run(lambda s: s.queue(**kwargs))

    def assign(self, item: int, account: str, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("actor", "cli:alice")
        return self.run(lambda s: s.assign(item, account, **kwargs))

    def service_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(lambda s: getattr(s, name)(*args, **kwargs))


@pytest.fixture
def mapping_of(clock: FrozenClock) -> Any:
    """`mapping_of(home)`: the home's offline mapping service."""
    return lambda home: Mapping(home, clock)


def trading_day(session: Any, day: int) -> None:
    """Day `day` (0 = the first) of a small session: a buy at the open, past 15:00 (when
    the cash faults fire), a sale."""
    start = DAY_START + timedelta(days=day)
    session.clock.set(start)
    session.minute = start
    session.advance({"AAPL": "100.00"})
    session.order("AAPL", OrderSide.BUY, "4")
    session.advance({}, minutes=32)  # past 15:00: dividend, deposit, unknown fee
    session.order("AAPL", OrderSide.SELL, "4")
    session.advance({"AAPL": "101.00"})


@pytest.fixture
def cash_day(make_home: Any, session_of: Any) -> Any:
    """`cash_day(home, day)`: trade day `day` on `home` (with the cash faults)."""

    def run(home: BotHome, day: int) -> None:
        session = session_of(home)
        try:
            trading_day(session, day)
        finally:
            session.close()

    return run


@pytest.fixture
def faulty_home(make_home: Any) -> BotHome:
    """A home whose simulated broker posts a dividend, a deposit and an unknown fee daily."""
    return make_home(SIM_FAULTS=CASH_FAULTS)


