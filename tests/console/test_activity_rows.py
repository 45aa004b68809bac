"""Positions, orders and fills become grid rows that read the same in every view."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

from rich.text import Text

from tests.console.console_fixtures import (
    fill_event,
    order_record,
    orders_records,
    position_record,
    positions_records,
)
from tui.model.snapshot import FillRow, OrderRow, PositionRow
from tui.widgets.activity_rows import (
    ACTIVITY_COLUMNS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    PositionsSource,
    activity_rows,
    fill_row,
    order_row,
    position_row,
)
from tui.widgets.grid_source import GridRow, cell_plain_text


def plain(row: GridRow) -> list[str]:
    return [cell_plain_text(cell) for cell in row.cells]


def by_column(row: GridRow, columns: tuple) -> dict[str, str]:
    return {
        column.key: cell_plain_text(cell) for column, cell in zip(columns, row.cells, strict=True)
    }


def positions() -> list[PositionRow]:
    return [PositionRow.from_wire(record) for record in positions_records()]


def test_every_builder_fills_every_column() -> None:
    order = OrderRow.from_wire(orders_records()[0])
    fill = FillRow.from_wire(fill_event(1, "INTC", "buy", "10", "36.50", "2026-11-20T14:52:00Z"))
    assert len(position_row(positions()[0]).cells) == len(POSITION_COLUMNS)
    assert len(order_row(order).cells) == len(ORDER_COLUMNS)
    assert len(fill_row(fill).cells) == len(FILL_COLUMNS)
    for row in activity_rows([order], [fill], 10):
        assert len(row.cells) == len(ACTIVITY_COLUMNS)


def test_position_row_shows_fractional_quantity_and_signed_pnl() -> None:
    csco = position_row(positions()[0])
    assert csco.key == "CSCO"
    cells = by_column(csco, POSITION_COLUMNS)
    assert cells == {
        "symbol": "CSCO",
        "side": "long",
        "quantity": "6.0196",
        "average_cost": "66.46",
        "last": "68.54",
        "unrealized": "+12.50",
        "unrealized_pct": "+3.12%",
        "strategy": "open",
        "age": "5m03s",
    }


def test_a_losing_position_reads_negative_and_red() -> None:
    intc = position_row(positions()[2])
    cells = by_column(intc, POSITION_COLUMNS)
    assert cells["unrealized"] == "-8.93"
    assert cells["unrealized_pct"] == "-1.12%"
    pnl_cell = intc.cells[5]
    assert isinstance(pnl_cell, Text)
    assert "red" in str(pnl_cell.style)


def test_a_position_without_a_last_price_shows_a_dash_not_zero() -> None:
    record = position_record("NEW", "3", "10.00", "10.00", "0", "0", "2026-11-20T15:00:00Z", 63)
    for name in ("last_price", "market_value", "unrealized_pnl", "unrealized_pnl_pct"):
        record[name] = None
    cells = by_column(position_row(PositionRow.from_wire(record)), POSITION_COLUMNS)
    assert cells["quantity"] == "3"
    assert cells["last"] == "—"
    assert cells["unrealized"] == "—"
    assert cells["unrealized_pct"] == "—"


def test_large_quantities_and_prices_use_thousands_separators() -> None:
    record = position_record(
        "BRK.A",
        "1234.5",
        "612345.678",
        "612000",
        "-426.58",
        "-0.06",
        "2026-11-20T14:30:00Z",
        3600 * 2 + 61,
    )
    cells = by_column(position_row(PositionRow.from_wire(record)), POSITION_COLUMNS)
    assert cells["quantity"] == "1,234.5"
    assert cells["average_cost"] == "612,345.68"
    assert cells["age"] == "2h01m"


def test_positions_source_builds_rows_on_demand_and_reuses_unchanged_ones() -> None:
    source = PositionsSource()
    source.replace(positions())
    assert source.count() == 3
    first = source.rows(0, 3)
    assert [row.key for row in first] == ["CSCO", "F", "INTC"]
    moved = [*positions()]
    moved[1] = dataclasses.replace(moved[1], last_price=Decimal("12.61"))
    source.replace(moved)
    second = source.rows(0, 3)
    assert second[0] is first[0]
    assert second[2] is first[2]
    assert second[1] is not first[1]
    assert by_column(second[1], POSITION_COLUMNS)["last"] == "12.61"
    assert source.index_of("INTC") == 2
    source.replace(moved[:1])
    assert source.index_of("INTC") is None
    assert [row.key for row in source.rows(0, 10)] == ["CSCO"]


def test_positions_filter_matches_symbol_side_and_strategy_not_prices() -> None:
    source = PositionsSource()
    source.replace(positions())
    source.set_filter("in")
    assert [row.key for row in source.rows(0, 10)] == ["INTC"]
    assert source.index_of("INTC") == 0
    assert source.index_of("CSCO") is None
    source.set_filter("OPEN")
    assert source.count() == 3
    source.set_filter("12.50")
    assert source.count() == 0
    source.set_filter("")
    assert source.count() == 3
    assert source.filter_text == ""


def test_order_row_shows_status_reason_and_unknown_average_price() -> None:
    working = OrderRow.from_wire(orders_records()[3])
    cells = by_column(order_row(working), ORDER_COLUMNS)
    assert cells["time"] == "15:00:00Z"
    assert cells["side"] == "SELL"
    assert cells["filled"] == "0"
    assert cells["average_price"] == "—"
    assert cells["status"] == "new"
    rejected = order_record(9, "F", "buy", "5", "0", None, "rejected", "2026-11-20T15:00:30Z")
    rejected["reject_reason"] = "insufficient buying power"
    cells = by_column(order_row(OrderRow.from_wire(rejected)), ORDER_COLUMNS)
    assert cells["status"] == "rejected"
    assert cells["reject_reason"] == "insufficient buying power"
    partial = order_record(
        10, "F", "buy", "5", "2.5", "12.40", "partially_filled", "2026-11-20T15:00:40Z"
    )
    assert by_column(order_row(OrderRow.from_wire(partial)), ORDER_COLUMNS)["status"] == ("partial")


def test_fill_row_keeps_fraction_and_fee() -> None:
    fill = FillRow.from_wire(
        fill_event(7, "F", "sell", "32.310177705", "12.61", "2026-11-20T15:02:00Z")
    )
    row = fill_row(fill)
    assert row.key == "SIM-F000007"
    assert plain(row) == [
        "15:02:00Z",
        "F",
        "SELL",
        "32.3102",
        "12.61",
        "0.10",
        "open",
        "SIM-F000007",
    ]


def test_activity_merges_orders_and_fills_newest_first() -> None:
    orders = [OrderRow.from_wire(record) for record in orders_records()]
    fills = [
        FillRow.from_wire(fill_event(3, "CSCO", "buy", "6", "66.46", "2026-11-20T14:55:00Z")),
        FillRow.from_wire(fill_event(1, "INTC", "buy", "21", "36.51", "2026-11-20T14:52:00Z")),
    ]
    keys = [row.key for row in activity_rows(orders, fills, 10)]
    assert keys == [
        f"order:{orders[3].order_id}",  # 15:00 working exit
        "fill:SIM-F000003",  # 14:55 fill reads above its order
        f"order:{orders[2].order_id}",  # 14:55
        f"order:{orders[1].order_id}",  # 14:54
        "fill:SIM-F000001",  # 14:52
        f"order:{orders[0].order_id}",  # 14:52
    ]
    assert [row.key for row in activity_rows(orders, fills, 2)] == keys[:2]


def test_activity_of_earlier_days_says_which_day() -> None:
    fills = [
        FillRow.from_wire(fill_event(3, "CSCO", "buy", "6", "66.46", "2026-11-20T14:55:00Z")),
        FillRow.from_wire(fill_event(2, "AAPL", "sell", "5", "189.1", "2026-11-19T15:21:00Z")),
        FillRow.from_wire(fill_event(1, "INTC", "buy", "21", "36.51", "2026-11-02T14:52:00Z")),
    ]
    rows = activity_rows([], fills, 10, date(2026, 11, 20))
    assert [cell_plain_text(row.cells[0]) for row in rows] == ["14:55:00Z", "Thu 15:21", "11-02"]
    assert all(len(cell_plain_text(row.cells[0])) <= 9 for row in rows)
