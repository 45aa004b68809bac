"""Orders and fills: today's orders above, fills below, both filterable with `/`.

Orders come from the live state (`orders.list` plus `orders` events), newest first. Fills
have two sources, shown one at a time and named in the fills title:
- live: the fills the engine pushed during this console session, newest first;
- ledger: the ledger's booked trades (every fill of every day, newest first, paged from
  SQLite so a long history costs nothing up front).
The view shows the live fills while the engine is online and has reported at least one,
and the ledger otherwise (offline, or a console opened after the day's fills), so it is
never empty when the ledger knows better. `f` switches to the other source and keeps that
choice until pressed again. `tab` moves between the two tables.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical

from tui.ledger.sources import FILLS_COLUMNS as LEDGER_FILL_COLUMNS
from tui.ledger.sources import FillsSource
from tui.model.live_state import LinkState, LiveState, Topic
from tui.screens.dashboard import SectionTitle
from tui.screens.live_screen import LiveScreen
from tui.widgets.activity_rows import FILL_COLUMNS, ORDER_COLUMNS, fill_row, order_row
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import ListSource
from tui.widgets.strategy_panel import stale_note

if TYPE_CHECKING:
    from tui.ledger.ledger_reader import LedgerReader

FillsOrigin = Literal["live", "ledger"]


class OrdersScreen(LiveScreen):
    """Today's orders and the fills, live or from the ledger."""

    VIEW_TITLE = "Orders & fills"
    AUTO_FOCUS = "#orders DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "switch_table", "Other table", id="orders.switch_table", show=False),
        Binding("f", "toggle_fills_source", "Live/ledger fills", id="orders.fills_source"),
    ]

    DEFAULT_CSS = """
    OrdersScreen {
        #orders-section, #fills-section {
            height: 1fr;
        }
        #fills-live, #fills-ledger {
            display: none;
        }
        &.-live-fills #fills-live {
            display: block;
        }
        &.-ledger-fills #fills-ledger {
            display: block;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._order_source = ListSource()
        self._live_fill_source = ListSource()
        self._chosen: FillsOrigin | None = None
        """The source the operator picked with `f`; None follows the link."""
        self._ledger_fills: FillsSource | None = None
        """The ledger's fills once counted (in a worker: a big ledger takes a moment)."""
        self._ledger_opening = False
        self._link_state: LinkState | None = None

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> ComposeResult:
        with Vertical(id="orders-section"):
            yield SectionTitle(id="orders-title")
            yield FilterableGrid(
                ORDER_COLUMNS, self._order_source, empty_text="no orders today", follow_head=True,
                id="orders",
            )
        with Vertical(id="fills-section"):
            yield SectionTitle(id="fills-title")
            yield FilterableGrid(
                FILL_COLUMNS,
                self._live_fill_source,
                empty_text="no fills reported by the engine in this session",
                follow_head=True,
                id="fills-live",
            )
            yield FilterableGrid(
                LEDGER_FILL_COLUMNS,
                ListSource(),
                empty_text="the ledger has no fills",
                follow_head=True,
                id="fills-ledger",
            )

    @property
    def orders_grid(self) -> FilterableGrid:
        """Today's orders."""
        return self.query_one("#orders", FilterableGrid)

    @property
    def fills_grid(self) -> FilterableGrid:
        """The fills table on show (live or ledger)."""
        return self.query_one(f"#fills-{self.fills_origin}", FilterableGrid)

    @property
    def fills_origin(self) -> FillsOrigin:
        """Which fills are on show: the operator's choice, else live when the engine is
        online and has reported fills, else the ledger when it can be read."""
        if self._chosen is not None:
            return self._chosen
        if self.live.connection.online and self.live.fills:
            return "live"
        return "ledger" if self.console.ledger is not None else "live"

    # -- refresh ----------------------------------------------------------------------------

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        live = self.live
        link_changed = live.connection.state is not self._link_state
        self._link_state = live.connection.state
        if Topic.ORDERS in topics:
            self._order_source.replace(order_row(order) for order in live.orders.values())
            self.orders_grid.grid.reload()
        if Topic.FILLS in topics:
            self._live_fill_source.replace(fill_row(fill) for fill in live.fills)
            self.query_one("#fills-live", FilterableGrid).grid.reload()
        if link_changed or Topic.FILLS in topics:
            self._show_fills_source()
        if link_changed or topics & {Topic.ORDERS, Topic.FILLS}:
            self._show_titles(live)

    def _show_fills_source(self) -> None:
        origin = self.fills_origin
        if origin == "ledger":
            self._refresh_ledger_fills()
        self.set_class(origin == "live", "-live-fills")
        self.set_class(origin == "ledger", "-ledger-fills")

    @property
    def _ledger_grid(self) -> DataGrid:
        return self.query_one("#fills-ledger", FilterableGrid).grid

    def _refresh_ledger_fills(self) -> None:
        """Show the ledger's booked fills: opened once, then re-counted on each look (new
        fills are a cheap count of the rows after the last one seen)."""
        if self._ledger_fills is not None:
            self._ledger_grid.reload()
            return
        if self._ledger_opening:
            return
        ledger = self.console.ledger
        grid = self._ledger_grid
        if ledger is None:
            grid.empty_text = f"no ledger: {self.console.ledger_error or 'not available'}"
            grid.refresh()
            return
        grid.empty_text = "reading the ledger…"
        grid.refresh()
        self._ledger_opening = True
        self.run_worker(
            partial(self._open_ledger_fills, ledger),
            thread=True,
            name="ledger-fills",
            exit_on_error=False,
        )

    def _open_ledger_fills(self, ledger: LedgerReader) -> None:
        """In a worker thread: make the fills source and count it before the grid asks."""
        try:
            source = ledger.fills_source()
            source.prepare()
        except Exception as error:  # a broken ledger must not take the view down
            self.app.call_from_thread(self._ledger_fills_failed, str(error))
            return
        self.app.call_from_thread(self._attach_ledger_fills, source)

    def _attach_ledger_fills(self, source: FillsSource) -> None:
        self._ledger_opening = False
        self._ledger_fills = source
        source.run_in_background = self._filter_in_background
        grid = self._ledger_grid
        grid.empty_text = "the ledger has no fills"
        grid.set_source(source)
        self._show_titles(self.live)

    def _ledger_fills_failed(self, reason: str) -> None:
        self._ledger_opening = False
        grid = self._ledger_grid
        grid.empty_text = f"cannot read the ledger's fills: {reason}"
        grid.refresh()

    def _filter_in_background(self, work: Callable[[], None]) -> None:
        """Scan the ledger for a filter off the UI thread, then show what it found."""
        grid = self._ledger_grid
        grid.empty_text = "searching the ledger…"

        def scan() -> None:
            work()
            self.app.call_from_thread(self._filter_done)

        self.run_worker(scan, thread=True, name="ledger-fills-filter", exit_on_error=False)

    def _filter_done(self) -> None:
        grid = self._ledger_grid
        grid.empty_text = "no booked fill matches the filter"
        grid.reload()
        self._show_titles(self.live)

    def _show_titles(self, live: LiveState) -> None:
        stale = stale_note(live)
        orders_shown = self._order_source.count()
        self.query_one("#orders-title", SectionTitle).show(
            "Orders today",
            _count_note(len(live.orders), orders_shown, self._order_source.filter_text),
            stale,
        )
        if self.fills_origin == "live":
            fills_note = _count_note(
                len(live.fills),
                self._live_fill_source.count(),
                self._live_fill_source.filter_text,
            )
            where = "live, this session"
        else:
            source = self._ledger_fills
            fills_note = ""
            if source is not None:
                fills_note = f"{source.count():,}" + (
                    f" match /{source.filter_text}" if source.filter_text else ""
                )
            where = "booked in the ledger, all days"
        self.query_one("#fills-title", SectionTitle).show(
            "Fills", fills_note, Text(where, style="dim"), stale
        )

    # -- actions ----------------------------------------------------------------------------

    def action_switch_table(self) -> None:
        """Move the focus between the orders and the fills table."""
        orders = self.orders_grid.grid
        target = self.fills_grid.grid if orders.has_focus else orders
        target.focus()

    def action_toggle_fills_source(self) -> None:
        """Show the other fills source (live / ledger) until pressed again."""
        self._chosen = "ledger" if self.fills_origin == "live" else "live"
        focused = self.focused is not None and self.focused is not self.orders_grid.grid
        self._show_fills_source()
        self._show_titles(self.live)
        if focused:
            self.fills_grid.grid.focus()

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        if not message.text and message.grid is self._ledger_grid:
            message.grid.empty_text = "the ledger has no fills"
        # The titles say how many rows the filter shows.
        self._show_titles(self.live)


def _count_note(total: int, shown: int, filter_text: str) -> str:
    if filter_text:
        return f"{shown:,} of {total:,} match /{filter_text}"
    return f"{total:,}"
