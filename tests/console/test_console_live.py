"""The whole console against a real engine: every command key, from the keyboard, through the
full `ConsoleApp` and a real `EngineLink`, to a `tbot engine --sim` child process over its
real control socket. Each command is checked where it lands: in the engine's own state
(`engine.status`) and audit trail, not only in what the console says about it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from tbot.clock import SystemClock
from tests.engine.engine_process import EngineProcess, ledger_rows, set_env_key
from tui.app import ConsoleApp
from tui.commands.registry import command_by_id
from tui.launch import settings_for_home
from tui.ledger.screens import TrialBalanceScreen
from tui.link.console_link import ConsoleLink, Notify
from tui.link.engine_link import EngineLink
from tui.model.live_state import CommandLogEntry, LinkState, LiveState
from tui.screens.choose import ChoiceScreen
from tui.screens.command_log import CommandLogScreen
from tui.screens.confirm import ConfirmScreen, ReasonScreen, TypedConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.help import HelpScreen
from tui.widgets.grid_source import cell_plain_text
from tui.widgets.status_bar import StatusBar
from tui.widgets.strategy_panel import TradingStateBanner

SIZE = (80, 24)
OPEN_DAY_START = "2026-11-20T14:25:00Z"
ENGINE_ARGS = ("--sim", "--speed", "60", "--start", OPEN_DAY_START)
WAIT_SECONDS = 15.0
CONTROL_AUDIT_SQL = "SELECT subject FROM audit_trail WHERE action LIKE 'control.%' ORDER BY id"
ENTRY_COUNT_SQL = "SELECT COUNT(*) FROM ledger_entries"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The home's own socket and the default keys, whatever the developer's shell sets."""
    monkeypatch.delenv("TBOT_CONTROL_SOCKET", raising=False)
    monkeypatch.setenv("TBOT_KEYMAP", str(tmp_path / "no-keymap.toml"))


