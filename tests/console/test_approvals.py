"""View 6, entries waiting for approval (TRADE_CONFIRMATION_REQUIRED=true), and the guards'
lines on the dashboard: the real console app on the fixture link (its answers are what a
real engine's `entries.*` methods answer, docs of tbot/engine/control_methods.py), pictured
at 80x24 and 120x40 and driven from the keyboard.

Update the pictures with `pytest tests/console/test_approvals.py --snapshot-update` and
look at the diff before committing it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tbot.admin.demo_home import create_demo_home
from tbot.clock import FrozenClock
from tbot.control.client import RpcCallError
from tbot.control.wire import REFUSED
from tests.console import console_fixtures as fixtures
from tests.console.pilot_support import ToastingConsole, settle
from tests.console.test_snapshots import SIZES, SOCKET, console, discover_with_reviews, steps
from tui.approvals import screens as approval_screens
from tui.approvals.screens import NOT_AVAILABLE, NOT_REQUIRED, ApprovalsScreen
from tui.link.fixture_link import FixtureLink
from tui.model.snapshot import EngineStatus, PendingEntries
from tui.screens.confirm import ConfirmScreen, ReasonScreen
from tui.settings import ConsoleSettings
from tui.widgets.approval_banner import ApprovalBanner, render_approval_banner
from tui.widgets.grid_source import cell_plain_text
from tui.widgets.guard_banner import market_line
from tui.widgets.strategy_panel import render_strategy

PFE_ID = "open-20261120T1500-PFE-entry"
SQQQ_ID = "open-20261120T1500-SQQQ-entry"
WAITING = {"required": True, "waiting": 2}


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home's ledger, as test_snapshots makes it."""
    home = tmp_path_factory.mktemp("approval-snapshots") / "home"
    bot = create_demo_home(home, FrozenClock(datetime(2026, 11, 20, 21, 0, tzinfo=UTC)),
                           actor="cli:operator(uid=1000)")
    return bot.paths.ledger_db


def approvals_shown(pilot: Pilot[Any]) -> bool:
    """View 6 is on top and has read the queue (or learnt it cannot)."""
    screen = pilot.app.screen
    return isinstance(screen, ApprovalsScreen) and (
        screen.pending is not None or not screen.available)


# -- pictures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_approvals_view(snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path, approvals=WAITING, approval_methods=True,
                  answers={"entries.pending": fixtures.pending_answer()})
    assert snap_compare(app, terminal_size=size,
                        run_before=steps("6", ready=approvals_shown))


@pytest.mark.parametrize("size", SIZES)
def test_approve_confirmation(snap_compare: Any, size: tuple[int, int],
                              ledger_path: Path) -> None:
    app = console(ledger_path, approvals=WAITING, approval_methods=True,
                  answers={"entries.pending": fixtures.pending_answer()})
    run = steps("6", "a", ready=lambda pilot: approvals_shown(pilot)
                or isinstance(pilot.app.screen, ConfirmScreen))
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_dashboard_with_waiting_entries_and_market_flags(
        snap_compare: Any, size: tuple[int, int], ledger_path: Path) -> None:
    app = console(ledger_path, approvals=WAITING, approval_methods=True,
                  market=fixtures.market_record(flagged=True))
    assert snap_compare(app, terminal_size=size, run_before=steps())


def test_dashboard_with_a_calm_market_guard(snap_compare: Any, ledger_path: Path) -> None:
    app = console(ledger_path, approvals={"required": True, "waiting": 0},
                  market=fixtures.market_record())
    assert snap_compare(app, terminal_size=(80, 24), run_before=steps())


def test_dashboard_in_defense_mode(snap_compare: Any, ledger_path: Path) -> None:
    app = console(ledger_path, market=fixtures.market_record(), defense={
        "name": "defense", "active": True, "manual": True, "since": "2026-11-20T14:25:00Z",
        "reason": "DEFENSE_MODE_ACTIVE=true"})
    assert snap_compare(app, terminal_size=(80, 24), run_before=steps())


# -- approving and rejecting from the keyboard --------------------------------------------------


