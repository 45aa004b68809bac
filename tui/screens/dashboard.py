"""The dashboard: what the bot is doing now, on one screen.

Top: the trading-state banner (only when not ACTIVE), the drawdown guard's banner (only
while it counts down to closing every position), the approvals line (only while entries
wait for an operator: `2 entries await approval — press 6`), the strategy panel (with the
broker's and the market data's health and the market guard's line) and the PnL panel (with
the drawdown against its limit).
Middle: the positions table, updated in place by symbol. Then the intraday PnL chart when
the terminal is tall enough (32 rows or more). Bottom: recent orders and fills, and the
alert/event log. `t` toggles the chart: on a short terminal (80x24) it takes the positions'
place until `t` again, on a tall one it hides to give the positions its rows.

Recent fills are the live fills merged with the ledger's most recent booked fills (loaded
when the console starts and whenever the link goes up or down), so the table is not empty
while the engine is offline or before the first fill of this session. While the engine is
offline every part keeps its last known values and says since when they are stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui.model.formatting import signed_money
from tui.model.live_state import LinkState, LiveState, Topic
from tui.model.review_counts import (
    BREAKS_METHOD,
    QUEUE_METHOD,
    ReviewCounts,
    read_from_engine,
    read_from_ledger,
)
from tui.model.snapshot import FillRow
from tui.screens.live_screen import LiveScreen
from tui.widgets.activity_rows import (
    ACTIVITY_COLUMNS,
    POSITION_COLUMNS,
    PositionsSource,
    activity_rows,
)
from tui.widgets.approval_banner import ApprovalBanner
from tui.widgets.data_grid import DataGrid
from tui.widgets.event_log import EventLog
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import ListSource
from tui.widgets.guard_banner import GuardBanner
from tui.widgets.pnl_chart import PnlChart
from tui.widgets.pnl_panel import PnlPanel
from tui.widgets.review_line import ReviewLine, render_review
from tui.widgets.strategy_panel import StrategyPanel, TradingStateBanner, stale_note

RECENT_ACTIVITY_ROWS = 50
"""Orders and fills kept in the dashboard's recent activity table."""

LEDGER_FILLS = 50
"""Booked fills read from the ledger to fill in what the live link has not seen."""


class SectionTitle(Static):
    """A one-line heading over a table or a log: its name, a count, a stale mark."""

    DEFAULT_CSS = """
    SectionTitle {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-style: bold;
    }
    """

    def show(self, title: str, *details: Text | str) -> None:
        """`title` in bold, then each non-empty detail after two spaces."""
        line = Text(title, style="bold", no_wrap=True, overflow="ellipsis")
        for detail in details:
            if detail:
                line.append("  ")
                line.append(detail if isinstance(detail, Text) else Text(detail))
        self.update(line, layout=False)


def merge_fills(live_fills: Iterable[FillRow], ledger_fills: Iterable[FillRow]) -> list[FillRow]:
    """The live fills, then the ledger's fills the live link has not reported (a fill the
    engine both published and booked shows once: matched on fill id or entry FITID)."""
    merged = list(live_fills)
    seen = {fill.fill_id for fill in merged} | {
        fill.entry_fitid for fill in merged if fill.entry_fitid
    }
    for fill in ledger_fills:
        if fill.fill_id in seen or (fill.entry_fitid and fill.entry_fitid in seen):
            continue
        merged.append(fill)
    return merged


