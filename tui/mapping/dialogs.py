"""The mapping view's modals: an item's details, and the question before an assignment.

The confirmation is not `ConfirmScreen`: there `enter` answers yes, and here `enter` is the
key that opened the question, so a double press (or a bouncing key) would post an entry.
Only `y` (or the button) confirms; `n` and `esc` cancel.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from tui.mapping.queue_items import AssignPreview, PreviewPosting, QueueItem, Suggestion
from tui.mapping.rows import amount_text, confidence_bar
from tui.model.formatting import stamp
from tui.screens.confirm import DialogScreen, SendConfirmScreen, mouse_only


def item_summary(item: QueueItem) -> str:
    """`FEE -12.34 USD on 2026-11-18`."""
    when = item.occurred_at.strftime("%Y-%m-%d") if item.occurred_at else "an unknown day"
    currency = f" {item.currency}" if item.currency else ""
    return f"{item.activity_type} {amount_text(item.amount)}{currency} on {when}"


def _account_label(code: str, names: dict[str, str]) -> str:
    name = names.get(code, "")
    return f"{code} {name}".rstrip()


def _posting_lines(preview: AssignPreview, postings: tuple[PreviewPosting, ...],
                   names: dict[str, str], currency: str) -> Text:
    lines = Text()
    if not postings:
        # An answer without postings still names both sides and the amount.
        amount = abs(preview.amount)
        postings = (PreviewPosting(preview.debit, amount), PreviewPosting(preview.credit, -amount))
    for posting in postings:
        side = "Dr" if posting.amount >= 0 else "Cr"
        label = _account_label(posting.account, names)[:40]
        figure = f"{amount_text(abs(posting.amount))} {currency}".rstrip()
        lines.append(f"  {side} ", style="bold")
        lines.append(f"{label:<40} {figure:>16}\n")
    return lines


def preview_text(item: QueueItem, suggestion: Suggestion, preview: AssignPreview) -> Text:
    """What the assignment will write, as the engine's dry run described it."""
    names = {suggestion.account: suggestion.name}
    text = Text()
    text.append(f"{item_summary(item)} ({item.broker_id})\n", style="bold")
    if item.description:
        text.append(f"{item.description}\n")
    if preview.action == "adopt":
        text.append(f"\nPosts nothing: the ledger already books it to {preview.account}; "
                    "the decision adopts that entry.\n")
    for entry in preview.entries:
        if entry.reverses:
            text.append(f"\nReverses entry {entry.reverses} (as {entry.fitid})\n")
            continue
        text.append(f"\nPosts entry {entry.fitid}:\n")
        text.append_text(_posting_lines(preview, entry.postings, names, item.currency))
        if entry.memo:
            text.append(f"  memo: {entry.memo}\n", style="dim")
    if not preview.entries and preview.action != "adopt":
        text.append("\nPosts:\n")
        text.append_text(_posting_lines(preview, (), names, item.currency))
    version = f"rule version {preview.rule_version}; " if preview.rule_version else ""
    text.append(f"\n{version}the item leaves the queue, mapped to {preview.account}.")
    return text


class AssignConfirmScreen(DialogScreen[bool]):
    """Post this assignment? `y` answers True; `n` or `esc` False. `rank` 0: an account
    chosen from the chart (`o`), not a suggestion."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Map it", id="mapping_confirm.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="mapping_confirm.no"),
    ]

    def __init__(self, item: QueueItem, rank: int, suggestion: Suggestion,
                 preview: AssignPreview) -> None:
        super().__init__()
        self.item = item
        self.rank = rank
        self.suggestion = suggestion
        self.preview = preview

    def compose(self) -> ComposeResult:
        suggestion = self.suggestion
        figure = "" if suggestion.confidence is None else f", {suggestion.confidence:.2f}"
        origin = (f"suggestion {self.rank}, {suggestion.source_label}{figure}" if self.rank
                  else "chosen from the chart")
        title = f"Map item #{self.item.id} to {suggestion.account}? ({origin})"
        with Vertical(id="dialog"):
            yield Label(title, classes="dialog-title")
            yield Static(preview_text(self.item, suggestion, self.preview),
                         classes="dialog-body")
            yield Static("y: map it    n / esc: cancel", classes="dialog-keys")
            with Horizontal(classes="dialog-buttons"):
                yield mouse_only(Button("Cancel (n)", id="no"))
                yield mouse_only(Button("Map it (y)", id="yes", variant="warning"))

    def action_answer(self, answer: bool) -> None:
        """Close with the operator's answer."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


