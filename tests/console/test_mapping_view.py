"""View 5, the mapping queue: the real console app on a FixtureLink whose engine answers
`mapping.queue` and `mapping.assign` from tests/console/mapping_fixtures.py.

Snapshots (80x24 and 120x40, the details and the confirmation) use a frozen clock and
fixture data; update them with `pytest tests/console/test_mapping_view.py
--snapshot-update` and look at the SVGs before committing them. The Pilot tests check what
is sent: a dry run, then (only after `y`) the assignment, never twice, never by a viewer,
never offline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tbot.clock import FrozenClock
from tbot.control.client import RpcCallError
from tbot.control.wire import REFUSED
from tests.console import console_fixtures as fixtures
from tests.console import mapping_fixtures as mapping
from tests.console.pilot_support import ToastingConsole, settle
from tests.console.test_dashboard import grid_rows, screen_text
from tui.app import ConsoleApp
from tui.link.event_handling import StateUpdater
from tui.link.fixture_link import FixtureLink
from tui.mapping.dialogs import AssignConfirmScreen, ItemDetailsScreen
from tui.mapping.screens import OFFLINE_NOTE, MappingQueueScreen
from tui.model.live_state import ConnectionInfo, LinkState, LiveState, Topic
from tui.settings import ConsoleSettings

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SMALL = (80, 24)
SOCKET = Path("/srv/tbot/bot01/control/engine.sock")
ASSIGN = "mapping.assign"
QUEUE = "mapping.queue"
REASON = "accepted in the console: learned suggestion"


class RecordingLink(FixtureLink):
    """A FixtureLink that also records every call attempted, offline ones included, and can
    hold dry runs until released (to press a key while one is on its way)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempts: list[tuple[str, Mapping[str, Any] | None]] = []
        self.dry_runs_wait: asyncio.Event | None = None

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   timeout: float = 30.0) -> object:
        self.attempts.append((method, params))
        if self.dry_runs_wait is not None and params and params.get("dry_run"):
            await self.dry_runs_wait.wait()
        return await super().call(method, params, timeout=timeout)


class MappingConsole(ToastingConsole):
    """The console app, remembering its toasts, with its fixture engine."""

    @property
    def fixture_link(self) -> RecordingLink:
        assert isinstance(self.link, RecordingLink)
        return self.link


def console(*, role: str = "admin", online: bool = True,
            answers: dict[str, object] | None = None) -> MappingConsole:
    """The real console app on fixture engine records with the mapping methods."""
    clock = FrozenClock(fixtures.FROZEN_NOW)
    settings = ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01", socket_path=SOCKET,
                               ledger_path=None)

    def link(state: Any, notify: Any) -> RecordingLink:
        return RecordingLink(
            state, notify, clock,
            status=fixtures.status_record(), positions=fixtures.positions_records(),
            orders=fixtures.orders_records(), pnl=fixtures.pnl_record(),
            account=fixtures.account_record(), discover=mapping.discover_record(role),
            online=online, answers=mapping.answers() if answers is None else answers,
        )

    app = MappingConsole(settings, link, clock=clock)
    app.animation_level = "none"
    return app


def view(app: ConsoleApp) -> MappingQueueScreen:
    screen = app.screen
    assert isinstance(screen, MappingQueueScreen), screen
    return screen


def queue_read(app: ConsoleApp) -> bool:
    screen = app.screen
    return isinstance(screen, MappingQueueScreen) and not screen.loading and (
        screen.page is not None or not app.live.connection.online)




async def open_queue(pilot: Pilot[Any]) -> None:
    """Wait for the engine's records, press 5, wait for the queue."""
    app = pilot.app
    await settle(pilot, lambda: app.live.status is not None)
    await pilot.press("5")
    await settle(pilot, lambda: queue_read(app))


def assign_calls(app: MappingConsole) -> list[Mapping[str, Any] | None]:
    return [params for method, params in app.fixture_link.attempts if method == ASSIGN]


def queue_calls(app: MappingConsole) -> int:
    return sum(1 for method, _ in app.fixture_link.attempts if method == QUEUE)


def steps(*keys: str, ready: Callable[[Pilot[Any]], bool] | None = None
          ) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await open_queue(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, (lambda: ready(pilot)) if ready else None)

    return run


# -- snapshots ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_queue(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(console(), terminal_size=size, run_before=steps())


