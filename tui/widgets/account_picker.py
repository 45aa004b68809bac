"""Pick a postable account from the chart: a filter line over the accounts that take
postings, so a bookkeeper never chooses a parent or control account the engine would refuse.

Used wherever the console asks for an account (view 4's accept-broker on unmapped cash,
view 5's "any other account"). The chart comes from the ledger the console reads (its COA
file, or the standard chart); without a ledger, from the standard chart. The engine checks
the account again when the command arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tbot.ledger.chart import STANDARD_CHART
from tui.screens.confirm import DialogScreen

if TYPE_CHECKING:
    from textual.app import App


@dataclass(frozen=True, slots=True)
class AccountChoice:
    """One account offered by the picker."""

    code: str
    name: str
    type: str

    @property
    def label(self) -> str:
        """`5010 Broker fees (expense)`."""
        return f"{self.code} {self.name} ({self.type})"

    def matches(self, text: str) -> bool:
        """Every word of `text` occurs in the code, name or type (case-insensitive)."""
        haystack = self.label.casefold()
        return all(word in haystack for word in text.casefold().split())


def postable_accounts(app: App[object]) -> tuple[AccountChoice, ...]:
    """The accounts that take postings in the console's chart, by code."""
    ledger = getattr(app, "ledger", None)
    if ledger is not None:
        accounts = ledger.postable_accounts()
    else:
        accounts = tuple(sorted((a for a in STANDARD_CHART if STANDARD_CHART.is_postable(a.code)),
                                key=lambda account: account.code))
    return tuple(AccountChoice(a.code, a.name, str(a.type.value)) for a in accounts)


class AccountPickerScreen(DialogScreen[str | None]):
    """Type to filter, up/down to move, `enter` picks, `esc` cancels. Returns the code."""

    DEFAULT_CSS = """
    AccountPickerScreen #dialog {
        height: auto;
        max-height: 100%;
    }
    AccountPickerScreen OptionList {
        height: auto;
        max-height: 12;
        margin-bottom: 1;
    }
    AccountPickerScreen Input {
        margin-bottom: 0;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "move(1)", "Down", show=False, id="account_picker.down"),
        Binding("up", "move(-1)", "Up", show=False, id="account_picker.up"),
        Binding("pagedown", "move(10)", "Page down", show=False, id="account_picker.page_down"),
        Binding("pageup", "move(-10)", "Page up", show=False, id="account_picker.page_up"),
        Binding("escape", "cancel", "Cancel", id="account_picker.cancel"),
    ]

    def __init__(self, accounts: Sequence[AccountChoice], *, title: str,
                 current: str | None = None) -> None:
        super().__init__()
        self.accounts = tuple(accounts)
        self.title_text = title
        self.current = current
        self._shown: tuple[AccountChoice, ...] = self.accounts

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder="type to filter: code, name or type", id="account-filter")
            yield Static("", id="account-count", classes="dialog-hint")
            yield OptionList(id="account-options")
            yield Static("↑/↓: move    enter: choose    esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self._show("")
        self.query_one("#account-filter", Input).focus()

    @property
    def shown(self) -> tuple[AccountChoice, ...]:
        """The accounts the filter leaves, in order."""
        return self._shown

    def _show(self, text: str) -> None:
        self._shown = tuple(a for a in self.accounts if a.matches(text))
        options = self.query_one("#account-options", OptionList)
        options.clear_options()
        options.add_options([Option(a.label, id=a.code) for a in self._shown])
        codes = [a.code for a in self._shown]
        if codes:
            options.highlighted = codes.index(self.current) if self.current in codes else 0
        total = len(self.accounts)
        count = (f"{len(self._shown)} of {total} postable accounts" if text
                 else f"{total} postable accounts")
        self.query_one("#account-count", Static).update(
            count if self._shown else f"no postable account matches {text!r}")

    @on(Input.Changed, "#account-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show(event.value)

    @on(Input.Submitted, "#account-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._pick_highlighted()

    @on(OptionList.OptionSelected)
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def _pick_highlighted(self) -> None:
        options = self.query_one("#account-options", OptionList)
        index = options.highlighted
        if index is None or not self._shown:
            self.notify("no account is highlighted", severity="warning", timeout=3)
            return
        self.dismiss(self._shown[index].code)

    def action_move(self, step: int) -> None:
        """Move the highlight (the filter keeps the focus, so typing goes on filtering)."""
        options = self.query_one("#account-options", OptionList)
        if not self._shown:
            return
        current = options.highlighted or 0
        options.highlighted = max(0, min(len(self._shown) - 1, current + step))

    def action_cancel(self) -> None:
        """Close without choosing."""
        self.dismiss(None)
