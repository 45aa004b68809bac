"""View 5 with the engine stopped: the queue, the rules and the versions are read from a
real ledger file, read-only (a simulated bot's day with the cash faults, synced and mapped
by the same offline services the CLI runs), and every change is disabled with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tbot.clock import FrozenClock
from tests.console import console_fixtures as fixtures
from tests.console import mapping_fixtures as mapping
from tests.console.test_dashboard import grid_rows, screen_text
from tests.console.test_mapping_tabs import to_tab
from tests.console.test_mapping_view import SMALL, SOCKET, MappingConsole, RecordingLink, settle
from tests.reconcile.conftest import clock, make_home, recon_of, session_of  # noqa: F401
from tests.reconcile.mapping.conftest import CASH_FAULTS, cash_day, mapping_of  # noqa: F401
from tui.mapping.screens import LEDGER_NOTE, MappingQueueScreen
from tui.settings import ConsoleSettings


@pytest.fixture
def mapped_ledger(make_home: Any, cash_day: Any, recon_of: Any,  # noqa: F811 (fixtures)
                  mapping_of: Any) -> Path:  # noqa: F811
    """A ledger whose first day's unknown fee was mapped with a rule (version 2), rolled
    back (version 3), and whose second day's fee waits in the queue."""
    home = make_home(SIM_FAULTS=CASH_FAULTS)
    recon, rooms = recon_of(home), mapping_of(home)
    cash_day(home, 0)
    recon.sync()
    (item,) = rooms.queue()["items"]
    rooms.assign(item["id"], "5070", reason="OPRA fee", save_rule={})
    rooms.service_call("rollback", 1, actor="cli:admin", reason="the rule was too wide")
    cash_day(home, 1)
    recon.sync()
    assert rooms.queue()["total"] == 1
    return Path(home.paths.ledger_db)


def offline_console(ledger: Path) -> MappingConsole:
    """The console with the engine offline and the bot's ledger to read."""
    frozen = FrozenClock(fixtures.FROZEN_NOW)
    settings = ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01", socket_path=SOCKET,
                               ledger_path=ledger)

    def link(state: Any, notify: Any) -> RecordingLink:
        return RecordingLink(state, notify, frozen, discover=mapping.discover_record(),
                             online=False, answers=mapping.answers())

    app = MappingConsole(settings, link, clock=frozen)
    app.animation_level = "none"
    return app


async def open_offline(pilot: Pilot[Any]) -> MappingQueueScreen:
    await pilot.pause()
    await pilot.press("5")
    await settle(pilot, lambda: isinstance(pilot.app.screen, MappingQueueScreen)
                 and pilot.app.screen.page is not None)
    screen = pilot.app.screen
    assert isinstance(screen, MappingQueueScreen)
    return screen


async def test_offline_reads_the_queue_from_the_ledger_file(mapped_ledger: Path) -> None:
    app = offline_console(mapped_ledger)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_offline(pilot)
        assert screen.from_ledger
        (row,) = grid_rows(screen.grid)
        assert row[1:3] == ["MISCFEE", "-12.34"]
        # The suggestions stored when it was queued: the earlier decision taught 5070.
        assert row[4] == "5070"
        text = " ".join(screen_text(app).split())
        assert LEDGER_NOTE.split(";")[0] in text
        assert "1 item waiting" in text


async def test_offline_reads_the_rules_and_the_versions(mapped_ledger: Path) -> None:
    app = offline_console(mapped_ledger)
    async with app.run_test(size=SMALL) as pilot:
        await open_offline(pilot)
        screen = await to_tab(pilot, "rules")
        assert screen.rule_set is not None and screen.rule_set.version.version == 3
        assert len(grid_rows(screen.rules_grid)) == len(screen.rule_set.rules) > 0
        screen = await to_tab(pilot, "versions")
        rows = grid_rows(screen.versions_grid)
        assert [(row[0], row[1], row[2]) for row in rows] == [
            ("*", "3", "rollback 1"), ("", "2", "add"), ("", "1", "create")]
        assert rows[0][4] == "cli:admin" and rows[0][6] == "the rule was too wide"


async def test_offline_every_change_is_disabled_with_the_reason(mapped_ledger: Path) -> None:
    app = offline_console(mapped_ledger)
    async with app.run_test(size=SMALL) as pilot:
        await open_offline(pilot)
        await pilot.press("enter", "o", "r", "I", "x")
        await settle(pilot)
        assert isinstance(app.screen, MappingQueueScreen)
        assert app.fixture_link.attempts == []
        why = "the engine is offline"
        for name in ("Accepting a mapping", "Another account", "Saving a rule", "Import",
                     "Export"):
            assert (f"{name} is not available: {why}", "warning") in app.toasts
        enabled = {active.binding.id: active.enabled
                   for active in app.screen.active_bindings.values()}
        assert enabled["mapping.accept"] is False and enabled["mapping.refresh"] is True
        await to_tab(pilot, "versions")
        await pilot.press("j", "R")
        await settle(pilot)
        assert (f"Rolling back is not available: {why}", "warning") in app.toasts
        assert app.fixture_link.attempts == []
