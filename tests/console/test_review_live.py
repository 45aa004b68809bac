"""Views 4 and 5 against a real engine over its real socket, with the simulated broker's
fault mode on: what the bookkeeper does at the end of a faulty day, from the keyboard, and
checked where it lands (the engine's own answers and the ledger), not only on screen.

Before the engine starts, two simulated trading days run on the home's broker account with
the unknown fee (and the rest of the cash faults) firing each day, booked as the engine
books fills; the engine's start-up sync then finds two fees no rule maps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tbot.admin.bot_home import open_home
from tbot.clock import FrozenClock
from tests.cli.cli_support import replace_setting
from tests.console.test_console_live import live_console, on_top, online, wait_until
from tests.engine.engine_process import EngineProcess, ledger_rows, set_env_key
from tests.reconcile.conftest import DAY_START, SimSession
from tests.reconcile.mapping.conftest import trading_day
from tui.app import ConsoleApp
from tui.mapping.dialogs import AssignConfirmScreen, ChangeConfirmScreen
from tui.mapping.rule_editor import RuleEditorScreen
from tui.mapping.screens import MappingQueueScreen
from tui.recon.detail import BreakScreen
from tui.recon.dialogs import ManualEntryScreen, ResolveConfirmScreen
from tui.recon.screens import ReconciliationScreen
from tui.screens.confirm import ReasonScreen
from tui.widgets.account_picker import AccountPickerScreen

SIZE = (80, 24)
FAULTS = "phantom_fill,drop_fill,restate_price,dividend,deposit,unknown_fee,cash_drift"
ENGINE_START = "2026-11-23T14:25:00Z"
"""The Monday after the two faulty days: the engine's start-up sync reads them."""
AFTER_CLOSE = "2026-11-23T22:00:00Z"
FEE_ACCOUNT = "5045"


@pytest.fixture
def faulty_home(home: Path) -> Path:
    """A `tbot init` home whose broker account holds two faulty days, booked as the engine
    books its fills (the engine has not run yet)."""
    replace_setting(home, "SIM_FAULTS", FAULTS)
    clock = FrozenClock(DAY_START)
    session = SimSession(open_home(home), clock)
    try:
        for day in range(2):
            trading_day(session, day)
    finally:
        session.close()
    return home


async def start_reviewed_engine(start_engine: Callable[..., EngineProcess],
                                home: Path, *, after_close: bool = False) -> EngineProcess:
    """The engine on `home`, ready, its start-up sync done."""
    start = AFTER_CLOSE if after_close else ENGINE_START
    engine = start_engine(home, "--sim", "--speed", "1", "--start", start)
    await asyncio.to_thread(engine.wait_ready)

    for _ in range(300):
        status = await ask(engine, "recon.status")
        if status["running"] is None and status["last_sync"] is not None:
            return engine
        await asyncio.sleep(0.1)
    raise AssertionError(f"the start-up sync never finished:\n{engine.output()[-2000:]}")


def postings(home: Path, fitid: str) -> list[tuple[str, int]]:
    """(account, amount in cents) of the entry `fitid`, credits first."""
    rows = ledger_rows(home, (
        "SELECT p.account_code, p.amount / 10000 FROM ledger_entries e JOIN ledger_postings p"
        f" ON p.entry_id = e.id WHERE e.fitid = '{fitid}' ORDER BY p.amount"))
    return [(str(account), int(cents)) for account, cents in rows]


async def ask(engine: EngineProcess, method: str, params: dict[str, Any] | None = None) -> Any:
    """The engine's answer on a connection of its own (off the console's event loop)."""
    return await asyncio.to_thread(engine.call, method, params)


async def queued(engine: EngineProcess) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await ask(engine, "mapping.queue", {"limit": 50}))["items"]
    return items


