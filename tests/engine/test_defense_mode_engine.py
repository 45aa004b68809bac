"""Defense mode in the real engine (in this process) on the simulated broker and ledger:
turned on by the setting or by a drawdown, it sizes with DEFENSE_MODE_TOTAL_ALLOCATION,
caps the session's trades, tags every order, and writes disaster_mode.log."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tbot.admin.bot_home import open_home
from tbot.engine import order_flow
from tbot.engine.engine import Engine, EngineOptions
from tests.engine.conftest import TRADING_DAY
from tests.engine.in_process import entry, set_bot_keys, step

MINUTE = timedelta(minutes=1)
START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")


def open_engine(home: Path, **keys: str) -> Engine:
    set_bot_keys(home, **keys)
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=START))
    engine.start_blocking()
    return engine






def test_defense_mode_by_the_setting_compresses_and_tags_every_trade(home: Path) -> None:
    engine = open_engine(home, DEFENSE_MODE_ACTIVE="true", MAX_TRADES="3",
                         WEIGHTS="0.5,0.3,0.2", DEFENSE_MODE_TRADE_LIMIT_PCT="66",
                         TOTAL_ALLOCATION="0.1", DEFENSE_MODE_TOTAL_ALLOCATION="0.01")

    async def scenario() -> None:
        await engine.start()
        assert engine.defense.active
        await step(engine, START)
        for symbol in ("PFE", "F"):  # 66% of 3 trades is 1: the second is refused
            await order_flow.on_entry_signal(engine, entry(engine, symbol, START + MINUTE))
        await step(engine, START + MINUTE)

    try:
        asyncio.run(scenario())
        assert set(engine.book.positions) == {"PFE"}
        held = engine.book.positions["PFE"]
        capital = engine.session_start_equity or Decimal(0)
        # sized on 1% of the capital (x the first weight), not 10%
        assert held.quantity * engine.last_prices["PFE"] < capital * Decimal("0.01")
        log = engine.paths.strategy_log_file("close").read_text()
        assert "ORDER PFE" in log and "defense=true" in log
        assert "MAX_TRADES=1 reached" in log
        disaster = engine.paths.disaster_mode_log.read_text()
        assert "DEFENSE-MODE ON by the setting: DEFENSE_MODE_ACTIVE=true" in disaster
        status = engine.report.status()["guards"]["defense"]
        assert status["active"] is True and status["manual"] is True
        with sqlite3.connect(f"file:{engine.paths.ledger_db}?mode=ro", uri=True) as db:
            memos = [memo for (memo,) in db.execute("SELECT memo FROM ledger_entries")]
            audits = [json.loads(details) for (details,) in db.execute(
                "SELECT details FROM audit_trail WHERE action = 'defense.on'")]
        assert any("[defense mode]" in memo for memo in memos)
        assert audits == [{"manual": True, "reason": "DEFENSE_MODE_ACTIVE=true"}]
    finally:
        engine.close_blocking()


def test_a_drawdown_past_the_trigger_turns_it_on_by_itself(home: Path) -> None:
    engine = open_engine(home, DEFENSE_MODE_AUTO_DRAWDOWN_PCT="5")
    states: list[str] = []
    engine.bus.subscribe("state", lambda _t, data: states.append(str(data["reason"])))

    async def scenario() -> None:
        await engine.start()
        assert not engine.defense.active
        await engine.defense.observe_drawdown(Decimal("5.2"))

    try:
        asyncio.run(scenario())
        assert engine.defense.active and engine.trading_bot().TOTAL_ALLOCATION == (
            engine.bot.DEFENSE_MODE_TOTAL_ALLOCATION)
        assert engine.limits.max_trades < engine.bot.MAX_TRADES or engine.bot.MAX_TRADES == 1
        assert any(reason.startswith("defense mode on: drawdown 5.2%") for reason in states)
        assert "DEFENSE-MODE ON automatically" in engine.paths.disaster_mode_log.read_text()
    finally:
        engine.close_blocking()
