"""The drawdown guard in the real engine (in this process) on the real simulated broker and
ledger, on a generated day that crashes mid-session (replayed with `--bars`).

Positions are opened by entry signals sent as a strategy sends them (the close strategy's
window is hours away, so no strategy trades on its own); with the template's sizing they
are about 1.6% of the account, so the guard's limit is set to 0.5%: a 40% crash of what is
held breaks it a few minutes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import open_home
from tbot.config.setting_types import StrategyName
from tbot.control.methods import Caller, NoParams, RpcError
from tbot.control.roles import Role
from tbot.control.wire import REFUSED
from tbot.engine import order_flow
from tbot.engine.control_methods import ControlMethods
from tbot.engine.engine import Engine, EngineOptions
from tbot.market.crash_day import write_crash_day
from tbot.risk.drawdown_guard import GuardPhase
from tbot.risk.trading_state import TradingState
from tbot.strategy.signals import TAG_NONE, Direction, EntrySignal
from tests.engine.conftest import TRADING_DAY
from tests.engine.in_process import set_bot_keys

D = Decimal
MINUTE = timedelta(minutes=1)
START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
CRASH_AT = START + 8 * MINUTE
SEED = 20261121  # the template's SIM_SEED
HELD = ("PFE", "F", "INTC")
OPERATOR = Caller(uid=1001, gid=1001, pid=1, role=Role.OPERATOR, name="olive(uid=1001)")
ADMIN = Caller(uid=1002, gid=1002, pid=1, role=Role.ADMIN, name="ada(uid=1002)")




@pytest.fixture(scope="module")
def crash_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated day, every price falling 40% over five minutes from CRASH_AT."""
    path = tmp_path_factory.mktemp("crash") / "crash-day.csv"
    return write_crash_day(path, SEED, CRASH_AT, D("0.4"), over_minutes=5)


@pytest.fixture
def guarded_home(home: Path) -> Path:
    set_bot_keys(home, MAX_DRAWDOWN_PCT="0.5")
    return home


def open_engine(home: Path, bars: Path, *, speed: float = 1.0,
                start: datetime | None = START) -> Engine:
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=speed, start=start,
                                                   bars_file=bars))
    engine.start_blocking()
    return engine