def pilot_console(*, role: str = "operator", answers: dict[str, object] | None = None,
                  approval_methods: bool = True, clock: FrozenClock | None = None,
                  approvals: dict[str, Any] | None = None) -> ToastingConsole:
    """The console on fixture records with two entries waiting, remembering its toasts."""
    clock = clock or FrozenClock(fixtures.FROZEN_NOW)
    settings = ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01", socket_path=SOCKET,
                               ledger_path=None)
    discover = discover_with_reviews(role)
    if approval_methods:
        discover = fixtures.with_approval_methods(discover)
    default = {"entries.pending": fixtures.pending_answer()} if approval_methods else {}

    def link(state: Any, notify: Any) -> FixtureLink:
        return FixtureLink(state, notify, clock,
                           status=fixtures.status_record(approvals=approvals or WAITING),
                           discover=discover, answers={**default, **(answers or {})})

    app = ToastingConsole(settings, link, clock=clock)
    app.animation_level = "none"
    return app


async def open_approvals(pilot: Pilot[Any]) -> ApprovalsScreen:
    """Press 6 and wait until the view has read the queue."""
    await settle(pilot, lambda: pilot.app.live.status is not None)
    await pilot.press("6")
    await settle(pilot, lambda: approvals_shown(pilot))
    screen = pilot.app.screen
    assert isinstance(screen, ApprovalsScreen)
    return screen


def grid_rows(screen: ApprovalsScreen) -> list[list[str]]:
    """The table's rows as plain text."""
    source = screen.grid.source
    return [[cell_plain_text(cell) for cell in row.cells]
            for row in source.rows(0, source.count())]


def note(screen: ApprovalsScreen) -> str:
    """The line over the table ("" when hidden)."""
    widget = screen.query_one("#approvals-note", Static)
    content = widget.content
    return str(content) if widget.has_class("-shown") else ""


async def test_the_view_lists_each_waiting_entry_with_its_countdown_and_details() -> None:
    app = pilot_console()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        assert grid_rows(screen) == [
            ["4m10s", "PFE", "long", "27.31", "open", "", "PFE 27.31 > range high x 1.02"],
            ["45s", "SQQQ", "bearish", "11.42", "open", "SNAP",
             "SNAP 8.05 > range high x 1.02"],
        ]
        assert screen.selected is not None and screen.selected.id == PFE_ID
        assert note(screen) == ""


async def test_the_countdown_ticks_down_between_reads_at_the_simulation_s_speed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No polling: only the console's clock moves (the fixture's sim runs at x60).
    monkeypatch.setattr(approval_screens, "POLL_SECONDS", 3600.0)
    clock = FrozenClock(fixtures.FROZEN_NOW)
    app = pilot_console(clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        clock.advance(timedelta(seconds=2))  # 120 s of engine time
        # The app's own one-second tick redraws the countdowns.
        await settle(pilot, lambda: [row[0] for row in grid_rows(screen)]
                     == ["2m10s", "expired"])


async def test_approve_asks_y_n_naming_the_entry_then_sends_it_and_logs_the_answer() -> None:
    app = pilot_console(answers={"entries.approve": {"approved": PFE_ID,
                                                     "client_order_id": PFE_ID}})
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(pilot)
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.title_text == "Approve open: long PFE at about 27.31?"
        assert PFE_ID in dialog.body_text and "4m10s" in dialog.body_text
        assert not any(method == "entries.approve" for method, _ in app.link.calls)
        await pilot.press("y")
        await settle(pilot, lambda: bool(app.live.commands))
        entry = app.live.commands[-1]
        assert (entry.method, entry.params, entry.ok) == ("entries.approve", {"id": PFE_ID},
                                                          True)
        assert entry.outcome == f"approved: long PFE sent as {PFE_ID}"
        assert ("entries.approve", {"id": PFE_ID}) in app.link.calls
        assert (entry.outcome, "information") in app.toasts


async def test_answering_no_sends_nothing_and_says_so() -> None:
    app = pilot_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(pilot)
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await settle(pilot, lambda: bool(app.live.commands))
        assert app.live.commands[-1].outcome == "cancelled: nothing sent"
        assert not any(method == "entries.approve" for method, _ in app.link.calls)


async def test_a_refused_approval_shows_the_engine_s_reason() -> None:
    why = ("entry open-20261120T1500-PFE-entry dropped: PFE is at 27.60, 106.2 bps from "
           "the 27.31 it was chosen at (MAX_SLIPPAGE_BPS 50)")
    app = pilot_console(answers={"entries.approve": RpcCallError(REFUSED, why)})
    async with app.run_test(size=(80, 24)) as pilot:
        await open_approvals(pilot)
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await settle(pilot, lambda: bool(app.live.commands))
        entry = app.live.commands[-1]
        assert not entry.ok and entry.outcome == f"refused: REFUSED: {why}"
        assert (entry.outcome, "error") in app.toasts


async def test_reject_sends_the_operator_s_reason_or_a_default_one() -> None:
    app = pilot_console(answers={"entries.reject": {"rejected": SQQQ_ID}})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        await pilot.press("j")  # the second entry
        await settle(pilot, lambda: screen.selected is not None
                     and screen.selected.id == SQQQ_ID)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ReasonScreen))
        assert app.screen.title_text == "Reject open: bearish SQQQ (for SNAP) at about 11.42?"
        await pilot.press(*"earnings", "enter")
        await settle(pilot, lambda: bool(app.live.commands))
        assert ("entries.reject", {"id": SQQQ_ID, "reason": "earnings"}) in app.link.calls
        assert app.live.commands[-1].outcome == "rejected: bearish SQQQ (earnings)"
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press("enter")
        await settle(pilot, lambda: len(app.live.commands) == 2)
        assert ("entries.reject", {"id": SQQQ_ID, "reason": "rejected from the console"}
                ) in app.link.calls


