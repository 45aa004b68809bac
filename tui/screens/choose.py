"""Pick one value from a short list (which strategy to enable or disable)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.confirm import DialogScreen


class ChoiceScreen(DialogScreen[str | None]):
    """A list of `(value, label)` options: `j`/`k` or arrows move, `enter` picks, `esc`
    cancels. Returns the picked value, or None."""

    DEFAULT_CSS = """
    ChoiceScreen OptionList {
        height: auto;
        max-height: 12;
        margin-bottom: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "move(1)", "Down", show=False, id="choice.down"),
        Binding("k", "move(-1)", "Up", show=False, id="choice.up"),
        Binding("escape", "cancel", "Cancel", id="choice.cancel"),
    ]

    def __init__(
        self, title: str, options: list[tuple[str, str]], *, highlighted: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)
        self.initial = highlighted

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*(Option(label, id=value) for value, label in self.options))
            yield Static("j/k: move    enter: choose    esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        values = [value for value, _ in self.options]
        if values:
            option_list.highlighted = values.index(self.initial) if self.initial in values else 0
        option_list.focus()

    def action_move(self, step: int) -> None:
        """Move the highlight down (1) or up (-1)."""
        option_list = self.query_one(OptionList)
        if step > 0:
            option_list.action_cursor_down()
        else:
            option_list.action_cursor_up()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Close without choosing."""
        self.dismiss(None)
