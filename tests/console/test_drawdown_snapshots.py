"""The drawdown guard on the dashboard, pictured at 80x24 and 120x40: the countdown banner
with its reason while the guard counts down, and after the close-all the HALTED banner
saying why with the drawdown against its limit (the fixture records of test_snapshots).

Update the pictures with `pytest tests/console/test_drawdown_snapshots.py
--snapshot-update` and look at the diff before committing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.demo_home import create_demo_home
from tbot.clock import FrozenClock
from tests.console import console_fixtures as fixtures
from tests.console.test_snapshots import SIZES, console, steps
from tui.model.snapshot import EngineStatus
from tui.widgets.guard_banner import drawdown_line, render_guard_banner


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home's ledger, as test_snapshots makes it."""
    home = tmp_path_factory.mktemp("drawdown-snapshots") / "home"
    bot = create_demo_home(home, FrozenClock(datetime(2026, 11, 20, 21, 0, tzinfo=UTC)),
                           actor="cli:operator(uid=1000)")
    return bot.paths.ledger_db


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_drawdown_countdown(snap_compare: Any, size: tuple[int, int],
                                      ledger_path: Path) -> None:
    app = console(ledger_path, trading_state="reducing", reason=fixtures.DRAWDOWN_REASON,
                  drawdown=fixtures.drawdown_record("warning"))
    assert snap_compare(app, terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_drawdown_halted(snap_compare: Any, size: tuple[int, int],
                                   ledger_path: Path) -> None:
    app = console(ledger_path, trading_state="halted", reason=fixtures.DRAWDOWN_REASON,
                  drawdown=fixtures.drawdown_record("halted"))
    assert snap_compare(app, terminal_size=size, run_before=steps())


def test_the_banner_counts_down_on_the_engine_s_clock_and_says_why() -> None:
    status = EngineStatus.from_wire(fixtures.status_record(
        trading_state="reducing", drawdown=fixtures.drawdown_record("warning")))
    banner = render_guard_banner(status, online=True)
    assert banner is not None
    first, second = banner.plain.splitlines()
    assert first.strip() == ("DRAWDOWN GUARD: closing every position in 7s at 15:01:10Z, "
                             "then HALTED")
    assert second.strip() == ("drawdown 20.56% ≥ MAX_DRAWDOWN_PCT 20% · peak 100,250.00 → "
                              "equity 79,640.00")


def test_no_banner_while_the_guard_is_armed_but_the_panel_shows_drawdown_against_its_limit(
) -> None:
    status = EngineStatus.from_wire(fixtures.status_record())
    assert render_guard_banner(status, online=True) is None
    line = drawdown_line(status.drawdown)
    assert line is not None and line.plain == "drawdown 0.24% of 20%  peak 100,250.00"
    assert drawdown_line(None) is None  # an engine without the guard: no line
