"""Every command the console can send to the engine, in one table.

The table feeds the hotkeys (`command_bindings`), the command palette
(`tui.commands.palette`), the help screen and the runner (`tui.commands.runner`), so a
command cannot exist in one place and be missing from another. Each entry says how much
friction it needs: commands that only reduce risk run at once (or after an optional
reason), commands that let trading restart ask y/n, and the kill switch asks for the bot's
id typed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from textual.binding import Binding

from tui.model.live_state import LiveState


class Confirmation(StrEnum):
    """How the operator confirms a command before it is sent."""

    NONE = "none"
    """Sent at once: it only reduces risk, or changes nothing."""
    YES_NO = "yes_no"
    """A y/n question."""
    TYPED = "typed"
    """The operator types the bot's short id (the kill switch)."""


class ReasonPolicy(StrEnum):
    """Whether the command carries a `reason` param the operator writes."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


STRATEGIES: tuple[str, ...] = ("open", "mid", "close")
"""The strategy names `strategy.enable` / `strategy.disable` accept (docs/protocol.md)."""


@dataclass(frozen=True)
class ConsoleCommand:
    """One command: what it is called, which RPC method it sends, and how it is guarded."""

    id: str
    title: str
    summary: str
    method: str
    key: str
    confirm: Confirmation = Confirmation.NONE
    choices: tuple[str, ...] = ()
    """The values the operator picks from before sending (sent as `choice_param`)."""
    choice_param: str | None = None
    asks_reason: ReasonPolicy = ReasonPolicy.NONE
    timeout: float = 10.0
    """Seconds to wait for the engine's answer."""
    changes_state: bool = True
    reduces_risk: bool = False
    """Only ever makes trading safer, so it needs no confirmation."""

    @property
    def binding_id(self) -> str:
        """The id a keymap file uses to rebind this command's key."""
        return f"command.{self.id}"

    @property
    def action(self) -> str:
        """The app action that runs the command."""
        return f"run_command('{self.id}')"

    def choice_title(self, choice: str) -> str:
        """The title with the chosen value, e.g. 'Disable strategy: mid'."""
        return f"{self.title}: {choice}"


COMMANDS: tuple[ConsoleCommand, ...] = (
    ConsoleCommand(
        id="pause",
        title="Pause entries",
        summary="Stop opening new positions; open positions are still managed.",
        method="trading.pause",
        key="p",
        asks_reason=ReasonPolicy.OPTIONAL,
        reduces_risk=True,
    ),
    ConsoleCommand(
        id="resume",
        title="Resume entries",
        summary="Let the engine open new positions again (refused while halted).",
        method="trading.resume",
        key="r",
        confirm=Confirmation.YES_NO,
    ),
    ConsoleCommand(
        id="enable",
        title="Enable strategy",
        summary="Let a strategy you disabled open positions again.",
        method="strategy.enable",
        key="e",
        confirm=Confirmation.YES_NO,
        choices=STRATEGIES,
        choice_param="strategy",
    ),
    ConsoleCommand(
        id="disable",
        title="Disable strategy",
        summary="Stop a strategy's new entries; its open positions are still managed.",
        method="strategy.disable",
        key="d",
        choices=STRATEGIES,
        choice_param="strategy",
        reduces_risk=True,
    ),
    ConsoleCommand(
        id="kill",
        title="Kill switch",
        summary="Halt trading: cancel working entries and flatten every position.",
        method="risk.kill",
        key="X",
        confirm=Confirmation.TYPED,
        asks_reason=ReasonPolicy.REQUIRED,
        # Flattening waits for the broker to take every closing order.
        timeout=60.0,
    ),
    ConsoleCommand(
        id="reset",
        title="Reset kill switch",
        summary="Clear the halt: HALTED becomes ACTIVE and trading may restart (admin).",
        method="risk.reset",
        key="R",
        confirm=Confirmation.YES_NO,
    ),
    ConsoleCommand(
        id="verify",
        title="Verify ledger",
        summary="Re-check the ledger: balances, orphan rows and the audit hash chain.",
        method="ledger.verify",
        key="v",
        changes_state=False,
        # A large ledger takes minutes to re-check.
        timeout=600.0,
    ),
    ConsoleCommand(
        id="reload",
        title="Reload config",
        summary="Re-read the configuration files and apply them, all or nothing.",
        method="config.reload",
        key="L",
        confirm=Confirmation.YES_NO,
        timeout=30.0,
    ),
)

_BY_ID = {command.id: command for command in COMMANDS}


def command_by_id(command_id: str) -> ConsoleCommand:
    """The command called `command_id`; KeyError naming the known ids if there is none."""
    try:
        return _BY_ID[command_id]
    except KeyError:
        known = ", ".join(_BY_ID)
        raise KeyError(f"no console command {command_id!r} (known: {known})") from None


def command_bindings() -> list[Binding]:
    """One app binding per command, each with its `command.<id>` binding id."""
    return [
        Binding(
            command.key,
            command.action,
            command.title,
            show=False,
            id=command.binding_id,
        )
        for command in COMMANDS
    ]


@dataclass(frozen=True)
class Availability:
    """Whether a command can be sent now and, if not, why (shown to the operator)."""

    enabled: bool
    reason: str = ""


AVAILABLE = Availability(enabled=True)


def availability(command: ConsoleCommand, live: LiveState) -> Availability:
    """Whether the caller may send `command` now, from what `rpc.discover` said."""
    return method_availability(command.method, live)


def method_availability(method: str, live: LiveState) -> Availability:
    """Whether the caller may call `method` now, and if not why, in the words every view
    uses (commands here, the views' own keys elsewhere)."""
    connection = live.connection
    if not connection.online:
        return Availability(False, "the engine is offline")
    access = connection.methods.get(method)
    if access is None:
        return Availability(False, f"the engine does not offer {method}")
    if not access.allowed:
        role = connection.role or "unknown"
        return Availability(False, f"needs the {access.min_role} role (you are {role})")
    return AVAILABLE
