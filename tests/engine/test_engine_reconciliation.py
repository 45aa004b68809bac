"""Reconciliation in a real engine: a simulated day with every fault, then `tbot recon`;
syncs and resolutions through the socket with the caller's role enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tbot.control.wire import FORBIDDEN, REFUSED
from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import run_tbot, set_env_key, verify_clean

ALL_FAULTS = ("phantom_fill,drop_fill,restate_price,pending_fill,dividend,deposit,"
              "unknown_fee,cash_drift,unknown_position")
CASH_ACCOUNTS = {"DIV": "4050", "CSD": "3010"}


def recon(home: Path, *args: str) -> tuple[int, Any]:
    result = run_tbot("recon", *args, "--home", home, "--json")
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(result.stdout + result.stderr) from None


def resolve_everything(home: Path, breaks: list[dict[str, Any]]) -> None:
    """What a bookkeeper would do with each break (accept where the broker is right)."""
    for row in breaks:
        kind, status = row["kind"], row["status"]
        args = ["resolve", str(row["id"])]
        if kind == "cash" and status == "unmapped":
            code = row["broker_value"].split()[0]
            account = CASH_ACCOUNTS.get(code, "5045")
            args += ["--action", "accept-broker", "--account", account]
        elif kind == "balance":
            args += ["--action", "accept-broker", "--account", "5050"]
        elif kind == "fill" and status in ("mismatch", "broker-only"):
            args += ["--action", "accept-broker"]
        else:
            args += ["--action", "keep-ledger"]
        code, answer = recon(home, *args, "--reason", f"test: {kind} {status}")
        assert code == 0, answer


def test_a_day_with_every_fault_then_recon_shows_each_kind_and_resolves_clean(home,
                                                                              start_engine):
    replace_setting(home, "SIM_FAULTS", ALL_FAULTS)
    engine = start_engine(home, "--sim", "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(240) == 0, engine.output()

    code, synced = recon(home, "sync")
    assert code == 1 and synced["outcome"] == "complete"
    code, listed = recon(home, "breaks")
    assert code == 1
    kinds = {(b["kind"], b["status"]) for b in listed["breaks"]}
    assert {("fill", "local-only"), ("fill", "mismatch"), ("fill", "broker-only"),
            ("cash", "unmapped"), ("balance", "mismatch")} <= kinds, kinds
    assert any(kind == "position" for kind, _ in kinds), kinds
    assert all(b["detail"] for b in listed["breaks"])

    # Accepting the broker's fills can show what they hid (a FIFO cost basis beside the
    # broker's average cost): the bookkeeper clears what each re-sync shows.
    breaks = listed["breaks"]
    for _ in range(3):
        resolve_everything(home, breaks)
        recon(home, "sync")
        code, left = recon(home, "breaks")
        breaks = left["breaks"]
        if not breaks:
            break
    assert breaks == [] and code == 0, breaks
    verify_clean(home)
    code, runs = recon(home, "runs")
    assert {run["trigger"] for run in runs["runs"]} >= {"startup", "end_of_day", "manual"}


def test_with_an_engine_running_recon_goes_through_its_socket(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "60",
                          "--start", f"{TRADING_DAY}T14:40:00Z").wait_ready()

    _, synced = recon(home, "sync")
    assert synced["trigger"] == "manual" and synced["outcome"] == "complete"
    assert synced["counts"].get("ok", 0) >= 1  # at least the funding
    status = engine.call("recon.status")
    assert status["running"] is None and status["last_sync"]["run_id"] == synced["run_id"]
    busy = engine.error_of("recon.sync")  # within SYNC_MIN_INTERVAL_SECONDS of the last
    assert busy.code == REFUSED and "try again" in busy.message
    unknown = engine.error_of("recon.resolve", {"id": 424242, "action": "keep-ledger",
                                                "reason": "no such break"})
    assert unknown.code == REFUSED and "no break #424242" in unknown.message
    assert engine.call("recon.positions")["balances"][0]["passed"] is True
    engine.terminate()


def test_a_viewer_reads_reconciliation_but_may_not_sync_or_resolve(home, start_engine):
    set_env_key(home, "CONTROL_ROLES", "@owner=viewer")
    engine = start_engine(home, "--sim", "--speed", "60",
                          "--start", f"{TRADING_DAY}T14:40:00Z").wait_ready()

    assert engine.call("recon.breaks")["breaks"] == []
    assert engine.call("recon.runs")["runs"][0]["trigger"] == "startup"
    for method, params in (("recon.sync", {}),
                           ("recon.resolve", {"id": 1, "action": "keep-ledger",
                                              "reason": "I am only a viewer"})):
        error = engine.error_of(method, params)
        assert error.code == FORBIDDEN, (method, error.message)
    engine.terminate()


def transfer_in(home: Path, symbol: str = "AAPL", quantity: str = "5") -> None:
    """Shares at the broker that no fill brought (a transfer-in): the ledger knows none."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from tbot.admin.bot_home import open_home
    from tbot.admin.sim_account import sim_broker_settings
    from tbot.broker.sim.sim_broker import SimBroker
    from tbot.clock import FrozenClock

    opened = open_home(home)
    settings = sim_broker_settings(opened.config.bot, opened.identity.bot_identity)
    clock = FrozenClock(datetime(2026, 11, 20, 14, 20, tzinfo=UTC))
    with SimBroker.open(opened.paths.sim_broker_file, settings, clock) as broker:
        store = broker._store  # the account's own file: the edge of the world
        with store.transaction():
            store.save_position(symbol, Decimal(quantity), Decimal("100"))


def test_an_unexplained_position_at_start_keeps_trading_reducing_until_resolved(
    home, start_engine
):
    transfer_in(home)
    engine = start_engine(home, "--sim", "--speed", "60",
                          "--start", f"{TRADING_DAY}T14:40:00Z").wait_ready()

    state = engine.call("engine.status")["trading_state"]
    assert state["state"] == "reducing", state
    assert state["reason"].startswith("reconciliation: unexplained position difference")
    assert "AAPL" in state["reason"]
    (position,) = engine.call("recon.breaks", {"kind": "position"})["breaks"]
    assert position["trade_id"] == "AAPL" and position["status"] == "broker-only"
    engine.call("recon.resolve", {"id": position["id"], "action": "keep-ledger",
                                  "reason": "a transfer-in; its paperwork follows"})
    engine.wait_until(lambda s: s["trading_state"]["state"] == "active", 60,
                      "trading resumed once the difference is resolved")
    engine.terminate()


def test_the_start_up_block_can_be_turned_off(home, start_engine):
    transfer_in(home)
    replace_setting(home, "STARTUP_RECON_BLOCKS_TRADING", "false")
    engine = start_engine(home, "--sim", "--speed", "60",
                          "--start", f"{TRADING_DAY}T14:40:00Z").wait_ready()

    assert engine.call("engine.status")["trading_state"]["state"] == "active"
    assert "STARTUP_RECON_BLOCKS_TRADING=false" in engine.output()
    engine.terminate()
