"""View 4, reconciliation review: the real console app on a fixture engine that pages and
searches the breaks of a simulated bot's fault day (tests/console/recon_fixtures.py), and
on a real ledger file with the engine stopped.

Snapshots (80x24 and 120x40) use a frozen clock and fixture data; update them with
`pytest tests/console/test_recon_view.py --snapshot-update` and look at the SVGs before
committing them. The Pilot tests check what is sent: a dry run, then (only after `y`) the
resolution, never twice, never by a viewer, never offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tbot.control.client import RpcCallError
from tbot.control.wire import REFUSED
from tests.console import console_fixtures as fixtures
from tests.console import recon_fixtures as recon
from tests.console.pilot_support import settle
from tests.console.recon_fixtures import ReconConsole
from tests.console.test_dashboard import grid_rows, screen_text
from tests.reconcile.conftest import clock, make_home, recon_of, session_of  # noqa: F401
from tests.reconcile.test_fault_day import ALL_FAULTS, fault_day
from tui.recon.detail import BreakScreen
from tui.recon.dialogs import ManualEntryScreen, ResolveConfirmScreen
from tui.recon.screens import LEDGER_NOTE, ReconciliationScreen
from tui.screens.confirm import ReasonScreen
from tui.widgets.account_picker import AccountPickerScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SMALL = (80, 24)
RESOLVE = "recon.resolve"
BREAKS = "recon.breaks"


# -- helpers ----------------------------------------------------------------------------------




def view(app: Any) -> ReconciliationScreen:
    screen = app.screen
    assert isinstance(screen, ReconciliationScreen), screen
    return screen


def breaks_read(app: Any) -> bool:
    screen = app.screen
    return (isinstance(screen, ReconciliationScreen) and not screen.reading
            and screen.source.loaded)


async def open_view(pilot: Pilot[Any]) -> ReconciliationScreen:
    """Wait for the engine's records, press 4, wait for the breaks."""
    app = pilot.app
    await settle(pilot, lambda: app.live.status is not None or not app.live.connection.online)
    await pilot.press("4")
    await settle(pilot, lambda: breaks_read(app))
    return view(app)


def shown(app: Any, kind: type) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, kind)


async def open_break(pilot: Pilot[Any], break_id: int) -> BreakScreen:
    """From the list, open break `break_id` and wait for it to be read."""
    screen = view(pilot.app)
    assert screen.grid.move_cursor_to_key(str(break_id))
    await pilot.press("enter")
    await settle(pilot, lambda: isinstance(pilot.app.screen, BreakScreen)
                 and pilot.app.screen.detail is not None)
    detail = pilot.app.screen
    assert isinstance(detail, BreakScreen)
    return detail


def page_reads(app: ReconConsole) -> list[Mapping[str, Any] | None]:
    """The view's `recon.breaks` reads (not the dashboard's count of open breaks)."""
    return [params for params in app.recon_link.calls_of(BREAKS) if params and "offset"
            in params]


def resolves(app: ReconConsole) -> list[Mapping[str, Any] | None]:
    return app.recon_link.calls_of(RESOLVE)


def steps(*keys: str, break_id: int | None = None,
          ready: Callable[[Pilot[Any]], bool] | None = None
          ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await open_view(pilot)
        if break_id is not None:
            await open_break(pilot, break_id)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, (lambda: ready(pilot)) if ready else None)

    return run


# -- snapshots --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_breaks(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(recon.console(), terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_break_detail(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(recon.console(), terminal_size=size, run_before=steps(break_id=2))


