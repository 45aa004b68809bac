"""The console app: views as modes, one live state, one link, one command registry.

Views are Textual modes (each keeps its own screen stack, so `esc` walks back through a
drill-down without losing the others): 1 dashboard, 2 orders and fills, 3 ledger,
4 reconciliation, 5 mapping, 6 entries waiting for approval. Commands are app-wide and
come from `tui.commands.registry`, which also feeds the palette (ctrl+p) and the help
screen (?).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tbot.clock import Clock, SystemClock
from tui.commands.keymap import KeymapError, load_keymap
from tui.commands.palette import RegistryCommands
from tui.commands.registry import command_bindings
from tui.commands.runner import CommandRunner
from tui.link.console_link import ConsoleLink, Notify
from tui.messages import LiveUpdated
from tui.model.live_state import ConnectionInfo, LinkState, LiveState, Topic
from tui.screens.choose import ChoiceScreen
from tui.screens.command_log import CommandEntryScreen, CommandLogScreen
from tui.screens.confirm import ConfirmScreen, ReasonScreen, TypedConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.help import HelpScreen
from tui.settings import ConsoleSettings
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterInput

if TYPE_CHECKING:
    from tui.ledger.ledger_reader import LedgerReader

LinkFactory = Callable[[LiveState, Notify], ConsoleLink]

CSS_PATH = Path(__file__).with_name("console.tcss")


def _orders_view() -> Screen[None]:
    # Imported on first use: the views that read the ledger pull in Peewee and the ledger
    # package, which the first frame (the dashboard) does not need.
    from tui.screens.orders import OrdersScreen

    return OrdersScreen()


def _ledger_view() -> Screen[None]:
    from tui.ledger.screens import TrialBalanceScreen

    return TrialBalanceScreen()


def _recon_view() -> Screen[None]:
    from tui.recon.screens import ReconciliationScreen

    return ReconciliationScreen()


def _mapping_view() -> Screen[None]:
    from tui.mapping.screens import MappingQueueScreen

    return MappingQueueScreen()


def _approvals_view() -> Screen[None]:
    from tui.approvals.screens import ApprovalsScreen

    return ApprovalsScreen()


class ConsoleApp(App[None]):
    """The operator console for one bot."""

    TITLE = "tbot console"
    CSS_PATH = CSS_PATH
    ENABLE_COMMAND_PALETTE = True
    COMMANDS: ClassVar = App.COMMANDS | {RegistryCommands}
    MODES: ClassVar = {
        "dashboard": DashboardScreen,
        "orders": _orders_view,
        "ledger": _ledger_view,
        "recon": _recon_view,
        "mapping": _mapping_view,
        "approvals": _approvals_view,
    }
    DEFAULT_MODE = "dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('dashboard')", "Dashboard", id="view.dashboard"),
        Binding("2", "switch_mode('orders')", "Orders", id="view.orders"),
        Binding("3", "switch_mode('ledger')", "Ledger", id="view.ledger"),
        Binding("4", "switch_mode('recon')", "Recon", id="view.recon", show=False),
        Binding("5", "switch_mode('mapping')", "Mapping", id="view.mapping", show=False),
        Binding("6", "switch_mode('approvals')", "Approvals", id="view.approvals",
                show=False),
        Binding("c", "show_command_log", "Cmd log", id="app.command_log", show=False),
        Binding("question_mark", "show_help", "Help", id="app.help", key_display="?"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", id="app.quit_ctrl_c", show=False, priority=True),
        *command_bindings(),
    ]

    def __init__(
        self,
        settings: ConsoleSettings,
        link_factory: LinkFactory,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.bot_name = settings.bot_name
        self.live = LiveState(
            connection=ConnectionInfo(
                state=LinkState.CONNECTING,
                since=self.clock.now(),
                socket_path=str(settings.socket_path),
            )
        )
        self.link: ConsoleLink = link_factory(self.live, self.live_changed)
        self.commands = CommandRunner(self)
        self._ledger: LedgerReader | None = None
        self._ledger_error: str | None = None

    # -- life cycle -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._apply_keymap()
        # Everything made to draw the first frame lives as long as the console: leave it
        # out of the collector's full passes, which otherwise stall keys by 40-70 ms.
        self.call_after_refresh(gc.freeze)
        self.run_worker(self.link.run(), name="engine-link", exit_on_error=False)
        # Countdowns and "offline since" move with the console's clock even when the engine
        # says nothing.
        self.set_interval(1.0, self._tick)

    async def on_unmount(self) -> None:
        await self.link.close()
        if self._ledger is not None:
            self._ledger.close()

    def _apply_keymap(self) -> None:
        path = self.settings.keymap_path
        if path is None:
            return
        try:
            keymap = load_keymap(path, known_ids=self.binding_ids())
        except KeymapError as error:
            self.notify(str(error), title="keymap not applied", severity="error", timeout=10)
            return
        self.set_keymap(keymap)

    def binding_ids(self) -> frozenset[str]:
        """Every binding id a keymap file may name: the app's, each view's (with the
        bindings they inherit), the dialogs' and the tables'."""
        from tui.approvals.screens import BINDING_OWNERS as APPROVAL_OWNERS
        from tui.ledger.screens import (
            AccountScreen,
            EntryScreen,
            JournalScreen,
            TrialBalanceScreen,
        )
        from tui.mapping.screens import BINDING_OWNERS as MAPPING_OWNERS
        from tui.recon.screens import BINDING_OWNERS as RECON_OWNERS
        from tui.screens.orders import OrdersScreen
        from tui.widgets.account_picker import AccountPickerScreen

        ids = {binding.id for _, binding in self._bindings if binding.id}
        dialogs = (ConfirmScreen, ReasonScreen, TypedConfirmScreen, ChoiceScreen,
                   AccountPickerScreen)
        ledger_views = (JournalScreen, AccountScreen, EntryScreen)
        owners = (
            DashboardScreen, OrdersScreen, TrialBalanceScreen, *ledger_views,
            *RECON_OWNERS, *MAPPING_OWNERS, *APPROVAL_OWNERS, CommandLogScreen,
            CommandEntryScreen,
            HelpScreen, *dialogs, DataGrid, FilterInput,
        )
        for owner in owners:
            for cls in owner.__mro__:
                for binding in cls.__dict__.get("BINDINGS", []):
                    if isinstance(binding, Binding) and binding.id:
                        ids.add(binding.id)
        return frozenset(ids)

    # -- live state -------------------------------------------------------------------------

    def live_changed(self, topics: frozenset[Topic]) -> None:
        """Called by the link after it changed the live state."""
        screen = self.screen
        if isinstance(screen, Screen):
            screen.post_message(LiveUpdated(topics))

    def _tick(self) -> None:
        self.live_changed(frozenset({Topic.CONNECTION}))

    # -- ledger (read-only history) ----------------------------------------------------------

    @property
    def ledger(self) -> LedgerReader | None:
        """The bot's ledger, opened read-only on first use; None (and a notice) if it
        cannot be read."""
        if self._ledger is None and self._ledger_error is None:
            path = self.settings.ledger_path
            if path is None:
                self._ledger_error = self.settings.ledger_note or "this bot has no ledger yet"
            else:
                from tui.ledger.ledger_reader import LedgerReader

                try:
                    self._ledger = LedgerReader.open(path)
                except Exception as error:  # any failure must not take the console down
                    self._ledger_error = f"cannot read the ledger {path}: {error}"
                    self.notify(self._ledger_error, severity="error", timeout=10)
        return self._ledger

    @property
    def ledger_error(self) -> str | None:
        """Why the ledger could not be opened, if it could not."""
        return self._ledger_error

    # -- actions ----------------------------------------------------------------------------

    def action_show_help(self) -> None:
        """Every binding of the current view, and every command with its state."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_show_command_log(self) -> None:
        """What was sent to the engine and what it answered."""
        if not isinstance(self.screen, CommandLogScreen):
            self.push_screen(CommandLogScreen())

    async def action_run_command(self, command_id: str) -> None:
        """Run one registry command (from a hotkey or the palette)."""
        self.commands.start(command_id)
