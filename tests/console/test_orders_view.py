"""The orders and fills view: today's orders newest first, filterable; the fills live from
the engine or booked in the ledger (a real fixture ledger, read-only), `f` to switch and
`tab` to move between the tables."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tbot.admin.demo_home import create_demo_home
from tbot.clock import FrozenClock
from tests.console.console_fixtures import FROZEN_NOW, order_record
from tests.console.test_dashboard import (
    LARGE,
    SMALL,
    FixtureConsoleApp,
    fixture_live,
    grid_rows,
    screen_text,
    settle,
)
from tui.ledger.ledger_reader import LedgerReader
from tui.model.live_state import LinkState, Topic
from tui.model.snapshot import OrderRow
from tui.screens.orders import OrdersScreen


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[LedgerReader]:
    """The demo home's ledger (two booked AAPL fills on 2026-11-19), opened read-only."""
    bot = create_demo_home(tmp_path / "home", FrozenClock(FROZEN_NOW), actor="test")
    reader = LedgerReader.open(bot.paths.ledger_db)
    yield reader
    reader.close()


def orders_view(app: FixtureConsoleApp) -> OrdersScreen:
    assert isinstance(app.screen, OrdersScreen)
    return app.screen


async def settle_workers(pilot) -> None:  # type: ignore[no-untyped-def]
    """Let the ledger's worker threads finish and their results reach the screen."""
    await settle(pilot)
    await pilot.app.workers.wait_for_complete()
    await settle(pilot)


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_orders_of_today_show_newest_first(size: tuple[int, int]) -> None:
    app = FixtureConsoleApp(fixture_live(), OrdersScreen)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        view = orders_view(app)
        rows = grid_rows(view.orders_grid.grid)
        assert [(row[0], row[1], row[2], row[6]) for row in rows] == [
            ("15:00:00Z", "F", "SELL", "new"),
            ("14:55:00Z", "CSCO", "BUY", "filled"),
            ("14:54:00Z", "F", "BUY", "filled"),
            ("14:52:00Z", "INTC", "BUY", "filled"),
        ]
        text = screen_text(app)
        assert "Orders today  4" in text
        assert "15:00:00Z F      SELL   32.3102         0         — new" in text
        assert all(len(line) <= size[0] for line in text.splitlines())
        assert view.orders_grid.grid.has_focus