@pytest.mark.parametrize("size", SIZES)
def test_accept_confirmation(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("a", "enter", break_id=2,
                ready=lambda pilot: isinstance(pilot.app.screen,
                                               (ReasonScreen, ResolveConfirmScreen)))
    assert snap_compare(recon.console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_manual_entry_form(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("m", break_id=13,
                ready=lambda pilot: isinstance(pilot.app.screen, ManualEntryScreen))
    assert snap_compare(recon.console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_positions_tab(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("tab", ready=lambda pilot: view(pilot.app).positions is not None)
    assert snap_compare(recon.console(), terminal_size=size, run_before=run)


# -- the list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, (120, 40)])
async def test_the_breaks_show_every_column_newest_first(size: tuple[int, int]) -> None:
    app = recon.console()
    async with app.run_test(size=size) as pilot:
        screen = await open_view(pilot)
        rows = grid_rows(screen.grid)
        assert [row[0] for row in rows] == ["balance", "position", "position", "cash", "fill",
                                            "fill", "fill", "fill"]
        assert rows[3] == ["cash", "unmapped", "MISCFEE", "MISCFEE -12.34", "—", "-12.34",
                           "5m"]
        assert rows[6] == ["fill", "mismatch", "MSFT", "price 300.07", "price 300.06",
                           "-0.05", "5m"]
        assert rows[1][3:6] == ["quantity 5", "quantity 0", "+5 sh"]
        text = screen_text(app)
        assert "Breaks  8 open: fill 4 · cash 1 · position 2 · balance 1" in text
        assert "last sync 2026-11-20 14:58:00Z manual complete, 8 new breaks" in text
        assert all(len(line) <= size[0] for line in text.splitlines())
        header = next(line for line in text.splitlines() if "Broker says" in line)
        for title in ("Kind", "Status", "Subject", "Broker says", "Ledger says",
                      "Difference", "Age"):
            assert title in header
        assert app.recon_link.calls_of(BREAKS)[-1] == {"limit": 200, "offset": 0}


async def test_a_partial_sync_names_the_spans_it_did_not_read() -> None:
    app = recon.console()
    app_link_status = recon.status_record(outcome="partial", spans=[
        {"listing": "fill", "since": "2026-11-18T00:00:00Z", "until": "2026-11-19T00:00:00Z",
         "error": "timeout"}])
    async with app.run_test(size=(120, 40)) as pilot:
        app.recon_link.status = app_link_status
        await open_view(pilot)
        assert ("manual partial, 8 new breaks; not read: fill 2026-11-18..2026-11-19: "
                "timeout") in screen_text(app)


@pytest.mark.parametrize(("key", "status", "count"), [
    ("x", "mismatch", 2), ("l", "local-only", 1), ("b", "broker-only", 3),
    ("w", "pending", 1), ("u", "unmapped", 1), ("h", "resolved", 0)])
async def test_one_key_per_status_asks_the_engine_for_it(key: str, status: str,
                                                         count: int) -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        await pilot.press(key)
        await settle(pilot, lambda: breaks_read(app))
        assert app.recon_link.calls_of(BREAKS)[-1] == {"limit": 200, "offset": 0,
                                                       "status": status}
        assert {row[1] for row in grid_rows(screen.grid)} <= {status}
        assert screen.grid.row_count == count
        if not count:
            assert f"no {status} break" in screen_text(app)
        await pilot.press("o")
        await settle(pilot, lambda: breaks_read(app) and screen.grid.row_count == 8)
        assert app.recon_link.calls_of(BREAKS)[-1] == {"limit": 200, "offset": 0}


async def test_slash_searches_in_the_engine() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        await pilot.press("slash", "m", "s", "f", "t", "enter")
        await settle(pilot, lambda: breaks_read(app) and screen.grid.row_count == 1)
        assert app.recon_link.calls_of(BREAKS)[-1] == {"limit": 200, "offset": 0,
                                                       "search": "msft"}
        assert grid_rows(screen.grid)[0][2] == "MSFT"
        assert "1 open /msft" in screen_text(app)


async def test_a_hundred_thousand_breaks_are_read_a_page_at_a_time() -> None:
    many = [recon.break_record(number, "fill", f"SIM-F{number:06d}", "mismatch", "MSFT",
                               "price 1", "price 2", "-1", "0", "restated")
            for number in range(100_000, 0, -1)]
    app = recon.console(breaks=many)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        assert screen.grid.row_count == 100_000
        assert page_reads(app) == [{"limit": 200, "offset": 0}]
        screen.grid.go_to(50_000)
        await settle(pilot, lambda: screen.selected is not None)
        assert screen.selected.id == 50_000
        asked = page_reads(app)
        assert {"limit": 200, "offset": 49_800} in asked or {"limit": 200,
                                                              "offset": 50_000} in asked
        assert all(params and params["limit"] <= 500 for params in asked)


async def test_a_recon_event_reads_again_and_the_cursor_keeps_its_break() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        assert screen.grid.move_cursor_to_key("2")
        await settle(pilot)
        reads = len(app.recon_link.calls_of(BREAKS))
        app.recon_link.breaks.insert(0, recon.break_record(
            14, "fill", "SIM-F000009", "broker-only", "TSLA", "sell 2 TSLA @ 250", None,
            "500", "-2", "a fill of an order the engine never placed", age=0))
        app.recon_link.push_event("recon", {
            "event": "sync_finished", "run_id": 2, "trigger": "schedule",
            "outcome": "complete", "counts": {}, "new_breaks": [14], "closed": [],
            "spans_not_read": []}, fixtures.FROZEN_NOW + timedelta(seconds=5))
        await settle(pilot, lambda: screen.grid.row_count == 9 and not screen.reading)
        assert len(app.recon_link.calls_of(BREAKS)) > reads
        assert screen.grid.cursor_key == "2"
        assert grid_rows(screen.grid)[0][2] == "TSLA"


async def test_a_burst_of_events_costs_one_read_in_flight_and_one_pending() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        reads = len(app.recon_link.calls_of(BREAKS))
        for second in range(20):
            app.recon_link.push_event("recon", {
                "event": "break_resolved", "break_id": 1, "action": "keep-ledger",
                "actor": "alice"}, fixtures.FROZEN_NOW + timedelta(seconds=second))
        await settle(pilot, lambda: not screen.reading)
        assert len(app.recon_link.calls_of(BREAKS)) - reads <= 2


async def test_a_refused_read_is_one_error_line_not_a_crash() -> None:
    refused = RpcCallError(REFUSED, "the ledger could not be read: disk I/O error")
    app = recon.console(answers={BREAKS: refused})
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot, lambda: app.live.status is not None)
        await pilot.press("4")
        await settle(pilot, lambda: "REFUSED" in screen_text(app))
        text = " ".join(screen_text(app).split())
        assert "cannot read the breaks: REFUSED: the ledger could not be read" in text
        assert view(app).grid.row_count == 0


async def test_a_malformed_answer_keeps_the_last_good_page() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        app.recon_link.recon_answers[BREAKS] = {"breaks": [{"id": "thirteen"}], "total": 1}
        await pilot.press("g")
        await settle(pilot, lambda: not screen.reading and "cannot read" in screen_text(app))
        assert screen.grid.row_count == 8
        text = " ".join(screen_text(app).split())
        assert "cannot read the breaks" in text and "the last one is shown" in text


# -- one break --------------------------------------------------------------------------------


async def test_enter_opens_the_break_side_by_side_with_its_payload_and_history() -> None:
    app = recon.console()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(pilot)
        detail = await open_break(pilot, 2)
        text = screen_text(app)
        assert "#2 fill mismatch · MSFT" in text
        assert "says  buy 5 MSFT @ 300.07 fee 0.03" in text
        assert "says  buy 5 MSFT @ 300.06 fee 0.03" in text
        assert "≠ price 300.07" in text and "≠ price 300.06" in text
        assert "Dr 1115 MSFT" in text and "Cr 1070" in text
        assert "entry    #3" in text
        body = detail.query_one("#break-payload").render()
        assert f"hash {recon.HASH}" in str(body)
        assert '"price": "300.0700",  ≠' in str(body)
        history = str(detail.query_one("#break-history").render())
        assert "run #1 2026-11-20 14:57:58Z manual complete" in history
        assert "#2 2026-11-20 14:58:00Z mismatch" in history
        await pilot.press("escape")
        await settle(pilot, shown(app, ReconciliationScreen))
        assert resolves(app) == []


async def test_a_then_y_sends_the_dry_run_then_the_resolution() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 2)
        await pilot.press("a")
        await settle(pilot, shown(app, ReasonScreen))
        await pilot.press("enter")
        await settle(pilot, shown(app, ResolveConfirmScreen))
        params = {"id": 2, "action": "accept-broker", "reason": "the broker's record is right"}
        assert resolves(app) == [{**params, "dry_run": True}]
        text = screen_text(app)
        assert "Reverses SIM-TBOT_US_SIM_BOT01-F000003" in text
        assert "Posts entry SIM-TBOT_US_SIM_BOT01-F000003~c1" in text
        await pilot.press("y")
        await settle(pilot, lambda: len(resolves(app)) == 2 and isinstance(app.screen,
                                                                           BreakScreen))
        assert resolves(app)[1] == params
        outcome = "break #2 resolved (accept-broker): 2 entries posted, resolution #14"
        assert (outcome, "information") in app.toasts
        entry = app.live.commands[-1]
        assert (entry.method, entry.ok, entry.outcome) == (RESOLVE, True, outcome)


async def test_accepting_unmapped_cash_asks_for_the_account_first() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 10)
        await pilot.press("a")
        await settle(pilot, shown(app, AccountPickerScreen))
        await pilot.press(*"5070", "enter")
        await settle(pilot, shown(app, ReasonScreen))
        await pilot.press("enter")
        await settle(pilot, shown(app, ResolveConfirmScreen))
        assert "Dr 5070" in screen_text(app)
        await pilot.press("y")
        await settle(pilot, lambda: len(resolves(app)) == 2)
        assert resolves(app)[1] == {"id": 10, "action": "accept-broker", "account": "5070",
                                    "reason": "the broker's record is right"}


async def test_k_needs_a_reason_then_y() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 3)
        await pilot.press("k")
        await settle(pilot, shown(app, ReasonScreen))
        await pilot.press("enter")  # no reason: the dialog stays
        await settle(pilot)
        assert isinstance(app.screen, ReasonScreen) and resolves(app) == []
        await pilot.press(*"a known delay", "enter")
        await settle(pilot, shown(app, ResolveConfirmScreen))
        assert "Posts nothing" in screen_text(app)
        await pilot.press("y")
        await settle(pilot, lambda: len(resolves(app)) == 2)
        assert resolves(app) == [
            {"id": 3, "action": "keep-ledger", "reason": "a known delay", "dry_run": True},
            {"id": 3, "action": "keep-ledger", "reason": "a known delay"}]


async def test_m_books_a_balanced_entry_only() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 13)
        await pilot.press("m")
        await settle(pilot, shown(app, ManualEntryScreen))
        form = app.screen
        assert isinstance(form, ManualEntryScreen)
        assert form.lines() == [("", "-0.37"), ("", "0.37")]
        assert form.query_one("#send").disabled
        await pilot.press("ctrl+n")  # a third line, removed again
        await settle(pilot, lambda: len(form.lines()) == 3)
        await pilot.press("ctrl+r")
        await settle(pilot, lambda: len(form.lines()) == 2)
        form.query(".entry-account").first(Input).focus()
        await pilot.press(*"1070", "tab", "tab", *"5070")  # the first line's account, then
        await settle(pilot)  # the second's
        assert form.lines() == [("1070", "-0.37"), ("5070", "0.37")]
        await pilot.press("ctrl+s")  # no reason yet: not sent
        await settle(pilot)
        assert isinstance(app.screen, ManualEntryScreen) and resolves(app) == []
        assert ("a reason is required", "warning") in app.toasts
        form.query_one("#entry-reason", Input).value = "cash drift at the broker"
        form.query_one("#entry-lines").query(".entry-amount").last(Input).value = "0.30"
        await settle(pilot)
        assert form.query_one("#send").disabled
        assert "out by -0.07" in screen_text(app)
        form.query_one("#entry-lines").query(".entry-amount").last(Input).value = "0.37"
        await settle(pilot)
        assert not form.query_one("#send").disabled
        await pilot.press("ctrl+s")
        await settle(pilot, shown(app, ResolveConfirmScreen))
        await pilot.press("y")
        await settle(pilot, lambda: len(resolves(app)) == 2)
        assert resolves(app)[1] == {
            "id": 13, "action": "book-manually", "reason": "cash drift at the broker",
            "postings": [{"account": "1070", "amount": "-0.37"},
                         {"account": "5070", "amount": "0.37"}],
            "memo": "break #13: booked by hand"}