def test_queue_offline_keeps_the_last_page(snap_compare: Any) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await open_queue(pilot)
        assert isinstance(pilot.app, MappingConsole)
        pilot.app.fixture_link.go_offline("the engine stopped")
        await settle(pilot)

    assert snap_compare(console(), terminal_size=SMALL, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_item_details(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("d", ready=lambda pilot: isinstance(pilot.app.screen, ItemDetailsScreen))
    assert snap_compare(console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_accept_confirmation(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("enter", ready=lambda pilot: isinstance(pilot.app.screen, AssignConfirmScreen))
    assert snap_compare(console(), terminal_size=size, run_before=run)


# -- the queue ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [SMALL, (120, 40)])
async def test_the_queue_shows_every_column_newest_first(size: tuple[int, int]) -> None:
    app = console()
    async with app.run_test(size=size) as pilot:
        await open_queue(pilot)
        screen = view(app)
        rows = grid_rows(screen.grid)
        assert [row[0] for row in rows] == ["2026-11-19", "2026-11-18", "2026-11-17",
                                            "2026-11-16"]
        assert rows[0][1:3] == ["FEE", "-12.34"]
        assert rows[0][4:] == ["5070", "█████░░░ 0.67", "word=opra"]
        assert rows[1][4:] == ["3010", "-", "R3 matches (Cash journal in: capital float)"]
        assert rows[3][2:] == ["-0.0042", "Rounding adjustment", "-", "-", ""]
        assert screen.grid.cursor_key == "7"
        text = screen_text(app)
        assert "Mapping queue  4 items waiting  refreshed 15:01:03Z" in text
        assert all(len(line) <= size[0] for line in text.splitlines())
        header = next(line for line in text.splitlines() if "Date" in line)
        for title in ("Date", "Type", "Amount", "Description", "Acct", "Confidence", "Why"):
            assert title in header
        assert app.fixture_link.attempts.count((QUEUE, {"limit": 100})) >= 1


async def test_a_long_queue_shows_its_first_hundred_then_reads_the_rest() -> None:
    items = [mapping.item(n, "MISCFEE", "-1.00", f"fee {n}", "2026-11-19T15:00:00Z", [])
             for n in range(250, 0, -1)]

    class PagedLink(RecordingLink):
        async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                       timeout: float = 30.0) -> object:
            if method != QUEUE:
                return await super().call(method, params, timeout=timeout)
            self.attempts.append((method, params))
            given = dict(params or {})
            start = int(given.get("offset", 0))
            return {"total": len(items), "limit": given["limit"], "offset": start,
                    "items": items[start:start + int(given["limit"])]}

    app = console()
    app.link = PagedLink(app.live, app.live_changed, app.clock,
                         status=fixtures.status_record(), discover=mapping.discover_record())
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await settle(pilot, lambda: view(app).page is not None
                     and len(view(app).page.items) == 250)  # type: ignore[union-attr]
        reads = [params for method, params in app.fixture_link.attempts
                 if method == QUEUE and params != {"limit": 1}]  # not the dashboard's count
        assert reads[:2] == [{"limit": 100}, {"limit": 400, "offset": 100}]
        assert view(app).grid.row_count == 250


async def test_an_empty_queue_says_so() -> None:
    app = console(answers=mapping.answers(**{QUEUE: mapping.queue_record([])}))
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        text = screen_text(app)
        assert "Mapping queue  the mapping queue is empty" in text
        assert view(app).grid.row_count == 0


async def test_a_refused_read_is_one_error_line_not_a_crash() -> None:
    refused = RpcCallError(REFUSED, "the ledger cannot be read: disk I/O error")
    app = console(answers=mapping.answers(**{QUEUE: refused}))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot, lambda: app.live.status is not None)
        await pilot.press("5")
        await settle(pilot, lambda: "REFUSED" in screen_text(app))
        text = screen_text(app)
        assert "cannot read the mapping queue: REFUSED: the ledger cannot be read" in text
        assert "nothing read yet" in text
        assert view(app).grid.row_count == 0


async def test_a_malformed_answer_keeps_the_last_good_page() -> None:
    answers = mapping.answers()
    app = console(answers=answers)
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        queue = answers[QUEUE]
        assert isinstance(queue, dict)
        queue["items"] = [{"id": "seven"}]
        await pilot.press("g")
        await settle(pilot, lambda: queue_read(app))
        assert view(app).grid.row_count == 4
        text = " ".join(screen_text(app).split())
        assert "the mapping queue answer is malformed" in text
        assert "the last one is shown" in text


async def test_slash_filters_the_queue() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("slash", "o", "p", "r", "a", "enter")
        await settle(pilot, lambda: view(app).grid.row_count == 1)
        assert "1 match /opra" in screen_text(app)


async def test_d_shows_every_suggestion_and_the_raw_fields() -> None:
    app = console()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_queue(pilot)
        await pilot.press("d")
        await settle(pilot, lambda: isinstance(app.screen, ItemDetailsScreen))
        text = screen_text(app)
        assert "Item #7 · FEE -12.34 USD on 2026-11-19" in text
        assert "5045 Broker Fees – Simulated Broker" in text
        assert "why: word=opra; type_sign=FEE-; word=data" in text
        assert "like decisions: #12, #9" in text
        assert "2 of 3 decisions of this kind" in text
        assert "SIM-ACT-0007" in text
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, MappingQueueScreen))
        assert assign_calls(app) == []


