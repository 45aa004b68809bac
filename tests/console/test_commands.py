"""Every command path, driven from the keyboard in a small app shaped like ConsoleApp: what
is sent (and, as much, what is never sent), what the operator is asked, and what the command
log and the toasts say afterwards."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import OptionList, Static

from tbot.clock import FrozenClock
from tbot.control.client import EngineUnavailableError, RpcCallError, RpcTimeoutError
from tests.console.console_fixtures import (
    BOT,
    FROZEN_NOW,
    discover_record,
    positions_records,
    status_record,
)
from tui.commands.palette import RegistryCommands
from tui.commands.registry import command_bindings, command_by_id
from tui.commands.runner import CommandRunner, describe_result
from tui.messages import LiveUpdated
from tui.model.live_state import ConnectionInfo, LinkState, LiveState, MethodAccess, Topic
from tui.model.snapshot import EngineStatus, PositionRow
from tui.screens.choose import ChoiceScreen
from tui.screens.command_log import CommandEntryScreen, CommandLogScreen
from tui.screens.confirm import ConfirmScreen, ReasonScreen, TypedConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.live_screen import LiveScreen
from tui.settings import ConsoleSettings
from tui.widgets.grid_source import cell_plain_text

SIZE = (80, 24)


class FakeLink:
    """Records every call and answers from `answers` (an exception is raised)."""

    def __init__(self, answers: Mapping[str, object] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.refreshes = 0

    async def run(self) -> None:
        return None

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> object:
        self.calls.append((method, dict(params or {}), timeout))
        answer = self.answers.get(method, {})
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def refresh(self) -> None:
        self.refreshes += 1

    async def close(self) -> None:
        return None


def live_state(role: str = "operator", *, online: bool = True) -> LiveState:
    """A live state as the link leaves it: connected as `role`, status and positions."""
    methods = {
        record["name"]: MethodAccess(
            name=record["name"],
            min_role=record["min_role"],
            allowed=record["allowed"],
            changes_state=record["changes_state"],
        )
        for record in discover_record(role)["methods"]
    }
    connection = ConnectionInfo(
        state=LinkState.ONLINE if online else LinkState.OFFLINE,
        since=FROZEN_NOW,
        socket_path="/run/tbot/engine.sock",
        role=role,
        methods=methods if online else {},
    )
    live = LiveState(connection=connection, status=EngineStatus.from_wire(status_record()))
    live.replace_positions(PositionRow.from_wire(record) for record in positions_records())
    return live


class MainView(LiveScreen):
    """The one view of the test app."""

    VIEW_TITLE = "Main"


class OtherView(LiveScreen):
    """A second view, to go to from the palette, with keys of its own."""

    VIEW_TITLE = "Other"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sync", "Sync now", id="other.sync"),
        Binding("a", "accept", "Accept", id="other.accept"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.synced = 0

    def action_sync(self) -> None:
        self.synced += 1

    def action_accept(self) -> None:
        raise AssertionError("a disabled key must not run")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "accept" else True


class CommandsApp(App[None]):
    """The attributes and actions of ConsoleApp that commands use, and nothing else."""

    COMMANDS: ClassVar = App.COMMANDS | {RegistryCommands}
    MODES: ClassVar = {"main": MainView, "other": OtherView}
    DEFAULT_MODE = "main"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "show_help", "Help", id="app.help", key_display="?"),
        Binding("c", "show_command_log", "Cmd log", id="app.command_log"),
        *command_bindings(),
    ]

    def __init__(self, live: LiveState, link: FakeLink) -> None:
        super().__init__()
        self.live = live
        self.link = link
        self.clock = FrozenClock(FROZEN_NOW)
        self.bot_name = BOT
        self.settings = ConsoleSettings(
            bot_name=BOT,
            bot_id="BOT01",
            socket_path=Path("/run/tbot/engine.sock"),
            ledger_path=None,
        )
        self.commands = CommandRunner(self)
        self.changed: list[frozenset[Topic]] = []
        self.toasts: list[tuple[str, str]] = []

    def live_changed(self, topics: frozenset[Topic]) -> None:
        self.changed.append(topics)
        self.screen.post_message(LiveUpdated(topics))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        self.toasts.append((severity, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    async def action_run_command(self, command_id: str) -> None:
        self.commands.start(command_id)

    def action_show_help(self) -> None:
        self.push_screen(HelpScreen(self.screen))

    def action_show_command_log(self) -> None:
        self.push_screen(CommandLogScreen())


async def settle(app: CommandsApp, pilot: Any) -> None:
    """Let workers and the screens they push catch up."""
    await pilot.pause()
    await pilot.pause()


async def finish(app: CommandsApp, pilot: Any) -> None:
    """Wait until every command worker is done."""
    await app.workers.wait_for_complete()
    await pilot.pause()


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True)
    console.print(widget.render())
    return console.export_text()


def cells_of(screen: Screen[Any]) -> list[list[str]]:
    """The command log's rows as plain text, as filtered now."""
    assert isinstance(screen, CommandLogScreen)
    source = screen.grid.source
    return [[cell_plain_text(cell) for cell in row.cells] for row in source.rows(0, source.count())]


