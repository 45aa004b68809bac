"""View 4's modals: the question before a resolution is sent, and the manual entry form.

The confirmation answers only to `y` (or its button): `enter` opened the break and a
bouncing key must never post an entry. The form's Send stays disabled until the entry
balances and names every account; it then returns the postings, and the operator still
sees the engine's dry run and confirms with `y`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tui.recon.breaks import Break, ResolutionPreview
from tui.recon.rows import exact
from tui.screens.confirm import DialogScreen, SendConfirmScreen, mouse_only

ACTION_TITLES = {"accept-broker": "Accept the broker's record",
                 "keep-ledger": "Keep the ledger as it is",
                 "book-manually": "Book a manual entry"}


def break_summary(brk: Break) -> Text:
    """The break in three lines: what it is, what each side says."""
    text = Text()
    text.append(f"#{brk.id} {brk.kind} {brk.status} · {brk.subject}", style="bold")
    if brk.trade_id != brk.subject:
        text.append(f" ({brk.trade_id})", style="dim")
    text.append("\n  broker: ", style="dim")
    text.append(brk.broker_value or "—")
    text.append("\n  ledger: ", style="dim")
    text.append(brk.ledger_value or "—")
    return text


def resolution_text(brk: Break, preview: ResolutionPreview, reason: str) -> Text:
    """What the resolution will write, as the engine's dry run described it."""
    text = break_summary(brk)
    text.append("\n\n")
    if not preview.entries:
        text.append("Posts nothing: ", style="bold")
        text.append("the break is closed on the record and the ledger stays as it is.\n")
    for entry in preview.entries:
        if entry.reverses:
            text.append(f"Reverses {entry.reverses}", style="bold")
            text.append(f" (as {entry.fitid})\n")
            continue
        text.append(f"Posts entry {entry.fitid}:\n", style="bold")
        for posting in entry.postings:
            side = "Dr" if posting.amount >= 0 else "Cr"
            what = f" {posting.symbol}" if posting.symbol else ""
            if posting.quantity is not None:
                what += f" ×{posting.quantity.normalize():f}"
            text.append(f"  {side} ", style="bold")
            text.append(f"{posting.account + what:<28} {exact(abs(posting.amount)):>14}\n")
        if entry.memo:
            text.append(f"  memo: {entry.memo}\n", style="dim")
    text.append(f"\nReason: {reason}")
    return text