def live_console(home: Path) -> ConsoleApp:
    """The console `tbot console --home HOME` runs, with a link that polls and reconnects
    quickly so the tests need not wait."""
    settings = settings_for_home(home, None)
    clock = SystemClock()

    def engine_link(state: LiveState, notify: Notify) -> ConsoleLink:
        return EngineLink(
            settings.socket_path,
            state,
            notify,
            clock,
            poll_seconds=0.2,
            reconnect_max_seconds=0.5,
        )

    return ConsoleApp(settings, engine_link, clock=clock)


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], object], what: str, timeout: float = WAIT_SECONDS
) -> None:
    """Let the app run until `predicate()` is true; fail naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.1)


async def start_live_engine(
    start_engine: Callable[..., EngineProcess], home: Path, *args: str
) -> EngineProcess:
    """A simulated engine on `home` (`args`, else the opening day's start), answering on
    its socket; waited for off the event loop."""
    engine = start_engine(home, *(args or ENGINE_ARGS))
    return await asyncio.to_thread(engine.wait_ready)


async def engine_status(engine: EngineProcess) -> dict[str, Any]:
    """What the engine itself says, asked on a connection of its own."""
    status: dict[str, Any] = await asyncio.to_thread(engine.call, "engine.status")
    return status


async def trading_state(engine: EngineProcess) -> str:
    """The engine's trading state: active, reducing or halted."""
    return str((await engine_status(engine))["trading_state"]["state"])


def shown(widget: Static) -> str:
    """The text a Static shows now."""
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


def status_bar_text(app: ConsoleApp) -> str:
    """The status bar of the screen on top."""
    return shown(app.screen.query_one(StatusBar))


async def online(pilot: Pilot[Any], app: ConsoleApp, role: str) -> None:
    """Wait until the console is connected as `role` and has the engine's status."""
    await wait_until(
        pilot,
        lambda: app.live.connection.online
        and app.live.connection.role == role
        and app.live.status is not None,
        f"the console online as {role}",
    )


async def run_to_log(
    pilot: Pilot[Any], app: ConsoleApp, answer: Callable[[], Any] | None, key: str | None
) -> CommandLogEntry:
    """Press `key` (None: a dialog is already open), answer the dialogs with `answer`, and
    return the command log entry that ends the command."""
    logged = len(app.live.commands)
    if key is not None:
        await pilot.press(key)
    if answer is not None:
        await answer()
    await wait_until(pilot, lambda: len(app.live.commands) > logged, f"the log entry of {key}")
    assert len(app.live.commands) == logged + 1
    return app.live.commands[-1]


async def on_top(pilot: Pilot[Any], app: ConsoleApp, kind: type) -> Any:
    """Wait for a screen of type `kind` (a view or a dialog) to be on top; return it."""
    await wait_until(pilot, lambda: isinstance(app.screen, kind), f"the {kind.__name__}")
    return app.screen


async def choose(pilot: Pilot[Any], app: ConsoleApp, value: str) -> None:
    """In the open ChoiceScreen, move to `value` with j/k and pick it with enter."""
    chooser = await on_top(pilot, app, ChoiceScreen)
    options = chooser.query_one(OptionList)
    values = [options.get_option_at_index(i).id for i in range(options.option_count)]
    assert value in values
    start = options.highlighted or 0
    steps = values.index(value) - start
    await pilot.press(*(["j"] * steps if steps > 0 else ["k"] * -steps))
    await pilot.pause()
    highlighted = options.highlighted_option
    assert highlighted is not None and highlighted.id == value
    await pilot.press("enter")


def control_audit(home: Path) -> list[str]:
    """The control methods the engine audited (sent and answered, or refused), in order."""
    return [subject for (subject,) in ledger_rows(home, CONTROL_AUDIT_SQL)]


def entry_count(home: Path) -> int:
    """How many entries the ledger holds."""
    return int(ledger_rows(home, ENTRY_COUNT_SQL)[0][0])


# -- every command, in order, on one engine -------------------------------------------------


async def test_every_command_key_reaches_the_engine_and_is_logged(home, start_engine):
    engine = await start_live_engine(start_engine, home)
    app = live_console(home)
    async with app.run_test(size=SIZE) as pilot:
        await online(pilot, app, "admin")
        assert isinstance(app.screen, DashboardScreen)
        assert await trading_state(engine) == "active"

        # Pause: the reason dialog's enter sends it.
        async def give_reason() -> None:
            await on_top(pilot, app, ReasonScreen)
            await pilot.press(*"lunch", "enter")

        paused = await run_to_log(pilot, app, give_reason, "p")
        assert paused.ok and paused.outcome == "trading is REDUCING"
        assert paused.params == {"reason": "lunch"}
        status = await engine_status(engine)
        assert status["trading_state"]["state"] == "reducing"
        assert "lunch" in status["trading_state"]["reason"]

        # Resume: `n` sends nothing, `y` sends.
        def say(key: str) -> Callable[[], Any]:
            async def answer() -> None:
                await on_top(pilot, app, ConfirmScreen)
                await pilot.press(key)

            return answer

        declined = await run_to_log(pilot, app, say("n"), "r")
        assert not declined.ok and declined.outcome == "cancelled: nothing sent"
        assert await trading_state(engine) == "reducing"
        resumed = await run_to_log(pilot, app, say("y"), "r")
        assert resumed.ok and resumed.outcome == "trading is ACTIVE"
        assert await trading_state(engine) == "active"

        # Disable mid: picked from the list, no confirmation (it only reduces risk).
        async def pick_mid() -> None:
            await choose(pilot, app, "mid")

        disabled = await run_to_log(pilot, app, pick_mid, "d")
        assert disabled.ok and disabled.outcome == "strategy mid disabled"
        assert (await engine_status(engine))["strategy"]["enabled"] == {
            "open": True,
            "mid": False,
            "close": True,
        }

        # Enable mid: picked, then confirmed.
        async def pick_mid_and_confirm() -> None:
            await choose(pilot, app, "mid")
            confirm = await on_top(pilot, app, ConfirmScreen)
            assert confirm.title_text == "Enable strategy: mid"
            await pilot.press("y")

        enabled = await run_to_log(pilot, app, pick_mid_and_confirm, "e")
        assert enabled.ok and enabled.outcome == "strategy mid enabled"
        assert (await engine_status(engine))["strategy"]["enabled"]["mid"] is True

        # Kill switch: a wrong id and enter leave the dialog open and send nothing.
        logged = len(app.live.commands)
        await pilot.press("X")
        typed = await on_top(pilot, app, TypedConfirmScreen)
        await pilot.press(*"bot01", "enter")
        await pilot.pause(0.3)
        assert app.screen is typed
        assert "type BOT01 exactly" in shown(typed.query_one("#hint", Static))
        assert len(app.live.commands) == logged
        assert await trading_state(engine) == "active"

        async def type_the_bot_id() -> None:
            await pilot.press(*["backspace"] * 5, *"BOT01", "enter")

        killed = await run_to_log(pilot, app, type_the_bot_id, None)
        assert killed.ok and killed.outcome.startswith("kill switch: HALTED, ")
        assert killed.params == {"reason": "kill switch from the console"}
        assert await trading_state(engine) == "halted"
        await wait_until(
            pilot,
            lambda: " HALTED " in status_bar_text(app),
            "the status bar to show HALTED",
        )
        banner = app.screen.query_one(TradingStateBanner)
        assert banner.display and "HALTED" in shown(banner)

        # Resume while halted: sent, and refused by the engine.
        refused = await run_to_log(pilot, app, say("y"), "r")
        assert not refused.ok and refused.outcome.startswith("refused: trading is halted")
        assert "risk.reset" in refused.outcome
        assert await trading_state(engine) == "halted"

        # Reset (admin): HALTED becomes ACTIVE.
        reset = await run_to_log(pilot, app, say("y"), "R")
        assert reset.ok and reset.outcome == "trading is ACTIVE"
        assert await trading_state(engine) == "active"
        await wait_until(
            pilot, lambda: " ACTIVE " in status_bar_text(app), "the status bar to show ACTIVE"
        )

        # Ledger verify: the engine's count of entries, read with SQL around it.
        before = await asyncio.to_thread(entry_count, home)
        verified = await run_to_log(pilot, app, None, "v")
        after = await asyncio.to_thread(entry_count, home)
        assert verified.ok
        counts = [f"ledger verify: ok, {n:,} entr{'y' if n == 1 else 'ies'}"
                  for n in range(before, after + 1)]
        assert verified.outcome in counts
        assert before >= 1  # the initial funding at least

        # The command log view lists them all, newest first.
        await pilot.press("c")
        log = await on_top(pilot, app, CommandLogScreen)
        assert len(app.live.commands) == 9
        await wait_until(pilot, lambda: log.grid.source.count() == 9, "the command log rows")
        source = log.grid.source
        rows = [[cell_plain_text(cell) for cell in row.cells] for row in source.rows(0, 9)]
        assert [row[1] for row in rows] == [
            command_by_id(entry.command_id).title for entry in reversed(app.live.commands)
        ]
        assert rows[0][3] == verified.outcome
        assert rows[-1][2] == "reason=lunch"

    # Exactly what was confirmed reached the engine: not the declined resume, not the wrong id.
    audited = await asyncio.to_thread(control_audit, home)
    assert audited == [
        "trading.pause",
        "trading.resume",
        "strategy.disable",
        "strategy.enable",
        "risk.kill",
        "trading.resume",
        "risk.reset",
    ]


# -- a viewer ---------------------------------------------------------------------------------


async def test_a_viewer_sends_nothing_and_sees_why(home, start_engine):
    set_env_key(home, "CONTROL_ROLES", "@owner=viewer")
    engine = await start_live_engine(start_engine, home)
    app = live_console(home)
    async with app.run_test(size=SIZE) as pilot:
        await online(pilot, app, "viewer")
        assert "online as viewer" in status_bar_text(app)
        for key in ("p", "X"):
            entry = await run_to_log(pilot, app, None, key)
            assert not entry.ok
            assert entry.outcome == "not sent: needs the operator role (you are viewer)"
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)  # no dialog was opened
        assert await trading_state(engine) == "active"
        assert await asyncio.to_thread(control_audit, home) == []

        await pilot.press("question_mark")
        help_screen = await on_top(pilot, app, HelpScreen)
        commands = {str(row[1]): str(row[2]) for row in help_screen.command_rows}
        for title in ("Pause entries", "Kill switch", "Resume entries"):
            assert commands[title] == "disabled: needs the operator role (you are viewer)"
        assert commands["Reset kill switch"] == "disabled: needs the admin role (you are viewer)"
        assert commands["Verify ledger"] == "disabled: needs the auditor role (you are viewer)"

    # The audit check above can see a send: the same call made directly is refused and audited.
    refusal = await asyncio.to_thread(engine.error_of, "trading.pause", {"reason": "probe"})
    assert "needs the operator role" in refusal.message
    assert await asyncio.to_thread(control_audit, home) == ["trading.pause"]