def inside_terminal(app: CommandsApp, selector: str) -> bool:
    """Whether the widget's whole box is on the 80x24 screen."""
    region = app.screen.query_one(selector).region
    return Region(0, 0, *SIZE).contains_region(region) and region.area > 0


# -- refusals: nothing is sent --------------------------------------------------------------


async def test_a_viewer_is_refused_and_nothing_is_sent() -> None:
    link = FakeLink()
    app = CommandsApp(live_state("viewer"), link)
    async with app.run_test(size=SIZE) as pilot:
        for key in ("p", "X", "r"):
            await pilot.press(key)
            await finish(app, pilot)
            assert isinstance(app.screen, MainView)  # no dialog was even opened
    assert link.calls == []
    outcomes = [entry.outcome for entry in app.live.commands]
    assert outcomes == ["not sent: needs the operator role (you are viewer)"] * 3
    assert (
        "warning",
        "Pause entries is not available: needs the operator role (you are viewer)",
    ) in app.toasts
    assert all(frozenset({Topic.COMMANDS}) == topics for topics in app.changed)


async def test_offline_sends_nothing() -> None:
    link = FakeLink()
    app = CommandsApp(live_state("admin", online=False), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await finish(app, pilot)
    assert link.calls == []
    assert [entry.outcome for entry in app.live.commands] == ["not sent: the engine is offline"]


async def test_a_link_that_went_offline_meanwhile_logs_not_sent() -> None:
    link = FakeLink({"ledger.verify": EngineUnavailableError("the engine is offline")})
    app = CommandsApp(live_state("auditor"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await finish(app, pilot)
    entry = app.live.commands[-1]
    assert entry.outcome == "not sent: engine offline"
    assert not entry.ok
    assert link.refreshes == 0


# -- the kill switch ----------------------------------------------------------------------


async def test_the_kill_switch_needs_the_bot_id_typed_exactly() -> None:
    link = FakeLink(
        {
            "risk.kill": {
                "trading_state": {"state": "halted", "reason": "x"},
                "flatten_orders": ["a", "b", "c"],
            }
        }
    )
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("X")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, TypedConfirmScreen)
        assert inside_terminal(app, "#dialog")
        assert "has 3 open positions now" in text_of(dialog.query_one(".dialog-body", Static))

        await pilot.press(*"bot01", "enter")  # wrong case
        await settle(app, pilot)
        assert app.screen is dialog
        assert link.calls == []
        hint = text_of(dialog.query_one("#hint", Static))
        assert "'bot01' is not BOT01: nothing sent" in hint and "type BOT01 exactly" in hint

        await pilot.press(*["backspace"] * 5, *"BOT0", "enter")  # not all of it
        await settle(app, pilot)
        assert app.screen is dialog
        assert link.calls == []

        await pilot.press("1", "enter")
        await finish(app, pilot)
        assert isinstance(app.screen, MainView)
    assert link.calls == [("risk.kill", {"reason": "kill switch from the console"}, 60.0)]
    entry = app.live.commands[-1]
    assert entry.outcome == "kill switch: HALTED, 3 flatten orders"
    assert entry.ok
    assert entry.params == {"reason": "kill switch from the console"}
    assert link.refreshes == 1


async def test_without_a_readable_home_the_kill_switch_asks_for_the_engines_bot_id() -> None:
    link = FakeLink({"risk.kill": {"trading_state": {"state": "halted"}, "flatten_orders": []}})
    app = CommandsApp(live_state("operator"), link)
    app.settings = ConsoleSettings(bot_name="", bot_id="", socket_path=Path("/x"),
                                   ledger_path=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("X")
        await settle(app, pilot)
        assert "type BOT01 exactly" in text_of(app.screen.query_one("#hint", Static))
        await pilot.press(*"BOT01", "enter")
        await finish(app, pilot)
    assert [call[0] for call in link.calls] == ["risk.kill"]


async def test_the_kill_switch_sends_the_reason_the_operator_wrote() -> None:
    link = FakeLink({"risk.kill": {"trading_state": {"state": "halted"}, "flatten_orders": []}})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("X")
        await settle(app, pilot)
        await pilot.press(*"BOT01", "tab")
        await pilot.press(*"broker outage", "enter")
        await finish(app, pilot)
    assert link.calls == [("risk.kill", {"reason": "broker outage"}, 60.0)]
    assert app.live.commands[-1].outcome == "kill switch: HALTED, 0 flatten orders"


async def test_the_kill_switch_refuses_an_empty_reason() -> None:
    link = FakeLink()
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("X")
        await settle(app, pilot)
        dialog = app.screen
        await pilot.press(*"BOT01", "tab", "backspace", "enter")
        await settle(app, pilot)
        assert app.screen is dialog
        assert "a reason is required" in text_of(dialog.query_one("#hint", Static))
    assert link.calls == []


async def test_escape_cancels_the_kill_switch() -> None:
    link = FakeLink()
    app = CommandsApp(live_state("admin"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("X")
        await settle(app, pilot)
        await pilot.press(*"BOT01", "escape")
        await finish(app, pilot)
        assert isinstance(app.screen, MainView)
    assert link.calls == []
    assert app.live.commands[-1].outcome == "cancelled: nothing sent"


# -- y/n, reasons and choices -------------------------------------------------------------


async def test_resume_asks_and_no_sends_nothing() -> None:
    link = FakeLink({"trading.resume": {"trading_state": {"state": "active"}}})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        for answer in ("n", "escape"):
            await pilot.press("r")
            await settle(app, pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert inside_terminal(app, "#dialog")
            await pilot.press(answer)
            await finish(app, pilot)
        assert link.calls == []
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("y")
        await finish(app, pilot)
    assert link.calls == [("trading.resume", {}, 10.0)]
    assert [entry.outcome for entry in app.live.commands] == [
        "cancelled: nothing sent",
        "cancelled: nothing sent",
        "trading is ACTIVE",
    ]
    assert ("information", "trading is ACTIVE") in app.toasts


async def test_an_engine_refusal_shows_in_the_command_log() -> None:
    refusal = RpcCallError(-32010, "trading is HALTED (kill switch): risk.reset first")
    link = FakeLink({"trading.resume": refusal})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await settle(app, pilot)
        await pilot.press("enter")
        await finish(app, pilot)
        assert ("error", "refused: trading is HALTED (kill switch): risk.reset first") in app.toasts
        await pilot.press("c")
        await settle(app, pilot)
        assert isinstance(app.screen, CommandLogScreen)
        rows = cells_of(app.screen)
        assert len(rows) == 1
        assert rows[0][3].startswith("refused: trading is HALTED")
        assert "refused: trading is HALTED" in text_of(
            app.screen.query_one("#command-detail", Static)
        )
    assert link.calls == [("trading.resume", {}, 10.0)]
    assert not app.live.commands[-1].ok
    assert link.refreshes == 0


async def test_pause_sends_the_optional_reason() -> None:
    link = FakeLink({"trading.pause": {"trading_state": {"state": "reducing"}}})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"lunch", "enter")
        await finish(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        await pilot.press("enter")  # no reason is fine: pausing only reduces risk
        await finish(app, pilot)
    assert link.calls == [
        ("trading.pause", {"reason": "lunch"}, 10.0),
        ("trading.pause", {}, 10.0),
    ]
    assert app.live.commands[-1].outcome == "trading is REDUCING"
    assert link.refreshes == 2


async def test_disable_lists_the_strategies_with_their_state() -> None:
    link = FakeLink({"strategy.disable": {"strategy": "mid", "enabled": False}})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await settle(app, pilot)
        chooser = app.screen
        assert isinstance(chooser, ChoiceScreen)
        assert inside_terminal(app, "#dialog")
        options = chooser.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(3)]
        assert labels == ["open     enabled now", "mid      enabled now", "close    disabled now"]
        assert options.highlighted == 0  # the first one disabling would change
        await pilot.press("j", "enter")  # no confirmation: disabling reduces risk
        await finish(app, pilot)
    assert link.calls == [("strategy.disable", {"strategy": "mid"}, 10.0)]
    assert app.live.commands[-1].outcome == "strategy mid disabled"


async def test_enable_offers_the_disabled_strategy_and_confirms() -> None:
    link = FakeLink({"strategy.enable": {"strategy": "close", "enabled": True}})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await settle(app, pilot)
        assert isinstance(app.screen, ChoiceScreen)
        assert app.screen.query_one(OptionList).highlighted == 2
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.title_text == "Enable strategy: close"
        await pilot.press("y")
        await finish(app, pilot)
    assert link.calls == [("strategy.enable", {"strategy": "close"}, 10.0)]
    assert app.live.commands[-1].outcome == "strategy close enabled"


async def test_escape_in_the_choice_sends_nothing() -> None:
    link = FakeLink()
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await settle(app, pilot)
        await pilot.press("escape")
        await finish(app, pilot)
    assert link.calls == []
    assert app.live.commands[-1].outcome == "cancelled: nothing sent"


async def test_reset_is_for_admins_only() -> None:
    link = FakeLink({"risk.reset": {"trading_state": {"state": "active"}}})
    operator = CommandsApp(live_state("operator"), link)
    async with operator.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await finish(operator, pilot)
    assert link.calls == []
    assert operator.live.commands[-1].outcome == (
        "not sent: needs the admin role (you are operator)"
    )
    admin = CommandsApp(live_state("admin"), link)
    async with admin.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await settle(admin, pilot)
        await pilot.press("y")
        await finish(admin, pilot)
    assert link.calls == [("risk.reset", {}, 10.0)]


async def test_ledger_verify_waits_long_and_reports_the_count() -> None:
    link = FakeLink(
        {
            "ledger.verify": {
                "ok": True,
                "entries": 12345,
                "postings": 30000,
                "audit_rows": 12,
                "problems": [],
                "seconds": 1.5,
            }
        }
    )
    app = CommandsApp(live_state("auditor"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await finish(app, pilot)
    assert link.calls == [("ledger.verify", {}, 600.0)]
    assert app.live.commands[-1].outcome == "ledger verify: ok, 12,345 entries"


async def test_a_call_without_an_answer_may_have_been_applied() -> None:
    link = FakeLink({"config.reload": RpcTimeoutError("the engine did not answer in 30s")})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        await settle(app, pilot)
        await pilot.press("y")
        await finish(app, pilot)
    outcome = app.live.commands[-1].outcome
    assert outcome.startswith("no answer: the engine did not answer in 30s")
    assert "may have been applied" in outcome


def test_answers_read_as_short_summaries() -> None:
    verify = command_by_id("verify")
    problems = {"ok": False, "entries": 10, "problems": ["unbalanced USD", "orphan posting 7"]}
    assert describe_result(verify, {}, problems).text == (
        "ledger verify: 2 problems in 10 entries: unbalanced USD; orphan posting 7"
    )
    assert not describe_result(verify, {}, problems).ok
    reload = command_by_id("reload")
    assert describe_result(reload, {}, {"reloaded": True, "changed_keys": []}).text == (
        "config reloaded: nothing changed"
    )
    assert (
        describe_result(reload, {}, {"reloaded": True, "changed_keys": ["MAX_TRADES"]}).text
        == "config reloaded: changed MAX_TRADES"
    )
    kill = command_by_id("kill")
    assert (
        describe_result(
            kill, {}, {"trading_state": {"state": "halted"}, "flatten_orders": ["one"]}
        ).text
        == "kill switch: HALTED, 1 flatten order"
    )


async def test_config_errors_are_listed_with_the_refusal() -> None:
    invalid = RpcCallError(
        -32012,
        "the configuration on disk is invalid; nothing was applied",
        ["MAX_TRADES: not a number", "OPEN_START: bad time"],
    )
    link = FakeLink({"config.reload": invalid})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("L")
        await settle(app, pilot)
        await pilot.press("y")
        await finish(app, pilot)
    assert app.live.commands[-1].outcome == (
        "refused: the configuration on disk is invalid; nothing was applied: "
        "MAX_TRADES: not a number; OPEN_START: bad time"
    )


# -- the palette, the help and the log ------------------------------------------------------


async def test_the_palette_lists_every_command_and_view() -> None:
    app = CommandsApp(live_state("viewer"), FakeLink())
    async with app.run_test(size=SIZE) as pilot:
        provider = RegistryCommands(app.screen)
        hits = [hit async for hit in provider.discover()]
        assert all(isinstance(hit, DiscoveryHit) for hit in hits)
        by_text = {hit.text: hit for hit in hits}
        for text in (
            "Pause entries",
            "Resume entries",
            "Enable strategy: open",
            "Enable strategy: mid",
            "Enable strategy: close",
            "Disable strategy: mid",
            "Kill switch",
            "Reset kill switch",
            "Verify ledger",
            "Reload config",
            "Go to: Main",
            "Command log",
        ):
            assert text in by_text
        assert by_text["Kill switch"].help == (
            "X · disabled: needs the operator role (you are viewer)"
        )
        assert by_text["Pause entries"].help.startswith("p · disabled:")
        searched = [hit.text async for hit in provider.search("kill")]
        assert searched[0] in {"Kill switch", "Reset kill switch"}
        assert "Pause entries" not in searched

        # Choosing a disabled command goes to the runner, which refuses it.
        await choose(by_text["Disable strategy: mid"])
        await finish(app, pilot)
        assert app.live.commands[-1].outcome == (
            "not sent: needs the operator role (you are viewer)"
        )
        await choose(by_text["Go to: Other"])
        await pilot.pause()
        assert isinstance(app.screen, OtherView)
        await choose(by_text["Help: keys and commands"])
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.view_title == "Other"
        await pilot.press("escape")
        await choose(by_text["Command log"])
        await pilot.pause()
        assert isinstance(app.screen, CommandLogScreen)


async def test_the_palette_lists_the_views_own_keys() -> None:
    app = CommandsApp(live_state("admin"), FakeLink())
    async with app.run_test(size=SIZE) as pilot:
        app.switch_mode("other")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, OtherView)
        hits = {hit.text: hit async for hit in RegistryCommands(view).discover()}
        assert hits["Other: Sync now"].help == "s · this view"
        assert hits["Other: Accept"].help.startswith("a · ")
        assert "this view" not in hits["Other: Accept"].help  # dimmed: says so
        await choose(hits["Other: Sync now"])
        await pilot.pause()
        assert view.synced == 1


async def choose(hit: DiscoveryHit | Hit) -> None:
    """Do what the palette does with a chosen hit."""
    result = hit.command()
    if inspect.isawaitable(result):
        await result


async def test_the_palette_runs_a_command_with_its_choice() -> None:
    link = FakeLink({"strategy.disable": {"strategy": "close", "enabled": False}})
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"disable strategy: close")
        hits = app.screen.query_one(CommandList)
        for _ in range(100):  # the palette searches in the background
            if hits.option_count and "close" in str(hits.get_option_at_index(0).prompt):
                break
            await pilot.pause(0.05)
        await pilot.press("down", "enter")
        await finish(app, pilot)
    # The strategy came from the palette: no chooser, and disabling needs no confirmation.
    assert link.calls == [("strategy.disable", {"strategy": "close"}, 10.0)]


async def test_help_lists_the_views_keys_and_every_command() -> None:
    app = CommandsApp(live_state("viewer"), FakeLink())
    async with app.run_test(size=SIZE) as pilot:
        app.set_keymap({"command.kill": "ctrl+k"})
        await pilot.press("question_mark")
        await settle(app, pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert inside_terminal(app, "#help")
        app_ids = {str(row[2]) for row in help_screen.app_rows}
        assert {"app.help", "app.command_log", "command.pause"} <= app_ids
        commands = {str(row[1]): (str(row[0]), str(row[2])) for row in help_screen.command_rows}
        assert commands["Kill switch"] == (
            "^k",
            "disabled: needs the operator role (you are viewer)",
        )
        assert commands["Pause entries"][0] == "p"
        await pilot.press("j", "k", "q")
        await settle(app, pilot)
        assert isinstance(app.screen, MainView)
        await pilot.press("question_mark")
        await settle(app, pilot)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainView)
        await pilot.press("c", "question_mark")  # help on the command log: its own keys
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.view_title == "Command log"
        view_ids = {str(row[2]) for row in app.screen.view_rows}
        assert {"grid.filter", "grid.down", "command_log.back"} <= view_ids


async def test_the_command_log_shows_the_newest_first_and_follows_new_ones() -> None:
    link = FakeLink(
        {
            "trading.pause": {"trading_state": {"state": "reducing"}},
            "ledger.verify": {"ok": True, "entries": 3},
        }
    )
    app = CommandsApp(live_state("operator"), link)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await settle(app, pilot)
        log = app.screen
        assert isinstance(log, CommandLogScreen)
        assert "No commands yet" in text_of(log.query_one("#command-detail", Static))
        await pilot.press("v")  # commands still run from the log view
        await finish(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        await pilot.press(*"lunch", "enter")
        await finish(app, pilot)
        assert app.screen is log
        assert cells_of(log) == [
            ["15:01:03Z", "Pause entries", "reason=lunch", "trading is REDUCING"],
            ["15:01:03Z", "Verify ledger", "—", "ledger verify: ok, 3 entries"],
        ]
        assert log.grid.cursor_index == 0  # on the newest, it follows new commands
        assert "trading.pause reason=lunch" in text_of(log.query_one("#command-detail", Static))
        await pilot.press("j")
        await pilot.pause()
        assert "Verify ledger" in text_of(log.query_one("#command-detail", Static))
        await pilot.press("p")
        await settle(app, pilot)
        await pilot.press("enter")
        await finish(app, pilot)
        assert len(cells_of(log)) == 3
        # Away from the newest, the cursor stays on its entry.
        assert log.grid.cursor_index == 2
        assert "Verify ledger" in text_of(log.query_one("#command-detail", Static))
        await pilot.press("slash", *"verify")
        await pilot.pause(0.4)
        await pilot.press("enter")
        await pilot.pause()
        assert [row[1] for row in cells_of(log)] == ["Verify ledger"]
        await pilot.press("escape")  # clears the filter first
        await pilot.pause()
        assert len(cells_of(log)) == 3
        assert app.screen is log
        await pilot.press("enter")  # the entry in full
        await pilot.pause()
        assert isinstance(app.screen, CommandEntryScreen)
        assert inside_terminal(app, "#dialog")
        assert app.screen.entry.command_id == "verify"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is log
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, MainView)


async def test_an_unknown_command_id_is_reported_not_sent() -> None:
    link = FakeLink()
    app = CommandsApp(live_state("admin"), link)
    async with app.run_test(size=SIZE) as pilot:
        assert await app.commands.run("launch_rockets") is None
        await pilot.pause()
    assert link.calls == []
    assert any("no console command 'launch_rockets'" in text for _, text in app.toasts)


async def test_confirm_screens_fit_80x24_with_long_bodies() -> None:
    body = " ".join(["a long explanation of what will happen"] * 12)
    app = CommandsApp(live_state("operator"), FakeLink())
    async with app.run_test(size=SIZE) as pilot:
        for dialog in (
            ConfirmScreen("Resume entries", body, "Resume"),
            TypedConfirmScreen("Kill switch", body, "BOT01", "why"),
            ReasonScreen("Pause entries", body),
        ):
            await app.push_screen(dialog)
            await pilot.pause()
            assert inside_terminal(app, "#dialog")
            app.pop_screen()
            await pilot.pause()
