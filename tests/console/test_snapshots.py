"""Every console screen, pictured at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic by construction: a frozen clock, fixture engine records (a FixtureLink, no
engine), a ledger made by `create_demo_home` under that frozen clock, no animations and no
blinking cursor. Update the pictures with `pytest tests/console/test_snapshots.py
--snapshot-update` and look at the diff before committing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tbot.admin.demo_home import create_demo_home
from tbot.clock import FrozenClock
from tests.console import console_fixtures as fixtures
from tui.app import ConsoleApp
from tui.link.fixture_link import FixtureLink
from tui.settings import ConsoleSettings
from tui.widgets.data_grid import DataGrid

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SOCKET = Path("/srv/tbot/bot01/control/engine.sock")
Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home's ledger: one sample day, written under a frozen clock."""
    home = tmp_path_factory.mktemp("snapshots") / "home"
    bot = create_demo_home(home, FrozenClock(datetime(2026, 11, 20, 21, 0, tzinfo=UTC)),
                           actor="cli:operator(uid=1000)")
    return bot.paths.ledger_db


REVIEW_READS = (("recon.breaks", "viewer"), ("mapping.queue", "viewer"))
"""The reads behind the dashboard's review line (open breaks, queued items)."""


def review_answers() -> dict[str, object]:
    """Three open breaks (two fills, one cash) and two queued items, as the engine counts."""
    return {
        "recon.breaks": {"breaks": [], "total": 3, "offset": 0, "limit": 1,
                         "open_by_kind": {"fill": {"mismatch": 1, "broker-only": 1},
                                          "cash": {"unmapped": 1}}},
        "mapping.queue": {"items": [], "total": 2, "offset": 0, "limit": 1},
    }


def discover_with_reviews(role: str) -> dict[str, Any]:
    """`rpc.discover` of console_fixtures plus the two review reads."""
    record = fixtures.discover_record(role)
    record["methods"] = [*record["methods"], *(
        {"name": name, "summary": name, "min_role": minimum, "changes_state": False,
         "allowed": True, "params": []}
        for name, minimum in REVIEW_READS
    )]
    return record


def console(ledger: Path | None, *, online: bool = True, role: str = "admin",
            trading_state: str = "active", reason: str = "started",
            answers: dict[str, object] | None = None,
            drawdown: dict[str, Any] | None = None, market: dict[str, Any] | None = None,
            approvals: dict[str, Any] | None = None,
            approval_methods: bool = False,
            defense: dict[str, Any] | None = None) -> ConsoleApp:
    """The real console app on fixture engine records (`market`, `approvals` and the
    approval methods only when asked for: an engine older than them by default)."""
    clock = FrozenClock(fixtures.FROZEN_NOW)
    settings = ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01", socket_path=SOCKET,
                               ledger_path=ledger)

    def link(state: Any, notify: Any) -> FixtureLink:
        return FixtureLink(
            state, notify, clock,
            status=fixtures.status_record(trading_state=trading_state, reason=reason,
                                          drawdown=drawdown, market=market,
                                          approvals=approvals, defense=defense),
            positions=fixtures.positions_records(), orders=fixtures.orders_records(),
            pnl=fixtures.pnl_record(), account=fixtures.account_record(),
            pnl_history=fixtures.pnl_history_record(),
            discover=fixtures.with_approval_methods(discover_with_reviews(role))
            if approval_methods else discover_with_reviews(role),
            fills=[fixtures.fill_event(1, "INTC", "buy", "21.917808219", "36.5073",
                                       "2026-11-20T14:53:00Z")],
            online=online, answers={**review_answers(), **(answers or {})},
        )

    app = ConsoleApp(settings, link, clock=clock)
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot[Any], check: Callable[[], bool] | None = None) -> None:
    """Wait for background work (a worker reading the ledger) and stop cursors blinking."""
    for _ in range(200):
        await pilot.pause(0.02)
        if check is None or check():
            break
    else:
        raise AssertionError("the screen never settled")
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def rows_shown(pilot: Pilot[Any]) -> bool:
    """The first table of the screen has its rows."""
    grids = pilot.app.screen.query(DataGrid)
    return bool(grids) and grids.first().row_count > 0


def steps(*keys: str, ready: Callable[[Pilot[Any]], bool] | None = None) -> Steps:
    """Press `keys` one at a time, letting each screen settle."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: pilot.app.live.status is not None)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, (lambda: ready(pilot)) if ready else None)

    return run


@pytest.mark.parametrize("size", SIZES)
def test_dashboard(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    assert snap_compare(console(ledger_path), terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_chart_toggled(snap_compare: Any, size: tuple[int, int],
                                 ledger_path: Path) -> None:
    # 80x24: the chart in the positions' place; 120x40: the chart hidden, more positions.
    assert snap_compare(console(ledger_path), terminal_size=size, run_before=steps("t"))


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_halted(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path, trading_state="halted", reason="daily loss limit")
    assert snap_compare(app, terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_offline(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path, online=False)
    assert snap_compare(app, terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_orders_and_fills(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path)
    assert snap_compare(app, terminal_size=size, run_before=steps("2", ready=rows_shown))


@pytest.mark.parametrize("size", SIZES)
def test_ledger_trial_balance(snap_compare: Any, size: tuple[int, int],
                              ledger_path: Path) -> None:
    app = console(ledger_path)
    assert snap_compare(app, terminal_size=size, run_before=steps("3", ready=rows_shown))


@pytest.mark.parametrize("size", SIZES)
def test_ledger_account(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path)
    run = steps("3", "enter", ready=rows_shown)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_ledger_entry(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path)
    run = steps("3", "enter", "enter", ready=rows_shown)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_ledger_journal(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path)
    assert snap_compare(app, terminal_size=size, run_before=steps("3", "a", ready=rows_shown))


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path, role="viewer")
    assert snap_compare(app, terminal_size=size, run_before=steps("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_kill_confirmation(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path)
    assert snap_compare(app, terminal_size=size, run_before=steps("X", "B", "O"))


@pytest.mark.parametrize("size", SIZES)
def test_command_log(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    answers: dict[str, object] = {"trading.pause": {"trading_state": "reducing"}}
    app = console(ledger_path, answers=answers)
    run = steps("p", "enter", "c", ready=lambda pilot: bool(pilot.app.live.commands)
                or not pilot.app.screen.query(DataGrid))
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_strategy_choice(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    assert snap_compare(console(ledger_path), terminal_size=size, run_before=steps("d"))


@pytest.mark.parametrize("size", SIZES)
def test_pause_reason(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    assert snap_compare(console(ledger_path), terminal_size=size, run_before=steps("p"))


@pytest.mark.parametrize("size", SIZES)
def test_resume_confirmation(snap_compare: Any, size: tuple[int, int],
                             ledger_path: Path) -> None:
    assert snap_compare(console(ledger_path), terminal_size=size, run_before=steps("r"))


@pytest.mark.parametrize("size", SIZES)
def test_command_palette(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path, role="operator")  # reset shows as not for this role
    assert snap_compare(app, terminal_size=size, run_before=steps("ctrl+p", "k", "i"))
