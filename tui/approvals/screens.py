"""View 6: the entries waiting for an operator's approval (TRADE_CONFIRMATION_REQUIRED=true).

One row per waiting entry, oldest first: its countdown, the instrument, the direction, the
price the strategy chose it at, the strategy, the underlying and the strategy's reason;
the selected entry's id, trigger and deadline below. `a` approves the selected entry after
a y/n naming it, `x` rejects it (with an optional reason), `g` reads again.

While the view is shown it reads `entries.pending` every POLL_SECONDS (one read in flight
at most), and at once when an `approval_needed` / `approval_dropped` alert arrives or
`engine.status` counts a different number waiting. Between reads the countdowns tick
down on the console's clock (the app's one-second tick), scaled to a simulation's speed
(the engine's deadlines are on its own clock). An engine without the methods
(METHOD_NOT_FOUND) or with TRADE_CONFIRMATION_REQUIRED=false is said in a line over the
empty table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import Input, Static

from tbot.control.client import RpcCallError
from tbot.control.wire import METHOD_NOT_FOUND
from tui.approvals.operations import (
    APPROVE_METHOD,
    PENDING_METHOD,
    REJECT_METHOD,
    ApprovalOperations,
)
from tui.commands.outcomes import error_text
from tui.commands.registry import method_availability
from tui.model.formatting import clock_time, duration, price
from tui.model.live_state import LinkState, Topic
from tui.model.snapshot import PendingEntries, PendingEntryView, SnapshotError
from tui.screens.dashboard import SectionTitle
from tui.screens.live_screen import LiveScreen
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import GridColumn, GridRow, ListSource
from tui.widgets.strategy_panel import stale_note

POLL_SECONDS = 1.0
"""How often `entries.pending` is read while the view is shown."""
READ_TIMEOUT = 10.0

COLUMNS = (
    GridColumn("left", "left", 7, align="right"),
    GridColumn("instrument", "symbol", 6),
    GridColumn("direction", "dir", 7),
    GridColumn("reference", "ref price", 9, align="right"),
    GridColumn("strategy", "strategy", 8),
    GridColumn("underlying", "under", 5),
    GridColumn("reason", "reason", 10, flex=True),
)

NOT_AVAILABLE = ("approvals are not available: this engine has no entries.pending "
                 "(an older engine)")
NOT_REQUIRED = ("entries are not waiting for approval: TRADE_CONFIRMATION_REQUIRED=false "
                "(the engine sends them at once)")
OFFLINE_NOTE = "offline: entries wait in the engine; approving needs it running"

_VIEW_ACTIONS = frozenset({"approve", "reject"})


def seconds_left(entry: PendingEntryView, elapsed_engine_seconds: float) -> int:
    """The entry's countdown `elapsed_engine_seconds` after it was read (never below 0)."""
    return max(0, entry.seconds_left - math.floor(elapsed_engine_seconds))


def countdown_cell(left: int) -> Text:
    """`4m10s`; yellow under three minutes, red under one, `expired` at zero (the engine
    drops it at its next minute)."""
    if left <= 0:
        return Text("expired", style="bold red")
    style = "bold red" if left < 60 else "bold yellow" if left < 180 else "bold"
    return Text(duration(left), style=style)


def entry_row(entry: PendingEntryView, left: int) -> GridRow:
    """One grid row, keyed by the entry's id."""
    direction = Text(entry.direction, style="red" if entry.direction == "bearish" else "green")
    return GridRow(entry.id, (
        countdown_cell(left),
        entry.instrument,
        direction,
        price(entry.reference_price),
        entry.strategy,
        entry.underlying if entry.underlying != entry.instrument else "",
        entry.reason,
    ))