async def test_a_viewer_sees_the_entries_but_the_keys_say_why_nothing_is_sent() -> None:
    app = pilot_console(role="viewer")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        assert len(grid_rows(screen)) == 2
        assert "not approve them: needs the operator role (you are viewer)" in note(screen)
        await pilot.press("a")
        await settle(pilot, lambda: bool(app.live.commands))
        assert app.live.commands[-1].outcome == ("not sent: needs the operator role "
                                                 "(you are viewer)")
        assert not any(method == "entries.approve" for method, _ in app.link.calls)


async def test_an_older_engine_without_the_methods_says_approvals_are_not_available() -> None:
    app = pilot_console(approval_methods=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        assert not screen.available and note(screen) == NOT_AVAILABLE
        assert grid_rows(screen) == []
        await pilot.press("a")
        await settle(pilot, lambda: bool(app.toasts))
        assert app.toasts[-1] == (NOT_AVAILABLE, "warning")


async def test_with_confirmation_off_the_view_says_entries_do_not_wait() -> None:
    app = pilot_console(answers={"entries.pending": fixtures.pending_answer([],
                                                                            required=False)},
                        approvals={"required": False, "waiting": 0})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        assert note(screen) == NOT_REQUIRED
        assert "TRADE_CONFIRMATION_REQUIRED=false" in NOT_REQUIRED
        assert grid_rows(screen) == []


async def test_an_approval_alert_reads_the_queue_again_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(approval_screens, "POLL_SECONDS", 3600.0)
    app = pilot_console()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_approvals(pilot)
        link = app.link
        assert isinstance(link, FixtureLink)
        only_pfe = fixtures.pending_answer([fixtures.pending_entry_record(
            "PFE", "27.31", "27.31", 250)])
        link.set_answer("entries.pending", only_pfe)
        link.push_event("alerts", {
            "level": "info", "trigger": "approval_dropped", "strategy": "open",
            "symbol": "SQQQ", "message": f"entry {SQQQ_ID} dropped: not approved before its "
                                         "window's breakout phase ended at 15:02Z"},
            fixtures.FROZEN_NOW)
        await settle(pilot, lambda: len(grid_rows(screen)) == 1)
        assert grid_rows(screen)[0][1] == "PFE"


async def test_the_dashboard_line_counts_the_waiting_entries_and_6_opens_them() -> None:
    app = pilot_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: app.live.status is not None)
        banner = app.screen.query_one(ApprovalBanner)
        assert banner.has_class("-shown")
        assert str(banner.content).strip() == "2 entries await approval — press 6"
        await pilot.press("6")
        await settle(pilot, lambda: approvals_shown(pilot))


# -- what the lines say -----------------------------------------------------------------------