async def eventually(pilot: Pilot[Any], check: Callable[[], Any], what: str,
                     timeout: float = 15.0) -> None:
    """Let the app run until the coroutine function `check` answers true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.1)


async def one_left(engine: EngineProcess) -> bool:
    return len(await queued(engine)) == 1


async def none_left(engine: EngineProcess) -> bool:
    return await queued(engine) == []


async def rolled_back(engine: EngineProcess) -> bool:
    return bool((await ask(engine, "mapping.versions"))["versions"][0]["action"] == "rollback")


def mapping_view(app: ConsoleApp) -> MappingQueueScreen:
    screen = app.screen
    assert isinstance(screen, MappingQueueScreen)
    return screen


async def select_item(pilot: Pilot[Any], app: ConsoleApp, item_id: int) -> None:
    view = mapping_view(app)
    await wait_until(pilot, lambda: view.grid.move_cursor_to_key(str(item_id)),
                     f"item #{item_id} in the queue")
    view.grid.focus()
    await pilot.pause()


async def test_the_bookkeeper_maps_a_fee_saves_a_rule_and_rolls_it_back(
        faulty_home: Path, start_engine: Callable[..., EngineProcess]) -> None:
    engine = await start_reviewed_engine(start_engine, faulty_home)
    fees = await queued(engine)
    assert [item["activity_type"] for item in fees] == ["MISCFEE", "MISCFEE"]
    newer, older = fees
    versions_before = (await ask(engine, "mapping.versions"))["versions"]
    app = live_console(faulty_home)
    async with app.run_test(size=SIZE) as pilot:
        await online(pilot, app, "admin")
        await pilot.press("5")
        await on_top(pilot, app, MappingQueueScreen)

        # `o`: any postable account from the chart, then what will be posted, then `y`.
        await select_item(pilot, app, older["id"])
        await pilot.press("o")
        picker = await on_top(pilot, app, AccountPickerScreen)
        await pilot.press(*FEE_ACCOUNT)
        await wait_until(pilot, lambda: [c.code for c in picker.shown] == [FEE_ACCOUNT],
                         "the picker filtered to the fee account")
        await pilot.press("enter")
        await on_top(pilot, app, AssignConfirmScreen)
        await pilot.press("y")
        await eventually(pilot, lambda: one_left(engine), "the first fee mapped")
        assert postings(faulty_home, older["broker_id"]) == [
            ("1070", -1234), (FEE_ACCOUNT, 1234)]

        # `r`: the rule editor prefilled from the record; enter, then `y` saves both.
        await pilot.press("g")
        await select_item(pilot, app, newer["id"])
        await pilot.press("r")
        await on_top(pilot, app, RuleEditorScreen)
        await pilot.press("enter")
        await on_top(pilot, app, ChangeConfirmScreen)
        await pilot.press("y")
        await eventually(pilot, lambda: none_left(engine), "the second fee mapped")
        versions = await ask(engine, "mapping.versions")
        assert len(versions["versions"]) == len(versions_before) + 1
        assert versions["versions"][0]["action"] == "add"

        # Versions tab: roll back to the version before the rule (reason, then `y`).
        view = mapping_view(app)
        await pilot.press("tab", "tab")
        await wait_until(pilot, lambda: view.tab == "versions" and
                         view.versions_grid.move_cursor_to_key(
                             str(versions_before[0]["version"])), "the versions tab")
        view.versions_grid.focus()
        await pilot.press("R")
        await on_top(pilot, app, ReasonScreen)
        await pilot.press(*"rule too broad", "enter")
        await on_top(pilot, app, ChangeConfirmScreen)
        await pilot.press("y")
        await eventually(pilot, lambda: rolled_back(engine), "the rollback")
    assert postings(faulty_home, newer["broker_id"]) == [("1070", -1234), (FEE_ACCOUNT, 1234)]
    newest = (await ask(engine, "mapping.versions"))["versions"][0]
    assert newest["reason"] == "rule too broad"
    assert newest["author"].startswith("control:")


async def test_a_viewer_reads_the_queue_and_every_change_is_refused_with_why(
        faulty_home: Path, start_engine: Callable[..., EngineProcess]) -> None:
    set_env_key(faulty_home, "CONTROL_ROLES", "@owner=viewer")
    engine = await start_reviewed_engine(start_engine, faulty_home)
    app = live_console(faulty_home)
    async with app.run_test(size=SIZE) as pilot:
        await online(pilot, app, "viewer")
        await pilot.press("5")
        view = await on_top(pilot, app, MappingQueueScreen)
        await wait_until(pilot, lambda: view.page is not None and view.page.total == 2,
                         "the queue read as a viewer")
        view.grid.focus()
        for key in ("enter", "o", "r"):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert isinstance(app.screen, MappingQueueScreen), f"{key} opened a dialog"
        refusals = [entry.outcome for entry in app.live.commands]
        assert refusals and all(outcome.startswith("not sent:") and "admin" in outcome
                                for outcome in refusals)
    assert len(await queued(engine)) == 2  # nothing reached the engine


async def test_with_the_engine_stopped_the_queue_is_read_from_the_ledger(
        faulty_home: Path, start_engine: Callable[..., EngineProcess]) -> None:
    engine = await start_reviewed_engine(start_engine, faulty_home)
    app = live_console(faulty_home)
    async with app.run_test(size=SIZE) as pilot:
        await online(pilot, app, "admin")
        await pilot.press("5")
        view = await on_top(pilot, app, MappingQueueScreen)
        await wait_until(pilot, lambda: view.page is not None and view.page.total == 2,
                         "the queue from the engine")
        assert await asyncio.to_thread(engine.terminate) == 0
        await wait_until(pilot, lambda: view.from_ledger and view.page is not None
                         and view.page.total == 2, "the queue read from the ledger")
        view.grid.focus()
        await pilot.press("o")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MappingQueueScreen)
        assert app.live.commands[-1].outcome.startswith("not sent:")


# -- view 4 ----------------------------------------------------------------------------------


async def open_breaks(engine: EngineProcess) -> list[dict[str, Any]]:
    breaks: list[dict[str, Any]] = (await ask(engine, "recon.breaks", {"limit": 100}))["breaks"]
    return breaks


def recon_view(app: ConsoleApp) -> ReconciliationScreen:
    screen = app.screen
    assert isinstance(screen, ReconciliationScreen)
    return screen


async def open_break(pilot: Pilot[Any], app: ConsoleApp, break_id: int) -> BreakScreen:
    """Put the cursor on break `break_id` in view 4 and open it with enter."""
    view = recon_view(app)
    await wait_until(pilot, lambda: view.grid.move_cursor_to_key(str(break_id))
                     and view.selected is not None, f"break #{break_id} in the list")
    view.grid.focus()
    await pilot.press("enter")
    screen: BreakScreen = await on_top(pilot, app, BreakScreen)
    return screen


async def cleared(pilot: Pilot[Any], engine: EngineProcess, break_id: int) -> None:
    async def gone() -> bool:
        return all(b["id"] != break_id for b in await open_breaks(engine))
    await eventually(pilot, gone, f"break #{break_id} cleared")


def the(breaks: list[dict[str, Any]], kind: str, status: str,
        trade_id: str | None = None) -> dict[str, Any]:
    found = [b for b in breaks if b["kind"] == kind and b["status"] == status
             and (trade_id is None or b["trade_id"] == trade_id)]
    assert found, f"no open {kind} {status} break in {breaks}"
    return found[0]


async def test_the_bookkeeper_clears_breaks_of_every_kind_with_every_action(
        faulty_home: Path, start_engine: Callable[..., EngineProcess]) -> None:
    # After the close: the engine's checks run during sessions only, so the breaks on
    # screen stay the ones the start-up sync and check found.
    engine = await start_reviewed_engine(start_engine, faulty_home, after_close=True)
    breaks = await open_breaks(engine)
    restated = the(breaks, "fill", "mismatch")
    fee = the(breaks, "cash", "unmapped")
    phantom = the(breaks, "fill", "broker-only")
    app = live_console(faulty_home)
    async with app.run_test(size=SIZE) as pilot:
        await online(pilot, app, "admin")
        await pilot.press("4")
        await on_top(pilot, app, ReconciliationScreen)

        # A fill the broker restated: accept the broker's record (reason prefilled).
        await open_break(pilot, app, restated["id"])
        await pilot.press("a")
        await on_top(pilot, app, ReasonScreen)
        await pilot.press("enter")
        await on_top(pilot, app, ResolveConfirmScreen)
        await pilot.press("y")
        await cleared(pilot, engine, restated["id"])
        await pilot.press("escape")

        # The unmapped fee: accept it to an account picked from the chart.
        await on_top(pilot, app, ReconciliationScreen)
        await open_break(pilot, app, fee["id"])
        await pilot.press("a")
        picker = await on_top(pilot, app, AccountPickerScreen)
        await pilot.press(*FEE_ACCOUNT)
        await wait_until(pilot, lambda: [c.code for c in picker.shown] == [FEE_ACCOUNT],
                         "the fee account")
        await pilot.press("enter")
        await on_top(pilot, app, ReasonScreen)
        await pilot.press("enter")
        await on_top(pilot, app, ResolveConfirmScreen)
        await pilot.press("y")
        await cleared(pilot, engine, fee["id"])
        assert postings(faulty_home, fee["trade_id"]) == [("1070", -1234), (FEE_ACCOUNT, 1234)]
        await pilot.press("escape")

        # The phantom fill: keep the ledger (a reason is required), nothing posted.
        await on_top(pilot, app, ReconciliationScreen)
        await open_break(pilot, app, phantom["id"])
        await pilot.press("k")
        await on_top(pilot, app, ReasonScreen)
        await pilot.press(*"not ours: the broker desk reverses it", "enter")
        await on_top(pilot, app, ResolveConfirmScreen)
        await pilot.press("y")
        await cleared(pilot, engine, phantom["id"])
        await pilot.press("escape")

        # The cash that drifted: book it by hand (the form balances before it can be sent).
        await on_top(pilot, app, ReconciliationScreen)
        balance = the(await open_breaks(engine), "balance", "mismatch")
        await pilot.press("g")
        await open_break(pilot, app, balance["id"])
        await pilot.press("m")
        form = await on_top(pilot, app, ManualEntryScreen)
        accounts = list(form.query(".entry-account").results(Input))
        amounts = list(form.query(".entry-amount").results(Input))
        assert len(accounts) == 2 and sum(Decimal(a.value) for a in amounts) == 0
        cash_line = 0 if Decimal(amounts[0].value) < 0 else 1
        accounts[cash_line].focus()
        await pilot.press(*"1070")
        accounts[1 - cash_line].focus()
        await pilot.press(*FEE_ACCOUNT)
        form.query_one("#entry-reason", Input).focus()
        await pilot.press(*"bank charge the broker never itemised")
        await pilot.press("ctrl+s")
        await on_top(pilot, app, ResolveConfirmScreen)
        await pilot.press("y")
        await cleared(pilot, engine, balance["id"])
        await pilot.press("escape")

        # A position the broker holds and the ledger does not: only the ledger's side can
        # be kept (accepting is refused: it clears with the records that explain it).
        await on_top(pilot, app, ReconciliationScreen)
        position = the(await open_breaks(engine), "position", "broker-only")
        await pilot.press("g")
        await open_break(pilot, app, position["id"])
        await pilot.press("k")
        await on_top(pilot, app, ReasonScreen)
        await pilot.press(*"transfer in from the old account, booked by the desk", "enter")
        await on_top(pilot, app, ResolveConfirmScreen)
        await pilot.press("y")
        await cleared(pilot, engine, position["id"])
    log = [entry.outcome for entry in app.live.commands if entry.method == "recon.resolve"]
    assert len(log) == 5 and all("resolved" in outcome for outcome in log), log