def audit_rows(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(f"file:{engine.paths.ledger_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT action, details FROM audit_trail "
                          "WHERE action LIKE 'risk.drawdown.%' ORDER BY id").fetchall()
    return [(action, json.loads(details)) for action, details in rows]


async def step(engine: Engine, minute: datetime) -> None:
    """One market minute as the run loop delivers it: at the minute's end."""
    if engine.clock.now() < minute + MINUTE:
        # a fast simulated clock may pass the minute's end meanwhile: then it is there
        with contextlib.suppress(ValueError):
            engine.clock.jump_to(minute + MINUTE)  # type: ignore[attr-defined]
    await engine.drawdown.tick()
    await engine._process_minute(minute)
    engine._cursor = minute + MINUTE


async def buy_positions(engine: Engine) -> datetime:
    """Start at START, buy HELD at the next minute's bars; the next minute to process."""
    await engine.start()
    await step(engine, START)
    for symbol in HELD:
        price = engine.last_prices[symbol]
        await order_flow.on_entry_signal(engine, EntrySignal(
            strategy=StrategyName.CLOSE, underlying=symbol, instrument=symbol,
            direction=Direction.LONG, trigger_price=price, reference_price=price,
            at=START + MINUTE, reason="test entry", tag=TAG_NONE, leverage_multiplier=1))
    await step(engine, START + MINUTE)
    assert set(engine.book.positions) == set(HELD)
    return START + 2 * MINUTE


def test_a_crash_warns_then_closes_everything_then_halts_and_no_operator_can_stop_it(
    guarded_home: Path, crash_file: Path,
) -> None:
    engine = open_engine(guarded_home, crash_file, speed=600.0)
    events: list[tuple[str, Mapping[str, Any], datetime]] = []
    refusals: list[asyncio.Task[Any]] = []
    methods = ControlMethods(engine)

    def heard(topic: str, data: Mapping[str, Any]) -> None:
        events.append((topic, data, engine.clock.now()))
        guard = data.get("guard") if topic == "state" else None
        if not isinstance(guard, Mapping):
            return
        if guard["phase"] == "warning" and not refusals:
            # an operator asks to resume while the countdown runs
            refusals.append(asyncio.get_running_loop().create_task(
                methods.trading_resume(NoParams(), OPERATOR)))
        if guard["phase"] == "halted":
            engine.request_stop("the guard has halted")

    engine.bus.subscribe_all(heard)

    async def scenario() -> None:
        engine._cursor = await buy_positions(engine)
        await asyncio.wait_for(engine.run(), timeout=60)

    try:
        asyncio.run(scenario())
        guard_events = [(data["guard"]["phase"], at) for topic, data, at in events
                        if topic == "state" and "guard" in data]
        assert [phase for phase, _ in guard_events] == ["warning", "closing", "halted"]
        (warning,) = [data for topic, data, _ in events
                      if topic == "alerts" and data.get("level") == "critical"]
        assert warning["trigger"] == "max_drawdown" and warning["countdown_seconds"] == 10
        assert warning["drawdown_pct"] >= D("0.5") and warning["equity"] < warning["peak"]
        # the close-all went at the deadline of the engine's (simulated) clock, not before
        deadline = warning["deadline"]
        warned_at, closing_at = guard_events[0][1], guard_events[1][1]
        assert deadline - warned_at == timedelta(seconds=10) or (
            timedelta(seconds=10) - (deadline - warned_at) < timedelta(seconds=1))
        assert closing_at >= deadline
        # the breach was the crash, not before it
        assert warning["deadline"] > CRASH_AT

        # everything closed, HALTED with the guard's reason
        assert engine.book.positions == {}
        assert engine.state.state is TradingState.HALTED
        assert engine.state.reason.startswith("drawdown guard: drawdown ")
        flattens = [i for i in engine.intents.all() if i.purpose.value == "flatten"]
        # ours, and what the open strategy bought into the crash (inverse ETFs)
        assert {i.instrument for i in flattens} >= set(HELD)
        assert all(i.reason == "drawdown_guard" for i in flattens)

        # the operator's resume, sent during the countdown, was refused naming the guard
        (refusal,) = refusals
        error = refusal.exception()
        assert isinstance(error, RpcError) and error.code == REFUSED
        assert "the drawdown guard closes every position" in error.message
        assert "no command can cancel or delay it" in error.message

        # every move of the guard is in the audit trail, the last one carries the halt
        assert [action for action, _ in audit_rows(engine)][-3:] == [
            "risk.drawdown.warning", "risk.drawdown.closing", "risk.drawdown.halted"]
        _, closing = audit_rows(engine)[-2]
        assert sorted(closing["close_orders"]) == sorted(i.client_order_id for i in flattens)

        # the console's view: engine.status carries the guard
        shown = engine.report.status()["guards"]["drawdown"]
        assert (shown["phase"], shown["trigger"], shown["max_drawdown_pct"]) == (
            "halted", "max_drawdown", D("0.5"))

        async def after_halt() -> None:
            with pytest.raises(RpcError, match="halted by drawdown guard"):
                await methods.trading_resume(NoParams(), OPERATOR)
            await methods.risk_reset(NoParams(), ADMIN)  # the admin's reset re-arms it
        asyncio.run(after_halt())
        assert engine.state.state is TradingState.ACTIVE
        assert engine.drawdown.guard.phase is GuardPhase.ARMED
        assert engine.drawdown.guard.peak == engine.account.equity  # type: ignore[union-attr]
        assert audit_rows(engine)[-1][0] == "risk.drawdown.armed"
    finally:
        engine.close_blocking()


def test_a_restart_in_the_middle_of_the_countdown_still_closes_at_the_deadline(
    guarded_home: Path, crash_file: Path,
) -> None:
    first = open_engine(guarded_home, crash_file)

    async def until_warning() -> datetime:
        minute = await buy_positions(first)
        while first.drawdown.guard.phase is GuardPhase.ARMED:
            assert minute < CRASH_AT + 10 * MINUTE, "the crash never breached the limit"
            await step(first, minute)
            minute += MINUTE
        deadline = first.drawdown.guard.deadline
        assert deadline is not None
        return deadline

    try:
        deadline = asyncio.run(until_warning())
    finally:
        first.close_blocking()  # the engine dies mid-countdown: no shutdown, no close-all

    second = open_engine(guarded_home, crash_file, start=None)  # resumes the broker's time
    try:
        async def restarted() -> None:
            await second.start()
            guard = second.drawdown.guard
            assert (guard.phase, guard.deadline) == (GuardPhase.WARNING, deadline)
            assert second.state.state is TradingState.REDUCING  # no entries meanwhile
            assert set(second.book.positions) >= set(HELD)  # adopted from the broker
            with pytest.raises(RpcError, match="no command can cancel or delay it"):
                await ControlMethods(second).trading_resume(NoParams(), OPERATOR)
            second.clock.jump_to(deadline - timedelta(seconds=1))  # type: ignore[attr-defined]
            await second.drawdown.tick()
            assert guard.phase is GuardPhase.WARNING
            second.clock.jump_to(deadline)  # type: ignore[attr-defined]
            await second.drawdown.tick()
            assert guard.phase is GuardPhase.CLOSING
            assert second.state.state is TradingState.HALTED
            minute = second._cursor
            assert minute is not None
            await step(second, minute)  # the close orders fill on the next bars
            await second.drawdown.tick()
            assert guard.phase is GuardPhase.HALTED and second.book.positions == {}
        asyncio.run(restarted())
        closing = [details for action, details in audit_rows(second)
                   if action == "risk.drawdown.closing"]
        assert len(closing) == 1 and closing[0]["deadline"].startswith(
            deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    finally:
        second.close_blocking()

    third = open_engine(guarded_home, crash_file, start=None)
    try:
        asyncio.run(third.start())
        # the halt outlives a restart: only an admin's risk.reset lifts it
        assert third.state.state is TradingState.HALTED
        assert third.state.reason.startswith("drawdown guard: ")
        assert third.drawdown.guard.phase is GuardPhase.HALTED
    finally:
        third.close_blocking()


def test_the_peak_outlives_a_restart(guarded_home: Path, crash_file: Path) -> None:
    engine = open_engine(guarded_home, crash_file)
    try:
        async def rise() -> None:
            await engine.start()
            await step(engine, START)
        asyncio.run(rise())
        peak = engine.drawdown.guard.peak
        assert peak is not None and peak == engine.account.equity  # type: ignore[union-attr]
        assert audit_rows(engine)[0][0] == "risk.drawdown.peak"
    finally:
        engine.close_blocking()
    again = open_engine(guarded_home, crash_file, start=None)
    try:
        # a lower equity after the restart is measured from the stored peak
        asyncio.run(again.start())
        assert again.drawdown.guard.peak == peak
    finally:
        again.close_blocking()
