"""The dashboard at 80x24 and 120x40: strategy and phase countdown, PnL, positions updated in
place, recent activity, events, the chart when there is room, and last-known values while
the engine is offline. A small app shaped like ConsoleApp holds a live state built from the
fixture records, so no engine runs."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from textual.app import App
from textual.screen import Screen

from tbot.clock import FrozenClock
from tests.console.console_fixtures import (
    BOT,
    FROZEN_NOW,
    account_record,
    fill_event,
    orders_records,
    pnl_record,
    position_record,
    positions_records,
    status_record,
)
from tui.messages import LiveUpdated
from tui.model.live_state import (
    ALL_TOPICS,
    ConnectionInfo,
    EventLine,
    LinkState,
    LiveState,
    Topic,
)
from tui.model.snapshot import (
    AccountSummary,
    EngineStatus,
    FillRow,
    OrderRow,
    PnlPoint,
    PnlSummary,
    PositionRow,
)
from tui.screens.dashboard import DashboardScreen, merge_fills
from tui.settings import ConsoleSettings
from tui.widgets.data_grid import DataGrid
from tui.widgets.event_log import EventLog
from tui.widgets.grid_source import ListSource, cell_plain_text
from tui.widgets.pnl_chart import PnlChart, chart_series
from tui.widgets.strategy_panel import render_strategy

SMALL = (80, 24)
LARGE = (120, 40)


def fixture_fill(number: int, symbol: str, at: str) -> FillRow:
    return FillRow.from_wire(fill_event(number, symbol, "buy", "10", "36.51", at))


def fixture_live(
    *, online: bool = True, trading_state: str = "active", reason: str = "started"
) -> LiveState:
    """The live state a link leaves after loading the fixture engine's answers."""
    live = LiveState(
        connection=ConnectionInfo(
            state=LinkState.ONLINE if online else LinkState.OFFLINE,
            since=FROZEN_NOW - timedelta(minutes=2),
            socket_path="/tmp/tbot-test.sock",
            role="admin",
        )
    )
    live.status = EngineStatus.from_wire(status_record(trading_state=trading_state, reason=reason))
    live.replace_positions(PositionRow.from_wire(record) for record in positions_records())
    live.replace_orders(OrderRow.from_wire(record) for record in orders_records())
    live.pnl = PnlSummary.from_wire(pnl_record())
    live.account = AccountSummary.from_wire(account_record())
    live.add_fill(fixture_fill(1, "INTC", "2026-11-20T14:52:00Z"))
    live.events.append(EventLine(FROZEN_NOW, "info", "fills", "fill BUY 10 INTC @ 36.51"))
    live.events.append(EventLine(FROZEN_NOW, "warning", "alerts", "broker slow: 2.1 s"))
    live.last_update = FROZEN_NOW - timedelta(minutes=2)
    return live


class StubLedger:
    """The two questions the dashboard and the orders view ask a ledger."""

    def __init__(self, fills: Iterable[FillRow] = (), source: ListSource | None = None) -> None:
        self.fills = list(fills)
        self.source = source or ListSource()
        self.asked: list[int] = []

    def recent_fills(self, limit: int = 50) -> list[FillRow]:
        self.asked.append(limit)
        return self.fills[:limit]

    def fills_source(self) -> ListSource:
        return self.source


class FixtureConsoleApp(App[None]):
    """The attributes of ConsoleApp the views read, around one view."""

    def __init__(
        self,
        live: LiveState,
        screen: Callable[[], Screen[None]],
        *,
        ledger: StubLedger | None = None,
        ledger_error: str | None = "this bot has no ledger yet",
    ) -> None:
        super().__init__()
        self.live = live
        self.clock = FrozenClock(FROZEN_NOW)
        self.settings = ConsoleSettings(
            bot_name=BOT,
            bot_id="BOT01",
            socket_path=Path("/tmp/tbot-test.sock"),
            ledger_path=None,
        )
        self.bot_name = BOT
        self.ledger = ledger
        self.ledger_error = None if ledger is not None else ledger_error
        self._make_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._make_screen())

    def live_changed(self, topics: frozenset[Topic]) -> None:
        self.screen.post_message(LiveUpdated(topics))


def screen_text(app: App[None]) -> str:
    """What the terminal shows, as text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def grid_rows(grid: DataGrid) -> list[list[str]]:
    """Every row of the grid's source, as plain cells."""
    rows = grid.source.rows(0, grid.source.count())
    return [[cell_plain_text(cell) for cell in row.cells] for row in rows]


