"""Run one registry command: check it is allowed, ask what it needs, send it, log the answer.

Every path ends in the command log (`LiveState.commands`) and a toast, so the operator sees
what was sent and what the engine said, including commands that were refused before they
left the console and commands the operator cancelled. Nothing reaches the engine unless
the command is available and every question was answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from textual.app import App

from tbot.clock import Clock
from tbot.control.client import EngineUnavailableError, RpcCallError, RpcTimeoutError
from tui.commands.registry import (
    Confirmation,
    ConsoleCommand,
    ReasonPolicy,
    availability,
    command_by_id,
)
from tui.link.console_link import ConsoleLink
from tui.model.live_state import CommandLogEntry, LiveState, Topic
from tui.screens.choose import ChoiceScreen
from tui.screens.confirm import ConfirmScreen, ReasonScreen, TypedConfirmScreen
from tui.settings import ConsoleSettings

KILL_REASON_DEFAULT = "kill switch from the console"

Severity = Literal["information", "warning", "error"]


class CommandHost(Protocol):
    """What the runner needs of the app besides Textual's own API (ConsoleApp has it)."""

    live: LiveState
    link: ConsoleLink
    clock: Clock
    settings: ConsoleSettings

    def live_changed(self, topics: frozenset[Topic]) -> None:
        """Tell the visible screen that parts of the live state changed."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What the engine's answer means, in a line for the log and the toast."""

    text: str
    ok: bool


