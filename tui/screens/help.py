"""`?`: every key of the view it was opened on, every command and whether it can run now,
and the keyboard conventions every view follows.

The keys are read from the view's active bindings when the help opens, after the user's
keymap was applied, so the help never disagrees with what a key press does.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from tui.commands.keymap import keys_by_binding_id
from tui.commands.registry import COMMANDS, availability
from tui.commands.runner import CommandHost

CONVENTIONS: tuple[tuple[str, str], ...] = (
    ("?", "this help"),
    ("esc", "back, close, cancel"),
    ("enter", "drill in, choose, confirm"),
    ("j / k", "down / up, as well as the arrows"),
    ("/", "filter the table"),
    ("1-6", "views: dashboard, orders, ledger, reconciliation, mapping, approvals"),
    ("ctrl+p", "command palette: every command and view by name"),
    ("q", "quit"),
)


def _key_table(rows: list[tuple[Text | str, ...]], headers: tuple[str, ...]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", expand=True, padding=(0, 1))
    for index, header in enumerate(headers):
        table.add_column(header, no_wrap=index == 0, ratio=None if index == 0 else 1)
    for row in rows:
        table.add_row(*row)
    return table


class HelpScreen(ModalScreen[None]):
    """Every binding of `screen`, every registry command, the conventions; `esc`, `q` or `?`
    close it, `j`/`k` scroll."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen #help {
        width: 100;
        max-width: 100%;
        height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-title {
        text-style: bold;
        width: 100%;
    }
    HelpScreen .help-heading {
        text-style: bold;
        margin-top: 1;
        color: $accent;
    }
    HelpScreen .help-note {
        margin-top: 1;
        color: $text-muted;
    }
    HelpScreen #help-keys {
        color: $text-muted;
        width: 100%;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
        Binding("j", "scroll(1)", "Down", show=False, id="help.down"),
        Binding("k", "scroll(-1)", "Up", show=False, id="help.up"),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        # Gathered now: once this modal is on top the view's bindings are not active.
        self.view_title = getattr(screen, "VIEW_TITLE", "") or type(screen).__name__
        self.view_rows, self.app_rows = self._binding_rows(screen)
        self.command_rows = self._command_rows(screen)

    @staticmethod
    def _binding_rows(
        screen: Screen[object],
    ) -> tuple[list[tuple[Text | str, ...]], list[tuple[Text | str, ...]]]:
        """The screen's active bindings as (keys, does, id) rows: the view's own (the
        screen's first, then its widgets'), then the app's, which work on every view. Keys
        doing the same thing share a row (`↓ j  Down`)."""
        screen_first, widgets_next, app_last = 0, 1, 2
        # (place, binding id or action, description) -> [keys, any enabled, binding id]
        groups: dict[tuple[int, str, str], list[Any]] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.system:
                continue
            if active.node is screen.app:
                place = app_last
            else:
                place = screen_first if active.node is screen else widgets_next
            # The binding id (else the action) says "the same thing"; the description
            # keeps apart one action shown under two names.
            group = groups.setdefault(
                (place, binding.id or binding.action, binding.description),
                [[], False, binding.id or "—"],
            )
            group[0].append(screen.app.get_key_display(binding))
            group[1] = group[1] or active.enabled
        view: list[tuple[Text | str, ...]] = []
        everywhere: list[tuple[Text | str, ...]] = []
        for (place, name, description), (keys, enabled, binding_id) in sorted(
            groups.items(), key=lambda item: item[0][0]  # stable within a place
        ):
            row = (
                Text(" ".join(keys), style="bold"),
                Text(description or name, style="" if enabled else "dim"),
                Text(binding_id, style="dim"),
            )
            (everywhere if place == app_last else view).append(row)
        return view, everywhere

    @staticmethod
    def _command_rows(screen: Screen[object]) -> list[tuple[Text | str, ...]]:
        live = cast(CommandHost, screen.app).live
        keys = keys_by_binding_id(screen)
        rows: list[tuple[Text | str, ...]] = []
        for command in COMMANDS:
            state = availability(command, live)
            if state.enabled:
                status = Text("available", style="green")
            else:
                status = Text(f"disabled: {state.reason}", style="yellow")
            rows.append(
                (
                    Text(keys.get(command.binding_id, command.key), style="bold"),
                    Text(command.title, style="" if state.enabled else "dim"),
                    status,
                )
            )
        return rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label(f"Help · {self.view_title}", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static("Keys on this view", classes="help-heading")
                yield Static(_key_table(self.view_rows, ("key", "does", "binding id")))
                yield Static("Keys on every view", classes="help-heading")
                yield Static(_key_table(self.app_rows, ("key", "does", "binding id")))
                yield Static("Commands (also in ctrl+p)", classes="help-heading")
                yield Static(_key_table(self.command_rows, ("key", "command", "now")))
                yield Static("Conventions", classes="help-heading")
                yield Static(
                    _key_table(
                        [(Text(key, style="bold"), what) for key, what in CONVENTIONS],
                        ("key", "does"),
                    )
                )
                yield Static(
                    "Rebind any key by its binding id in $TBOT_KEYMAP or "
                    "~/.config/tbot/keymap.toml:\n"
                    '[keys]\n"command.kill" = "ctrl+k"',
                    classes="help-note",
                    markup=False,
                )
            yield Static("j/k or arrows: scroll    esc / q / ?: close", id="help-keys")

    def on_mount(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).focus()

    def action_scroll(self, lines: int) -> None:
        """Scroll the help by `lines` (down when positive)."""
        self.query_one("#help-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_close(self) -> None:
        """Back to the view."""
        self.dismiss(None)
