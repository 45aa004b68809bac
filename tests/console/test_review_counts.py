"""The dashboard's review line: open breaks and queued items, read from the engine (and
again on each reconciliation or mapping event), from the ledger while offline, and a way
into views 4 and 5."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tbot.control.client import RpcCallError
from tbot.control.wire import REFUSED
from tests.console import console_fixtures as fixtures
from tests.console.test_snapshots import console, ledger_path, review_answers, settle
from tui.app import ConsoleApp
from tui.link.fixture_link import FixtureLink
from tui.model.review_counts import ReviewCounts, read_from_ledger
from tui.screens.dashboard import DashboardScreen
from tui.widgets.review_line import ReviewLine, render_review

__all__ = ["ledger_path"]  # the module-scoped ledger fixture, shared with the snapshots


def counts(app: ConsoleApp) -> ReviewCounts | None:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen.review_counts


async def wait_for_counts(pilot: Pilot[Any], check: Any = None) -> ReviewCounts:
    await settle(pilot, lambda: counts(pilot.app) is not None and (
        check is None or check(counts(pilot.app))))
    found = counts(pilot.app)
    assert found is not None
    return found


def link_of(app: ConsoleApp) -> FixtureLink:
    assert isinstance(app.link, FixtureLink)
    return app.link


def test_the_line_shows_both_counts_and_their_keys() -> None:
    line = render_review(ReviewCounts(3, 0, {"fill": 2, "cash": 1}), width=80).plain
    assert line == "breaks 3 (4)  queued 0 (5)  cash 1 fill 2"


def test_an_unknown_count_is_a_question_mark_not_zero() -> None:
    assert render_review(ReviewCounts(None, 2)).plain.startswith("breaks ? (4)  queued 2 (5)")
    assert render_review(None).plain == "review: not read yet"


async def test_online_the_counts_come_from_the_engine(ledger_path: Path) -> None:
    app = console(ledger_path)
    async with app.run_test(size=(80, 24)) as pilot:
        found = await wait_for_counts(pilot)
        assert (found.open_breaks, found.queued, found.source) == (3, 2, "engine")
        assert found.breaks_by_kind == {"fill": 2, "cash": 1}
        assert ("recon.breaks", {"limit": 1}) in link_of(app).calls


async def test_a_recon_event_reads_the_counts_again(ledger_path: Path) -> None:
    app = console(ledger_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_counts(pilot)
        link = link_of(app)
        answer = review_answers()["recon.breaks"]
        assert isinstance(answer, dict)
        link.set_answer("recon.breaks", {**answer, "total": 0, "open_by_kind": {}})
        link.push_event("recon", {"event": "break_resolved", "id": 7, "action": "keep-ledger"},
                        fixtures.FROZEN_NOW + timedelta(seconds=3))
        found = await wait_for_counts(pilot, lambda c: c.open_breaks == 0)
        assert found.queued == 2


async def test_a_refused_read_leaves_that_count_unknown(ledger_path: Path) -> None:
    app = console(ledger_path, answers={"mapping.queue": RpcCallError(REFUSED, "ledger busy")})
    async with app.run_test(size=(80, 24)) as pilot:
        found = await wait_for_counts(pilot)
        assert (found.open_breaks, found.queued) == (3, None)
        assert any("ledger busy" in problem for problem in found.problems)


async def test_offline_the_counts_come_from_the_ledger(ledger_path: Path) -> None:
    app = console(ledger_path, online=False)
    async with app.run_test(size=(80, 24)) as pilot:
        found = await wait_for_counts(pilot)
        assert (found.open_breaks, found.queued, found.source) == (0, 0, "ledger")
        assert link_of(app).calls == []


async def test_clicking_a_count_opens_its_view(ledger_path: Path) -> None:
    app = console(ledger_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_counts(pilot)
        await pilot.click(ReviewLine, offset=(3, 0))
        await pilot.pause()
        assert app.current_mode == "recon"
        await pilot.press("1")
        await pilot.pause()
        await pilot.click(ReviewLine, offset=(17, 0))
        await pilot.pause()
        assert app.current_mode == "mapping"


def test_a_ledger_from_before_reconciliation_counts_nothing(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "old.db")
    connection.execute("CREATE TABLE ledger_entries (id INTEGER PRIMARY KEY)")
    found = read_from_ledger(connection, fixtures.FROZEN_NOW)
    assert (found.open_breaks, found.queued, found.problems) == (0, 0, ())