def test_the_banner_is_hidden_while_nothing_waits_and_on_an_older_engine() -> None:
    one = EngineStatus.from_wire(fixtures.status_record(approvals={"required": True,
                                                                   "waiting": 1}))
    shown = render_approval_banner(one, online=False)
    assert shown is not None
    assert str(shown).strip() == "1 entry awaits approval — press 6 (last known)"
    none = EngineStatus.from_wire(fixtures.status_record(approvals={"required": True,
                                                                    "waiting": 0}))
    assert render_approval_banner(none, online=True) is None
    older = EngineStatus.from_wire(fixtures.status_record())
    assert older.approvals is None and older.market_guard is None
    assert render_approval_banner(older, online=True) is None


def test_the_market_line_says_calm_with_its_limits() -> None:
    status = EngineStatus.from_wire(fixtures.status_record(market=fixtures.market_record()))
    line = market_line(status.market_guard, 36)
    assert line is not None and line.plain == "market calm (gap 5%, spread 150bps)"


def test_the_market_line_shortens_its_flags_to_fit_but_keeps_the_review() -> None:
    status = EngineStatus.from_wire(fixtures.status_record(
        market=fixtures.market_record(flagged=True)))
    guard = status.market_guard
    assert guard is not None
    shown = {width: line.plain for width in (80, 60, 36, 24)
             if (line := market_line(guard, width)) is not None}
    assert shown == {
        80: "market 2 flagged: PFE gap -7.9%, SNAP spread 212bps · review PFE",
        60: "market 2 flagged: PFE gap, SNAP spread · review PFE",
        36: "market flags PFE, SNAP · review PFE",
        24: "market flags … · review PFE",
    }
    assert market_line(None) is None  # an engine without the guard: no line


def test_the_strategy_panel_puts_the_market_guard_under_the_broker() -> None:
    from tui.model.live_state import ConnectionInfo, LinkState, LiveState

    live = LiveState(connection=ConnectionInfo(LinkState.ONLINE, fixtures.FROZEN_NOW, "s"))
    live.status = EngineStatus.from_wire(fixtures.status_record(
        market=fixtures.market_record(flagged=True)))
    lines = render_strategy(live, 36).plain.splitlines()
    assert lines[4:6] == ["broker SIM ● healthy", "market flags PFE, SNAP · review PFE"]


def test_defense_mode_leads_the_market_line_while_it_is_on() -> None:
    from tui.model.live_state import ConnectionInfo, LinkState, LiveState

    live = LiveState(connection=ConnectionInfo(LinkState.ONLINE, fixtures.FROZEN_NOW, "s"))
    defense = {"name": "defense", "active": True, "manual": False,
               "since": "2026-11-20T14:58:00Z", "reason": "drawdown 10.2% reached 10%"}
    live.status = EngineStatus.from_wire(fixtures.status_record(
        market=fixtures.market_record(flagged=True), defense=defense))
    assert live.status.defense is not None and live.status.defense.active
    lines = render_strategy(live, 44).plain.splitlines()
    assert lines[5] == "DEFENSE market flags PFE, SNAP · review PFE"
    live.status = EngineStatus.from_wire(fixtures.status_record(
        defense={**defense, "active": False}))
    assert not any("DEFENSE" in line for line in render_strategy(live, 44).plain.splitlines())
    live.status = EngineStatus.from_wire(fixtures.status_record(defense=defense))  # no market
    assert "DEFENSE defense mode on" in render_strategy(live, 44).plain


def test_status_blocks_of_a_newer_guard_are_read_tolerantly() -> None:
    market = {"name": "market", "flags": [{"symbol": "XYZ", "kind": "halt", "at": None}]}
    status = EngineStatus.from_wire(fixtures.status_record(market=market))
    guard = status.market_guard
    assert guard is not None and guard.slippage_flags == 0 and guard.review == ()
    line = market_line(guard, 80)
    assert line is not None and line.plain == "market 1 flagged: XYZ halt"


def test_pending_entries_parse_prices_and_times_exactly() -> None:
    pending = PendingEntries.from_wire(fixtures.pending_answer())
    first = pending.entries[0]
    assert str(first.reference_price) == "27.31" and first.seconds_left == 250
    assert first.expires_at == fixtures.FROZEN_NOW + timedelta(seconds=250)