@pytest.mark.parametrize("key", ["n", "escape"])
async def test_n_or_esc_at_the_question_sends_nothing_real(key: str) -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 2)
        await pilot.press("k", *"late", "enter")
        await settle(pilot, shown(app, ResolveConfirmScreen))
        await pilot.press(key)
        await settle(pilot, shown(app, BreakScreen))
        assert resolves(app) == [{"id": 2, "action": "keep-ledger", "reason": "late",
                                  "dry_run": True}]
        assert app.live.commands[-1].outcome == "cancelled: nothing sent"


async def test_a_double_press_sends_one_dry_run_and_enter_never_confirms() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 2)
        gate = asyncio.Event()
        app.recon_link.dry_runs_wait = gate
        await pilot.press("k", *"late", "enter", "enter")
        await settle(pilot)
        gate.set()
        await settle(pilot, shown(app, ResolveConfirmScreen))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ResolveConfirmScreen)
        assert len(resolves(app)) == 1
        await pilot.press("n")
        await settle(pilot, shown(app, BreakScreen))
        assert all(params and params.get("dry_run") for params in resolves(app))


async def test_a_refused_dry_run_asks_nothing_and_sends_nothing() -> None:
    refused = RpcCallError(REFUSED, "#2 is not an open break (status resolved)",
                           {"code": "already_resolved"})
    app = recon.console(answers={RESOLVE: refused})
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, 2)
        await pilot.press("k", *"late", "enter")
        await settle(pilot, lambda: any("dry run failed" in text for text, _ in app.toasts))
        assert isinstance(app.screen, BreakScreen)
        assert len(resolves(app)) == 1
        assert app.live.commands[-1].outcome.startswith("not sent: the dry run failed: "
                                                        "REFUSED")


