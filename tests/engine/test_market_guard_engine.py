"""The market guard and the close throttle in the real engine (in this process) on the real
simulated broker and ledger, on a generated day where one stock gaps down mid-session
(replayed with `--bars`); and the telemetry of a whole engine process, over its socket and
its Prometheus endpoint."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import open_home
from tbot.config.setting_types import StrategyName
from tbot.engine import order_flow
from tbot.engine.engine import Engine, EngineOptions
from tbot.engine.order_intents import Purpose
from tbot.market.calendar import TradingCalendar
from tbot.market.crash_day import crash_bars, write_bar_file
from tbot.market.generated_feed import GeneratedFeed
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import EngineProcess
from tests.engine.in_process import entry, set_bot_keys, step

D = Decimal
MINUTE = timedelta(minutes=1)
START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
GAP_AT = START + 5 * MINUTE
SEED = 20261121  # the template's SIM_SEED
GAPPER, STEADY = "PFE", "F"




@pytest.fixture(scope="module")
def gap_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated day, PFE alone falling 8% in the minute that starts at GAP_AT."""
    day_bars = GeneratedFeed(SEED, TradingCalendar()).day_bars(START.date())
    bars = [bar for symbol, symbol_bars in day_bars.items() if symbol != GAPPER
            for bar in symbol_bars]
    bars += crash_bars({GAPPER: day_bars[GAPPER]}, GAP_AT, D("0.08"), over_minutes=1)
    bars.sort(key=lambda bar: (bar.start, bar.symbol))
    return write_bar_file(tmp_path_factory.mktemp("gap") / "gap-day.csv", bars)


def open_engine(home: Path, bars: Path) -> Engine:
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=START,
                                                   bars_file=bars))
    engine.start_blocking()
    return engine






async def hold_both(engine: Engine) -> datetime:
    """Start at START and buy GAPPER and STEADY; the next minute to process."""
    await engine.start()
    await step(engine, START)
    for symbol in (GAPPER, STEADY):
        await order_flow.on_entry_signal(engine, entry(engine, symbol, START + MINUTE))
    await step(engine, START + MINUTE)
    assert set(engine.book.positions) == {GAPPER, STEADY}
    return START + 2 * MINUTE


def strategy_log(engine: Engine, strategy: str) -> str:
    path = engine.paths.strategy_log_file(strategy)
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize("action", ["close", "review"])
def test_a_gap_on_one_symbol_blocks_it_and_acts_on_its_position_only(
    home: Path, gap_file: Path, action: str
) -> None:
    set_bot_keys(home, MARKET_GUARD_POSITION_ACTION=action)
    engine = open_engine(home, gap_file)
    alerts: list[Mapping[str, Any]] = []
    engine.bus.subscribe("alerts", lambda _topic, data: alerts.append(data))

    async def scenario() -> None:
        minute = await hold_both(engine)
        while minute <= GAP_AT:
            await step(engine, minute)
            minute += MINUTE
        await step(engine, minute)  # a close order, if any, fills on these bars
        said = "market guard: PFE moved -7.89% in one check"
        assert said in str(engine.market.entry_refusal(GAPPER, minute))
        assert engine.market.entry_refusal(STEADY, minute) is None
        if action == "close":  # PFE is flat again: another strategy's entry is refused
            await order_flow.on_entry_signal(
                engine, entry(engine, GAPPER, minute + MINUTE, StrategyName.OPEN))
            refusal = [a for a in alerts if a.get("trigger") == "entry_refused"][-1]
            assert said in str(refusal["message"])

    try:
        asyncio.run(scenario())
        (flagged,) = [a for a in alerts if a.get("guard") == "market"]
        assert flagged["symbol"] == GAPPER and flagged["trigger"] == "gap"
        status = engine.report.status()["guards"]["market"]
        assert [flag["symbol"] for flag in status["flags"]] == [GAPPER]
        if action == "close":
            assert set(engine.book.positions) == {STEADY}
            (closed,) = [i for i in engine.intents.all()
                         if i.instrument == GAPPER and i.purpose is Purpose.EXIT]
            assert closed.reason == "market_guard_gap"
            assert "closing PFE" in str(flagged["message"])
        else:
            assert set(engine.book.positions) == {GAPPER, STEADY}
            assert status["review"] == [GAPPER]
            assert "review the position in PFE" in str(flagged["message"])
    finally:
        engine.close_blocking()