# -- offline, online, offline -------------------------------------------------------------


async def test_offline_shows_the_ledger_then_follows_the_engine_up_and_down(home, start_engine):
    # A first run books the initial funding, so the ledger has something to show.
    first = await start_live_engine(start_engine, home)
    assert await asyncio.to_thread(first.terminate) == 0
    entries = await asyncio.to_thread(entry_count, home)
    assert entries >= 1

    app = live_console(home)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: app.live.connection.state is LinkState.OFFLINE
            and "OFFLINE" in status_bar_text(app),
            "the status bar to say OFFLINE",
        )
        assert app.live.status is None
        assert "no engine data yet" in status_bar_text(app)

        await pilot.press("3")
        ledger = await on_top(pilot, app, TrialBalanceScreen)
        caption = ledger.query_one("#ledger-caption", Static)
        await wait_until(
            pilot, lambda: "Trial balance ·" in shown(caption), "the trial balance"
        )
        assert f"{entries:,} entries" in shown(caption) and "balanced" in shown(caption)
        source = ledger.grid.source
        cells = [
            [cell_plain_text(cell) for cell in row.cells]
            for row in source.rows(0, source.count())
        ]
        assert any("100,000.00" in row for row in cells)  # the funding, from the ledger
        assert "OFFLINE" in status_bar_text(app)

        # The engine comes up: the console finds it by itself. (It carries on from the
        # simulated broker's own time: a broker cannot go back.)
        engine = await start_live_engine(start_engine, home, "--sim", "--speed", "60")
        await online(pilot, app, "admin")
        await wait_until(
            pilot, lambda: "online as admin" in status_bar_text(app), "the status bar online"
        )
        pid = (await engine_status(engine))["pid"]
        assert app.live.status is not None and app.live.status.pid == pid

        # The engine dies: OFFLINE again, with its last known state kept.
        await asyncio.to_thread(engine.kill)
        await wait_until(
            pilot,
            lambda: app.live.connection.state is LinkState.OFFLINE
            and "OFFLINE" in status_bar_text(app),
            "the status bar to say OFFLINE again",
        )
        assert app.live.status is not None and app.live.status.pid == pid
        bar = status_bar_text(app)
        assert " ACTIVE " in bar and "(last known)" in bar
        await pilot.press("1")
        await on_top(pilot, app, DashboardScreen)
        assert "(last known)" in status_bar_text(app)