async def test_slash_filters_the_orders_and_escape_clears_it() -> None:
    app = FixtureConsoleApp(fixture_live(), OrdersScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        grid = orders_view(app).orders_grid.grid
        await pilot.press("slash", "I", "N", "T", "C")
        await pilot.pause(0.3)  # the filter is applied once typing pauses
        await settle(pilot)
        assert grid.row_count == 1
        assert [row[1] for row in grid_rows(grid)] == ["INTC"]
        assert "1 of 4 match /INTC" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert grid.row_count == 4
        assert "Orders today  4" in screen_text(app)


async def test_an_order_update_replaces_its_row_and_a_new_order_goes_on_top() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, OrdersScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        grid = orders_view(app).orders_grid.grid
        await pilot.press("j")
        selected = grid.cursor_key
        exit_order = order_record(
            4,
            "F",
            "sell",
            "32.310177705",
            "32.310177705",
            "12.610000",
            "filled",
            "2026-11-20T15:00:00Z",
        )
        live.upsert_order(OrderRow.from_wire(exit_order))
        rejected = order_record(5, "AMD", "buy", "3", "0", None, "rejected", "2026-11-20T15:01:00Z")
        rejected["reject_reason"] = "insufficient buying power"
        live.upsert_order(OrderRow.from_wire(rejected))
        app.live_changed(frozenset({Topic.ORDERS}))
        await settle(pilot)
        rows = grid_rows(grid)
        assert [row[1] for row in rows] == ["AMD", "F", "CSCO", "F", "INTC"]
        assert rows[0][6] == "rejected" and rows[0][8] == "insufficient buying power"
        assert rows[1][6] == "filled" and rows[1][5] == "12.61"
        assert grid.cursor_key == selected


async def test_online_shows_the_live_fills_and_f_switches_to_the_ledger(
    ledger: LedgerReader,
) -> None:
    app = FixtureConsoleApp(fixture_live(), OrdersScreen, ledger=ledger)
    async with app.run_test(size=SMALL) as pilot:
        await settle_workers(pilot)
        view = orders_view(app)
        assert view.fills_origin == "live"
        assert [row[-1] for row in grid_rows(view.fills_grid.grid)] == ["SIM-F000001"]
        assert "live, this session" in screen_text(app)
        await pilot.press("f")
        await settle_workers(pilot)
        assert view.fills_origin == "ledger"
        assert [row[-1] for row in grid_rows(view.fills_grid.grid)] == [
            "DEMO-TRADE-0001-SELL",
            "DEMO-TRADE-0001-BUY",
        ]
        text = screen_text(app)
        assert "booked in the ledger" in text
        assert "2026-11-19 15:21:00Z AAPL   SELL" in text
        await pilot.press("f")
        await settle(pilot)
        assert view.fills_origin == "live"


async def test_offline_shows_the_ledgers_fills_marked_last_known(ledger: LedgerReader) -> None:
    app = FixtureConsoleApp(fixture_live(online=False), OrdersScreen, ledger=ledger)
    async with app.run_test(size=LARGE) as pilot:
        await settle_workers(pilot)
        view = orders_view(app)
        assert view.fills_origin == "ledger"
        assert view.fills_grid.grid.row_count == 2
        text = screen_text(app)
        assert "Orders today  4  last known at 14:59:03Z" in text
        assert "Fills  2  booked in the ledger, all days  last known at 14:59:03Z" in text


async def test_the_link_going_down_switches_the_fills_to_the_ledger(
    ledger: LedgerReader,
) -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, OrdersScreen, ledger=ledger)
    async with app.run_test(size=SMALL) as pilot:
        await settle_workers(pilot)
        view = orders_view(app)
        assert view.fills_origin == "live"
        live.connection = dataclasses.replace(
            live.connection, state=LinkState.OFFLINE, since=FROZEN_NOW
        )
        app.live_changed(frozenset({Topic.CONNECTION}))
        await settle_workers(pilot)
        assert view.fills_origin == "ledger"
        assert view.fills_grid.grid.row_count == 2


async def test_ledger_fills_filter_runs_off_the_ui_thread(ledger: LedgerReader) -> None:
    app = FixtureConsoleApp(fixture_live(online=False), OrdersScreen, ledger=ledger)
    async with app.run_test(size=SMALL) as pilot:
        await settle_workers(pilot)
        view = orders_view(app)
        await pilot.press("tab")
        grid = view.fills_grid.grid
        assert grid.has_focus
        await pilot.press("slash", "S", "E", "L", "L", "enter")
        await settle_workers(pilot)
        assert [row[2] for row in grid_rows(grid)] == ["SELL"]
        assert "1 match /SELL" in screen_text(app)


async def test_without_a_ledger_the_fills_say_why() -> None:
    live = fixture_live(online=False)
    app = FixtureConsoleApp(live, OrdersScreen, ledger_error="this bot has no ledger yet")
    async with app.run_test(size=SMALL) as pilot:
        await settle_workers(pilot)
        view = orders_view(app)
        assert view.fills_origin == "live"  # the last known live fills, nothing better
        assert view.fills_grid.grid.row_count == 1
        await pilot.press("f")
        await settle_workers(pilot)
        assert "no ledger: this bot has no ledger yet" in screen_text(app)


async def test_tab_moves_between_orders_and_fills() -> None:
    app = FixtureConsoleApp(fixture_live(), OrdersScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        view = orders_view(app)
        assert view.orders_grid.grid.has_focus
        await pilot.press("tab")
        assert view.fills_grid.grid.has_focus
        await pilot.press("tab")
        assert view.orders_grid.grid.has_focus
