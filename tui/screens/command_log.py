"""`c`: every command of this session, newest first: when, what, with which params, and what
the engine answered (or why it was never sent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from tui.commands.registry import command_by_id
from tui.model.formatting import clock_time
from tui.model.live_state import CommandLogEntry, Topic
from tui.screens.confirm import DialogScreen
from tui.screens.live_screen import LiveScreen
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import GridColumn, GridRow, ListSource

EMPTY_LOG = "No commands yet this session. ctrl+p lists them all; ? shows their keys."

COLUMNS = (
    GridColumn("time", "Time", 9),
    GridColumn("command", "Command", 17),
    GridColumn("params", "Params", 20),
    GridColumn("outcome", "Outcome", 20, flex=True),
)


def command_title(entry: CommandLogEntry) -> str:
    """The registry title of the entry's command (its id if the registry lost it)."""
    try:
        return command_by_id(entry.command_id).title
    except KeyError:
        return entry.command_id


def params_text(params: Mapping[str, object]) -> str:
    """`strategy=mid reason=lunch`; `—` for none."""
    return " ".join(f"{name}={value}" for name, value in params.items()) or "—"


def outcome_text(entry: CommandLogEntry) -> Text:
    """The outcome coloured: green done, yellow never sent, red refused or failed."""
    if entry.ok:
        style = "green"
    elif entry.outcome.startswith(("not sent", "cancelled")):
        style = "yellow"
    else:
        style = "bold red"
    return Text(entry.outcome, style=style)


class CommandEntryScreen(DialogScreen[None]):
    """One command in full (`enter` on the log): every param and the whole answer."""

    DEFAULT_CSS = """
    CommandEntryScreen VerticalScroll {
        height: auto;
        max-height: 16;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="command_entry.close"),
    ]

    def __init__(self, entry: CommandLogEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        entry = self.entry
        with Vertical(id="dialog"):
            yield Label(f"{command_title(entry)} · {clock_time(entry.at)}", classes="dialog-title")
            with VerticalScroll():
                sent = Text(f"method  {entry.method}\n")
                for name, value in entry.params.items():
                    sent.append(f"{name:<7} {value}\n")
                yield Static(sent, classes="dialog-body")
                yield Static(outcome_text(entry), classes="dialog-body")
            yield Static("esc / enter: close", classes="dialog-keys")

    def action_close(self) -> None:
        """Back to the log."""
        self.dismiss(None)


class CommandLogScreen(LiveScreen):
    """The session's commands in a grid (`/` filters it), the highlighted one in full below."""

    VIEW_TITLE = "Command log"

    DEFAULT_CSS = """
    CommandLogScreen #command-detail {
        height: 3;
        padding: 0 1;
        background: $boost;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="command_log.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._source = ListSource()
        self._entries: dict[str, CommandLogEntry] = {}

    def body(self) -> ComposeResult:
        yield FilterableGrid(
            COLUMNS, self._source, empty_text=EMPTY_LOG, id="command-log"
        )
        yield Static(EMPTY_LOG, id="command-detail", markup=False)

    @property
    def grid(self) -> DataGrid:
        """The grid of commands."""
        return self.query_one("#command-log", FilterableGrid).grid

    def on_mount(self) -> None:
        self.grid.focus()

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        if Topic.COMMANDS in topics:
            self._show_entries()

    def _show_entries(self) -> None:
        grid = self.grid
        # On the newest row the cursor follows new commands; elsewhere it stays on its entry.
        follow_newest = grid.cursor_index == 0
        self._entries = {}
        rows = []
        for entry in reversed(self.live.commands):
            # An entry object lives in the live state as long as it is listed, so its
            # identity is a stable row key across refreshes.
            key = str(id(entry))
            self._entries[key] = entry
            rows.append(
                GridRow(
                    key,
                    (
                        clock_time(entry.at),
                        command_title(entry),
                        params_text(entry.params),
                        outcome_text(entry),
                    ),
                )
            )
        self._source.replace(rows)
        grid.reload()
        if follow_newest:
            grid.go_to(0)
        self._show_detail(grid.cursor_key)

    def _show_detail(self, key: str | None) -> None:
        detail = self.query_one("#command-detail", Static)
        entry = self._entries.get(key) if key is not None else None
        if entry is None:
            detail.update(EMPTY_LOG if not self._entries else "")
            return
        text = Text()
        text.append(f"{clock_time(entry.at)}  {command_title(entry)}", style="bold")
        sent = f"{entry.method} {params_text(entry.params)}" if entry.params else entry.method
        text.append(f"  ({sent})\n", style="dim")
        text.append_text(outcome_text(entry))
        detail.update(text)

    @on(DataGrid.RowSelected)
    def _row_selected(self, message: DataGrid.RowSelected) -> None:
        entry = self._entries.get(message.key)
        if entry is not None:
            self.app.push_screen(CommandEntryScreen(entry))

    @on(DataGrid.CursorMoved)
    def _cursor_moved(self, message: DataGrid.CursorMoved) -> None:
        self._show_detail(message.key)

    def action_back(self) -> None:
        """Back to the view the log was opened from."""
        self.app.pop_screen()
