"""A real engine on the simulated broker: a whole day, every method, stops and crashes."""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from pathlib import Path

from tbot.control.client import ControlClient
from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import (
    IDENTITY,
    ledger_rows,
    run_tbot,
    set_env_key,
    verify_clean,
)

OUTPUT = Path("output") / IDENTITY
BEFORE_BREAKOUT = f"{TRADING_DAY}T14:48:00Z"


def test_a_simulated_day_trades_books_balanced_entries_and_verifies(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(120) == 0, engine.output()
    verify_clean(home)
    trades = ledger_rows(home, "SELECT trntype, strategy, broker FROM trades")
    audit_actions = {row[0] for row in ledger_rows(home, "SELECT action FROM audit_trail")}
    assert {"BUY", "SELL"} <= {trntype for trntype, _, _ in trades}
    # The template's day trades in all three windows.
    assert {strategy for _, strategy, _ in trades} == {"open", "mid", "close"}
    assert "entry.post" in audit_actions
    # The day's end left a lot checkpoint (flat, after the day's last entry): the next start
    # replays the lots from here.
    (checkpoint,) = ledger_rows(home, "SELECT details FROM audit_trail "
                                      "WHERE action = 'lots.checkpoint'")
    last_entry = ledger_rows(home, "SELECT MAX(id) FROM ledger_entries")[0][0]
    assert json.loads(checkpoint[0]) == {"through_entry_id": last_entry, "lots": []}
    (balances,) = ledger_rows(home, "SELECT details FROM audit_trail "
                                    "WHERE action = 'ledger.balances'")
    assert json.loads(balances[0])["through_entry_id"] == last_entry
    logs = home / OUTPUT / "logs"
    assert "FILL" in (logs / "open.log").read_text()
    # The template's LOG_FORMAT=json: only that file is written.
    history = home / OUTPUT / "trades" / f"{IDENTITY}_BOT_trade_history.json"
    assert not history.with_suffix(".csv").exists()
    round_trips = json.loads(history.read_text())
    assert round_trips and {"ticker", "entry_price", "exit_price", "PnL"} <= set(round_trips[0])
    summary = json.loads(
        (home / OUTPUT / "summaries" / f"{IDENTITY}_BOT_daily_summary_{TRADING_DAY}.json")
        .read_text()
    )
    assert summary["day"] == TRADING_DAY
    # Every block is in its strategy's log with its reason, and counted in the summary.
    mid = summary["strategies"]["mid"]
    assert mid["filter_blocks"].get("fundamentals", 0) >= 1
    assert "SKIP" in (logs / "mid.log").read_text()


def test_events_carry_the_engine_s_simulated_time_not_the_wall_clock(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "60", "--start", BEFORE_BREAKOUT).wait_ready()

    async def first_state_event() -> dict[str, object]:
        async with await ControlClient.connect(engine.socket) as client:
            await client.subscribe(["state"])
            await client.call("trading.pause", {"reason": "event clock"})
            async with asyncio.timeout(20):
                async for event in client.notifications():
                    return event
        raise AssertionError("no state event")

    event = asyncio.run(first_state_event())
    assert str(event["at"]).startswith(TRADING_DAY), event


def test_the_pnl_history_has_a_sample_a_minute_on_the_engine_clock(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "600", "--start",
                          f"{TRADING_DAY}T14:25:00Z").wait_ready()
    engine.wait_until(lambda status: status["clock"]["now"] >= f"{TRADING_DAY}T14:40",
                               what="fifteen simulated minutes")
    history = engine.call("pnl.history")
    points = history["points"]
    assert history["day"] == TRADING_DAY and len(points) >= 5
    times = [point["at"] for point in points]
    assert times == sorted(set(times)) and all(at.startswith(TRADING_DAY) for at in times)
    # Nothing traded before the open window: flat PnL, equity at the funding.
    assert {Decimal(point["total"]) for point in points} == {Decimal(0)}
    assert {Decimal(point["equity"]) for point in points} == {Decimal("100000")}


def test_the_engine_answers_every_method(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "60", "--start", BEFORE_BREAKOUT).wait_ready()
    status = engine.call("engine.status")
    assert status["bot"] == IDENTITY
    assert status["clock"]["mode"] == "sim" and status["clock"]["speed"] == 60
    assert status["trading_state"]["state"] == "active"
    assert status["strategy"]["active"] == "open"
    assert status["broker"]["name"] == "SIM" and status["broker"]["healthy"] is True
    assert set(status["counters"]) == {"signals", "orders", "fills", "rejections", "errors",
                                       "retries"}
    assert Decimal(engine.call("account.summary")["equity"]) == Decimal("100000")
    assert "positions" in engine.call("positions.list")
    assert "orders" in engine.call("orders.list", {"open_only": True})
    assert engine.call("pnl.summary")["currency"] == "USD"
    history = engine.call("pnl.history")
    assert history["currency"] == "USD" and history["day"] == TRADING_DAY
    assert engine.call("ledger.verify")["ok"] is True

    paused = engine.call("trading.pause", {"reason": "lunch"})
    assert paused["trading_state"]["state"] == "reducing"
    assert engine.call("trading.resume")["trading_state"]["state"] == "active"
    assert engine.call("strategy.disable", {"strategy": "open"}) == {"strategy": "open",
                                                                      "enabled": False}
    assert engine.call("engine.status")["strategy"]["enabled"]["open"] is False
    assert engine.call("strategy.enable", {"strategy": "open"})["enabled"] is True

    killed = engine.call("risk.kill", {"reason": "test"})
    assert killed["trading_state"]["state"] == "halted"
    assert engine.error_of("trading.resume").code == -32010  # halted: only risk.reset
    assert engine.call("risk.reset")["trading_state"]["state"] == "active"
    assert engine.error_of("strategy.enable", {"strategy": "nope"}).code == -32602
    assert engine.error_of("no.such.method").code == -32601

    assert engine.call("engine.shutdown") == {"shutting_down": True}
    assert engine.wait(60) == 0, engine.output()
    actions = [row[0] for row in ledger_rows(home, "SELECT action FROM audit_trail")]
    for method in ("trading.pause", "trading.resume", "risk.kill", "risk.reset",
                   "engine.shutdown"):
        assert f"control.{method}" in actions
    verify_clean(home)


def test_a_second_engine_on_the_same_home_exits_at_once(home, start_engine):
    start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
    second = run_tbot("engine", "--home", home, "--sim")
    assert second.returncode == 2
    assert "lock" in second.stderr.lower() or "another" in second.stderr.lower()


def test_the_engine_refuses_to_start_on_a_config_problem(home):
    replace_setting(home, "MAX_TRADES", "many")
    result = run_tbot("engine", "--home", home, "--sim")
    assert result.returncode == 2
    assert "MAX_TRADES" in result.stderr and "Traceback" not in result.stderr


def test_a_viewer_cannot_use_the_kill_switch(home, start_engine):
    set_env_key(home, "CONTROL_ROLES", f"uid:{os.getuid()}=viewer")
    engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
    error = engine.error_of("risk.kill", {"reason": "not mine to pull"})
    assert error.code == -32001
    assert engine.call("engine.status")["trading_state"]["state"] == "active"
    engine.terminate()
    refused = ledger_rows(
        home, "SELECT details FROM audit_trail WHERE action = 'control.risk.kill'"
    )
    assert len(refused) == 1 and "refused" in refused[0][0]


def test_disable_all_trades_starts_halted(home, start_engine):
    replace_setting(home, "DISABLE_ALL_TRADES", "true")
    engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
    status = engine.call("engine.status")
    assert status["trading_state"]["state"] == "halted"
    assert "DISABLE_ALL_TRADES" in status["trading_state"]["reason"]


def test_the_daily_loss_limit_halts_flattens_and_audits(home, start_engine):
    # 0.000001 of 100,000 is 0.10; a fee of 1 per share makes the first fill breach it.
    replace_setting(home, "DAILY_LOSS_LIMIT", "0.000001")
    replace_setting(home, "SIM_FEE_PER_SHARE", "1")
    engine = start_engine(home, "--sim", "--speed", "120", "--start", BEFORE_BREAKOUT)
    engine.wait_ready()
    engine.wait_until(lambda s: s["trading_state"]["state"] == "halted", 90, "the kill switch")
    engine.wait_until(lambda s: not engine.call("positions.list")["positions"], 60, "flat")
    engine.terminate()
    kills = ledger_rows(home, "SELECT details FROM audit_trail WHERE action = 'risk.kill'")
    assert kills and "DAILY_LOSS_LIMIT" in kills[0][0]
    verify_clean(home)
