"""The watchdog and the error journal in the real engine (in this process) on the simulated
broker and ledger: a broker that stops answering for five minutes and comes back, a market
data feed that stops (each DATA_FAILURE_ACTION), and a minute that keeps failing.

The broker's outage is made at the edge of the world: the simulated broker's own methods
raise what a real adapter raises when its broker does not answer."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import open_home
from tbot.broker.errors import BrokerUnavailableError
from tbot.control.methods import Caller, NoParams, RpcError
from tbot.control.roles import Role
from tbot.engine import order_flow
from tbot.engine.control_methods import ControlMethods, PauseParams
from tbot.engine.engine import Engine, EngineOptions
from tbot.engine.order_intents import Purpose
from tbot.risk.trading_state import TradingState
from tests.engine.conftest import TRADING_DAY
from tests.engine.in_process import entry, set_bot_keys

MINUTE = timedelta(minutes=1)
START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
OPERATOR = Caller(uid=1001, gid=1001, pid=1, role=Role.OPERATOR, name="olive(uid=1001)")


class Outage:
    """The simulated broker's calls fail while `down` (as an unreachable broker's do)."""

    def __init__(self, engine: Engine) -> None:
        gateway, _ = engine.require_started()
        self.broker = gateway.broker
        self.down = False
        for name in ("on_bars", "account", "submit", "cancel", "positions"):
            original = getattr(self.broker, name)
            setattr(self.broker, name, self._failing(original))

    def _failing(self, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise BrokerUnavailableError("connection refused by the broker")
            return original(*args, **kwargs)
        return call


def open_engine(home: Path, speed: float = 1.0, **keys: str) -> Engine:
    set_bot_keys(home, **{"API_RETRY_LIMIT": "0", "BROKER_RECOVERY_SECONDS": "60", **keys})
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=speed, start=START))
    engine.start_blocking()
    return engine


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    engine = open_engine(home)
    yield engine
    engine.close_blocking()


async def step(engine: Engine, minute: datetime) -> None:
    if engine.clock.now() < minute + MINUTE:
        engine.clock.jump_to(minute + MINUTE)  # type: ignore[attr-defined]
    await engine.watchdog.tick()
    await engine._process_minute(minute)
    await asyncio.sleep(0)  # the watchdog's task, started by a failing call
    await asyncio.gather(*engine._background)
    engine._cursor = minute + MINUTE




def audit_actions(engine: Engine, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(f"file:{engine.paths.ledger_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT action, details FROM audit_trail WHERE action LIKE ? "
                          "ORDER BY id", (prefix + "%",)).fetchall()
    return [(action, json.loads(details)) for action, details in rows]


def test_a_broker_down_for_five_minutes_suspends_then_resumes_with_nothing_lost_or_doubled(
    engine: Engine,
) -> None:
    states: list[tuple[str, str]] = []
    engine.bus.subscribe("state", lambda _t, data: states.append(
        (str(data["trading_state"]["state"]), str(data["reason"]))))  # type: ignore[index]

    async def scenario() -> None:
        await engine.start()
        outage = Outage(engine)
        await step(engine, START)
        await order_flow.on_entry_signal(engine, entry(engine, "PFE", START + MINUTE))
        await step(engine, START + MINUTE)  # PFE bought
        await order_flow.on_entry_signal(engine, entry(engine, "F", START + 2 * MINUTE))
        outage.down = True  # F's entry is working; the broker stops answering
        minute = START + 2 * MINUTE
        for _ in range(5):
            await step(engine, minute)
            minute += MINUTE
        assert engine.state.state is TradingState.REDUCING
        assert engine.state.reason.startswith("watchdog: broker unavailable")
        # An entry now is refused (REDUCING); nothing is sent while suspended.
        assert await order_flow.on_entry_signal(engine, entry(engine, "INTC", minute)) is None
        outage.down = False
        while engine.state.state is TradingState.REDUCING:
            assert minute < START + 15 * MINUTE, "the watchdog never resumed"
            await step(engine, minute)
            minute += MINUTE

    asyncio.run(scenario())
    assert engine.state.state is TradingState.ACTIVE
    moves = [(state, reason) for state, reason in states if reason.startswith("watchdog")]
    assert [state for state, _ in moves][:2] == ["reducing", "reducing"]  # the pause, its event
    assert moves[-1] == ("active", "watchdog: the broker is back")
    # F's entry, working when the broker went down, was canceled once it answered again:
    # it never filled into the suspension; PFE is held once, and no order went out twice.
    (f_entry,) = [i for i in engine.intents.all() if i.instrument == "F"]
    assert f_entry.order is not None and f_entry.order.status.value == "canceled"
    assert set(engine.book.positions) == {"PFE"}
    coids = [i.client_order_id for i in engine.intents.all()]
    assert len(coids) == len(set(coids))
    assert [action for action, _ in audit_actions(engine, "watchdog.")] == [
        "watchdog.suspend", "watchdog.resume"]
    gateway, _ = engine.require_started()
    broker_positions = {p.symbol: p.quantity for p in gateway.broker.positions()}
    assert broker_positions == {"PFE": engine.book.positions["PFE"].quantity}


def test_an_operators_pause_is_not_lifted_by_the_watchdog(engine: Engine) -> None:
    methods = ControlMethods(engine)

    async def scenario() -> None:
        await engine.start()
        outage = Outage(engine)
        await step(engine, START)
        await methods.trading_pause(PauseParams(reason="lunch"), OPERATOR)
        outage.down = True
        await step(engine, START + MINUTE)
        outage.down = False
        minute = START + 2 * MINUTE
        for _ in range(4):
            await step(engine, minute)
            minute += MINUTE

    asyncio.run(scenario())
    assert engine.state.state is TradingState.REDUCING
    assert "lunch" in engine.state.reason
    assert audit_actions(engine, "watchdog.") == []


@pytest.mark.parametrize("action", ["halt", "flatten", "shutdown"])
def test_a_market_data_failure_halts_and_follows_the_action(home: Path, action: str) -> None:
    engine = open_engine(home, DATA_FAILURE_ACTION=action)
    alerts: list[Mapping[str, Any]] = []
    engine.bus.subscribe("alerts", lambda _t, data: alerts.append(data))

    async def scenario() -> None:
        await engine.start()
        await step(engine, START)
        await order_flow.on_entry_signal(engine, entry(engine, "PFE", START + MINUTE))
        await step(engine, START + MINUTE)
        await engine.watchdog.data_failed("alpaca:iex: no bar for 120 s")
        await engine.watchdog.data_failed("alpaca:iex: still nothing")  # once per failure
        with pytest.raises(RpcError, match="halted by watchdog: market data failed"):
            await ControlMethods(engine).trading_resume(NoParams(), OPERATOR)

    try:
        asyncio.run(scenario())
        assert engine.state.state is TradingState.HALTED
        closes = [i for i in engine.intents.all() if i.purpose is Purpose.FLATTEN]
        (critical,) = [a for a in alerts if a.get("level") == "critical"]
        assert f"DATA_FAILURE_ACTION={action}" in str(critical["message"])
        (row,) = audit_actions(engine, "watchdog.data_failure")
        assert row[1]["action"] == action
        if action == "flatten":
            assert [i.instrument for i in closes] == ["PFE"]
            assert closes[0].reason == "data_failure"
        else:
            assert closes == [] and "PFE" in engine.book.positions
        assert engine.stopping is (action == "shutdown")
        assert engine.exit_code == (1 if action == "shutdown" else 0)
    finally:
        engine.close_blocking()


def test_a_minute_that_keeps_failing_is_written_down_and_escalated(home: Path) -> None:
    engine = open_engine(home, speed=600.0, API_RETRY_LIMIT="1")

    async def scenario() -> None:
        await engine.start()
        feed = engine.feed
        assert feed is not None

        def broken(start: datetime) -> Any:
            raise ZeroDivisionError("a bug in the bar feed")
        feed.minute = broken  # type: ignore[method-assign]
        await asyncio.wait_for(engine.run(), timeout=60)

    try:
        asyncio.run(scenario())
        assert engine.stopping and engine.exit_code == 1
        assert engine.state.state is TradingState.HALTED
        assert "escalated: 2 logic errors in a row" in engine.state.reason
        tracebacks = engine.paths.error_tracebacks_log.read_text()
        assert tracebacks.count("logic error in the minute") == 2
        assert "ZeroDivisionError: a bug in the bar feed" in tracebacks
        lines = [json.loads(line) for line in
                 engine.paths.unresolved_orders_log.read_text().splitlines()]
        errors = [line for line in lines if line["kind"] == "error"]
        assert len(errors) == 2
        assert {key: errors[0][key] for key in ("broker", "error_type", "error_code")} == {
            "broker": "SIM", "error_type": "logic", "error_code": "ZeroDivisionError"}
        assert "a bug in the bar feed" in errors[0]["raw_exception"]
    finally:
        engine.close_blocking()
