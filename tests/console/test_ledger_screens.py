"""The ledger view from the keyboard at 80x24, in the real ConsoleApp over a fixture link and
a real ledger file: the trial balance (computed in a worker), drilling into an account, an
entry and its audit rows, `esc` back, the journal, `/` filters, and a ledger that cannot
be read."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.pilot import Pilot

from tbot.admin.demo_home import create_demo_home
from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tests.console.console_fixtures import status_record
from tui.app import ConsoleApp
from tui.ledger.screens import (
    AccountScreen,
    EntryScreen,
    JournalScreen,
    LedgerScreen,
    TrialBalanceScreen,
)
from tui.ledger.sources import JournalSource
from tui.link.fixture_link import FixtureLink
from tui.model.live_state import LiveState
from tui.settings import ConsoleSettings
from tui.widgets.data_grid import DataGrid
from tui.widgets.grid_source import cell_plain_text

NOW = datetime(2026, 11, 20, 15, 1, 3, tzinfo=UTC)
SIZE = (80, 24)


@pytest.fixture(scope="module")
def demo_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo home's ledger: a float injection and an AAPL round trip (3 entries)."""
    bot = create_demo_home(tmp_path_factory.mktemp("ledger-screens") / "home",
                           FrozenClock(NOW), actor="test")
    paths: BotPaths = bot.paths
    return paths.ledger_db


def console(ledger_path: Path | None) -> ConsoleApp:
    """The console app on `ledger_path`, its engine link replaying an offline engine."""
    clock = FrozenClock(NOW)
    settings = ConsoleSettings(bot_name="DEMO_US_SIM_BOT01", bot_id="BOT01",
                               socket_path=Path("/nonexistent/engine.sock"),
                               ledger_path=ledger_path)

    def link(state: LiveState, notify):
        return FixtureLink(state, notify, clock, status=status_record(), online=False)

    return ConsoleApp(settings, link, clock=clock)


async def settle(pilot: Pilot[None]) -> None:
    """Let the ledger workers finish and their results reach the screen."""
    for _ in range(3):
        ledger_workers = [w for w in pilot.app.workers if w.group.startswith("ledger")]
        if ledger_workers:  # an empty list would wait for every worker (the link's too)
            await pilot.app.workers.wait_for_complete(ledger_workers)
        await pilot.pause()


def grid_rows(grid: DataGrid) -> list[list[str]]:
    """Every row the grid's source shows, as plain cell texts."""
    return [[cell_plain_text(cell) for cell in row.cells]
            for row in grid.source.rows(0, grid.row_count)]


def screen_text(app: ConsoleApp) -> str:
    """What the screen shows, as one line of words (so wrapped text reads as one)."""
    lines = (strip.text for strip in app.screen._compositor.render_strips())
    return " ".join(" ".join(lines).split())


async def open_ledger(pilot: Pilot[None]) -> TrialBalanceScreen:
    await pilot.press("3")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TrialBalanceScreen)
    return screen


async def test_the_trial_balance_lists_each_account_and_says_it_balances(
    demo_ledger: Path,
) -> None:
    app = console(demo_ledger)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_ledger(pilot)
        rows = grid_rows(screen.grid)
        by_code = {row[0]: row for row in rows if row[0]}
        assert set(by_code) == {"1070", "1115", "3010", "4045", "5045"}
        assert by_code["1070"][1] == "Simulated Broker – Cash"
        # Cash: +100,000 float, -18,725.35 buy, +18,909.65 sell.
        assert by_code["1070"][3:] == ["118,909.65", "18,725.35", "100,184.30 Dr"]
        assert by_code["3010"][5] == "100,000.00 Cr"
        total = rows[-1]
        assert total[1] == "Total ✓ balanced"
        assert total[3] == total[4] == "137,635.35"
        text = screen_text(app)
        assert "Trial balance · 3 entries · balanced" in text
        assert "Simulated Broker – Cash" in text
        assert "esc Back" not in text  # the root of the view: nowhere to go back to


