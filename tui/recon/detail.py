"""One break in full (view 4, `enter` on a break): what the broker says and what the ledger
says side by side with the fields they disagree on marked, the broker's raw payload (pretty
JSON) and its hash, the sync runs that saw the record, its history, and the actions the
caller's role allows: `a` accept the broker's record, `k` keep the ledger, `m` book a manual
entry. `esc` goes back to the list; the page scrolls with the arrows and page keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from tui.commands.outcomes import error_text
from tui.commands.registry import method_availability
from tui.model.formatting import stamp
from tui.model.live_state import LinkState, Topic
from tui.recon.breaks import RESOLVE_METHOD, Break, BreakDetail, SyncRun, parse_show
from tui.recon.operations import ReconOperations
from tui.recon.rows import age_text, difference_text, exact, status_text
from tui.screens.dashboard import SectionTitle
from tui.screens.live_screen import LiveScreen

if TYPE_CHECKING:
    from tui.recon.reads import ReconReads

ReadsOf = Callable[[], "ReconReads | None"]

_ACTION_NAMES = {"accept": "Accepting the broker's record", "keep": "Keeping the ledger",
                 "manual": "Booking a manual entry"}
_ACTIONS = frozenset({*_ACTION_NAMES, "reread"})
MARK = "≠"


def _side_lines(text: Text, brk: Break, side: str) -> None:
    value = brk.broker_value if side == "broker" else brk.ledger_value
    text.append("says  ", style="dim")
    text.append(f"{value or '—'}\n", style="bold" if value else "dim")
    for field in brk.compare_fields:
        text.append(f"{MARK} ", style="bold yellow")
        text.append(f"{field.field} ", style="yellow")
        text.append(f"{getattr(field, side) or '—'}\n", style="bold yellow")


def broker_panel(detail: BreakDetail) -> Text:
    """The broker's side: what it reports, the differing fields, the record's facts."""
    text = Text()
    _side_lines(text, detail.brk, "broker")
    record = detail.broker_record
    if record is None:
        text.append("no broker record (the broker does not report it)", style="dim")
        return text
    # The broker's id is the break's trade id, in the line above the panels.
    for name, value in (("occurred", stamp(record.occurred_at)),
                        ("state", "final" if record.final else "pending"),
                        ("fetched", stamp(record.fetched_at)), ("by", record.source)):
        text.append(f"{name:<9}", style="dim")
        text.append(f"{value or '—'}\n")
    return text.rstrip() or text


def ledger_panel(detail: BreakDetail) -> Text:
    """The ledger's side: what it books, the differing fields, the entry and its lines."""
    text = Text()
    _side_lines(text, detail.brk, "ledger")
    entry = detail.ledger_entry
    if entry is None:
        text.append("no ledger entry (the ledger does not book it)", style="dim")
        return text
    manual = " (manual)" if entry.is_manual else ""
    fitid = "" if entry.fitid == detail.brk.trade_id else f" {entry.fitid}"
    for name, value in (("entry", f"#{entry.id}{fitid}{manual}"),
                        ("posted", stamp(entry.dtposted)), ("memo", entry.memo),
                        ("reversed", entry.reversed_by)):
        if value:
            text.append(f"{name:<9}", style="dim")
            text.append(f"{value}\n")
    for posting in entry.postings:
        side = "Dr" if posting.amount >= 0 else "Cr"
        what = f" {posting.symbol}" if posting.symbol else ""
        text.append(f"  {side} ", style="bold")
        text.append(f"{posting.account}{what:<6} {exact(abs(posting.amount)):>12}\n")
    return text.rstrip() or text


def payload_text(detail: BreakDetail) -> Text:
    """The raw payload as the broker sent it, pretty JSON, differing fields marked."""
    text = Text()
    record = detail.broker_record
    text.append("Raw payload", style="bold")
    if record is None:
        text.append("  none: the broker sent no record of it", style="dim")
        return text
    text.append(f"  hash {record.record_hash or '—'}\n", style="dim")
    marked = {field.field for field in detail.brk.compare_fields}
    pretty = json.dumps(record.raw_payload, indent=2, sort_keys=True, ensure_ascii=False)
    for line in pretty.splitlines():
        key = line.strip().split('"')[1] if line.strip().startswith('"') else ""
        if key in marked:
            text.append(f"{line}  {MARK}\n", style="bold yellow")
        else:
            text.append(f"{line}\n")
    return text.rstrip() or text