@pytest.mark.parametrize(("break_id", "why"), [
    (3, "a pending record is followed up by later syncs"),
    (12, "a position break clears when the breaks that explain it are resolved")])
async def test_accept_is_disabled_where_the_engine_would_refuse_it(break_id: int,
                                                                   why: str) -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await open_break(pilot, break_id)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, BreakScreen) and resolves(app) == []
        assert any(text.startswith(why) for text, _ in app.toasts)


async def test_a_viewer_sees_every_change_disabled_with_the_reason() -> None:
    app = recon.console(role="viewer")
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        why = "needs the admin role (you are viewer)"
        assert f"read-only: syncing and resolving {why}" in " ".join(
            screen_text(app).split())
        await pilot.press("s")
        await settle(pilot)
        assert (f"Syncing is not available: {why}", "warning") in app.toasts
        enabled = {active.binding.id: active.enabled
                   for active in screen.active_bindings.values()}
        assert enabled["recon.sync"] is False and enabled["recon.refresh"] is True
        detail = await open_break(pilot, 2)
        for key in ("a", "k", "m"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, BreakScreen)
        assert resolves(app) == [] and app.recon_link.calls_of("recon.sync") == []
        for name in ("Accepting the broker's record", "Keeping the ledger",
                     "Booking a manual entry"):
            assert (f"{name} is not available: {why}", "warning") in app.toasts
        enabled = {active.binding.id: active.enabled
                   for active in detail.active_bindings.values()}
        assert not any(enabled[f"recon_break.{name}"] for name in ("accept", "keep",
                                                                    "manual"))