async def test_enter_drills_from_an_account_to_an_entry_and_esc_walks_back(
    demo_ledger: Path,
) -> None:
    app = console(demo_ledger)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_ledger(pilot)
        assert screen.grid.cursor_key == "1070 USD"
        await pilot.press("enter")
        await settle(pilot)
        account = app.screen
        assert isinstance(account, AccountScreen) and account.code == "1070"
        rows = grid_rows(account.grid)
        assert [row[1] for row in rows] == [
            "DEMO-TRADE-0001-SELL", "DEMO-TRADE-0001-BUY", "DEMO-FLOAT-0001"]
        assert [row[4] for row in rows] == ["18,909.65 Dr", "18,725.35 Cr", "100,000.00 Dr"]
        assert "1070 Simulated Broker – Cash · 3 postings, newest first" in screen_text(app)
        assert "esc Back" in screen_text(app)

        await pilot.press("j", "enter")  # the BUY
        await settle(pilot)
        entry = app.screen
        assert isinstance(entry, EntryScreen)
        assert entry.detail is not None and entry.detail.fitid == "DEMO-TRADE-0001-BUY"
        text = screen_text(app)
        assert "Entry 2 · DEMO-TRADE-0001-BUY · BUY" in text
        assert "Trade BUY 100 AAPL @ 187.25" in text
        assert "Simulated Broker – Equities" in text
        assert "entry.post" in text

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AccountScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_enter_on_a_posting_opens_its_account(demo_ledger: Path) -> None:
    app = console(demo_ledger)
    async with app.run_test(size=SIZE) as pilot:
        await open_ledger(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")  # the newest entry: the SELL
        await settle(pilot)
        assert isinstance(app.screen, EntryScreen)
        await pilot.press("j", "enter")  # its second posting: the fee
        await settle(pilot)
        assert isinstance(app.screen, AccountScreen) and app.screen.code == "5045"


async def test_the_journal_lists_every_entry_and_filters_with_slash(demo_ledger: Path) -> None:
    app = console(demo_ledger)
    async with app.run_test(size=SIZE) as pilot:
        await open_ledger(pilot)
        await pilot.press("a")
        await settle(pilot)
        journal = app.screen
        assert isinstance(journal, JournalScreen)
        assert [row[1] for row in grid_rows(journal.grid)] == [
            "DEMO-TRADE-0001-SELL", "DEMO-TRADE-0001-BUY", "DEMO-FLOAT-0001"]
        assert "Journal · 3 entries, newest first" in screen_text(app)

        await pilot.press("slash", *"aapl")
        await pilot.pause(0.3)  # the filter's debounce
        await settle(pilot)
        assert [row[1] for row in grid_rows(journal.grid)] == [
            "DEMO-TRADE-0001-SELL", "DEMO-TRADE-0001-BUY"]
        assert "Journal · 2 match “aapl”" in screen_text(app)

        await pilot.press("escape")  # clears the filter, stays in the journal
        await settle(pilot)
        assert app.screen is journal
        assert journal.grid.row_count == 3
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TrialBalanceScreen)


async def test_a_slow_filter_scan_runs_off_the_ui_thread(
    demo_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    scan = JournalSource._scan

    def slow_scan(self: JournalSource, *args: Any) -> list[int]:
        assert gate.wait(10), "the test never opened the gate"
        return scan(self, *args)

    monkeypatch.setattr(JournalSource, "_scan", slow_scan)
    app = console(demo_ledger)
    async with app.run_test(size=SIZE) as pilot:
        await open_ledger(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("slash", *"sell", "enter")
        await pilot.pause(0.3)
        # The scan is blocked, yet the console answers: it says so and keeps moving.
        assert "searching for “sell”…" in screen_text(app)
        assert "searching the ledger…" in screen_text(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert "HelpScreen" in type(app.screen).__name__
        await pilot.press("escape")
        gate.set()
        await settle(pilot)
        assert isinstance(app.screen, JournalScreen)
        assert [row[1] for row in grid_rows(app.screen.grid)] == ["DEMO-TRADE-0001-SELL"]


async def test_a_ledger_that_cannot_be_read_is_explained(tmp_path: Path) -> None:
    broken = tmp_path / "TBOT_US_SIM_BOT01_BOT_ledger.db"
    broken.write_text("not a database")
    app = console(broken)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        text = screen_text(app)
        assert "cannot read the ledger" in text
        assert "not a ledger file" in text
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, JournalScreen)
        assert "not a ledger file" in screen_text(app)


async def test_a_bot_without_a_ledger_says_so() -> None:
    app = console(None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert "this bot has no ledger yet" in screen_text(app)


@pytest.mark.parametrize(
    "screen_type", [TrialBalanceScreen, JournalScreen, AccountScreen, EntryScreen]
)
def test_every_ledger_binding_has_an_id(screen_type: type[LedgerScreen]) -> None:
    bindings = [
        binding
        for klass in screen_type.__mro__
        if klass.__module__.startswith("tui.")
        for binding in vars(klass).get("BINDINGS", [])
        if isinstance(binding, Binding)
    ]
    assert bindings
    assert all(binding.id for binding in bindings)