class ResolveConfirmScreen(SendConfirmScreen):
    """Send this resolution? `y` (or the button) answers True; `n` or `esc` False."""

    DEFAULT_CSS = """
    ResolveConfirmScreen #confirm-scroll {
        height: auto;
        max-height: 60vh;
        margin-bottom: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Send", id="recon_confirm.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="recon_confirm.no"),
    ]

    SCROLL_ID: ClassVar[str] = "confirm-scroll"


@dataclass(frozen=True)
class ManualEntry:
    """A balanced entry typed in the form, and why."""

    postings: tuple[tuple[str, Decimal], ...]
    """(account, amount): > 0 debits, < 0 credits."""
    memo: str
    reason: str

    def params(self) -> list[dict[str, object]]:
        """The `recon.resolve` postings."""
        return [{"account": account, "amount": f"{amount.normalize():f}"}
                for account, amount in self.postings]


@dataclass(frozen=True)
class EntryCheck:
    """Where a typed entry stands: its totals and what still keeps it from being sent."""

    debits: Decimal
    credits: Decimal
    problem: str
    """Empty when it may be sent."""

    @property
    def difference(self) -> Decimal:
        """Debits minus credits."""
        return self.debits - self.credits


Postings = tuple[tuple[str, Decimal], ...]


def check_entry(lines: Iterable[tuple[str, str]], reason: str,
                postable: frozenset[str] | None) -> tuple[EntryCheck, Postings]:
    """The totals of typed (account, amount) lines, and the first problem if any: an
    unreadable amount, a missing or unknown account, fewer than two legs, no balance, no
    reason."""
    debits = credits = Decimal(0)
    postings: list[tuple[str, Decimal]] = []
    problem = ""
    for number, (account, typed) in enumerate(lines, 1):
        account, typed = account.strip(), typed.strip().replace(",", "")
        if not account and not typed:
            continue
        try:
            amount = Decimal(typed) if typed else None
        except InvalidOperation:
            amount = None
            problem = problem or f"line {number}: {typed!r} is not an amount"
        if amount is not None and not amount.is_finite():
            amount, problem = None, problem or f"line {number}: {typed!r} is not an amount"
        if amount is not None:
            if amount > 0:
                debits += amount
            else:
                credits -= amount
        if not account:
            problem = problem or f"line {number}: which account?"
        elif postable is not None and account not in postable:
            problem = problem or f"line {number}: {account} is not a postable account"
        if amount is None or amount == 0:
            problem = problem or f"line {number}: an amount other than 0 (> 0 debits)"
        elif account:
            postings.append((account, amount))
    if not problem and len(postings) < 2:
        problem = "an entry needs at least two lines"
    if not problem and debits != credits:
        problem = f"debits and credits differ by {exact(debits - credits)}"
    if not problem and not reason.strip():
        problem = "a reason is required"
    return EntryCheck(debits, credits, problem), tuple(postings)


class ManualEntryScreen(DialogScreen["ManualEntry | None"]):
    """Type the entry that resolves a break: lines of account and signed amount, a memo
    and a reason. `ctrl+n` adds a line, `ctrl+r` removes the focused one, `ctrl+s` sends
    (disabled until it balances), `esc` cancels."""

    DEFAULT_CSS = """
    ManualEntryScreen #dialog {
        width: 76;
    }
    ManualEntryScreen #entry-lines {
        height: auto;
    }
    ManualEntryScreen .entry-line {
        height: 1;
        margin-bottom: 0;
    }
    ManualEntryScreen .entry-line Input, ManualEntryScreen .entry-field Input {
        height: 1;
        border: none;
        padding: 0 1;
        margin: 0 1 0 0;
        background: $boost;
    }
    ManualEntryScreen .entry-line Input:focus, ManualEntryScreen .entry-field Input:focus {
        background: $accent 30%;
    }
    ManualEntryScreen .entry-number { width: 3; }
    ManualEntryScreen .entry-account { width: 14; }
    ManualEntryScreen .entry-amount { width: 18; }
    ManualEntryScreen .entry-side { width: 1fr; color: $text-muted; }
    ManualEntryScreen .entry-field { height: 1; margin-top: 1; }
    ManualEntryScreen .entry-field Label { width: 8; }
    ManualEntryScreen .entry-field Input { width: 1fr; }
    ManualEntryScreen #entry-totals { margin-top: 1; }
    ManualEntryScreen #entry-problem { color: $warning; }
    ManualEntryScreen #entry-problem.-ok { color: $success; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "add_line", "Add line", priority=True, id="recon_entry.add"),
        Binding("ctrl+r", "remove_line", "Remove line", priority=True,
                id="recon_entry.remove"),
        Binding("ctrl+s", "send", "Dry run", priority=True, id="recon_entry.send"),
        Binding("escape", "cancel", "Cancel", id="recon_entry.cancel"),
    ]

    MAX_LINES = 8

    def __init__(self, brk: Break, *, postable: frozenset[str] | None = None) -> None:
        super().__init__()
        self.brk = brk
        self.postable = postable
        self._lines = 0
        self._serial = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Book break #{self.brk.id} manually", classes="dialog-title")
            yield Static(break_summary(self.brk), classes="dialog-body")
            yield Static("    Account        Amount (> 0 debit, < 0 credit)",
                         classes="dialog-hint")
            # A cash difference suggests the two legs; the accounts are the bookkeeper's.
            difference = self.brk.cash_difference
            amounts = ((f"{difference.normalize():f}", f"{(-difference).normalize():f}")
                       if difference else ("", ""))
            yield Vertical(*(self._line(amount) for amount in amounts), id="entry-lines")
            with Horizontal(classes="entry-field"):
                yield Label("Memo")
                yield Input(f"break #{self.brk.id}: booked by hand", id="entry-memo")
            with Horizontal(classes="entry-field"):
                yield Label("Reason")
                yield Input(placeholder="why, for the audit trail (required)",
                            id="entry-reason")
            yield Static("", id="entry-totals")
            yield Static("", id="entry-problem")
            yield Static("ctrl+n: add line  ctrl+r: remove line  ctrl+s: dry run  "
                         "esc: cancel", classes="dialog-keys")
            with Horizontal(classes="dialog-buttons"):
                yield mouse_only(Button("Cancel", id="cancel"))
                yield mouse_only(Button("Dry run (ctrl+s)", id="send", variant="warning",
                                         disabled=True))

    def on_mount(self) -> None:
        self.query(".entry-account").first(Input).focus()
        self._recheck()

    # -- lines ------------------------------------------------------------------------------

    def _line(self, amount: str) -> Horizontal:
        self._serial += 1
        self._lines += 1
        return Horizontal(
            Static(f"{self._lines}.", classes="entry-number"),
            Input(placeholder="account", classes="entry-account"),
            Input(amount, placeholder="amount", classes="entry-amount"),
            Static("", classes="entry-side"),
            classes="entry-line", id=f"line-{self._serial}")

    async def action_add_line(self) -> None:
        """Add an empty line (at most MAX_LINES) and type in it."""
        if self._lines >= self.MAX_LINES:
            self.notify(f"at most {self.MAX_LINES} lines", severity="warning", timeout=3)
            return
        line = self._line("")
        await self.query_one("#entry-lines", Vertical).mount(line)
        line.query_one(".entry-account", Input).focus()
        self._recheck()

    async def action_remove_line(self) -> None:
        """Remove the line holding the focus (one line always stays)."""
        focused = self.focused
        line = focused.parent if focused is not None else None
        if not isinstance(line, Horizontal) or "entry-line" not in line.classes \
                or self._lines <= 1:
            return
        await line.remove()
        self._lines -= 1
        for number, kept in enumerate(self.query(".entry-line"), 1):
            kept.query_one(".entry-number", Static).update(f"{number}.")
        self.query(".entry-account").last(Input).focus()
        self._recheck()

    def lines(self) -> list[tuple[str, str]]:
        """The typed (account, amount) of every line."""
        return [(line.query_one(".entry-account", Input).value,
                 line.query_one(".entry-amount", Input).value)
                for line in self.query(".entry-line")]

    # -- checking ---------------------------------------------------------------------------

    def _check(self) -> tuple[EntryCheck, Postings]:
        reason = self.query_one("#entry-reason", Input).value
        return check_entry(self.lines(), reason, self.postable)

    def _recheck(self) -> None:
        check, _ = self._check()
        for line in self.query(".entry-line"):
            typed = line.query_one(".entry-amount", Input).value.strip().replace(",", "")
            try:
                amount = Decimal(typed) if typed else None
            except InvalidOperation:
                amount = None
            side = ("" if amount is None or not amount.is_finite() or amount == 0
                    else "Dr" if amount > 0 else "Cr")
            line.query_one(".entry-side", Static).update(side)
        balance = ("balanced" if check.difference == 0
                   else f"out by {exact(check.difference)}")
        self.query_one("#entry-totals", Static).update(
            f"Debits {exact(check.debits)}   Credits {exact(check.credits)}   {balance}")
        problem = self.query_one("#entry-problem", Static)
        problem.update(check.problem or "ready: ctrl+s asks the engine for a dry run")
        problem.set_class(not check.problem, "-ok")
        self.query_one("#send", Button).disabled = bool(check.problem)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._recheck()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        # enter moves on, like tab: it never sends by itself.
        event.stop()
        self.focus_next()

    # -- answers ----------------------------------------------------------------------------

    def action_send(self) -> None:
        """Return the entry, if it balances (else say what is missing)."""
        check, postings = self._check()
        if check.problem:
            self.notify(check.problem, title="Not ready", severity="warning", timeout=4)
            return
        self.dismiss(ManualEntry(postings=postings,
                                 memo=self.query_one("#entry-memo", Input).value.strip(),
                                 reason=self.query_one("#entry-reason", Input).value.strip()))

    def action_cancel(self) -> None:
        """Close without an entry."""
        self.dismiss(None)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        else:
            self.dismiss(None)
