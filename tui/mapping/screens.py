"""View 5: the mapping queue, newest first, and accepting a suggested account.

The queue lives in the engine, so it is read with `mapping.queue` in a worker (the UI
never waits on the socket) when the view shows, when a `mapping` event says it changed,
and on `g`. Offline the last page stays on screen with a note, and nothing can be sent.

Accepting (`enter` the top suggestion, `1`-`3` one of the first three) is a dry run first:
the engine answers what it would post, the operator confirms with `y`, and only then is
the assignment sent, once (an item being accepted ignores further presses). Keys the
caller's role may not use stay in the footer, dimmed, and pressing one says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, Static

from tbot.control.client import EngineUnavailableError, RpcCallError, RpcTimeoutError
from tui.commands.registry import method_availability
from tui.link.event_handling import describe_rpc_error
from tui.mapping.dialogs import AssignConfirmScreen, ItemDetailsScreen
from tui.mapping.queue_items import (
    ASSIGN_METHOD,
    QUEUE_METHOD,
    QueueItem,
    QueuePage,
    Suggestion,
    parse_assign,
    parse_queue,
)
from tui.mapping.rows import QUEUE_COLUMNS, queue_row
from tui.model.formatting import clock_time
from tui.model.live_state import CommandLogEntry, LinkState, Topic
from tui.model.snapshot import SnapshotError
from tui.screens.dashboard import SectionTitle
from tui.screens.live_screen import LiveScreen
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import ListSource

QUEUE_LIMIT = 500
"""Items read per refresh: the engine's largest page."""

READ_TIMEOUT = 15.0
ASSIGN_TIMEOUT = 30.0

OFFLINE_NOTE = (
    "offline: the mapping queue is read from the engine; start it "
    "(or use `tbot mapping queue`)"
)

_ASSIGNING_ACTIONS = frozenset({"accept", "pick"})
"""Actions that write (mapping.assign): admin only, online only."""
_VIEW_ACTIONS = _ASSIGNING_ACTIONS | {"details", "refresh"}
"""This view's own actions, each enabled or dimmed by `_refusal`."""