def test_a_second_close_within_the_interval_waits_and_then_goes(
    home: Path, gap_file: Path
) -> None:
    engine = open_engine(home, gap_file)

    async def scenario() -> None:
        minute = await hold_both(engine)
        held = engine.book.positions[STEADY]
        at = minute + MINUTE
        await order_flow.exit_position(engine, held, Purpose.EXIT, "stop_loss", at)
        (first,) = [i for i in engine.intents.working_for(STEADY) if i.purpose is Purpose.EXIT]
        # The broker cancels it before it fills: the position is still there.
        gateway, _ = engine.require_started()
        assert first.order is not None
        first.order = await gateway.call("cancel", gateway.broker.cancel, first.order.order_id)
        await order_flow.exit_position(engine, held, Purpose.FLATTEN, "kill_switch", at)
        closes = [i for i in engine.intents.all()
                  if i.instrument == STEADY and i.purpose is not Purpose.ENTRY]
        assert closes == [first]  # held back, not sent
        (waiting,) = engine.closes.deferred()
        assert (waiting.purpose, waiting.reason) == ("flatten", "kill_switch")
        sent_at = engine.clock.now()
        engine.clock.jump_to(sent_at + timedelta(seconds=29))  # type: ignore[attr-defined]
        await order_flow.send_deferred_closes(engine, at)
        assert len([i for i in engine.intents.all() if i.instrument == STEADY]) == 2
        engine.clock.jump_to(sent_at + timedelta(seconds=30))  # type: ignore[attr-defined]
        await order_flow.send_deferred_closes(engine, at)
        second = [i for i in engine.intents.all()
                  if i.instrument == STEADY and i.purpose is Purpose.FLATTEN]
        assert len(second) == 1 and second[0].reason == "kill_switch"

    try:
        asyncio.run(scenario())
        assert "CLOSE-DEFERRED F" in strategy_log(engine, "close")
    finally:
        engine.close_blocking()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_running_engine_reports_its_metrics_over_the_socket_and_prometheus(
    home: Path,
) -> None:
    port = free_port()
    set_bot_keys(home, METRICS_LISTEN=f"127.0.0.1:{port}")
    engine = EngineProcess(home, "--sim", "--speed", "600", "--start",
                           f"{TRADING_DAY}T14:29:00Z")
    try:
        engine.wait_ready()
        engine.wait_until(lambda _status: engine.call("engine.metrics")["metrics"][
            "tbot_fills"]["samples"], timeout=120, what="a fill counted")
        answer = engine.call("engine.metrics")
        metrics = answer["metrics"]
        assert metrics["tbot_recon_syncs"]["type"] == "counter"
        syncs = {tuple(sorted(s["labels"].items())): s["value"]
                 for s in metrics["tbot_recon_syncs"]["samples"]
                 if s["name"] == "tbot_recon_syncs_total"}
        assert syncs[(("kind", "sync"), ("outcome", "complete"), ("trigger", "startup"))] >= 1
        (positions,) = metrics["tbot_open_positions"]["samples"]
        assert positions["value"] >= 0
        assert answer["alert_delivery"] == {"configured": False}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode()
        assert "tbot_fills_total{strategy=" in text
        assert 'tbot_trading_state{state="active"} 1.0' in text
    finally:
        engine.close()


def test_a_taken_metrics_address_stops_the_start_with_a_clear_error(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        set_bot_keys(home, METRICS_LISTEN=f"127.0.0.1:{port}")
        engine = EngineProcess(home, "--sim", "--speed", "600")
        try:
            assert engine.wait(timeout=60) == 2
            assert f"METRICS_LISTEN=127.0.0.1:{port}: cannot serve the metrics there" in (
                engine.output())
            assert "Traceback" not in engine.output()
        finally:
            engine.close()


def test_a_malformed_metrics_address_is_a_config_error(home: Path) -> None:
    set_bot_keys(home, METRICS_LISTEN="localhost")
    engine = EngineProcess(home, "--sim")
    try:
        assert engine.wait(timeout=60) == 2
        assert "METRICS_LISTEN" in engine.output() and "host:port" in engine.output()
    finally:
        engine.close()