class CommandRunner:
    """Runs registry commands for one app (`app.commands`)."""

    def __init__(self, app: App[Any]) -> None:
        self._app = app

    @property
    def _host(self) -> CommandHost:
        return cast("CommandHost", self._app)

    def start(self, command_id: str, choice: str | None = None) -> None:
        """Run a command in an app worker: its dialogs wait for answers, which only a
        worker may do, and the key press that started it returns at once."""
        self._app.run_worker(
            self.run(command_id, choice),
            name=f"command {command_id}",
            group="console-commands",
            exit_on_error=False,
        )

    async def run(self, command_id: str, choice: str | None = None) -> CommandLogEntry | None:
        """Run `command_id` to the end (must be called in a worker). Returns the command log
        entry it wrote, or None for an unknown command id."""
        try:
            command = command_by_id(command_id)
        except KeyError as error:
            self._app.notify(str(error), title="no such command", severity="error")
            return None
        title = command.choice_title(choice) if choice else command.title
        allowed = availability(command, self._host.live)
        if not allowed.enabled:
            self._app.notify(
                f"{command.title} is not available: {allowed.reason}",
                title=title,
                severity="warning",
            )
            return self._log(command, {}, Outcome(f"not sent: {allowed.reason}", ok=False))
        if choice is not None and choice not in command.choices:
            known = ", ".join(command.choices) or "none"
            outcome = Outcome(f"not sent: {choice!r} is not one of {known}", ok=False)
            self._app.notify(outcome.text, title=title, severity="warning")
            return self._log(command, {}, outcome)

        params = await self._ask(command, choice)
        if params is None:
            cancelled = Outcome("cancelled: nothing sent", ok=False)
            self._app.notify(cancelled.text, title=title, timeout=3)
            return self._log(command, {}, cancelled)
        if command.choice_param is not None:
            title = command.choice_title(str(params[command.choice_param]))

        outcome, severity = await self._send(command, params)
        entry = self._log(command, params, outcome)
        self._app.notify(outcome.text, title=title, severity=severity)
        if outcome.ok:
            # The answer says what changed; the reads show everything it moved.
            with contextlib.suppress(EngineUnavailableError, RpcCallError):
                await self._host.link.refresh()
        return entry

    # -- asking ------------------------------------------------------------------------------

    async def _ask(self, command: ConsoleCommand, choice: str | None) -> dict[str, object] | None:
        """The params to send, after every question was answered; None when cancelled."""
        params: dict[str, object] = {}
        if command.choice_param is not None:
            if choice is None:
                choice = await self._app.push_screen_wait(
                    ChoiceScreen(
                        f"{command.title}: which {command.choice_param}?",
                        self._choice_options(command),
                        highlighted=self._likely_choice(command),
                    )
                )
                if choice is None:
                    return None
            params[command.choice_param] = choice
        title = command.choice_title(choice) if choice else command.title
        body = self._body(command, choice)
        if command.confirm is Confirmation.TYPED:
            reason = await self._app.push_screen_wait(
                TypedConfirmScreen(title, body, self._bot_id(), KILL_REASON_DEFAULT)
            )
            if reason is None:
                return None
            params["reason"] = reason
        elif command.asks_reason is not ReasonPolicy.NONE:
            # The reason dialog's enter is the confirmation too: one question, not two.
            reason = await self._app.push_screen_wait(
                ReasonScreen(title, body, required=command.asks_reason is ReasonPolicy.REQUIRED)
            )
            if reason is None:
                return None
            if reason:
                params["reason"] = reason
        elif command.confirm is Confirmation.YES_NO:
            label = command.title.split()[0] + (f" {choice}" if choice else "")
            if not await self._app.push_screen_wait(ConfirmScreen(title, body, label)):
                return None
        return params

    def _enabled_strategies(self) -> Mapping[str, bool]:
        status = self._host.live.status
        return status.strategy.enabled if status is not None else {}

    def _choice_options(self, command: ConsoleCommand) -> list[tuple[str, str]]:
        enabled = self._enabled_strategies()
        options = []
        for value in command.choices:
            state = enabled.get(value)
            now = "state unknown" if state is None else "enabled" if state else "disabled"
            options.append((value, f"{value:<8} {now} now"))
        return options

    def _likely_choice(self, command: ConsoleCommand) -> str | None:
        """The first strategy the command would change (enable: a disabled one)."""
        enabled = self._enabled_strategies()
        wanted = command.method == "strategy.enable"
        return next((value for value in command.choices if enabled.get(value) is not wanted), None)

    def _bot_id(self) -> str:
        """The short id the kill switch asks for: from the home, else from the engine's
        identity (`TBOT_US_SIM_BOT01` → `BOT01`) when the home could not be read."""
        if self._host.settings.bot_id:
            return self._host.settings.bot_id
        status = self._host.live.status
        return status.bot.rsplit("_", 1)[-1] if status else "BOT"

    def _body(self, command: ConsoleCommand, choice: str | None) -> str:
        """What the command does, and the state it would act on."""
        lines = [command.summary]
        live = self._host.live
        status = live.status
        bot = self._host.settings.bot_name or (status.bot if status else "the bot")
        if command.method == "risk.kill":
            count = len(live.positions)
            lines.append(
                f"{bot} has {count} open position{'s' if count != 1 else ''} now; "
                "trading stays HALTED until an admin resets it."
            )
        elif command.method in {"trading.resume", "risk.reset", "trading.pause"} and status:
            trading = status.trading
            because = f" ({trading.reason})" if trading.reason else ""
            lines.append(f"Trading is {trading.label} now{because}.")
        elif command.method == "config.reload" and status is not None:
            if status.config_changed_on_disk:
                lines.append("The files on disk changed since they were loaded.")
            else:
                lines.append("The files on disk have not changed since they were loaded.")
        elif choice is not None and status is not None:
            state = status.strategy.enabled.get(choice)
            if state is not None:
                lines.append(f"Strategy {choice} is {'enabled' if state else 'disabled'} now.")
        return "\n".join(lines)

    # -- sending -----------------------------------------------------------------------------

    async def _send(
        self, command: ConsoleCommand, params: Mapping[str, object]
    ) -> tuple[Outcome, Severity]:
        try:
            result = await self._host.link.call(command.method, params, timeout=command.timeout)
        except RpcTimeoutError as error:
            # Sent, but no answer: the engine may well have applied it.
            return Outcome(f"no answer: {error} (it may have been applied)", ok=False), "error"
        except EngineUnavailableError:
            return Outcome("not sent: engine offline", ok=False), "warning"
        except RpcCallError as error:
            return Outcome(f"refused: {_error_text(error)}", ok=False), "error"
        except Exception as error:  # the log must show every command's fate, even a bug's
            return Outcome(f"failed: {type(error).__name__}: {error}", ok=False), "error"
        outcome = describe_result(command, params, result)
        return outcome, "information" if outcome.ok else "error"

    def _log(
        self, command: ConsoleCommand, params: Mapping[str, object], outcome: Outcome
    ) -> CommandLogEntry:
        entry = CommandLogEntry(
            at=self._host.clock.now(),
            command_id=command.id,
            method=command.method,
            params=dict(params),
            outcome=outcome.text,
            ok=outcome.ok,
        )
        self._host.live.commands.append(entry)
        self._host.live_changed(frozenset({Topic.COMMANDS}))
        return entry