class MappingQueueScreen(LiveScreen):
    """The items waiting for an account, and their suggestions."""

    VIEW_TITLE = "Mapping"
    AUTO_FOCUS = "#mapping-queue DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the grid's own enter (open) and g (first row) would win otherwise.
        Binding("enter", "accept", "Accept", id="mapping.accept", priority=True),
        Binding("1", "pick(1)", "Pick", key_display="1-3", id="mapping.pick_1"),
        Binding("2", "pick(2)", "Pick 2", show=False, id="mapping.pick_2"),
        Binding("3", "pick(3)", "Pick 3", show=False, id="mapping.pick_3"),
        Binding("d,i", "details", "Details", id="mapping.details"),
        Binding("g", "refresh", "Refresh", id="mapping.refresh", priority=True),
    ]

    DEFAULT_CSS = """
    MappingQueueScreen {
        #mapping-note {
            height: auto;
            padding: 0 1;
            display: none;
        }
        #mapping-note.-shown {
            display: block;
        }
        #mapping-note.-offline, #mapping-note.-error {
            color: $warning;
        }
        #mapping-note.-readonly {
            color: $text-muted;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = ListSource()
        self._items: dict[str, QueueItem] = {}
        self._page: QueuePage | None = None
        self._loaded_at: datetime | None = None
        self._loading = False
        self._error: str | None = None
        self._link_state: LinkState | None = None
        self._in_flight: set[int] = set()
        """Items being accepted (dry run, question, assignment): further presses wait."""

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> ComposeResult:
        yield SectionTitle(id="mapping-title")
        yield Static("", id="mapping-note")
        yield FilterableGrid(
            QUEUE_COLUMNS, self._source, empty_text="reading the mapping queue…",
            id="mapping-queue",
        )

    @property
    def grid(self) -> DataGrid:
        """The queue's table."""
        return self.query_one("#mapping-queue", FilterableGrid).grid

    @property
    def page(self) -> QueuePage | None:
        """The last queue read (kept while offline or when a read fails)."""
        return self._page

    @property
    def loading(self) -> bool:
        """Whether a read of the queue is on its way."""
        return self._loading

    @property
    def selected(self) -> QueueItem | None:
        """The item under the cursor."""
        key = self.grid.cursor_key
        return self._items.get(key) if key is not None else None

    # -- refresh ----------------------------------------------------------------------------

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        state = self.live.connection.state
        link_changed = state is not self._link_state
        self._link_state = state
        if Topic.MAPPING in topics or (link_changed and state is LinkState.ONLINE):
            self.load_queue()
        elif link_changed:
            self._show_header()
        if link_changed:
            self.refresh_bindings()

    def load_queue(self) -> None:
        """Read the queue again in a worker (a newer read replaces one still running)."""
        if not self.live.may_call(QUEUE_METHOD):
            self._loading = False
            self._show_header()
            return
        self._loading = True
        self._show_header()
        # The method, not a coroutine: a read cancelled before it started leaves nothing
        # un-awaited behind.
        self.run_worker(self._read_queue, name="mapping-queue", group="mapping-queue",
                        exclusive=True, exit_on_error=False)

    async def _read_queue(self) -> None:
        try:
            result = await self.console.link.call(QUEUE_METHOD, {"limit": QUEUE_LIMIT},
                                                  timeout=READ_TIMEOUT)
            page = parse_queue(result)
        except EngineUnavailableError as error:
            self._read_failed(f"cannot read the mapping queue: {error}")
        except RpcCallError as error:
            self._read_failed(f"cannot read the mapping queue: {describe_rpc_error(error)}")
        except SnapshotError as error:
            kept = ", the last one is shown" if self._page is not None else ""
            self._read_failed(f"the mapping queue answer is malformed ({error}){kept}")
        except Exception as error:  # a bug in one read must not take the console down
            self._read_failed(f"cannot read the mapping queue: {type(error).__name__}: {error}")
        else:
            self._show_page(page)

    def _show_page(self, page: QueuePage) -> None:
        self._loading = False
        self._error = None
        self._page = page
        self._loaded_at = self.console.clock.now()
        self._items = {item.key: item for item in page.items}
        self._source.replace(queue_row(item) for item in page.items)
        grid = self.grid
        grid.empty_text = "the mapping queue is empty"
        grid.reload()
        self._show_header()
        self.refresh_bindings()

    def _read_failed(self, text: str) -> None:
        self._loading = False
        self._error = text
        self._show_header()

    def _show_header(self) -> None:
        page = self._page
        details: list[Text | str] = []
        if page is None:
            waiting = "reading…" if self._loading else "not read yet"
            empty = "reading the mapping queue…" if self._loading else "nothing read yet"
            if self.grid.empty_text != empty:
                self.grid.empty_text = empty
                self.grid.refresh()
        elif page.total == 0:
            waiting = "the mapping queue is empty"
        else:
            waiting = f"{page.total:,} item{'s' if page.total != 1 else ''} waiting"
            if page.total > len(page.items):
                waiting += f" (newest {len(page.items):,} shown)"
        details.append(waiting)
        if self._source.filter_text:
            details.append(f"{self._source.count():,} match /{self._source.filter_text}")
        if self._loaded_at is not None:
            details.append(Text(f"refreshed {clock_time(self._loaded_at)}", style="dim"))
        self.query_one("#mapping-title", SectionTitle).show("Mapping queue", *details)
        self._show_note()

    def _show_note(self) -> None:
        note = self.query_one("#mapping-note", Static)
        connection = self.live.connection
        kind = ""
        if connection.state is LinkState.OFFLINE:
            text, kind = OFFLINE_NOTE, "offline"
        elif connection.state is LinkState.CONNECTING:
            text = "connecting to the engine…"
        elif self._error is not None:
            text, kind = self._error, "error"
        elif not (reading := method_availability(QUEUE_METHOD, self.live)).enabled:
            text, kind = f"cannot read the mapping queue: {reading.reason}", "error"
        elif not (writing := method_availability(ASSIGN_METHOD, self.live)).enabled:
            text, kind = f"read-only: accepting {writing.reason}", "readonly"
        else:
            text = ""
        note.update(text)
        for name in ("offline", "error", "readonly"):
            note.set_class(kind == name, f"-{name}")
        note.set_class(bool(text), "-shown")

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        self._show_header()

    def on_data_grid_cursor_moved(self, message: DataGrid.CursorMoved) -> None:
        # Pick keys follow the selected item's suggestions.
        self.refresh_bindings()

    @on(DataGrid.RowSelected)
    def _row_clicked(self, message: DataGrid.RowSelected) -> None:
        # `enter` accepts (a screen binding); a click on the selected row opens it.
        self.action_details()

    # -- which keys work ------------------------------------------------------------------------

    def _refusal(self, action: str, rank: int = 1) -> str | None:
        """Why `action` cannot run now, or None when it can."""
        if action == "refresh":
            reading = method_availability(QUEUE_METHOD, self.live)
            return None if reading.enabled else f"Refresh is not available: {reading.reason}"
        item = self.selected
        if action == "details":
            return None if item is not None else "no item is selected"
        writing = method_availability(ASSIGN_METHOD, self.live)
        if not writing.enabled:
            return f"Accepting a mapping is not available: {writing.reason}"
        if item is None:
            return "no item is selected"
        if len(item.suggestions) < rank:
            count = len(item.suggestions)
            return (f"item #{item.id} has {count or 'no'} suggestion{'s' if count != 1 else ''}"
                    f"{'' if count else ' to accept'}")
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in _VIEW_ACTIONS:
            return True
        if isinstance(self.focused, Input):
            return False  # typing a filter: enter is the input's
        rank = int(str(parameters[0])) if parameters else 1
        # None: shown dimmed; the key press then reaches `on_key`, which says why.
        return None if self._refusal(action, rank) is not None else True

    def on_key(self, event: events.Key) -> None:
        """A dimmed key of this view was pressed: say why it does nothing."""
        active = self.active_bindings.get(event.key)
        if active is None or active.node is not self or active.enabled:
            return
        action, _, argument = active.binding.action.partition("(")
        if action not in _VIEW_ACTIONS:
            return
        event.stop()
        event.prevent_default()
        rank = int(argument.rstrip(")") or 1)
        reason = self._refusal(action, rank)
        if reason is not None:
            self._refused(action, reason)

    def _refused(self, action: str, reason: str) -> None:
        if action in _ASSIGNING_ACTIONS and self.selected is not None:
            self._log_assign({"id": self.selected.id}, f"not sent: {reason}", ok=False)
        self.notify(reason, title="Mapping", severity="warning", timeout=4)

    # -- actions ----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read the queue again now."""
        reason = self._refusal("refresh")
        if reason is not None:
            self._refused("refresh", reason)
            return
        self.load_queue()

    def action_details(self) -> None:
        """Every suggestion of the selected item, and its raw fields."""
        item = self.selected
        if item is not None:
            self.app.push_screen(ItemDetailsScreen(item))

    def action_accept(self) -> None:
        """Accept the selected item's top suggestion (after a dry run and a y/n)."""
        self.action_pick(1)

    def action_pick(self, rank: int) -> None:
        """Accept the selected item's suggestion number `rank` (1-based)."""
        action = "accept" if rank == 1 else "pick"
        reason = self._refusal(action, rank)
        item = self.selected
        if reason is not None or item is None:
            self._refused(action, reason or "no item is selected")
            return
        if item.id in self._in_flight:
            return  # the first press is still being answered
        self._in_flight.add(item.id)
        self.run_worker(self._accept(item, rank), name=f"mapping-assign {item.id}",
                        group="mapping-assign", exit_on_error=False)

    async def _accept(self, item: QueueItem, rank: int) -> None:
        """Dry run, question, assignment: the whole accept of one item (in a worker)."""
        suggestion = item.suggestions[rank - 1]
        params: dict[str, object] = {
            "id": item.id,
            "account": suggestion.account,
            "reason": f"accepted in the console: {suggestion.source or 'engine'} suggestion",
        }
        try:
            await self._confirm_and_assign(item, rank, suggestion, params)
        finally:
            self._in_flight.discard(item.id)

    async def _confirm_and_assign(self, item: QueueItem, rank: int, suggestion: Suggestion,
                                  params: dict[str, object]) -> None:
        title = f"Item #{item.id} → {suggestion.account}"
        link = self.console.link
        try:
            preview = parse_assign(await link.call(
                ASSIGN_METHOD, {**params, "dry_run": True}, timeout=ASSIGN_TIMEOUT))
        except Exception as error:  # whatever went wrong, nothing was written
            self.notify(f"dry run failed, nothing sent: {_error_text(error)}", title=title,
                        severity="error")
            return
        if preview.unchanged:
            self.notify(f"already mapped to {suggestion.account}: nothing to do", title=title)
            self.load_queue()
            return
        confirmed = await self.app.push_screen_wait(
            AssignConfirmScreen(item, rank, suggestion, preview))
        if not confirmed:
            self._log_assign(params, "cancelled: nothing sent", ok=False)
            self.notify("cancelled: nothing sent", title=title, timeout=3)
            return
        try:
            result = parse_assign(await link.call(ASSIGN_METHOD, params, timeout=ASSIGN_TIMEOUT))
        except Exception as error:  # the command log must show every assignment's fate
            outcome = _failure_text(error)
            self._log_assign(params, outcome, ok=False)
            self.notify(outcome, title=title, severity="error")
            self.load_queue()
            return
        outcome = _assigned_text(result.item, result.account, result.action, result.decision_id)
        self._log_assign(params, outcome, ok=True)
        self.notify(outcome, title=title)
        self.load_queue()

    def _log_assign(self, params: Mapping[str, object], outcome: str, *, ok: bool) -> None:
        """Into the command log, like every command the console sends (or did not)."""
        self.live.commands.append(CommandLogEntry(
            at=self.console.clock.now(), command_id=ASSIGN_METHOD, method=ASSIGN_METHOD,
            params=dict(params), outcome=outcome, ok=ok,
        ))
        self.console.live_changed(frozenset({Topic.COMMANDS}))


def _error_text(error: Exception) -> str:
    if isinstance(error, RpcCallError):
        return describe_rpc_error(error)
    return str(error) or type(error).__name__


def _failure_text(error: Exception) -> str:
    """What a failed assignment means for the operator: was anything written?"""
    if isinstance(error, RpcCallError):
        return f"refused: {describe_rpc_error(error)}"
    if isinstance(error, RpcTimeoutError):
        return f"no answer: {error} (it may have been applied)"
    if isinstance(error, EngineUnavailableError):
        return "not sent: engine offline"
    if isinstance(error, SnapshotError):
        return f"sent, but the answer is malformed ({error}): check the queue"
    return f"failed: {type(error).__name__}: {error}"


def _assigned_text(item: int, account: str, action: str, decision: int | None) -> str:
    what = {"post": "posted", "adopt": "adopted the ledger's entry",
            "reclassify": "reclassified"}.get(action, action)
    number = f", decision #{decision}" if decision is not None else ""
    return f"item #{item} mapped to {account} ({what}{number})"


BINDING_OWNERS: tuple[type, ...] = (MappingQueueScreen, AssignConfirmScreen, ItemDetailsScreen)
"""Every class of this view whose BINDINGS a keymap file may name."""
