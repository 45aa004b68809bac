"""Crashes, graceful stops and config edits: the ledger stays right and nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tbot.broker.sim.settings import SimBrokerSettings
from tbot.broker.sim.sim_broker import SimBroker
from tbot.clock import SystemClock
from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import IDENTITY, ledger_rows, verify_clean

OUTPUT = Path("output") / IDENTITY
BEFORE_BREAKOUT = f"{TRADING_DAY}T14:48:00Z"


def broker_state(home: Path) -> tuple[dict[str, Decimal], set[str]]:
    """The simulated account's positions and fill ids, read from its own state file."""
    settings = SimBrokerSettings(
        account_id=f"SIM-{IDENTITY}", starting_cash=Decimal(100000),
        fee_per_share=Decimal("0.005"), slippage_bps=Decimal(2),
        max_volume_participation=Decimal("0.1"),
    )
    path = home / "storage" / "sim_broker" / f"{IDENTITY}_SIM_broker.db"
    with SimBroker.open(path, settings, SystemClock()) as broker:
        positions = {p.symbol: p.quantity for p in broker.positions()}
        fills: set[str] = set()
        token = None
        while True:
            page = broker.fetch_all_trades(datetime(1970, 1, 1, tzinfo=UTC), page_token=token)
            fills |= {fill.fill_id for fill in page.items}
            token = page.next_token
            if token is None:
                break
    return positions, fills


def test_sigkill_mid_session_then_restart_books_nothing_twice_and_adopts_positions(
    home, start_engine
):
    first = start_engine(home, "--sim", "--speed", "120", "--start", BEFORE_BREAKOUT)
    first.wait_ready()
    first.wait_until(lambda s: s["counters"]["fills"] >= 1, 90, "a first fill")
    held_before = first.call("positions.list")["positions"]
    first.kill()

    verify_clean(home)
    positions, fills = broker_state(home)
    assert positions, "the crash should leave the broker holding something"
    assert held_before

    second = start_engine(home, "--sim", "--speed", "120").wait_ready()
    adopted = {row["symbol"]: Decimal(row["quantity"]) for row in
               second.call("positions.list")["positions"]}
    assert adopted == positions  # taken from the broker, not assumed flat
    status = second.call("engine.status")
    assert status["clock"]["now"] >= f"{TRADING_DAY}T14:5"  # resumed, not replayed
    second.terminate()

    verify_clean(home)
    _, fills = broker_state(home)
    booked = [row[0] for row in ledger_rows(home, "SELECT fitid FROM ledger_entries "
                                                  "WHERE trntype IN ('BUY', 'SELL')")]
    assert len(booked) == len(set(booked))
    assert set(booked) == fills  # every fill of ours booked exactly once


def test_sigterm_closes_positions_and_writes_the_summary(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "120", "--start", BEFORE_BREAKOUT)
    engine.wait_ready()
    engine.wait_until(lambda s: engine.call("positions.list")["positions"], 90, "a position")
    assert engine.terminate() == 0, engine.output()
    positions, _ = broker_state(home)
    assert positions == {}
    summary = home / OUTPUT / "summaries" / f"{IDENTITY}_BOT_daily_summary_{TRADING_DAY}.json"
    assert summary.exists()
    verify_clean(home)


def test_sigterm_keeps_positions_when_configured(home, start_engine):
    replace_setting(home, "CLOSE_POSITIONS_ON_SHUTDOWN", "false")
    engine = start_engine(home, "--sim", "--speed", "120", "--start", BEFORE_BREAKOUT)
    engine.wait_ready()
    engine.wait_until(lambda s: engine.call("positions.list")["positions"], 90, "a position")
    assert engine.terminate() == 0, engine.output()
    positions, _ = broker_state(home)
    assert positions
    verify_clean(home)


def test_config_edits_wait_for_reload_which_applies_all_or_nothing(home, start_engine):
    engine = start_engine(home, "--sim", "--start", BEFORE_BREAKOUT).wait_ready()
    replace_setting(home, "MAX_TRADES", "many")
    engine.wait_until(lambda s: s["config"]["changed_on_disk"], 5, "the edit to be noticed")

    invalid = engine.error_of("config.reload")
    assert invalid.code == -32012
    assert any("MAX_TRADES" in problem for problem in invalid.data)

    replace_setting(home, "MAX_TRADES", "1")
    replace_setting(home, "WEIGHTS", "1")
    replace_setting(home, "SIM_SEED", "7")
    needs_restart = engine.error_of("config.reload")
    assert needs_restart.code == -32010 and "SIM_SEED" in needs_restart.message
    assert needs_restart.data == {"restart_keys": ["SIM_SEED"]}

    replace_setting(home, "SIM_SEED", "20261121")
    reloaded = engine.call("config.reload")
    assert reloaded == {"reloaded": True, "changed_keys": ["MAX_TRADES", "WEIGHTS"]}
    assert engine.call("engine.status")["config"]["changed_on_disk"] is False


def test_fault_mode_activity_is_left_for_reconciliation_not_booked(home, start_engine):
    replace_setting(home, "SIM_FAULTS", "phantom_fill,deposit,unknown_fee")
    engine = start_engine(home, "--sim", "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(120) == 0, engine.output()
    _, broker_fills = broker_state(home)
    booked = {row[0] for row in ledger_rows(home, "SELECT fitid FROM ledger_entries")}
    phantom = broker_fills - booked
    assert len(phantom) == 1  # the fill the engine never placed stays out of the books
    assert "never placed" in engine.output()
    assert "reconciliation" in engine.output()
    verify_clean(home)