# -- sync -------------------------------------------------------------------------------------


async def test_s_starts_a_sync_and_the_header_follows_its_progress() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        app.recon_link.status = recon.status_record(running={
            "trigger": "manual", "started_at": "2026-11-20T15:01:03Z",
            "fetched": {"fill": 120, "cash": 30}})
        await pilot.press("s")
        await settle(pilot, lambda: "sync running" in screen_text(app))
        assert app.recon_link.calls_of("recon.sync") == [{}]
        assert "sync running (manual since 15:01:03Z): fetched cash 30 · fill 120" in \
            screen_text(app)
        app.recon_link.status = recon.status_record()
        await settle(pilot, lambda: "last sync" in screen_text(app) and not screen.reading)
        assert app.live.commands[-1].outcome == "sync started"


async def test_a_refused_sync_says_when_to_try_again() -> None:
    busy = RpcCallError(REFUSED, "a sync ran less than 60 s ago; try again in 42.0 s",
                        {"retry_after": 42.0})
    app = recon.console(answers={"recon.sync": busy})
    async with app.run_test(size=SMALL) as pilot:
        await open_view(pilot)
        await pilot.press("s")
        await settle(pilot, lambda: any("retry after" in text for text, _ in app.toasts))
        outcome = ("refused: REFUSED: a sync ran less than 60 s ago; try again in 42.0 s "
                   "(retry after 42 s)")
        assert (outcome, "warning") in app.toasts
        assert app.live.commands[-1].outcome == outcome


