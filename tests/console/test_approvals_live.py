"""View 6 against a real engine: `tbot engine --sim` with TRADE_CONFIRMATION_REQUIRED=true
queues the open strategy's breakout (CSCO at 14:55Z on the simulated market of
2026-11-20); the console's dashboard says it waits, view 6 lists it as the engine does,
and `a` + `y` approves it: the engine sends it under the entry's id and audits who
approved it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.console.test_console_live import (
    live_console,
    online,
    plain_environment,  # noqa: F401 (an autouse fixture, used by being imported)
    shown,
    wait_until,
)
from tests.engine.engine_process import EngineProcess, ledger_rows
from tui.approvals.screens import ApprovalsScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.approval_banner import ApprovalBanner

SPEED = "40"
"""Fast enough to reach the breakout in about 45 s; slow enough that the entry waits
several real seconds (14:55Z to its window's end at 15:00Z)."""
START = "2026-11-20T14:25:00Z"


def wait_for_approval(home: Path) -> None:
    """TRADE_CONFIRMATION_REQUIRED=true, and a price rule wide enough that the simulated
    market's moves do not drop the entry before the test approves it."""
    path = home / ".env_bot"
    wanted = {"TRADE_CONFIRMATION_REQUIRED": "true", "MAX_SLIPPAGE_BPS": "1000"}
    lines = [next((f"{key}={value}" for key, value in wanted.items()
                   if line.startswith(f"{key}=")), line)
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


async def test_an_entry_the_engine_queues_is_listed_and_approved_from_view_6(
        home: Path, start_engine: Callable[..., EngineProcess]) -> None:
    wait_for_approval(home)
    engine = await asyncio.to_thread(
        start_engine(home, "--sim", "--speed", SPEED, "--start", START).wait_ready)
    app = live_console(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await online(pilot, app, "admin")
        await wait_until(pilot, lambda: app.live.status is not None
                         and app.live.status.approvals is not None
                         and app.live.status.approvals.waiting > 0,
                         "an entry waiting for approval", timeout=90)
        banner = app.screen.query_one(ApprovalBanner)
        assert shown(banner).strip().endswith("approval — press 6")
        await pilot.press("6")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalsScreen)
                         and app.screen.selected is not None, "the entry in view 6")
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen) and screen.selected is not None
        entry = screen.selected
        waiting = await asyncio.to_thread(engine.call, "entries.pending")
        assert entry.id in {row["id"] for row in waiting["entries"]}
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the y/n")
        await pilot.press("y")
        await wait_until(pilot, lambda: bool(app.live.commands), "the approval's answer")
        logged = app.live.commands[-1]
        assert logged.ok, logged.outcome
        assert logged.outcome.startswith(f"approved: long {entry.instrument} sent as ")
    orders = (await asyncio.to_thread(engine.call, "orders.list"))["orders"]
    assert entry.id in {order["client_order_id"] for order in orders}
    audited = ledger_rows(home, "SELECT actor, details FROM audit_trail "
                                "WHERE action = 'control.entries.approve'")
    assert len(audited) == 1 and entry.id in audited[0][1]
