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