# -- accepting ------------------------------------------------------------------------------------


async def test_enter_then_y_sends_the_dry_run_then_the_top_account() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        reads = queue_calls(app)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, AssignConfirmScreen))
        assert assign_calls(app) == [
            {"id": 7, "account": "5070", "reason": REASON, "dry_run": True}]
        text = screen_text(app)
        assert "Dr 5070 Bot Infrastructure Costs" in text
        assert "Cr 1070" in text
        assert "memo: FEE -12.34: OPRA market data fee November 2026" in text
        await pilot.press("y")
        await settle(pilot, lambda: len(assign_calls(app)) == 2 and queue_read(app))
        assert assign_calls(app) == [
            {"id": 7, "account": "5070", "reason": REASON, "dry_run": True},
            {"id": 7, "account": "5070", "reason": REASON},
        ]
        await settle(pilot, lambda: queue_calls(app) > reads)
        assert ("item #7 mapped to 5070 (posted)", "information") in app.toasts
        entry = app.live.commands[-1]
        assert (entry.method, entry.ok, entry.outcome) == (
            ASSIGN, True, "item #7 mapped to 5070 (posted)")


async def test_2_picks_the_second_suggestion() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("2")
        await settle(pilot, lambda: isinstance(app.screen, AssignConfirmScreen))
        await pilot.press("y")
        await settle(pilot, lambda: len(assign_calls(app)) == 2)
        assert assign_calls(app) == [
            {"id": 7, "account": "5045", "reason": REASON, "dry_run": True},
            {"id": 7, "account": "5045", "reason": REASON},
        ]
        assert isinstance(app.screen, MappingQueueScreen)  # not the orders view


async def test_a_pick_beyond_the_suggestions_only_explains() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("j", "j", "3")
        await settle(pilot)
        assert view(app).selected is not None and view(app).selected.id == 5
        assert assign_calls(app) == []
        assert ("item #5 has 1 suggestion", "warning") in app.toasts


async def test_a_double_enter_sends_one_dry_run() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        gate = asyncio.Event()
        app.fixture_link.dry_runs_wait = gate
        await pilot.press("enter", "enter")
        await settle(pilot)
        gate.set()
        await settle(pilot, lambda: isinstance(app.screen, AssignConfirmScreen))
        await pilot.press("enter")  # enter does not confirm: only y does
        await settle(pilot)
        assert isinstance(app.screen, AssignConfirmScreen)
        assert len(assign_calls(app)) == 1
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, MappingQueueScreen))
        await pilot.press("enter")  # the first accept is over: a new one may start
        await settle(pilot, lambda: isinstance(app.screen, AssignConfirmScreen))
        assert len(assign_calls(app)) == 2
        assert all(params and params.get("dry_run") for params in assign_calls(app))


async def test_n_sends_nothing_real() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, AssignConfirmScreen))
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, MappingQueueScreen))
        assert assign_calls(app) == [
            {"id": 7, "account": "5070", "reason": REASON, "dry_run": True}]
        assert app.live.commands[-1].outcome == "cancelled: nothing sent"


async def test_a_refused_dry_run_asks_nothing_and_sends_nothing() -> None:
    refused = RpcCallError(REFUSED, "item #7 is already mapped", {"code": "already_assigned"})
    app = console(answers=mapping.answers(**{ASSIGN: refused}))
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("enter")
        await settle(pilot, lambda: any("dry run failed" in text for text, _ in app.toasts))
        assert isinstance(app.screen, MappingQueueScreen)
        assert len(assign_calls(app)) == 1


async def test_a_viewer_sends_nothing_and_sees_why() -> None:
    app = console(role="viewer")
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        why = "needs the admin role (you are viewer)"
        assert f"read-only: accepting {why}" in screen_text(app)
        for key in ("enter", "1", "2"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, MappingQueueScreen)  # `1` did not switch views
        assert assign_calls(app) == []
        assert (f"Accepting a mapping is not available: {why}", "warning") in app.toasts
        assert app.live.commands[-1].outcome == f"not sent: Accepting a mapping is not " \
            f"available: {why}"
        enabled = {active.binding.id: active.enabled
                   for active in app.screen.active_bindings.values()}
        assert enabled["mapping.accept"] is False and enabled["mapping.pick_1"] is False
        assert enabled["mapping.details"] is True and enabled["mapping.refresh"] is True


