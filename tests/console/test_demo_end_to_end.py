"""`tbot demo` end to end, as a newcomer runs it: in a real terminal, the console shows a
simulated trading day happening, and quitting leaves no engine behind."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from tests.console.terminal_screen import TerminalScreen, engine_processes, is_running
from tests.engine.engine_process import REPO, tbot_command
from tui.demo import PID_FILE_NAME

SIGNED_AMOUNT = re.compile(r"[+-][\d,]+\.\d\d")
TODAY_ROW = re.compile(r"\btoday((?:\s+[+-]?[\d,]+\.\d\d)+)")
FILLS_COUNTER = re.compile(r"fills (\d+)")


def today_pnl(screen: str) -> list[str]:
    """The signed amounts on the PnL panel's `today` row (realized, unrealized, total)."""
    row = TODAY_ROW.search(screen)
    return SIGNED_AMOUNT.findall(row.group(1)) if row else []


def trading_happened(screen: str) -> bool:
    """The engine's counters show fills and today's PnL is no longer zero."""
    fills = FILLS_COUNTER.search(screen)
    amounts = today_pnl(screen)
    return (
        fills is not None
        and int(fills.group(1)) > 0
        and any(amount.strip("+-").replace(",", "") != "0.00" for amount in amounts)
    )


def test_the_demo_shows_a_trading_day_and_quitting_leaves_no_engine(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    pid_file = home / "control" / PID_FILE_NAME
    terminal = TerminalScreen(
        tbot_command("demo", "--speed", "300", "--home", home), columns=100, lines=30, cwd=REPO
    )
    engine_pid: int | None = None
    try:
        terminal.wait_for("DEMO_US_SIM_BOT01 · Dashboard", timeout=30)
        terminal.wait_for("online as admin", timeout=15)
        engine_pid = int(pid_file.read_text())
        assert is_running(engine_pid)

        # At x300 the opening range forms in 4 s of real time; entries follow.
        screen = terminal.wait_for(trading_happened, timeout=30)
        assert "sim " in screen and "×300" in screen  # the simulated clock and its speed

        terminal.press("q")
        assert terminal.wait_exit(timeout=20) == 0
        assert not is_running(engine_pid)
        assert engine_processes(home) == []
        assert not (home / "control" / "engine.sock").exists()
        assert not pid_file.exists()
        farewell = terminal.transcript.decode(errors="replace")
        assert "The demo engine stopped." in farewell
        assert "The demo home is kept at" in farewell
    finally:
        terminal.close()
        # Whatever failed above, no engine outlives the test.
        for pid in [*engine_processes(home), *([engine_pid] if engine_pid else [])]:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_trading_check_needs_fills_and_a_pnl_that_moved() -> None:
    before = "orders 0  fills 0  rej 0  err 0   today    +0.00     +0.00      0.00    +0.00"
    filled_flat = "orders 2  fills 2  rej 0  err 0   today    +0.00     +0.00      0.00    +0.00"
    after = "orders 6  fills 6  rej 0  err 0   today    +19.62     +0.00      0.60    +19.02"
    losing = "orders 1  fills 1  rej 0  err 0   today    +0.00    -1,204.50      0.35  -1,204.85"
    assert not trading_happened(before)
    assert not trading_happened(filled_flat)
    assert trading_happened(after)
    assert trading_happened(losing)
    assert today_pnl("PnL today USD\nx today  +1.00  -2.00  0.10  -1.10") == [
        "+1.00", "-2.00", "-1.10"
    ]


OPEN_BREAKS = re.compile(r"breaks (\d+) \(4\)")


def open_breaks_counted(screen: str) -> bool:
    """The dashboard's review line counts at least one open break."""
    found = OPEN_BREAKS.search(screen)
    return found is not None and int(found.group(1)) > 0


def test_the_demo_day_brings_breaks_and_a_fee_that_clear_from_the_keyboard(
        tmp_path: Path) -> None:
    """The newcomer's path: the faults show on the dashboard, a sync from view 4 brings the
    day's breaks and the unmapped fee, the phantom fill is found with `/` and its ledger
    kept (reason, then `y`), view 5 shows the fee waiting."""
    home = tmp_path / "demo"
    terminal = TerminalScreen(
        tbot_command("demo", "--speed", "300", "--home", home), columns=80, lines=24, cwd=REPO
    )
    try:
        terminal.wait_for("online as admin", timeout=45)
        # At x300 the cash faults fire 6 s into the session; the engine's checks see them.
        terminal.wait_for(open_breaks_counted, timeout=60)

        terminal.press("4")
        terminal.wait_for("Reconciliation", timeout=15)
        # A sync reads the day's activity: the fee no rule maps. The engine refuses one
        # within SYNC_MIN_INTERVAL_SECONDS of the last (the start-up sync): ask again.
        for _ in range(12):
            terminal.press("s")
            try:
                terminal.wait_for("MISCFEE", timeout=5)
                break
            except AssertionError:
                continue
        terminal.wait_for("MISCFEE", timeout=30)

        # The fill the engine never placed (fault mode's phantom fill), found with `/` (the
        # engine searches). Not the cash assertion: every check during the session may
        # re-state it under a new id.
        terminal.press("/")
        # Type once the filter line has the focus: letters before it are the view's keys.
        terminal.wait_for("enter keeps it", timeout=10)
        terminal.press(*"phantom", "enter")
        terminal.wait_for(lambda text: "match /phantom" in text or "/phantom" in text,
                          timeout=15)
        terminal.wait_for(lambda text: "fill" in text and "broker-only" in text
                          and "s Sync now" in text, timeout=15)
        for _ in range(10):  # the searched page may still be on its way
            if "Keep ledger" in terminal.display():
                break
            if "s Sync now" in terminal.display():  # still the list: open the break
                terminal.press("enter")
            try:
                terminal.wait_for("Keep ledger", timeout=2)
            except AssertionError:
                continue
        terminal.wait_for("Keep ledger", timeout=5)
        terminal.press("k")
        terminal.wait_for("Keep the ledger for break", timeout=15)
        terminal.press(*"not ours: the broker desk reverses it", "enter")
        terminal.wait_for("y: Keep ledger", timeout=15)
        terminal.press("y")
        terminal.wait_for("resolved (keep-ledger)", timeout=15)

        terminal.wait_for("not open", timeout=15)  # the break screen reads it again
        terminal.press("escape")
        terminal.wait_for("s Sync now", timeout=15)
        terminal.press("5")
        terminal.wait_for(lambda text: "Mapping queue" in text and "MISCFEE" in text,
                          timeout=30)
        terminal.press("q")
        assert terminal.wait_exit(timeout=20) == 0
    finally:
        terminal.close()