# -- positions --------------------------------------------------------------------------------


async def test_the_positions_tab_compares_broker_ledger_and_engine() -> None:
    app = recon.console()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        await pilot.press("tab")
        await settle(pilot, lambda: screen.positions is not None)
        rows = grid_rows(screen.positions_grid)
        assert [row[:6] for row in rows] == [
            ["AAPL", "1", "0", "0", "1", "missing in ledger"],
            ["AMD", "5", "0", "0", "0", "missing in ledger"],
            ["NVDA", "3", "3", "3", "0", "matched"]]
        assert grid_rows(screen.balances_grid) == [
            ["USD", "1070", "100,458.686", "100,571.476", "-112.42", "-0.37",
             "FAILS (±0.01)"]]
        assert "Positions  3 symbols checked  2 differ  cash USD FAILS" in screen_text(app)


# -- offline: the ledger file -------------------------------------------------------------------


@pytest.fixture
def fault_ledger(make_home: Any, session_of: Any, recon_of: Any) -> Path:  # noqa: F811
    """A real ledger with the fault day's breaks, synced by the offline service."""
    home = make_home(SIM_FAULTS=ALL_FAULTS)
    session = session_of(home)
    fault_day(session)
    session.close()
    recon_of(home).sync()
    return Path(home.paths.ledger_db)


async def test_offline_reads_the_ledger_file_and_disables_every_change(
        fault_ledger: Path) -> None:
    app = recon.console(online=False, ledger=fault_ledger)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_view(pilot)
        assert screen.from_ledger
        rows = grid_rows(screen.grid)
        assert len(rows) == 8
        assert ["fill", "mismatch", "MSFT", "price 300.07", "price 300.06", "-0.05"] in [
            row[:6] for row in rows]
        text = " ".join(screen_text(app).split())
        assert LEDGER_NOTE in text
        assert "last sync 2026-11-20 15:04:00Z manual complete" in text
        await pilot.press("s")
        await settle(pilot)
        assert ("Syncing is not available: the engine is offline", "warning") in app.toasts
        await open_break(pilot, 2)
        assert "≠ price 300.07" in screen_text(app)
        await pilot.press("a", "k", "m")
        await settle(pilot)
        assert isinstance(app.screen, BreakScreen)
        assert app.recon_link.attempts == []
        await pilot.press("escape")
        await settle(pilot, shown(app, ReconciliationScreen))
        await pilot.press("slash", *"nvda", "enter")
        await settle(pilot, lambda: breaks_read(app) and screen.grid.row_count == 1)
        assert grid_rows(screen.grid)[0][:3] == ["fill", "pending", "NVDA"]


@pytest.mark.parametrize("size", SIZES)
def test_offline(snap_compare: Any, fault_ledger: Path, size: tuple[int, int]) -> None:
    assert snap_compare(recon.console(online=False, ledger=fault_ledger),
                        terminal_size=size, run_before=steps())