async def test_offline_says_so_and_sends_nothing() -> None:
    app = console(online=False)
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        assert OFFLINE_NOTE in " ".join(screen_text(app).split())
        await pilot.press("enter", "g", "1")
        await settle(pilot)
        assert app.fixture_link.attempts == []
        assert isinstance(app.screen, MappingQueueScreen)


async def test_going_offline_keeps_the_last_queue_and_disables_accepting() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        app.fixture_link.go_offline("the engine stopped")
        await settle(pilot)
        assert view(app).grid.row_count == 4
        assert "offline: the mapping queue is read from the engine" in screen_text(app)
        before = list(app.fixture_link.attempts)
        await pilot.press("enter", "g")
        await settle(pilot)
        assert app.fixture_link.attempts == before
        assert ("Accepting a mapping is not available: the engine is offline",
                "warning") in app.toasts


async def test_a_mapping_event_refreshes_the_queue() -> None:
    answers = mapping.answers()
    app = console(answers=answers)
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        reads = queue_calls(app)
        queue = answers[QUEUE]
        assert isinstance(queue, dict)
        queue["items"] = queue["items"][1:]
        queue["total"] = 3
        app.fixture_link.push_event(
            "mapping", {"change": "assign", "item": 7, "broker_id": "SIM-ACT-0007",
                        "account": "5070", "version": None},
            fixtures.FROZEN_NOW + timedelta(seconds=5))
        await settle(pilot, lambda: view(app).grid.row_count == 3)
        assert queue_calls(app) == reads + 1
        assert "3 items waiting" in screen_text(app)
        assert app.live.events[-1].text == "item #7 assigned to 5070"


# -- the link's events ----------------------------------------------------------------------------


def updater() -> StateUpdater:
    state = LiveState(connection=ConnectionInfo(state=LinkState.ONLINE, since=fixtures.FROZEN_NOW,
                                                socket_path=str(SOCKET)))
    return StateUpdater(state, FrozenClock(fixtures.FROZEN_NOW))


@pytest.mark.parametrize(("data", "line"), [
    ({"change": "assign", "item": 3, "broker_id": "X", "account": "5070", "version": None},
     "item #3 assigned to 5070"),
    ({"change": "assign", "item": 3, "broker_id": "X", "account": "5070", "version": 4},
     "item #3 assigned to 5070 (rule saved: version 4)"),
    ({"change": "sync", "posted": ["A", "B"], "queued": ["C"]},
     "sync posted 2 records, queued 1 record"),
    ({"change": "undo", "item": 3, "broker_id": "X"}, "item #3 undone, queued again"),
    ({"change": "disable", "version": 5, "rule": "R40"}, "rule R40 disabled: version 5 active"),
    ({"change": "rollback", "version": 6, "source_version": 3},
     "rolled back to version 3: version 6 active"),
])
def test_a_mapping_event_is_one_log_line(data: dict[str, Any], line: str) -> None:
    state_updater = updater()
    effect = state_updater.apply_event("mapping", data, fixtures.FROZEN_NOW)
    assert effect.topics == frozenset({Topic.MAPPING, Topic.EVENTS})
    event = state_updater.state.events[-1]
    assert (event.topic, event.level, event.text) == ("mapping", "info", line)


@pytest.mark.parametrize(("data", "line"), [
    ({"event": "sync_finished", "run_id": 9, "trigger": "schedule", "outcome": "complete",
      "counts": {}, "new_breaks": [41, 42], "closed": [], "spans_not_read": []},
     "sync finished, 2 new breaks"),
    ({"event": "check_finished", "run_id": 10, "trigger": "schedule", "outcome": "partial",
      "counts": {}, "new_breaks": [], "closed": [40], "spans_not_read": ["fills"]},
     "check partial, 0 new breaks, 1 break closed"),
    ({"event": "sync_started", "trigger": "manual", "started_at": "x", "fetched": {}},
     "sync started (manual)"),
    ({"event": "break_resolved", "break_id": 41, "action": "accept-broker", "actor": "alice"},
     "break #41 resolved (accept-broker) by alice"),
])
def test_a_recon_event_is_one_log_line(data: dict[str, Any], line: str) -> None:
    state_updater = updater()
    effect = state_updater.apply_event("recon", data, fixtures.FROZEN_NOW)
    assert effect.topics == frozenset({Topic.RECON, Topic.EVENTS})
    assert state_updater.state.events[-1].text == line


def test_a_malformed_mapping_event_is_an_error_line() -> None:
    state_updater = updater()
    effect = state_updater.apply_event("mapping", {"item": 3}, fixtures.FROZEN_NOW)
    assert Topic.MAPPING not in effect.topics
    assert "ignored a malformed mapping event" in state_updater.state.events[-1].text
