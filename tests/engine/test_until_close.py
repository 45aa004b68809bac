"""`--until-close` in the real engine (in this process) on the simulated broker: the run
stops at the close even when positions outlive it, and a simulation starts where it was
asked to however long the start-up takes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import open_home
from tbot.broker.errors import OrderRejectedError
from tbot.broker.models import OrderSide
from tbot.engine import order_flow
from tbot.engine.engine import Engine, EngineOptions
from tests.engine.conftest import TRADING_DAY
from tests.engine.in_process import entry, set_bot_keys, step

MINUTE = timedelta(minutes=1)
START = datetime.fromisoformat(f"{TRADING_DAY}T20:40:00+00:00")  # 20 minutes to the close


def refuse_sells(engine: Engine) -> None:
    """The broker refuses every sell from now on (at the edge of the world: its own call)."""
    gateway, _ = engine.require_started()
    broker = gateway.broker
    submit = broker.submit

    def refusing(request: Any) -> Any:
        if request.side is OrderSide.SELL:
            raise OrderRejectedError("sells are halted in this symbol")
        return submit(request)

    broker.submit = refusing


def run_until_it_stops(engine: Engine, prepare: Callable[[], Awaitable[None]]) -> None:
    """`prepare()`, then the run loop until it stops by itself (at most a minute), then
    the shutdown; the stop must be --until-close's."""

    async def scenario() -> None:
        await prepare()
        await asyncio.wait_for(engine.run(), timeout=60)
        await engine.shutdown()

    try:
        asyncio.run(scenario())
    finally:
        engine.close_blocking()
    assert engine.stop_reason is not None and "until-close" in engine.stop_reason


def test_until_close_stops_at_the_close_with_positions_the_broker_would_not_sell(
    home: Path,
) -> None:
    set_bot_keys(home, CLOSE_POSITIONS_ON_SHUTDOWN="false")
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=600.0, start=START,
                                                   until_close=True))
    engine.start_blocking()

    async def scenario() -> None:
        await engine.start()
        await step(engine, START)
        await order_flow.on_entry_signal(engine, entry(engine, "PFE", START + MINUTE))
        await step(engine, START + MINUTE)
        assert set(engine.book.positions) == {"PFE"}
        refuse_sells(engine)
        engine._cursor = START + 2 * MINUTE

    run_until_it_stops(engine, scenario)
    assert set(engine.book.positions) == {"PFE"}  # kept: CLOSE_POSITIONS_ON_SHUTDOWN=false
    assert engine.clock.now() >= datetime.fromisoformat(f"{TRADING_DAY}T21:00:00+00:00")
    assert TRADING_DAY in {day.isoformat() for day in engine.summarized_days}


def test_a_simulation_starts_where_asked_however_long_the_start_up_takes(home: Path) -> None:
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=3000.0, start=START))
    engine.start_blocking()

    async def scenario() -> datetime:
        await engine.start()
        time.sleep(0.5)  # a slow start-up: 25 market minutes at this speed, the close gone
        at_start = engine.clock.now()
        engine.request_stop("seen enough")
        await engine.run()
        return at_start

    try:
        assert asyncio.run(scenario()) == START
    finally:
        engine.close_blocking()


def test_until_close_stops_when_a_lagging_engine_closed_the_day_past_midnight(
    home: Path,
) -> None:
    """The day's end ran from the next day's first minute (the engine lagged its clock past
    midnight): a Saturday has no close of its own, yet the run stops there."""
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=600.0, start=START,
                                                   until_close=True))
    engine.start_blocking()
    saturday = datetime.fromisoformat(f"{TRADING_DAY}T00:05:00+00:00") + timedelta(days=1)

    async def scenario() -> None:
        await engine.start()
        await step(engine, saturday)  # the Friday's end of day runs from here
        assert engine.current_day == saturday.date()

    run_until_it_stops(engine, scenario)
    assert engine.clock.now() < saturday + timedelta(hours=1)