def details_text(item: QueueItem) -> Text:
    """Every suggestion with its reasons and precedents, then the record's fields."""
    text = Text()
    text.append("Suggestions\n", style="bold")
    if not item.suggestions:
        text.append("  none: no rule comes near and nothing was decided like it yet\n",
                    style="dim")
    for rank, suggestion in enumerate(item.suggestions, 1):
        text.append(f"  {rank}. ", style="bold")
        text.append(f"{suggestion.account} {suggestion.name}".rstrip(), style="bold")
        text.append("  ")
        text.append_text(confidence_bar(suggestion.confidence))
        source = " · ".join(part for part in (suggestion.source_label, suggestion.evidence)
                            if part)
        text.append(f"\n     {source or 'source unknown'}\n", style="dim")
        reasons = "; ".join(suggestion.reasons) or "—"
        text.append(f"     why: {reasons}\n")
        precedents = ", ".join(f"#{number}" for number in suggestion.precedents)
        text.append(f"     like decisions: {precedents or '—'}\n")
    fields = (
        ("broker", item.broker),
        ("broker id", item.broker_id),
        ("type", item.activity_type + (f" / {item.subtype}" if item.subtype else "")),
        ("description", item.description),
        ("symbol", item.symbol),
        ("amount", f"{item.amount} {item.currency}".strip()),
        ("occurred", stamp(item.occurred_at)),
        ("state", f"{item.state} ({item.reason})" if item.reason else item.state),
        ("since", stamp(item.since)),
        ("detail", item.detail),
        ("decision", f"#{item.decision_id}" if item.decision_id is not None else ""),
        ("entry", f"#{item.entry_id}" if item.entry_id is not None else ""),
        # The hash is 64 hex digits: its start names the record well enough on screen.
        ("record hash", f"{item.record_hash[:16]}…" if len(item.record_hash) > 16
         else item.record_hash),
    )
    text.append("\nRecord\n", style="bold")
    for name, value in fields:
        text.append(f"  {name:<12}", style="dim")
        text.append(f"{value or '—'}\n")
    text.rstrip()
    return text


class ItemDetailsScreen(DialogScreen[None]):
    """One queue item in full; `esc` (or `d`, `i`, `q`) closes, `j`/`k` scroll."""

    DEFAULT_CSS = """
    ItemDetailsScreen #details-scroll {
        height: auto;
        max-height: 70vh;
        margin-bottom: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,d,i", "close", "Close", id="mapping_details.close"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="mapping_details.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="mapping_details.up"),
    ]

    def __init__(self, item: QueueItem) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Item #{self.item.id} · {item_summary(self.item)}",
                        classes="dialog-title")
            with VerticalScroll(id="details-scroll"):
                yield Static(details_text(self.item), classes="dialog-body")
            yield Static("j/k: scroll    esc: close", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#details-scroll", VerticalScroll).focus()

    def action_scroll(self, lines: int) -> None:
        """Scroll the details by `lines` (down when positive)."""
        self.query_one("#details-scroll", VerticalScroll).scroll_relative(y=lines,
                                                                          animate=False)

    def action_close(self) -> None:
        """Back to the queue."""
        self.dismiss(None)




class ChangeConfirmScreen(SendConfirmScreen):
    """Send this change (a rule saved with an assignment, a rollback)? Only `y` (or the
    button) answers True, as for an assignment; `n` or `esc` False."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="mapping_change.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="mapping_change.no"),
    ]

    DEFAULT_CSS = """
    ChangeConfirmScreen #change-scroll {
        height: auto;
        max-height: 60vh;
        margin-bottom: 1;
    }
    """

    SCROLL_ID: ClassVar[str] = "change-scroll"


class ResultScreen(DialogScreen[None]):
    """A read's or a change's answer in full (a diff, a replay, an import's validation);
    `esc`, `q` or `enter` closes, `j`/`k` scroll."""

    DEFAULT_CSS = """
    ResultScreen #dialog {
        width: 100;
    }
    ResultScreen #result-scroll {
        height: auto;
        max-height: 70vh;
        margin-bottom: 1;
    }
    ResultScreen #dialog.-refused {
        border: thick $error;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close", id="mapping_result.close"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="mapping_result.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="mapping_result.up"),
    ]

    def __init__(self, title: str, body: Text, *, refused: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.refused = refused

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-refused" if self.refused else ""):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(id="result-scroll"):
                yield Static(self.body, classes="dialog-body")
            yield Static("j/k: scroll    esc: close", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#result-scroll", VerticalScroll).focus()

    def action_scroll(self, lines: int) -> None:
        """Scroll by `lines` (down when positive)."""
        self.query_one("#result-scroll", VerticalScroll).scroll_relative(y=lines,
                                                                         animate=False)

    def action_close(self) -> None:
        """Back to the view."""
        self.dismiss(None)


class PathPromptScreen(DialogScreen[str | None]):
    """Ask for a file path: `enter` answers it (never empty), `esc` cancels with None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="mapping_path.cancel"),
    ]

    def __init__(self, title: str, body: str, *, default: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.body_text = body
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.body_text, classes="dialog-body", markup=False)
            yield Label("File:")
            yield Input(self.default, placeholder="a path; ~ is your home", id="path")
            yield Static("", id="hint", classes="dialog-hint")
            yield Static("enter: go on    esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        if not path:
            self.query_one("#hint", Static).update("a path is required")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        """Close without a path."""
        self.dismiss(None)
