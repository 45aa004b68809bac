"""View 4, reconciliation review, in two tabs (`tab` moves on).

- Breaks: the header gives the last sync (when, trigger, outcome, the spans a partial one
  did not read) or the running one's progress, and the open breaks by kind. Below, every
  open break newest first (kind, status, subject, what the broker says, what the ledger
  says, the difference, its age), paged from the engine around what is on screen. One key
  per status (`o` open, `x` mismatch, `l` local-only, `b` broker-only, `w` pending, `u`
  unmapped, `h` resolved), `/` searches (in the engine), `enter` opens a break
  (`tui.recon.detail`), `s` syncs now, `g` reads again.
- Positions: broker vs ledger vs engine per symbol with the last check's outcome, and the
  cash assertion per currency.

Reads run in workers, one at a time with at most one more pending, so twenty `recon`
events a second cost two reads, not twenty. With the engine stopped the view reads the
ledger file read-only (`tui.recon.reads.LedgerReads`) and changes are disabled.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Input, Static

from tui.commands.outcomes import error_text
from tui.commands.registry import method_availability
from tui.model.formatting import clock_time, stamp
from tui.model.live_state import LinkState, Topic
from tui.recon.breaks import (
    BREAKS_METHOD,
    KINDS,
    SYNC_METHOD,
    PositionsReport,
    ReconStatus,
    SyncRun,
    parse_breaks,
    parse_positions,
    parse_status,
)
from tui.recon.detail import BreakScreen
from tui.recon.dialogs import ManualEntryScreen, ResolveConfirmScreen
from tui.recon.operations import ReconOperations
from tui.recon.reads import EngineReads, LedgerReads, ReconReads
from tui.recon.rows import (
    BALANCE_COLUMNS,
    BREAK_COLUMNS,
    POSITION_COLUMNS,
    balance_row,
    position_row,
)
from tui.recon.sources import FETCH_SIZE, PagedBreakSource
from tui.screens.dashboard import SectionTitle
from tui.screens.live_screen import LiveScreen
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import ListSource

POLL_SECONDS = 1.0
"""How often `recon.status` is read while a sync runs."""

WINDOW_BEFORE = 50
LIVE_READ_INTERVAL = 0.25
"""While `recon` events stream in, read again at most this often: four fresh pages a second
are as live as a person can follow, and keys stay quick between them."""
"""Rows read above the cursor when the list is read again (new breaks push it down)."""

OFFLINE_NOTE = ("offline: reconciliation is read from the engine, or from the ledger file "
                "when one is set; start the engine (or use `tbot recon breaks`)")
LEDGER_NOTE = ("offline: read-only from the ledger file; resolving and syncing need the "
               "engine")

TABS = ("breaks", "positions")
_TAB_TITLES = {"breaks": "Breaks", "positions": "Positions"}

STATUS_KEYS = (("o", None, "open"), ("x", "mismatch", "mismatch"),
               ("l", "local-only", "local"), ("b", "broker-only", "broker"),
               ("w", "pending", "pending"), ("u", "unmapped", "unmapped"),
               ("h", "resolved", "resolved"))
"""(key, status asked for, label): one key per status; `o` every open break."""
_STATUS_OF = {label: status for _, status, label in STATUS_KEYS}

_VIEW_ACTIONS = frozenset({"sync", "refresh", "next_tab", "prev_tab", "status"})


class ReconciliationScreen(LiveScreen):
    """The breaks between the ledger and the broker, and the latest checks."""

    VIEW_TITLE = "Reconciliation"
    AUTO_FOCUS = "#recon-breaks DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sync", "Sync now", id="recon.sync"),
        # Priority: the grid's own g (first row) would win otherwise.
        Binding("g", "refresh", "Refresh", id="recon.refresh", priority=True),
        Binding("tab", "next_tab", "Next tab", show=False, id="recon.next_tab"),
        Binding("shift+tab", "prev_tab", "Previous tab", show=False, id="recon.prev_tab"),
        *(Binding(key, f"status('{label}')", (status or "open").capitalize(), show=False,
                  id=f"recon.status_{label}")
          for key, status, label in STATUS_KEYS),
    ]

    DEFAULT_CSS = """
    ReconciliationScreen {
        #recon-tabs, #recon-sync, #recon-filters {
            height: 1;
            padding: 0 1;
        }
        #recon-note {
            height: auto;
            padding: 0 1;
            display: none;
        }
        #recon-note.-shown { display: block; }
        #recon-note.-offline, #recon-note.-error { color: $warning; }
        #recon-note.-readonly { color: $text-muted; }
        #recon-panes { height: 1fr; }
        #recon-balances-pane { height: auto; }
        #recon-balances { height: 5; }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tab = "breaks"
        self._source = PagedBreakSource(self._want_block)
        self._position_source = ListSource()
        self._balance_source = ListSource()
        self._open_by_kind: dict[str, dict[str, int]] | None = None
        self._status: ReconStatus | None = None
        self._positions: PositionsReport | None = None
        self._positions_wanted = False
        self._reading = False
        self._pending = False
        self._urgent = False
        """The pending read was asked for by the operator (not an event): no waiting."""
        self._fetching: set[tuple[int, int, int]] = set()
        """(generation, epoch, first index) of the blocks asked for: read once each."""
        self._error: str | None = None
        self._from_ledger = False
        self._link_state: LinkState | None = None
        self._poll: Timer | None = None
        self._syncing = False
        self.operations: ReconOperations | None = None

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> ComposeResult:
        yield Static("", id="recon-tabs")
        yield SectionTitle(id="recon-title")
        yield Static("", id="recon-sync")
        yield Static("", id="recon-filters")
        yield Static("", id="recon-note")
        with ContentSwitcher(initial="recon-breaks", id="recon-panes"):
            yield FilterableGrid(BREAK_COLUMNS, self._source,
                                 empty_text="reading the breaks…", id="recon-breaks")
            with Vertical(id="recon-positions"):
                yield FilterableGrid(POSITION_COLUMNS, self._position_source,
                                     empty_text="reading the position checks…",
                                     id="recon-position-grid")
                yield SectionTitle(id="recon-cash-title")
                yield DataGrid(BALANCE_COLUMNS, self._balance_source,
                               empty_text="no cash assertion yet", id="recon-balances")

    def on_mount(self) -> None:
        self.operations = ReconOperations(self.console, self.request_read)
        self.query_one("#recon-cash-title", SectionTitle).show("Cash assertions")
        self._show_header()

    @property
    def grid(self) -> DataGrid:
        """The breaks' table."""
        return self.query_one("#recon-breaks", FilterableGrid).grid

    @property
    def positions_grid(self) -> DataGrid:
        """The position checks' table."""
        return self.query_one("#recon-position-grid", FilterableGrid).grid

    @property
    def balances_grid(self) -> DataGrid:
        """The cash assertions' table."""
        return self.query_one("#recon-balances", DataGrid)

    @property
    def source(self) -> PagedBreakSource:
        """The breaks read so far."""
        return self._source

    @property
    def tab(self) -> str:
        """`breaks` or `positions`."""
        return self._tab

    @property
    def reading(self) -> bool:
        """Whether a read is on its way (or pending)."""
        return self._reading

    @property
    def status(self) -> ReconStatus | None:
        """The last `recon.status` read."""
        return self._status

    @property
    def positions(self) -> PositionsReport | None:
        """The last `recon.positions` read."""
        return self._positions

    @property
    def from_ledger(self) -> bool:
        """Whether what is shown was read from the ledger file (engine offline)."""
        return self._from_ledger

    @property
    def selected(self) -> Any:
        """The break under the cursor (None on a row not read yet)."""
        return self._source.break_of(self.grid.cursor_key)

    # -- where to read ------------------------------------------------------------------------

    def reads(self) -> ReconReads | None:
        """The engine when it is online (and lets the caller read), else the ledger file
        when the engine is offline and one is set, else None."""
        connection = self.live.connection
        if connection.online:
            return EngineReads(self.console.link) if self.live.may_call(BREAKS_METHOD) \
                else None
        if connection.state is LinkState.OFFLINE and self.console.ledger is not None:
            return LedgerReads(self.console.ledger, self.console.clock.now)
        return None

    # -- reading --------------------------------------------------------------------------------

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        state = self.live.connection.state
        link_changed = state is not self._link_state
        self._link_state = state
        if Topic.RECON in topics or (link_changed and state in (LinkState.ONLINE,
                                                                LinkState.OFFLINE)):
            self.request_read(live=Topic.RECON in topics and not link_changed)
        elif link_changed:
            self._show_header()
        if link_changed:
            self.refresh_bindings()

    def request_read(self, *, live: bool = False) -> None:
        """Read the breaks around the cursor, the status (and the checks once their tab
        was shown) again: now, or right after the read under way (one in flight, one
        pending at most). A `live` request (an event) waits LIVE_READ_INTERVAL after the
        last read; one the operator asked for does not wait."""
        if self._reading:
            self._pending = True
            self._urgent = self._urgent or not live
            return
        self._reading = True
        self._show_header()
        self.run_worker(self._read_loop, name="recon-read", group="recon-read",
                        exit_on_error=False)

    async def _read_loop(self) -> None:
        try:
            while True:
                self._pending = self._urgent = False
                await self._read_once()
                waited = 0.0
                while self._pending and not self._urgent and waited < LIVE_READ_INTERVAL:
                    await asyncio.sleep(0.02)
                    waited += 0.02
                if not self._pending:
                    break
        finally:
            self._reading = False
            self._show_header()

    async def _read_once(self) -> None:
        reads = self.reads()
        if reads is None:
            return
        source = self._source
        token = source.token
        offset = 0
        if source.loaded:
            top = min(self.grid.cursor_index, int(self.grid.scroll_offset.y))
            offset = max(0, top - WINDOW_BEFORE)
        try:
            page = parse_breaks(await reads.breaks(source.query.params(offset, FETCH_SIZE)))
            if source.accept(token, page, fresh=True):
                self._open_by_kind = page.open_by_kind
                self._fetching.clear()
                self.grid.empty_text = self._empty_text()
                self.grid.reload()
            self._status = parse_status(await reads.status())
            if self._positions_wanted:
                self._show_positions(parse_positions(await reads.positions()))
        except Exception as error:  # one error line, never a crash; the last page stays
            kept = ", the last one is shown" if source.loaded else ""
            self._error = f"cannot read the breaks: {error_text(error)}{kept}"
            return
        self._error = None
        self._from_ledger = isinstance(reads, LedgerReads)
        self._follow_sync()

    def _want_block(self, start: int) -> None:
        """The grid showed placeholders from row `start`: read that block (once)."""
        key = (*self._source.token, start)
        if key in self._fetching or not self._source.loaded:
            return
        self._fetching.add(key)
        # Called while the grid paints: the read starts after the paint.
        # A callable, not a coroutine: a read dropped before it started (the view left)
        # leaves nothing un-awaited behind.
        self.call_later(self.run_worker, partial(self._read_block, key),
                        name=f"recon-page {start}", group="recon-page", exit_on_error=False)

    async def _read_block(self, key: tuple[int, int, int]) -> None:
        generation, epoch, start = key
        reads = self.reads()
        if reads is None:
            return
        try:
            page = parse_breaks(await reads.breaks(self._source.query.params(start,
                                                                             FETCH_SIZE)))
        except Exception as error:  # stays a placeholder (not asked again) until a re-read
            self._error = f"cannot read breaks {start + 1:,}-: {error_text(error)}"
            self._show_header()
            return
        if self._source.accept((generation, epoch), page, fresh=False):
            self._fetching.discard(key)
            self.grid.reload()

    def _show_positions(self, report: PositionsReport) -> None:
        self._positions = report
        self._position_source.replace(position_row(check) for check in report.positions)
        self.positions_grid.empty_text = "no position checked yet"
        self.positions_grid.reload()
        self._balance_source.replace(balance_row(cash) for cash in report.balances)
        self.balances_grid.reload()

    # -- a sync under way -----------------------------------------------------------------------

    def _follow_sync(self) -> None:
        """Poll `recon.status` every second while a sync runs; read everything once it
        ended."""
        running = self._status is not None and self._status.running is not None
        if running and self._poll is None:
            self._poll = self.set_interval(POLL_SECONDS, self._poll_status)
        elif not running and self._poll is not None:
            self._poll.stop()
            self._poll = None

    def _poll_status(self) -> None:
        self.run_worker(self._read_status, name="recon-status", group="recon-status",
                        exclusive=True, exit_on_error=False)

    async def _read_status(self) -> None:
        reads = self.reads()
        if not isinstance(reads, EngineReads):
            return
        try:
            status = parse_status(await reads.status())
        except Exception:  # the next poll (or read) says what is wrong
            return
        was_running = self._status is not None and self._status.running is not None
        self._status = status
        self._show_header()
        if was_running and status.running is None:
            self._follow_sync()
            self.request_read()

    # -- tabs ---------------------------------------------------------------------------------

    def show_tab(self, tab: str) -> None:
        """Show tab `tab` and focus its table (reading the checks on first show)."""
        self._tab = tab
        self.query_one("#recon-panes", ContentSwitcher).current = f"recon-{tab}"
        (self.grid if tab == "breaks" else self.positions_grid).focus()
        if tab == "positions" and not self._positions_wanted:
            self._positions_wanted = True
            self.request_read()
        self._show_header()
        self.refresh_bindings()

    def action_next_tab(self) -> None:
        """The next tab."""
        self.show_tab(TABS[(TABS.index(self._tab) + 1) % len(TABS)])

    def action_prev_tab(self) -> None:
        """The previous tab."""
        self.show_tab(TABS[(TABS.index(self._tab) - 1) % len(TABS)])

    # -- the header -----------------------------------------------------------------------------

    def _empty_text(self) -> str:
        query = self._source.query
        if not self._source.loaded:
            return "reading the breaks…"
        if query.search:
            return f"no break matches /{query.search}"
        return "no open break" if query.status is None else f"no {query.status} break"

    def _show_header(self) -> None:
        if not self.is_mounted:
            return
        self._show_tabs()
        title = self.query_one("#recon-title", SectionTitle)
        if self._tab == "breaks":
            title.show("Breaks", *self._break_details())
        else:
            title.show("Positions", *self._position_details())
        self.query_one("#recon-sync", Static).update(self._sync_line())
        self._show_filters()
        self._show_note()

    def _show_tabs(self) -> None:
        counts = {"breaks": self._open_total(),
                  "positions": len(self._positions.positions) if self._positions else None}
        line = Text(no_wrap=True, overflow="ellipsis")
        for tab in TABS:
            label = _TAB_TITLES[tab] + (f" {counts[tab]:,}" if counts[tab] is not None else "")
            line.append(f" {label} ", style="bold reverse" if tab == self._tab else "dim")
            line.append(" ")
        line.append(" tab: next", style="dim")
        self.query_one("#recon-tabs", Static).update(line)

    def _open_total(self) -> int | None:
        if self._open_by_kind is None:
            return None
        return sum(sum(by_status.values()) for by_status in self._open_by_kind.values())

    def _break_details(self) -> list[Text | str]:
        total = self._open_total()
        if total is None:
            return ["reading…" if self._reading else "not read yet"]
        details: list[Text | str] = []
        if total == 0:
            details.append(Text("no open break", style="green"))
        else:
            by_kind = self._open_by_kind or {}
            kinds = [f"{kind} {sum(by_kind[kind].values())}" for kind in
                     (*KINDS, *sorted(set(by_kind) - set(KINDS))) if kind in by_kind]
            details.append(Text(f"{total:,} open: {' · '.join(kinds)}", style="yellow"))
        query = self._source.query
        if query.status is not None or query.search:
            shown = query.status or "open"
            search = f" /{query.search}" if query.search else ""
            details.append(Text(f"{self._source.count():,} {shown}{search}", style="bold"))
        return details

    def _position_details(self) -> list[Text | str]:
        report = self._positions
        if report is None:
            return ["reading…" if self._reading else "not read yet"]
        off = sum(1 for check in report.positions if check.outcome != "matched")
        details: list[Text | str] = [f"{len(report.positions)} symbols checked"]
        if off:
            details.append(Text(f"{off} differ", style="yellow"))
        failed = [cash.currency for cash in report.balances if not cash.passed]
        if failed:
            details.append(Text(f"cash {', '.join(failed)} FAILS", style="bold red"))
        return details

    def _sync_line(self) -> Text:
        status = self._status
        line = Text(no_wrap=True, overflow="ellipsis")
        if status is None:
            line.append("last sync: not read yet" if not self._reading else "reading…",
                        style="dim")
            return line
        if status.running is not None:
            running = status.running
            fetched = " · ".join(f"{name} {count:,}" for name, count in
                                 sorted(running.fetched.items())) or "nothing yet"
            line.append("sync running", style="bold cyan")
            line.append(f" ({running.trigger} since {clock_time(running.started_at)}): "
                        f"fetched {fetched}")
            return line
        run = status.last_sync
        if run is None:
            line.append("no sync yet", style="dim")
            if self._sync_refusal() is None:
                line.append("  s: sync now", style="dim")
            return line
        self._run_summary(line, run)
        return line

    @staticmethod
    def _run_summary(line: Text, run: SyncRun) -> None:
        style = {"complete": "green", "partial": "bold yellow", "failed": "bold red"}.get(
            run.outcome, "")
        line.append("last sync ", style="dim")
        line.append(f"{stamp(run.ended_at or run.started_at)} {run.trigger} ")
        line.append(run.outcome or "?", style=style)
        if run.new_breaks is not None:
            line.append(f", {run.new_breaks} new break{'s' if run.new_breaks != 1 else ''}")
        if run.spans_not_read:
            line.append(f"; not read: {'; '.join(run.spans_not_read)}", style="yellow")
        if run.error:
            line.append(f"; {run.error}", style="red")

    def _show_filters(self) -> None:
        filters = self.query_one("#recon-filters", Static)
        filters.display = self._tab == "breaks"
        current = self._source.query.status
        line = Text(no_wrap=True, overflow="ellipsis")
        for key, status, label in STATUS_KEYS:
            chosen = status == current
            line.append(f"{key}", style="bold reverse" if chosen else "bold")
            line.append(f" {label} ", style="reverse" if chosen else "dim")
            line.append(" ")
        filters.update(line)

    def _show_note(self) -> None:
        note = self.query_one("#recon-note", Static)
        connection = self.live.connection
        kind = ""
        if connection.state is LinkState.OFFLINE:
            if self._error is not None:
                text, kind = self._error, "error"
            elif self._from_ledger or self.reads() is not None:
                text, kind = LEDGER_NOTE, "offline"
            else:
                text, kind = OFFLINE_NOTE, "offline"
        elif connection.state is LinkState.CONNECTING:
            text = "connecting to the engine…"
        elif self._error is not None:
            text, kind = self._error, "error"
        elif not (reading := method_availability(BREAKS_METHOD, self.live)).enabled:
            text, kind = f"cannot read the breaks: {reading.reason}", "error"
        elif not (writing := method_availability(SYNC_METHOD, self.live)).enabled:
            text, kind = f"read-only: syncing and resolving {writing.reason}", "readonly"
        else:
            text = ""
        note.update(text)
        for name in ("offline", "error", "readonly"):
            note.set_class(kind == name, f"-{name}")
        note.set_class(bool(text), "-shown")

    # -- which keys work ------------------------------------------------------------------------

    def _sync_refusal(self) -> str | None:
        available = method_availability(SYNC_METHOD, self.live)
        return None if available.enabled else f"Syncing is not available: {available.reason}"

    def _refusal(self, action: str) -> str | None:
        """Why `action` cannot run now, or None when it can."""
        if action == "sync":
            return self._sync_refusal()
        if action == "refresh" and self.reads() is None:
            reading = method_availability(BREAKS_METHOD, self.live)
            return f"Refresh is not available: {reading.reason}"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in _VIEW_ACTIONS:
            return True
        if isinstance(self.focused, Input):
            return False  # typing a search: tab and the letters are the input's
        if action == "status" and self._tab != "breaks":
            return False
        return None if self._refusal(action) is not None else True

    def on_key(self, event: events.Key) -> None:
        """A dimmed key of this view was pressed: say why it does nothing."""
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
            if action == "sync" and self.operations is not None:
                self.operations.log({}, f"not sent: {reason}", ok=False, method=SYNC_METHOD)
            self.notify(reason, title="Reconciliation", severity="warning", timeout=4)

    # -- actions --------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read again now."""
        self.request_read()

    def action_status(self, label: str) -> None:
        """List the breaks of one status (`open`: every open break)."""
        if label not in _STATUS_OF:
            return
        status = _STATUS_OF[label]
        if self._source.set_status(status):
            self.grid.empty_text = self._empty_text()
            self.grid.reload(keep_key=True)
            self.request_read()
        self._show_header()

    def action_sync(self) -> None:
        """Start a sync now (admin); its progress shows in the header."""
        reason = self._sync_refusal()
        if reason is not None:
            self.notify(reason, title="Reconciliation", severity="warning", timeout=4)
            return
        if self._syncing or self.operations is None:
            return  # the first press is still being answered
        self._syncing = True
        operations = self.operations

        async def run() -> None:
            try:
                await operations.sync()
            finally:
                self._syncing = False

        self.run_worker(run(), name="recon-sync", group="recon-change", exit_on_error=False)

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        if message.grid is self.grid:
            self.grid.empty_text = self._empty_text()
            self.request_read()
        self._show_header()

    @on(DataGrid.RowSelected)
    def _open_break(self, message: DataGrid.RowSelected) -> None:
        if message.grid is not self.grid:
            return
        brk = self._source.break_of(message.key)
        if brk is not None:
            self.app.push_screen(BreakScreen(brk, self.reads))


BINDING_OWNERS: tuple[type, ...] = (
    ReconciliationScreen, BreakScreen, ResolveConfirmScreen, ManualEntryScreen,
)
"""Every class of this view whose BINDINGS a keymap file may name."""