class DashboardScreen(LiveScreen):
    """Strategy, PnL, positions, chart, recent activity and events."""

    VIEW_TITLE = "Dashboard"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (110, "-wide"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-short"),
        (32, "-tall"),
    ]
    AUTO_FOCUS = "#positions DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next pane", id="dashboard.focus_next", show=False),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous pane",
            id="dashboard.focus_previous",
            show=False,
        ),
        Binding("t", "toggle_chart", "Chart", id="dashboard.toggle_chart"),
    ]

    DEFAULT_CSS = """
    DashboardScreen {
        #dash-top {
            height: auto;
        }
        #dash-left {
            width: 38;
            height: auto;
        }
        #pnl-panel {
            width: 1fr;
        }
        #dash-positions {
            height: 1fr;
            min-height: 4;
        }
        #dash-chart {
            display: none;
            height: 11;
        }
        #dash-bottom {
            height: 7;
        }
        #dash-activity {
            width: 51;
        }
        #dash-events {
            width: 1fr;
            border-left: vkey $panel;
        }
        &.-wide #dash-left, &.-wide #dash-activity {
            width: 1fr;
        }
        &.-tall #dash-chart {
            display: block;
        }
        &.-tall #dash-bottom {
            height: 10;
        }
        /* `t`: short terminals swap the positions for the chart, tall ones hide it. */
        &.-short.-chart-toggled #dash-positions {
            display: none;
        }
        &.-short.-chart-toggled #dash-chart {
            display: block;
            height: 1fr;
        }
        &.-tall.-chart-toggled #dash-chart {
            display: none;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._position_source = PositionsSource()
        self._activity_source = ListSource()
        self._ledger_fills: list[FillRow] = []
        self._ledger_note = ""
        self._fills_from_ledger = 0
        self._link_state: LinkState | None = None
        self._review: ReviewCounts | None = None

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> ComposeResult:
        yield TradingStateBanner(id="trading-banner")
        yield GuardBanner(id="guard-banner")
        yield ApprovalBanner(id="approval-banner")
        with Horizontal(id="dash-top"):
            with Vertical(id="dash-left"):
                yield StrategyPanel(id="strategy-panel")
                yield ReviewLine(render_review(None), id="review-line")
            yield PnlPanel(id="pnl-panel")
        with Vertical(id="dash-positions"):
            yield SectionTitle(id="positions-title")
            yield FilterableGrid(
                POSITION_COLUMNS,
                self._position_source,
                empty_text="no open positions",
                id="positions",
            )
        with Vertical(id="dash-chart"):
            yield SectionTitle(id="chart-title")
            yield PnlChart(id="pnl-chart")
        with Horizontal(id="dash-bottom"):
            with Vertical(id="dash-activity"):
                yield SectionTitle(id="activity-title")
                yield FilterableGrid(
                    ACTIVITY_COLUMNS,
                    self._activity_source,
                    empty_text="no orders or fills yet",
                    follow_head=True,
                    id="activity",
                )
            with Vertical(id="dash-events"):
                yield SectionTitle(id="events-title")
                yield EventLog(id="event-log")

    def action_toggle_chart(self) -> None:
        """Show the chart in the positions' place on a short terminal, or hide it on a tall
        one; `t` again undoes it."""
        self.toggle_class("-chart-toggled")
        positions_hidden = self.has_class("-short") and self.has_class("-chart-toggled")
        if positions_hidden and self.positions_grid.has_focus_within:
            self.activity_grid.grid.focus()
        # The new layout applies on the next refresh; the chart draws once it is on screen.
        self.call_after_refresh(self._show_chart, self.live)

    # -- refresh ----------------------------------------------------------------------------

    @property
    def positions_grid(self) -> FilterableGrid:
        """The positions table (with its filter)."""
        return self.query_one("#positions", FilterableGrid)

    @property
    def activity_grid(self) -> FilterableGrid:
        """The recent orders and fills table."""
        return self.query_one("#activity", FilterableGrid)

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        live = self.live
        # The app ticks CONNECTION every second; only a change of link state redraws more
        # than the titles (stale marks come and go with it).
        link_changed = live.connection.state is not self._link_state
        self._link_state = live.connection.state
        if link_changed:
            # After the frame: opening the ledger must not delay the first paint.
            self.call_after_refresh(self._reload_ledger_fills)
        if link_changed or topics & {Topic.RECON, Topic.MAPPING}:
            self.call_after_refresh(self.load_review_counts)
        if link_changed or topics & {Topic.STATUS}:
            self.query_one(TradingStateBanner).show(live)
            if self.query_one(GuardBanner).show(live):
                # The guard's banner says more (the countdown, the figures): one is enough.
                self.query_one(TradingStateBanner).set_class(False, "-shown")
            self.query_one(ApprovalBanner).show(live)
            self.query_one(StrategyPanel).show(live)
        if link_changed or topics & {Topic.PNL, Topic.ACCOUNT, Topic.STATUS}:
            self.query_one(PnlPanel).show(live)  # STATUS: the drawdown guard's line
        if Topic.POSITIONS in topics:
            self._show_positions(live)
        if link_changed or topics & {Topic.ORDERS, Topic.FILLS}:
            self._show_activity(live)
        if Topic.EVENTS in topics:
            self.query_one(EventLog).show(live.events)
        if link_changed or topics & {Topic.PNL, Topic.STATUS, Topic.ACCOUNT}:
            self._show_chart(live)
        if link_changed or topics & {Topic.POSITIONS, Topic.ORDERS, Topic.FILLS, Topic.EVENTS}:
            self._show_titles(live)

    def _show_positions(self, live: LiveState) -> None:
        ordered = sorted(live.positions.values(), key=lambda position: position.symbol)
        self._position_source.replace(ordered)
        self.positions_grid.grid.reload()

    def _show_activity(self, live: LiveState) -> None:
        fills = merge_fills(live.fills, self._ledger_fills)
        # "Today" is the engine's day (simulated in a simulation), else the console's.
        now = live.status.clock.now if live.status is not None else self.console.clock.now()
        rows = activity_rows(live.orders.values(), fills, RECENT_ACTIVITY_ROWS, now.date())
        live_keys = {f"fill:{fill.fill_id}" for fill in live.fills}
        self._fills_from_ledger = sum(
            1 for row in rows if row.key.startswith("fill:") and row.key not in live_keys
        )
        self._activity_source.replace(rows)
        grid = self.activity_grid.grid
        grid.empty_text = (
            f"none yet — {self._ledger_note}" if self._ledger_note else "no orders or fills yet"
        )
        grid.reload()

    def _show_chart(self, live: LiveState) -> None:
        self.query_one(PnlChart).show(live.pnl_history)
        latest = live.pnl_history[-1].total if live.pnl_history else None
        self.query_one("#chart-title", SectionTitle).show(
            "PnL today", signed_money(latest) if latest is not None else "", stale_note(live)
        )

    def _show_titles(self, live: LiveState) -> None:
        stale = stale_note(live)
        positions = self._position_source.count()
        self.query_one("#positions-title", SectionTitle).show(
            "Positions", str(len(live.positions)), self._filter_note(positions), stale
        )
        self.query_one("#activity-title", SectionTitle).show(
            "Recent orders & fills", self._ledger_source_note(), stale
        )
        self.query_one("#events-title", SectionTitle).show("Events", stale)

    def _filter_note(self, shown: int) -> str:
        text = self._position_source.filter_text
        return f"/{text}: {shown} shown" if text else ""

    def _ledger_source_note(self) -> Text:
        if self._fills_from_ledger:
            return Text(f"{self._fills_from_ledger} fills from the ledger", style="dim")
        return Text()

    # -- review counts ----------------------------------------------------------------------

    @property
    def review_counts(self) -> ReviewCounts | None:
        """The last counts read (None before the first read)."""
        return self._review

    def load_review_counts(self) -> None:
        """Read the open breaks and queued items again, in a worker (a newer read replaces
        one still running, so a burst of events costs one read)."""
        live = self.live
        if live.connection.state is LinkState.CONNECTING:
            return
        if live.connection.online:
            self.run_worker(self._review_from_engine, name="review-counts",
                            group="review-counts", exclusive=True, exit_on_error=False)
        elif self.console.ledger is not None:
            self.run_worker(self._review_from_ledger, name="review-counts",
                            group="review-counts", exclusive=True, thread=True,
                            exit_on_error=False)

    async def _review_from_engine(self) -> None:
        counts = await read_from_engine(
            self.console.link, may_read_breaks=self.live.may_call(BREAKS_METHOD),
            may_read_queue=self.live.may_call(QUEUE_METHOD))
        self._show_review(counts)

    def _review_from_ledger(self) -> None:
        ledger = self.console.ledger
        if ledger is None:
            return
        try:
            counts = read_from_ledger(ledger.connection(), self.console.clock.now())
        except Exception as error:  # the counts are a hint: never take the dashboard down
            counts = ReviewCounts(None, None, source="ledger", problems=(str(error),))
        finally:
            ledger.release_thread_connection()
        self.app.call_from_thread(self._show_review, counts)

    def _show_review(self, counts: ReviewCounts) -> None:
        self._review = counts
        self.query_one(ReviewLine).show(counts)

    # -- ledger -----------------------------------------------------------------------------

    def _reload_ledger_fills(self) -> None:
        self._load_ledger_fills()
        self._show_activity(self.live)
        self._show_titles(self.live)

    def _load_ledger_fills(self) -> None:
        """Read the ledger's most recent booked fills (once per link state change: while
        online the live link reports new ones itself)."""
        ledger = self.console.ledger
        if ledger is None:
            self._ledger_fills = []
            reason = self.console.ledger_error or "no ledger"
            self._ledger_note = f"no ledger: {reason}"
            return
        try:
            self._ledger_fills = list(ledger.recent_fills(LEDGER_FILLS))
        except Exception as error:  # a broken ledger must not take the dashboard down
            self._ledger_fills = []
            self._ledger_note = f"cannot read the ledger's fills: {error}"
            return
        self._ledger_note = ""

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        # The positions title says how many rows the filter shows.
        self._show_titles(self.live)
