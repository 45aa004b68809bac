"""The questions a command asks before it is sent: y/n, a reason, or a typed confirmation.

Each is a small modal that fits 80x24 and is answered from the keyboard alone; `esc` always
backs out without sending anything. The kill switch's dialog makes the operator type the
bot's short id exactly, so a stray keystroke can never flatten a book.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ResultT = TypeVar("ResultT")


class DialogScreen(ModalScreen[ResultT]):
    """A centred box over the dimmed view: title, body, then the dialog's own widgets."""

    DEFAULT_CSS = """
    DialogScreen {
        align: center middle;
    }
    DialogScreen #dialog {
        width: 72;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        padding: 0 1;
        border: thick $warning;
        background: $surface;
    }
    DialogScreen #dialog.danger {
        border: thick $error;
    }
    DialogScreen .dialog-title {
        text-style: bold;
        width: 100%;
        margin-bottom: 1;
    }
    DialogScreen .dialog-body {
        width: 100%;
        margin-bottom: 1;
    }
    DialogScreen .dialog-hint {
        width: 100%;
        color: $text-muted;
    }
    DialogScreen .dialog-keys {
        width: 100%;
        color: $text-muted;
    }
    DialogScreen .dialog-buttons {
        height: auto;
        width: 100%;
        align-horizontal: right;
    }
    DialogScreen .dialog-buttons Button {
        margin-left: 2;
    }
    DialogScreen Input {
        margin-bottom: 1;
    }
    """


def _unfocusable(button: Button) -> Button:
    # Buttons are for the mouse; the keyboard answers through the screen's bindings, so
    # `enter` always means the same thing whichever button a focus ring would be on.
    button.can_focus = False
    return button


class ConfirmScreen(DialogScreen[bool]):
    """A y/n question: `y`/`enter` answer True, `n`/`esc` False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.body_text = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body_text, classes="dialog-body", markup=False)
            yield Static(
                f"y / enter: {self.confirm_label}    n / esc: cancel", classes="dialog-keys"
            )
            with Horizontal(classes="dialog-buttons"):
                yield _unfocusable(Button("Cancel (n)", id="no"))
                yield _unfocusable(Button(f"{self.confirm_label} (y)", id="yes", variant="warning"))

    def action_answer(self, answer: bool) -> None:
        """Close with the operator's answer."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ReasonScreen(DialogScreen[str | None]):
    """Ask for a reason: `enter` sends it (empty is fine unless `required`), `esc` cancels.

    Returns the stripped reason, or None when cancelled.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="reason.cancel"),
    ]

    def __init__(self, title: str, body: str, *, required: bool = False, default: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.body_text = body
        self.required = required
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body_text, classes="dialog-body", markup=False)
            label = "Reason:" if self.required else "Reason (optional):"
            yield Label(label)
            yield Input(self.default, placeholder="why, for the audit trail", id="reason")
            yield Static("", id="hint", classes="dialog-hint")
            yield Static("enter: send    esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    def _submit(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if self.required and not reason:
            self.query_one("#hint", Static).update("a reason is required")
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        """Close without sending."""
        self.dismiss(None)


class TypedConfirmScreen(DialogScreen[str | None]):
    """The heaviest confirmation: type `expected` exactly (case-sensitive) and give a reason.

    `enter` does nothing until both are right; a hint says what is missing. Returns the
    reason, or None when cancelled with `esc`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="typed_confirm.cancel"),
    ]

    def __init__(self, title: str, body: str, expected: str, reason_default: str) -> None:
        super().__init__()
        self.title_text = title
        self.body_text = body
        self.expected = expected
        self.reason_default = reason_default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body_text, classes="dialog-body", markup=False)
            yield Label(f"Type {self.expected} to confirm:")
            yield Input(id="typed")
            yield Label("Reason:")
            yield Input(self.reason_default, id="reason")
            yield Static(self._type_hint(), id="hint", classes="dialog-hint")
            yield Static("tab: next field    enter: confirm    esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    @property
    def typed(self) -> str:
        """What the operator has typed in the confirmation field."""
        return self.query_one("#typed", Input).value

    @property
    def reason(self) -> str:
        """The reason as it stands, stripped."""
        return self.query_one("#reason", Input).value.strip()

    def _type_hint(self) -> str:
        return f"type {self.expected} exactly (case matters), then enter"

    def _hint(self) -> str:
        if self.typed != self.expected:
            return self._type_hint()
        if not self.reason:
            return "a reason is required"
        return "enter: pull the switch"

    @on(Input.Changed)
    def _changed(self) -> None:
        self.query_one("#hint", Static).update(self._hint())

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        hint = self.query_one("#hint", Static)
        if self.typed != self.expected:
            typed = self.typed.strip()
            if typed:
                # Say plainly that nothing happened, and why, so a near miss is not
                # mistaken for a pulled switch.
                hint.update(f"{typed!r} is not {self.expected}: nothing sent. {self._type_hint()}")
            else:
                hint.update(self._hint())
            self.query_one("#typed", Input).focus()
            return
        if not self.reason:
            hint.update(self._hint())
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(self.reason)

    def action_cancel(self) -> None:
        """Close without sending."""
        self.dismiss(None)


def mouse_only(button: Button) -> Button:
    """A button for the mouse alone (see `_unfocusable`)."""
    return _unfocusable(button)


class SendConfirmScreen(DialogScreen[bool]):
    """What a change will write (the engine's dry run, scrollable), then `y` sends and `n`
    or `esc` cancels. Not `ConfirmScreen`: there `enter` answers yes, and `enter` is often
    the key that opened the question, so a double press would send the change.

    Subclasses give their BINDINGS (`y` → `answer(True)`, `n,escape` → `answer(False)`,
    with their own ids for the keymap) and the id of the scrolling body."""

    SCROLL_ID: ClassVar[str] = "confirm-scroll"

    def __init__(self, title: str, body: Text, yes_label: str, *, danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes_label = yes_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger" if self.danger else ""):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(id=self.SCROLL_ID):
                yield Static(self.body, classes="dialog-body")
            yield Static(f"y: {self.yes_label}    n / esc: cancel", classes="dialog-keys")
            with Horizontal(classes="dialog-buttons"):
                yield mouse_only(Button("Cancel (n)", id="no"))
                yield mouse_only(Button(f"{self.yes_label} (y)", id="yes", variant="warning"))

    def action_answer(self, answer: bool) -> None:
        """Close with the operator's answer."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