def _run_line(run: SyncRun) -> str:
    spans = f", not read: {'; '.join(run.spans_not_read)}" if run.spans_not_read else ""
    who = f" by {run.actor}" if run.actor else ""
    return f"  run #{run.id} {stamp(run.started_at)} {run.trigger} {run.outcome}{who}{spans}"


def history_text(detail: BreakDetail) -> Text:
    """The sync runs that saw the record, and every row of it, oldest first."""
    text = Text()
    text.append("Seen by\n", style="bold")
    for run in detail.sync_runs:
        text.append(f"{_run_line(run)}\n")
    if not detail.sync_runs:
        text.append("  no sync run recorded\n", style="dim")
    text.append("\nHistory\n", style="bold")
    for row in detail.history:
        text.append(f"  #{row.id} {stamp(row.at)} ")
        text.append_text(status_text(row.status))
        if row.resolution_action:
            text.append(f" {row.resolution_action} by {row.actor}: {row.reason}")
        elif row.detail:
            text.append(f" {row.detail}", style="dim")
        text.append("\n")
    return text.rstrip() or text


class BreakScreen(LiveScreen):
    """One break in full, and the actions that resolve it."""

    VIEW_TITLE = "Reconciliation"
    AUTO_FOCUS = "#break-body"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "accept", "Accept broker", id="recon_break.accept"),
        Binding("k", "keep", "Keep ledger", id="recon_break.keep"),
        Binding("m", "manual", "Book manually", id="recon_break.manual"),
        Binding("g", "reread", "Re-read", id="recon_break.reread"),
        Binding("escape", "back", "Back", id="recon_break.back"),
    ]

    DEFAULT_CSS = """
    BreakScreen {
        #break-note {
            height: auto;
            padding: 0 1;
            display: none;
            color: $text-muted;
        }
        #break-note.-shown { display: block; }
        #break-note.-error { color: $warning; }
        #break-body { height: 1fr; padding: 0 1; }
        #break-detail { margin-bottom: 1; }
        #break-sides { height: auto; margin-bottom: 1; }
        #break-sides > Static {
            width: 1fr;
            height: auto;
            border: round $panel-lighten-2;
            padding: 0 1;
        }
        #break-broker { margin-right: 1; }
        #break-payload { margin-bottom: 1; }
    }
    """

    def __init__(self, brk: Break, reads_of: ReadsOf, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.brk = brk
        self.reads_of = reads_of
        self._detail: BreakDetail | None = None
        self._error: str | None = None
        self._in_flight = False
        self.operations: ReconOperations | None = None

    @property
    def detail(self) -> BreakDetail | None:
        """The last `recon.show` read."""
        return self._detail

    def body(self) -> ComposeResult:
        yield SectionTitle(id="break-title")
        yield Static("", id="break-note")
        with VerticalScroll(id="break-body"):
            yield Static("", id="break-detail")
            with Horizontal(id="break-sides"):
                yield Static("", id="break-broker")
                yield Static("", id="break-ledger")
            yield Static("", id="break-payload")
            yield Static("", id="break-history")

    def on_mount(self) -> None:
        # The first read comes with the screen's resume (every topic, `recon` included).
        self.operations = ReconOperations(self.console, self.load)
        self.query_one("#break-broker", Static).border_title = "Broker"
        self.query_one("#break-ledger", Static).border_title = "Ledger"
        self._show()

    # -- reading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the break again, in a worker."""
        self.run_worker(self._read, name="recon-show", group="recon-show", exclusive=True,
                        exit_on_error=False)

    async def _read(self) -> None:
        reads = self.reads_of()
        if reads is None:
            self._error = "cannot read the break: the engine is offline and no ledger is set"
            self._show()
            return
        try:
            self._detail = parse_show(await reads.show(self.brk.id))
            self.brk = self._detail.brk
            self._error = None
        except Exception as error:  # one error line, never a crash; the row is still shown
            self._error = f"cannot read break #{self.brk.id}: {error_text(error)}"
        self._show()
        self.refresh_bindings()

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        if Topic.RECON in topics:
            self.load()
        if Topic.CONNECTION in topics:
            self._show_note()
            self.refresh_bindings()

    def _show(self) -> None:
        brk = self.brk
        title = Text(f"#{brk.id} {brk.kind} ")
        title.append_text(status_text(brk.status))
        title.append(f" · {brk.subject}")
        difference = difference_text(brk)
        self.query_one("#break-title", SectionTitle).show(
            "Break", title, Text("difference ").append_text(difference),
            Text(f"age {age_text(brk.age_seconds)}", style="dim"))
        detail = self._detail
        top = Text()
        top.append(brk.trade_id, style="bold")
        top.append(f"\n{brk.detail or ''}")
        if detail is not None and not detail.is_open:
            latest = (f"; #{detail.latest_id} is its latest row"
                      if detail.latest_id != brk.id else "")
            top.append(f"\nnot open: {brk.status}{latest}", style="bold green")
        self.query_one("#break-detail", Static).update(top)
        if detail is None:
            waiting = Text("reading…" if self._error is None else "not read", style="dim")
            for name in ("#break-broker", "#break-ledger", "#break-payload", "#break-history"):
                self.query_one(name, Static).update(waiting)
        else:
            self.query_one("#break-broker", Static).update(broker_panel(detail))
            self.query_one("#break-ledger", Static).update(ledger_panel(detail))
            self.query_one("#break-payload", Static).update(payload_text(detail))
            self.query_one("#break-history", Static).update(history_text(detail))
        self._show_note()

    def _show_note(self) -> None:
        note = self.query_one("#break-note", Static)
        writing = method_availability(RESOLVE_METHOD, self.live)
        error = self._error is not None
        if self._error is not None:
            text = self._error
        elif self.live.connection.state is LinkState.OFFLINE:
            text = "offline: read-only from the ledger file; resolving needs the engine"
        elif not writing.enabled:
            text = f"read-only: resolving {writing.reason}"
        else:
            text = ""
        note.update(text)
        note.set_class(error, "-error")
        note.set_class(bool(text), "-shown")

    # -- which keys work ----------------------------------------------------------------------

    def _refusal(self, action: str) -> str | None:
        """Why `action` cannot run now, or None when it can."""
        if action == "reread":
            return None
        name = _ACTION_NAMES[action]
        writing = method_availability(RESOLVE_METHOD, self.live)
        if not writing.enabled:
            return f"{name} is not available: {writing.reason}"
        detail = self._detail
        if detail is None:
            return f"{name} waits for the break to be read"
        if not detail.is_open:
            if detail.latest_id != self.brk.id:
                return f"break #{self.brk.id} was superseded: #{detail.latest_id} is the one " \
                       "to resolve"
            return f"break #{self.brk.id} is not open ({self.brk.status})"
        if action == "accept":
            if self.brk.status == "pending":
                return "a pending record is followed up by later syncs: it cannot be accepted"
            if self.brk.kind == "position":
                return ("a position break clears when the breaks that explain it are "
                        "resolved: keep the ledger (k) or book it (m)")
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in _ACTIONS:
            return True
        return None if self._refusal(action) is not None else True

    def on_key(self, event: events.Key) -> None:
        """A dimmed key was pressed: say why it does nothing."""
        active = self.active_bindings.get(event.key)
        if active is None or active.node is not self or active.enabled:
            return
        action = active.binding.action
        if action not in _ACTIONS:
            return
        event.stop()
        event.prevent_default()
        reason = self._refusal(action)
        if reason is not None:
            self._refused(action, reason)

    def _refused(self, action: str, reason: str) -> None:
        if self.operations is not None and action in _ACTION_NAMES:
            resolution = {"accept": "accept-broker", "keep": "keep-ledger",
                          "manual": "book-manually"}[action]
            self.operations.log({"id": self.brk.id, "action": resolution},
                                f"not sent: {reason}", ok=False)
        self.notify(reason, title="Reconciliation", severity="warning", timeout=4)

    def _start(self, action: str) -> None:
        reason = self._refusal(action)
        if reason is not None:
            self._refused(action, reason)
            return
        if self._in_flight or self.operations is None:
            return  # the first press is still being answered: nothing is sent twice
        self._in_flight = True
        work = {"accept": self.operations.accept, "keep": self.operations.keep,
                "manual": self.operations.manual}[action](self.brk)

        async def run() -> None:
            try:
                await work
            finally:
                self._in_flight = False

        self.run_worker(run(), name=f"recon-{action} {self.brk.id}", group="recon-change",
                        exit_on_error=False)

    # -- actions ------------------------------------------------------------------------------

    def action_accept(self) -> None:
        """Accept the broker's record (an account first for cash; dry run; y)."""
        self._start("accept")

    def action_keep(self) -> None:
        """Keep the ledger (a reason; dry run; y)."""
        self._start("keep")

    def action_manual(self) -> None:
        """Book a manual entry (the form; dry run; y)."""
        self._start("manual")

    def action_reread(self) -> None:
        """Read the break again."""
        self.load()

    def action_back(self) -> None:
        """Back to the list of breaks."""
        self.dismiss(None)
