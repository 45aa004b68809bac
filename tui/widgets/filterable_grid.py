"""A `DataGrid` with its `/` filter: a one-line input docked under the grid.

The grid only asks for a filter (`DataGrid.FilterRequested`); this container owns the input.
It filters as the operator types (debounced, so a SQL source is not queried per keystroke),
`enter` goes back to the grid keeping the filter (the input stays, showing it), and `esc`
in the input clears the filter and hides the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input

from tui.widgets.data_grid import DataGrid
from tui.widgets.grid_source import GridColumn, GridSource

FILTER_DEBOUNCE_SECONDS = 0.15
"""Quiet time after the last keystroke before the filter is applied."""


class FilterInput(Input):
    """The filter's text field; `esc` gives up on filtering."""

    DEFAULT_CSS = """
    FilterInput {
        height: 1;
        border: none;
        padding: 0 1;
        &:focus {
            border: none;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Clear filter", id="grid.filter_cancel"),
    ]

    class Cancelled(Message):
        """The operator pressed esc in the filter input."""

        def __init__(self, filter_input: FilterInput) -> None:
            super().__init__()
            self.filter_input = filter_input

        @property
        def control(self) -> FilterInput:
            """The input that was cancelled."""
            return self.filter_input

    def action_cancel(self) -> None:
        """Ask the container to clear the filter and hide this input."""
        self.post_message(self.Cancelled(self))


class FilterableGrid(Vertical):
    """A `DataGrid` over a `GridSource`, with a filter input that `/` shows."""

    DEFAULT_CSS = """
    FilterableGrid {
        height: 1fr;
        & > DataGrid {
            height: 1fr;
        }
        & > FilterInput {
            display: none;
        }
        &.-filtering > FilterInput {
            display: block;
        }
    }
    """

    def __init__(
        self,
        columns: Sequence[GridColumn],
        source: GridSource,
        *,
        empty_text: str = "nothing to show",
        follow_head: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.grid = DataGrid(columns, source, empty_text=empty_text, follow_head=follow_head)
        self.filter_input = FilterInput(placeholder="filter: enter keeps it, esc clears it")
        self._pending: Timer | None = None

    def compose(self) -> ComposeResult:
        yield self.grid
        yield self.filter_input

    def on_mount(self) -> None:
        # A source may arrive already filtered (a screen restoring its state).
        text = self.grid.source.filter_text
        if text:
            self.filter_input.value = text
            self.set_class(True, "-filtering")

    # -- grid side --------------------------------------------------------------------------

    def on_data_grid_filter_requested(self, message: DataGrid.FilterRequested) -> None:
        if message.grid is not self.grid:
            return
        message.stop()
        self.filter_input.value = self.grid.source.filter_text
        self.filter_input.cursor_position = len(self.filter_input.value)
        self.set_class(True, "-filtering")
        self.filter_input.focus()

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        # Cleared from the grid (esc there): the input has nothing left to show.
        if message.grid is self.grid and not message.text and not self.filter_input.has_focus:
            self._hide_input()

    # -- input side -------------------------------------------------------------------------

    def on_input_changed(self, message: Input.Changed) -> None:
        if message.input is not self.filter_input:
            return
        message.stop()
        self._cancel_pending()
        self._pending = self.set_timer(FILTER_DEBOUNCE_SECONDS, self._apply_typed_filter)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input is not self.filter_input:
            return
        message.stop()
        self._apply_typed_filter()
        if not self.grid.source.filter_text:
            self._hide_input()
        self.grid.focus()

    def on_filter_input_cancelled(self, message: FilterInput.Cancelled) -> None:
        if message.filter_input is not self.filter_input:
            return
        message.stop()
        self._cancel_pending()
        self.grid.focus()
        self.grid.apply_filter("")
        self._hide_input()

    # -- internals --------------------------------------------------------------------------

    def _apply_typed_filter(self) -> None:
        self._cancel_pending()
        self.grid.apply_filter(self.filter_input.value.strip())

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.stop()
            self._pending = None

    def _hide_input(self) -> None:
        self.filter_input.value = ""
        self.set_class(False, "-filtering")