def dashboard(app: App[None]) -> DashboardScreen:
    assert isinstance(app.screen, DashboardScreen)
    return app.screen


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await pilot.pause()


def chart_history(live: LiveState) -> LiveState:
    """Thirty minutes of PnL samples, -10 rising to +19."""
    for minute in range(30):
        live.pnl_history.append(
            PnlPoint(
                FROZEN_NOW - timedelta(minutes=30 - minute), Decimal(minute) - Decimal(10), None
            )
        )
    return live


# -- what shows ------------------------------------------------------------------------------


async def test_small_terminal_shows_strategy_pnl_positions_activity_and_events() -> None:
    app = FixtureConsoleApp(fixture_live(), DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "open · monitoring" in text
        assert "ends in 28m57s at 15:30:00Z" in text  # whole, at 80 columns
        assert "enabled open on mid on close off" in text
        assert "broker SIM ● healthy" in text
        assert "orders 4  fills 3  rej 0  err 0" in text
        for symbol, pnl in (("CSCO", "+12.50"), ("F ", "+5.09"), ("INTC", "-8.93")):
            assert any(line.startswith(symbol) and pnl in line for line in text.splitlines())
        assert "+8.66" in text and "+8.36" in text  # unrealized and total today
        assert "equity 100,008.36  start 100,000.00" in text
        assert "SELL" in text and "new" in text  # the working exit among recent orders
        assert "WARN alerts" in text  # the event log, wrapped to its narrow column
        # At 24 rows the chart gives its room to the positions and the activity.
        assert not app.screen.query_one("#dash-chart").display
        assert app.screen.query_one(PnlChart).draws == 0
        assert all(len(line) <= 80 for line in text.splitlines())


async def test_large_terminal_also_shows_the_chart_and_fees_per_strategy() -> None:
    app = FixtureConsoleApp(chart_history(fixture_live()), DashboardScreen)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "ends in 28m57s at 15:30:00Z" in text
        assert "fees" in text and "0.30" in text
        assert "PnL today  +19.00" in text
        chart = app.screen.query_one(PnlChart)
        assert chart.draws >= 1
        assert chart.region.height >= 8
        assert "14:31" in text  # the chart's first time label, on the engine clock
        rows = grid_rows(dashboard(app).positions_grid.grid)
        assert [row[0] for row in rows] == ["CSCO", "F", "INTC"]


async def test_t_on_a_small_terminal_swaps_the_positions_for_the_chart_and_back() -> None:
    app = FixtureConsoleApp(chart_history(fixture_live()), DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = dashboard(app)
        assert screen.positions_grid.grid.has_focus
        await pilot.press("t")
        await settle(pilot)
        text = screen_text(app)
        chart = screen.query_one(PnlChart)
        assert chart.draws >= 1 and chart.region.height >= 5
        assert "PnL today  +19.00" in text
        assert not screen.query_one("#dash-positions").display
        # The focus left the hidden positions for a table still on screen.
        assert screen.activity_grid.grid.has_focus
        assert all(len(line) <= 80 for line in text.splitlines())
        await pilot.press("t")
        await settle(pilot)
        assert screen.query_one("#dash-positions").display
        assert not screen.query_one("#dash-chart").display
        assert "CSCO" in screen_text(app)


async def test_t_on_a_large_terminal_hides_the_chart_for_more_positions() -> None:
    app = FixtureConsoleApp(chart_history(fixture_live()), DashboardScreen)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        screen = dashboard(app)
        rows_with_chart = screen.positions_grid.region.height
        await pilot.press("t")
        await settle(pilot)
        assert not screen.query_one("#dash-chart").display
        assert screen.positions_grid.region.height > rows_with_chart
        await pilot.press("t")
        await settle(pilot)
        assert screen.query_one("#dash-chart").display


async def test_halted_trading_says_why_on_a_banner() -> None:
    live = fixture_live(trading_state="halted", reason="daily loss limit")
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "HALTED: daily loss limit · since 14:25:00Z" in screen_text(app)
        live.status = EngineStatus.from_wire(status_record())
        app.live_changed(frozenset({Topic.STATUS}))
        await settle(pilot)
        assert "HALTED" not in screen_text(app)


async def test_broker_trouble_and_errors_stand_out() -> None:
    live = fixture_live()
    record = status_record()
    record["broker"] = {
        "name": "ALPACA",
        "healthy": False,
        "last_ok": None,
        "last_error": "timeout",
    }
    record["counters"]["errors"] = 2
    live.status = EngineStatus.from_wire(record)
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "broker ALPACA ✖ unhealthy: timeout" in text
        assert "err 2" in text


async def test_a_real_brokers_stalled_data_and_dropped_order_stream_lead_its_line() -> None:
    live = fixture_live()
    record = status_record()
    record["broker"]["name"] = "ALPACA"
    record["market_data"] = {"feed": "alpaca:iex", "healthy": False,
                             "reason": "no bar for 150 s", "connected": True,
                             "last_bar_at": None, "gaps_today": 3, "reconnects": 0,
                             "backfilled_minutes": 0}
    record["order_stream"] = {"connected": False, "updates": 4, "duplicates": 0,
                              "catch_ups": 2, "last_catch_up": None,
                              "last_catch_up_error": None}
    live.status = EngineStatus.from_wire(record)
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "broker ALPACA ✖ order stream down ✖" in screen_text(app)  # then cut
    assert ("broker ALPACA ✖ order stream down ✖ data no bar for 150 s ● healthy"
            in render_strategy(live).plain)
    record["market_data"]["healthy"] = True
    record["order_stream"]["connected"] = True
    live.status = EngineStatus.from_wire(record)
    assert "broker ALPACA ● healthy · data alpaca:iex (3 gaps)" in render_strategy(live).plain


# -- positions update in place ---------------------------------------------------------------


async def test_positions_update_in_place_and_the_cursor_follows_its_symbol() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = dashboard(app)
        grid = screen.positions_grid.grid
        assert grid.has_focus
        await pilot.press("j")
        assert grid.cursor_key == "F"
        records = positions_records()
        records[1]["last_price"] = "12.71"
        records.append(
            position_record(
                "AAPL", "2", "190.00", "191.00", "2.00", "0.53", "2026-11-20T15:00:00Z", 63
            )
        )
        live.replace_positions(PositionRow.from_wire(record) for record in records)
        app.live_changed(frozenset({Topic.POSITIONS}))
        await settle(pilot)
        assert grid is screen.positions_grid.grid  # the same widget, not a rebuilt one
        assert [row[0] for row in grid_rows(grid)] == ["AAPL", "CSCO", "F", "INTC"]
        assert grid.cursor_key == "F"
        assert grid.cursor_index == 2
        assert any(
            line.startswith("F ") and "12.71" in line for line in screen_text(app).splitlines()
        )
        assert "Positions  4" in screen_text(app)


async def test_a_closed_position_leaves_and_the_cursor_stays_in_the_table() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        grid = dashboard(app).positions_grid.grid
        await pilot.press("G")
        assert grid.cursor_key == "INTC"
        live.replace_positions(PositionRow.from_wire(r) for r in positions_records()[:2])
        app.live_changed(frozenset({Topic.POSITIONS}))
        await settle(pilot)
        assert grid.cursor_key == "F"


def many_positions(count: int, tick: int) -> list[PositionRow]:
    """`count` positions whose last prices move with `tick`."""
    base = PositionRow.from_wire(positions_records()[0])
    return [
        dataclasses.replace(
            base,
            symbol=f"S{index:04d}",
            last_price=Decimal(50 + index % 40) + Decimal(tick) / 100,
            unrealized_pnl=Decimal(tick - index % 7),
        )
        for index in range(count)
    ]


async def test_two_thousand_positions_render_and_update_quickly() -> None:
    live = fixture_live()
    live.replace_positions(many_positions(2_000, 0))
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        screen = dashboard(app)
        grid = screen.positions_grid.grid
        assert grid.row_count == 2_000
        await pilot.press("end")
        assert grid.cursor_key == "S1999"
        updates = [many_positions(2_000, tick) for tick in range(1, 21)]
        started = time.perf_counter()
        for update in updates:
            live.replace_positions(update)
            screen.refresh_live(frozenset({Topic.POSITIONS}))
            grid.render_lines(grid.region.reset_offset)  # what the next frame paints
        per_update = (time.perf_counter() - started) / len(updates)
        await settle(pilot)
        # Ten updates a second must leave most of each 100 ms for the operator's keys.
        assert per_update < 0.05, f"{per_update * 1000:.1f} ms per update"
        assert grid.cursor_key == "S1999"
        last_row = grid.source.rows(1_999, 1)[0]
        assert cell_plain_text(last_row.cells[4]) == "89.20"
        started = time.perf_counter()
        await pilot.press("k")
        await settle(pilot)
        assert grid.cursor_key == "S1998"
        assert time.perf_counter() - started < 0.5


# -- offline ---------------------------------------------------------------------------------


async def test_offline_keeps_last_known_values_and_says_since_when() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "last known" not in screen_text(app)
        live.connection = dataclasses.replace(
            live.connection,
            state=LinkState.OFFLINE,
            since=FROZEN_NOW,
            last_error="connection refused",
        )
        app.live_changed(frozenset({Topic.CONNECTION}))
        await settle(pilot)
        text = screen_text(app)
        assert "OFFLINE since 15:01:03Z" in text
        assert "Strategy  last known at 14:59:03Z" in text
        assert "PnL today USD  last known at 14:59:03Z" in text
        assert "Positions  3  last known at 14:59:03Z" in text
        assert "in 28m57s" in text and "CSCO" in text and "+8.36" in text


async def test_offline_recent_fills_come_from_the_ledger() -> None:
    live = fixture_live(online=False)
    live.fills.clear()
    booked = [
        fixture_fill(8, "AMD", "2026-11-19T20:59:00Z"),
        fixture_fill(1, "INTC", "2026-11-20T14:52:00Z"),
    ]
    ledger = StubLedger(booked)
    app = FixtureConsoleApp(live, DashboardScreen, ledger=ledger)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = dashboard(app)
        keys = [row.key for row in screen.activity_grid.grid.source.rows(0, 20)]
        assert "fill:SIM-F000008" in keys and "fill:SIM-F000001" in keys
        assert ledger.asked
        assert "2 fills from the ledger" in screen_text(app)


async def test_without_a_ledger_the_activity_says_why() -> None:
    live = fixture_live(online=False)
    live.fills.clear()
    live.orders.clear()
    app = FixtureConsoleApp(live, DashboardScreen, ledger_error="this bot has no ledger yet")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "none yet — no ledger: this bot has no ledger yet" in text


def test_live_and_booked_fills_merge_without_duplicates() -> None:
    live_fill = fixture_fill(1, "INTC", "2026-11-20T14:52:00Z")
    booked_same = dataclasses.replace(live_fill, fill_id="ledger-1")  # same entry FITID
    booked_other = fixture_fill(2, "F", "2026-11-20T14:54:00Z")
    merged = merge_fills([live_fill], [booked_same, booked_other, live_fill])
    assert merged == [live_fill, booked_other]


# -- events and the chart --------------------------------------------------------------------


async def test_new_events_append_at_the_bottom() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        log = app.screen.query_one(EventLog)
        assert len(log.lines) == 2
        live.events.append(EventLine(FROZEN_NOW, "error", "state", "trading HALTED"))
        app.live_changed(frozenset({Topic.EVENTS}))
        await settle(pilot)
        assert [strip.text.rstrip() for strip in log.lines][-1].endswith(
            "ERR  state trading HALTED"
        )
        assert len(log.lines) == 3


async def test_the_chart_redraws_a_few_times_a_second_at_most() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        chart = app.screen.query_one(PnlChart)
        assert "no PnL samples yet" in screen_text(app)
        before = chart.draws
        for second in range(30):
            live.record_pnl_point(FROZEN_NOW + timedelta(seconds=second))
            dashboard(app).refresh_live(frozenset({Topic.PNL}))
        await settle(pilot)
        assert chart.draws - before <= 2
        await pilot.pause(0.5)
        assert chart.draws - before >= 1
        assert "no PnL samples yet" not in screen_text(app)


def test_chart_series_handles_no_one_and_many_points() -> None:
    assert chart_series([]).minutes == []
    assert chart_series([]).tick_labels(4) == ([], [])
    one = chart_series([PnlPoint(FROZEN_NOW, Decimal("8.36"), None)])
    assert one.totals == [8.36]
    assert one.tick_labels(4) == ([0.0], ["15:01"])
    many = chart_series(
        [
            PnlPoint(FROZEN_NOW + timedelta(minutes=minute), Decimal(minute), None)
            for minute in range(61)
        ]
    )
    assert many.minutes[-1] == 60.0
    assert many.tick_labels(3) == ([0.0, 30.0, 60.0], ["15:01", "15:31", "16:01"])


def test_the_value_axis_marks_the_low_zero_and_the_high() -> None:
    def ticks(*totals: str) -> tuple[list[float], list[str]]:
        points = [PnlPoint(FROZEN_NOW + timedelta(minutes=n), Decimal(total), None)
                  for n, total in enumerate(totals)]
        return chart_series(points).value_ticks()

    assert ticks("0", "29.8", "-1.18") == ([-1.18, 0.0, 29.8], ["-1.18", "0", "+29.80"])
    assert ticks("2", "1250.5") == ([0.0, 1250.5], ["0", "+1,250.50"])
    assert ticks("-3", "-1") == ([-3.0, 0.0], ["-3.00", "0"])
    assert ticks("0", "0") == ([-1.0, 0.0, 1.0], ["-1.00", "0", "+1.00"])
    assert chart_series([]).value_ticks()[1] == ["-1.00", "0", "+1.00"]


def test_a_tick_that_would_share_zero_s_row_is_left_out() -> None:
    points = [PnlPoint(FROZEN_NOW + timedelta(minutes=n), Decimal(total), None)
              for n, total in enumerate(("0", "29.84", "-1.18"))]
    # Seven plot rows over 31.02: rows are 5.17 apart, and -1.18 would print on zero's row.
    assert chart_series(points).value_ticks(rows=7) == ([0.0, 29.84], ["0", "+29.84"])
    assert chart_series(points).value_ticks(rows=40)[1] == ["-1.18", "0", "+29.84"]
    dip = [PnlPoint(FROZEN_NOW + timedelta(minutes=n), Decimal(total), None)
           for n, total in enumerate(("0", "-4.10", "8.36"))]
    assert chart_series(dip).value_ticks(rows=3)[1] == ["-4.10", "0", "+8.36"]


async def test_a_single_sample_charts_without_error() -> None:
    live = fixture_live()
    live.record_pnl_point(FROZEN_NOW)
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=LARGE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(PnlChart).draws == 1
        assert "15:01" in screen_text(app)


async def test_tab_cycles_positions_activity_and_events() -> None:
    app = FixtureConsoleApp(fixture_live(), DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = dashboard(app)
        assert screen.positions_grid.grid.has_focus
        await pilot.press("tab")
        assert screen.activity_grid.grid.has_focus
        await pilot.press("tab")
        assert screen.focused is screen.query_one(EventLog)
        await pilot.press("shift+tab", "shift+tab")
        assert screen.positions_grid.grid.has_focus


async def test_screen_refreshes_everything_when_it_is_shown_again() -> None:
    live = fixture_live()
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        live.replace_positions([])
        app.screen.post_message(LiveUpdated(ALL_TOPICS))
        await settle(pilot)
        assert "no open positions" in screen_text(app)


async def test_the_event_log_stays_where_the_operator_scrolled_to() -> None:
    live = fixture_live()
    for number in range(40):
        live.events.append(EventLine(FROZEN_NOW, "info", "logs", f"engine: line {number}"))
    app = FixtureConsoleApp(live, DashboardScreen)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        log = app.screen.query_one(EventLog)
        assert log.scroll_y == log.max_scroll_y > 0
        log.focus()
        await pilot.press("home")
        await settle(pilot)
        assert log.scroll_y == 0
        live.events.append(EventLine(FROZEN_NOW, "error", "alerts", "kill switch"))
        app.live_changed(frozenset({Topic.EVENTS}))
        await settle(pilot)
        assert log.scroll_y == 0
        await pilot.press("end")
        live.events.append(EventLine(FROZEN_NOW, "error", "alerts", "still halted"))
        app.live_changed(frozenset({Topic.EVENTS}))
        await settle(pilot)
        assert log.scroll_y == log.max_scroll_y
        assert "halted" in log.lines[-1].text  # wrapped in the narrow column


def test_a_status_older_than_the_engine_s_curve_keeps_the_curve() -> None:
    # A fast simulation can answer `engine.status` and `pnl.history` (loaded together)
    # minutes of engine time apart: the stale status must not wipe the day's curve.
    live = fixture_live()
    live.pnl_history.clear()
    live.pnl_history.extend(PnlPoint(FROZEN_NOW + timedelta(minutes=n), Decimal(n), None)
                            for n in range(5))
    live.record_pnl_point(FROZEN_NOW + timedelta(minutes=2, seconds=30))
    assert [p.at for p in live.pnl_history] == [
        FROZEN_NOW + timedelta(minutes=n) for n in range(5)]
    live.record_pnl_point(FROZEN_NOW + timedelta(minutes=6))
    assert len(live.pnl_history) == 6