class ApprovalsScreen(LiveScreen):
    """The waiting entries, approved or rejected one at a time."""

    VIEW_TITLE = "Approvals"
    AUTO_FOCUS = "#approvals DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve", id="approvals.approve"),
        Binding("x", "reject", "Reject", id="approvals.reject"),
        # Priority: the grid's own g (first row) would win otherwise.
        # Hidden from the key bar: the view reads every second anyway.
        Binding("g", "refresh", "Refresh", id="approvals.refresh", priority=True, show=False),
    ]

    DEFAULT_CSS = """
    ApprovalsScreen {
        #approvals-note {
            height: auto;
            padding: 0 1;
            display: none;
        }
        #approvals-note.-shown { display: block; }
        #approvals-note.-warning { color: $warning; }
        #approvals-note.-muted { color: $text-muted; }
        #approvals { height: 1fr; }
        #approvals-detail {
            height: 3;
            padding: 0 1;
            background: $panel;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = ListSource()
        self._pending: PendingEntries | None = None
        self._read_at: datetime | None = None
        """When the last good answer arrived (console clock): the countdowns start there."""
        self._available = True
        self._error: str | None = None
        self._reading = False
        self._again = False
        self._poll: Timer | None = None
        self._waiting_count: int | None = None
        self._link_state: LinkState | None = None
        self.operations: ApprovalOperations | None = None

    # -- layout ---------------------------------------------------------------------------

    def body(self) -> ComposeResult:
        yield SectionTitle(id="approvals-title")
        yield Static("", id="approvals-note")
        yield FilterableGrid(COLUMNS, self._source, empty_text="reading the waiting entries…",
                             id="approvals")
        yield Static("", id="approvals-detail")

    def on_mount(self) -> None:
        self.operations = ApprovalOperations(self.console, self.request_read)
        self._show()

    @property
    def grid(self) -> DataGrid:
        """The waiting entries' table."""
        return self.query_one("#approvals", FilterableGrid).grid

    @property
    def pending(self) -> PendingEntries | None:
        """The last `entries.pending` read (None before the first good one)."""
        return self._pending

    @property
    def available(self) -> bool:
        """False once the engine said it has no `entries.pending` (an older engine)."""
        return self._available

    @property
    def selected(self) -> PendingEntryView | None:
        """The entry under the cursor."""
        key = self.grid.cursor_key
        if self._pending is None or key is None:
            return None
        return next((entry for entry in self._pending.entries if entry.id == key), None)

    def seconds_left_of(self, entry: PendingEntryView) -> int:
        """The entry's countdown now: its `seconds_left` less the engine time since the
        read (console time × the simulation's speed)."""
        if self._read_at is None:
            return entry.seconds_left
        elapsed = (self.console.clock.now() - self._read_at).total_seconds()
        status = self.live.status
        speed = status.clock.speed if status is not None and status.clock.mode == "sim" else 1.0
        return seconds_left(entry, max(0.0, elapsed) * speed)

    # -- while shown: poll ------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._poll is None:
            self._poll = self.set_interval(POLL_SECONDS, self.request_read)
        self.request_read()

    def on_screen_suspend(self) -> None:
        # Hidden views cost nothing: no reads while another view is on show.
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        state = self.live.connection.state
        link_changed = state is not self._link_state
        self._link_state = state
        status = self.live.status
        waiting = status.approvals.waiting if status and status.approvals else None
        count_changed = waiting != self._waiting_count
        self._waiting_count = waiting
        if (Topic.APPROVALS in topics or (Topic.STATUS in topics and count_changed)
                or (link_changed and state is LinkState.ONLINE)):
            self.request_read()
        if link_changed:
            self.refresh_bindings()
        if link_changed or Topic.CONNECTION in topics:
            # The app ticks CONNECTION every second: the countdowns move between reads.
            self._show()

    def request_read(self) -> None:
        """Read `entries.pending` now, or right after the read under way."""
        if not self.is_mounted or not self.live.connection.online:
            return
        if self._reading:
            self._again = True
            return
        self._reading = True
        self.run_worker(self._read_loop, name="approvals-read", group="approvals-read",
                        exit_on_error=False)

    async def _read_loop(self) -> None:
        try:
            while True:
                self._again = False
                await self._read_once()
                if not self._again:
                    break
        finally:
            self._reading = False

    async def _read_once(self) -> None:
        try:
            answer = await self.console.link.call(PENDING_METHOD, {}, timeout=READ_TIMEOUT)
            if not isinstance(answer, Mapping):
                raise SnapshotError(f"{PENDING_METHOD}: expected an object, got {answer!r}")
            pending = PendingEntries.from_wire(answer)
        except RpcCallError as error:
            if error.code == METHOD_NOT_FOUND:
                self._available = False
                self._pending = None
                self._error = None
            else:
                self._error = f"cannot read the waiting entries: {error_text(error)}"
            self._show()
            return
        except Exception as error:  # one error line, never a crash; the last list stays
            self._error = f"cannot read the waiting entries: {error_text(error)}"
            self._show()
            return
        self._available = True
        self._error = None
        self._pending = pending
        self._read_at = self.console.clock.now()
        self._show()
        self.refresh_bindings()

    # -- drawing ----------------------------------------------------------------------------

    def _show(self) -> None:
        if not self.is_mounted:
            return
        entries = self._pending.entries if self._pending is not None else ()
        self._source.replace(entry_row(entry, self.seconds_left_of(entry)) for entry in entries)
        self.grid.empty_text = self._empty_text()
        self.grid.reload()
        self._show_title()
        self._show_note()
        self._show_detail()

    def _empty_text(self) -> str:
        if not self._available:
            return "no approvals on this engine"
        if self._pending is None:
            return "reading the waiting entries…" if self.live.connection.online \
                else "not read: the engine is offline"
        if not self._pending.required:
            return "nothing waits: entries go to the broker at once"
        return "no entry waits for approval"

    def _show_title(self) -> None:
        details: list[Text | str] = []
        pending = self._pending
        if pending is not None:
            details.append(str(len(pending.entries)))
            if pending.max_move_bps is not None:
                details.append(Text(f"max move {pending.max_move_bps} bps", style="dim"))
        if self._read_at is not None:
            details.append(Text(f"read {clock_time(self._read_at)}", style="dim"))
        details.append(stale_note(self.live))
        self.query_one("#approvals-title", SectionTitle).show(
            "Entries awaiting approval", *details)

    def _note(self) -> tuple[str, str] | None:
        """(text, class) of the line over the table, or None."""
        if not self._available:
            return NOT_AVAILABLE, "-muted"
        if self._error is not None:
            return self._error, "-warning"
        if not self.live.connection.online:
            return OFFLINE_NOTE, "-warning"
        if self._pending is not None and not self._pending.required:
            return NOT_REQUIRED, "-muted"
        refusal = self._refusal("approve")
        if self._pending is not None and self._pending.entries and refusal is not None:
            return f"you can see the entries but not approve them: {refusal}", "-muted"
        return None

    def _show_note(self) -> None:
        note = self.query_one("#approvals-note", Static)
        shown = self._note()
        note.set_class(shown is not None, "-shown")
        note.set_class(shown is not None and shown[1] == "-warning", "-warning")
        note.set_class(shown is not None and shown[1] == "-muted", "-muted")
        note.update(Text(shown[0]) if shown is not None else "")

    def _show_detail(self) -> None:
        entry = self.selected
        detail = self.query_one("#approvals-detail", Static)
        if entry is None:
            detail.update(Text("a approve · x reject the selected entry · g read again",
                               style="dim"))
            return
        first = Text(entry.id, style="bold")
        first.append(f"  {entry.strategy} · {entry.direction} {entry.instrument}")
        if entry.tag and entry.tag != "none":
            first.append(f" ({entry.tag})", style="dim")
        second = Text("trigger ", style="dim")
        second.append(f"{entry.underlying or entry.instrument} {price(entry.trigger_price)}")
        second.append("  ref ", style="dim")
        second.append(price(entry.reference_price))
        second.append("  queued ", style="dim")
        second.append(clock_time(entry.queued_at))
        second.append("  expires ", style="dim")
        second.append(clock_time(entry.expires_at))
        third = Text(entry.reason or "—")
        detail.update(Text("\n").join([first, second, third]))

    def on_data_grid_cursor_moved(self, message: DataGrid.CursorMoved) -> None:
        self._show_detail()

    # -- keys -------------------------------------------------------------------------------

    def _refusal(self, action: str) -> str | None:
        """Why `action` cannot run now, or None."""
        method = APPROVE_METHOD if action == "approve" else REJECT_METHOD
        if not self._available:
            return NOT_AVAILABLE
        allowed = method_availability(method, self.live)
        if not allowed.enabled:
            return allowed.reason
        if self.selected is None:
            return "no entry is selected"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in _VIEW_ACTIONS:
            return True
        if isinstance(self.focused, Input):
            return False  # typing a filter: the letters are the input's
        return None if self._refusal(action) is not None else True

    def on_key(self, event: events.Key) -> None:
        """A dimmed key of this view was pressed: say why it does nothing (and log it)."""
        if isinstance(self.focused, Input):
            return
        active = self.active_bindings.get(event.key)
        if active is None or active.node is not self or active.enabled:
            return
        action = active.binding.action.partition("(")[0]
        if action not in _VIEW_ACTIONS:
            return
        event.stop()
        event.prevent_default()
        reason = self._refusal(action)
        if reason is not None:
            if self.operations is not None:
                method = APPROVE_METHOD if action == "approve" else REJECT_METHOD
                entry = self.selected
                self.operations.log(method, {"id": entry.id} if entry else {},
                                    f"not sent: {reason}", ok=False)
            self.notify(reason, title="Approvals", severity="warning", timeout=4)

    def action_approve(self) -> None:
        """Approve the selected entry (after a y/n naming it)."""
        entry = self.selected
        if entry is None or self.operations is None:
            return
        self.run_worker(self.operations.approve(entry, self.seconds_left_of(entry)),
                        name="approvals-approve", group="approvals-change",
                        exit_on_error=False)

    def action_reject(self) -> None:
        """Reject the selected entry (with an optional reason)."""
        entry = self.selected
        if entry is None or self.operations is None:
            return
        self.run_worker(self.operations.reject(entry, self.seconds_left_of(entry)),
                        name="approvals-reject", group="approvals-change",
                        exit_on_error=False)

    def action_refresh(self) -> None:
        """Read the queue again now."""
        self.request_read()


BINDING_OWNERS: tuple[type, ...] = (ApprovalsScreen,)
"""The classes whose bindings a keymap file may rebind (tui.app.binding_ids)."""