def _error_text(error: RpcCallError) -> str:
    """The engine's message, with the problems it listed in `data` (config.reload)."""
    data = error.data
    if isinstance(data, list) and data and all(isinstance(item, str) for item in data):
        return f"{error.message}: {'; '.join(data[:3])}" + (" …" if len(data) > 3 else "")
    return error.message


# -- what each answer means -------------------------------------------------------------------


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def _trading_state(result: Mapping[str, Any]) -> str:
    state = result.get("trading_state")
    if isinstance(state, Mapping):
        state = state.get("state")
    return str(state).upper() if state else "unknown"


def _trading(result: Mapping[str, Any], params: Mapping[str, object]) -> Outcome:
    return Outcome(f"trading is {_trading_state(result)}", ok=True)


def _strategy(result: Mapping[str, Any], params: Mapping[str, object]) -> Outcome:
    name = result.get("strategy", params.get("strategy"))
    return Outcome(f"strategy {name} {'enabled' if result.get('enabled') else 'disabled'}", ok=True)


def _kill(result: Mapping[str, Any], params: Mapping[str, object]) -> Outcome:
    orders = result.get("flatten_orders")
    count = len(orders) if isinstance(orders, list) else 0
    return Outcome(
        f"kill switch: {_trading_state(result)}, {_plural(count, 'flatten order')}", ok=True
    )


def _verify(result: Mapping[str, Any], params: Mapping[str, object]) -> Outcome:
    entries = result.get("entries")
    counted = _plural(entries, "entry", "entries") if isinstance(entries, int) else "? entries"
    if result.get("ok"):
        return Outcome(f"ledger verify: ok, {counted}", ok=True)
    problems = [str(problem) for problem in result.get("problems") or []]
    shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
    return Outcome(
        f"ledger verify: {_plural(len(problems), 'problem')} in {counted}: {shown}", ok=False
    )


def _reload(result: Mapping[str, Any], params: Mapping[str, object]) -> Outcome:
    changed = result.get("changed_keys") or []
    if not changed:
        return Outcome("config reloaded: nothing changed", ok=True)
    return Outcome(f"config reloaded: changed {', '.join(str(key) for key in changed)}", ok=True)


_DESCRIBE: dict[str, Callable[[Mapping[str, Any], Mapping[str, object]], Outcome]] = {
    "trading.pause": _trading,
    "trading.resume": _trading,
    "risk.reset": _trading,
    "strategy.enable": _strategy,
    "strategy.disable": _strategy,
    "risk.kill": _kill,
    "ledger.verify": _verify,
    "config.reload": _reload,
}


def describe_result(
    command: ConsoleCommand, params: Mapping[str, object], result: object
) -> Outcome:
    """A short human summary of a successful answer, e.g. 'trading is REDUCING'."""
    describe = _DESCRIBE.get(command.method)
    if describe is None or not isinstance(result, Mapping):
        return Outcome("ok", ok=True)
    return describe(result, params)
