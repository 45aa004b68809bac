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
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

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
from tui.screens.confirm import ReasonScreen
from tui.widgets.account_picker import AccountPickerScreen

SIZE = (80, 24)
FAULTS = "phantom_fill,drop_fill,restate_price,dividend,deposit,unknown_fee,cash_drift"
ENGINE_START = "2026-11-23T14:25:00Z"
"""The Monday after the two faulty days: the engine's start-up sync reads them."""
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
                                home: Path) -> EngineProcess:
    """The engine on `home`, ready, its start-up sync done."""
    engine = start_engine(home, "--sim", "--speed", "1", "--start", ENGINE_START)
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
