"""Positions, orders and fills as grid rows: the columns and the row builders, in one place.

Every table that shows trading activity (the dashboard's positions and recent activity,
the orders and fills view) builds its rows here, so a quantity or a PnL reads the same in
every view. Builders are pure functions of the parsed records (`tui.model.snapshot`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from rich.text import Text

from tui.model.formatting import (
    clock_time,
    duration,
    money,
    percent,
    price,
    quantity,
    recent_time,
    signed_money,
)
from tui.model.snapshot import FillRow, OrderRow, PositionRow
from tui.widgets.grid_source import GridColumn, GridRow

_DIM = "dim"
_UNKNOWN = Text("—", style=_DIM)

POSITION_COLUMNS: tuple[GridColumn, ...] = (
    GridColumn("symbol", "symbol", 6),
    GridColumn("side", "side", 5),
    GridColumn("quantity", "qty", 9, align="right"),
    GridColumn("average_cost", "avg cost", 9, align="right"),
    GridColumn("last", "last", 9, align="right"),
    GridColumn("unrealized", "unreal PnL", 10, align="right"),
    GridColumn("unrealized_pct", "%", 7, align="right"),
    GridColumn("strategy", "strategy", 8),
    GridColumn("age", "age", 6, align="right"),
)
"""The dashboard's positions table: symbol, side, qty, avg cost, last, unreal PnL, %,
strategy, age. No flex column: on a wide terminal the figures stay together on the left;
the natural width (77 cells) fits 80 columns with the scrollbar."""

ORDER_COLUMNS: tuple[GridColumn, ...] = (
    GridColumn("time", "time", 9),
    GridColumn("symbol", "symbol", 6),
    GridColumn("side", "side", 4),
    GridColumn("quantity", "qty", 9, align="right"),
    GridColumn("filled", "filled", 9, align="right"),
    GridColumn("average_price", "avg price", 9, align="right"),
    GridColumn("status", "status", 9),
    GridColumn("strategy", "strat", 6),
    GridColumn("reject_reason", "reject reason", 8, flex=True),
)
"""The orders table of the orders view."""

FILL_COLUMNS: tuple[GridColumn, ...] = (
    GridColumn("time", "time", 9),
    GridColumn("symbol", "symbol", 6),
    GridColumn("side", "side", 4),
    GridColumn("quantity", "qty", 9, align="right"),
    GridColumn("price", "price", 9, align="right"),
    GridColumn("fee", "fee", 6, align="right"),
    GridColumn("strategy", "strat", 6),
    GridColumn("fill_id", "fill id", 8, flex=True),
)
"""The live fills table of the orders view."""

ACTIVITY_COLUMNS: tuple[GridColumn, ...] = (
    GridColumn("time", "time", 9),
    GridColumn("kind", "what", 4),
    GridColumn("symbol", "sym", 5),
    GridColumn("side", "side", 4),
    GridColumn("quantity", "qty", 8, align="right"),
    GridColumn("price", "price", 8, align="right"),
    GridColumn("status", "status", 6, flex=True),
)
"""The dashboard's compact table of recent orders and fills, merged newest first."""

_STATUS_LABELS: Mapping[str, str] = {
    "pending_new": "pending",
    "partially_filled": "partial",
    "canceled": "cancelled",
}
_STATUS_STYLES: Mapping[str, str] = {
    "filled": "green",
    "partially_filled": "yellow",
    "new": "yellow",
    "accepted": "yellow",
    "pending_new": "yellow",
    "rejected": "bold red",
    "cancelled": _DIM,
    "canceled": _DIM,
    "expired": _DIM,
}


def side_label(side: str) -> str:
    """`BUY` / `SELL` for order and fill sides (positions keep `long` / `short`)."""
    return side.upper()


def order_status(status: str) -> Text:
    """An order status, short enough for a 9-cell column and coloured by what it means."""
    return Text(_STATUS_LABELS.get(status, status), style=_STATUS_STYLES.get(status, ""))


def _optional_price(amount: Decimal | None) -> str | Text:
    return _UNKNOWN if amount is None else price(amount)


def position_row(row: PositionRow) -> GridRow:
    """One position, keyed by symbol."""
    side = Text(row.side, style="magenta" if row.side == "short" else "")
    return GridRow(
        key=row.symbol,
        cells=(
            row.symbol,
            side,
            quantity(row.quantity),
            price(row.average_cost),
            _optional_price(row.last_price),
            signed_money(row.unrealized_pnl),
            percent(row.unrealized_pnl_pct),
            row.strategy,
            duration(row.age_seconds),
        ),
    )


def position_matches(position: PositionRow, text: str) -> bool:
    """The positions filter: a case-insensitive part of the symbol, side or strategy.

    Prices and PnL move ten times a second; a filter on them would make rows blink in and
    out, so only what identifies a position is matched.
    """
    needle = text.casefold()
    return any(
        needle in field.casefold() for field in (position.symbol, position.side, position.strategy)
    )


class PositionsSource:
    """A `GridSource` over positions that builds a row only when the grid shows it.

    The engine sends every position on each update (thousands, ten times a second) but the
    grid shows a screenful: formatting all of them each time would cost more than the
    operator's key presses can spare. A row is built on first display and reused while
    its position is unchanged.
    """

    def __init__(self) -> None:
        self._positions: list[PositionRow] = []
        self._filter_text = ""
        self._visible: list[PositionRow] | None = None
        self._index: dict[str, int] | None = None
        self._built: dict[str, tuple[PositionRow, GridRow]] = {}

    def replace(self, positions: Iterable[PositionRow]) -> None:
        """Show `positions`, in the order given (one per symbol)."""
        self._positions = list(positions)
        self._visible = None
        self._index = None
        if len(self._built) > 2 * len(self._positions) + 100:
            # Forget the rows of closed positions now and then, not on every update.
            held = {position.symbol for position in self._positions}
            self._built = {key: value for key, value in self._built.items() if key in held}

    @property
    def positions(self) -> Sequence[PositionRow]:
        """Every position, ignoring the filter."""
        return self._positions

    def count(self) -> int:
        """Positions matching the filter."""
        return len(self._visible_positions())

    def rows(self, offset: int, limit: int) -> list[GridRow]:
        """Rows `offset`.. `offset + limit` under the filter, built as needed."""
        start = max(0, offset)
        return [
            self._row(position)
            for position in self._visible_positions()[start : start + max(0, limit)]
        ]

    def index_of(self, key: str) -> int | None:
        """Where the position of symbol `key` is under the filter."""
        if self._index is None:
            self._index = {
                position.symbol: index for index, position in enumerate(self._visible_positions())
            }
        return self._index.get(key)

    def set_filter(self, text: str) -> None:
        """Show only positions whose symbol, side or strategy contains `text`."""
        if text != self._filter_text:
            self._filter_text = text
            self._visible = None
            self._index = None

    @property
    def filter_text(self) -> str:
        """The filter set last ("" when none)."""
        return self._filter_text

    def _visible_positions(self) -> list[PositionRow]:
        if self._visible is None:
            needle = self._filter_text.strip()
            self._visible = (
                [position for position in self._positions if position_matches(position, needle)]
                if needle
                else self._positions
            )
        return self._visible

    def _row(self, position: PositionRow) -> GridRow:
        known = self._built.get(position.symbol)
        if known is not None and known[0] == position:
            return known[1]
        row = position_row(position)
        self._built[position.symbol] = (position, row)
        return row


def order_row(row: OrderRow) -> GridRow:
    """One order of the session, keyed by order id."""
    filled = quantity(row.filled_quantity) if row.filled_quantity else Text("0", style=_DIM)
    return GridRow(
        key=row.order_id,
        cells=(
            clock_time(row.submitted_at),
            row.symbol,
            side_label(row.side),
            quantity(row.quantity),
            filled,
            _optional_price(row.average_price),
            order_status(row.status),
            row.strategy,
            Text(row.reject_reason, style="red") if row.reject_reason else "",
        ),
    )


def fill_row(row: FillRow) -> GridRow:
    """One fill, keyed by fill id."""
    return GridRow(
        key=row.fill_id,
        cells=(
            clock_time(row.filled_at),
            row.symbol,
            side_label(row.side),
            quantity(row.quantity),
            price(row.price),
            money(row.fee),
            row.strategy,
            row.fill_id,
        ),
    )


def _activity_order(row: OrderRow, today: date | None) -> GridRow:
    price_cell = _optional_price(row.average_price)
    status = order_status(row.status)
    if row.reject_reason:
        status.append(f" {row.reject_reason}", style="red")
    return GridRow(
        key=f"order:{row.order_id}",
        cells=(
            recent_time(row.updated_at or row.submitted_at, today),
            Text("ord", style=_DIM),
            row.symbol,
            side_label(row.side),
            quantity(row.quantity),
            price_cell,
            status,
        ),
    )


def _activity_fill(row: FillRow, today: date | None) -> GridRow:
    return GridRow(
        key=f"fill:{row.fill_id}",
        cells=(
            recent_time(row.filled_at, today),
            Text("fill", style="bold"),
            row.symbol,
            side_label(row.side),
            quantity(row.quantity),
            price(row.price),
            Text(f"fee {money(row.fee)}", style=_DIM),
        ),
    )


def _recency(moment: datetime | None) -> tuple[bool, datetime | None]:
    # Records without a time count as the oldest.
    return (moment is not None, moment)


def activity_rows(
    orders: Iterable[OrderRow], fills: Iterable[FillRow], limit: int, today: date | None = None
) -> list[GridRow]:
    """The `limit` most recent orders and fills together, newest first.

    An order counts from its last update (a fill or a cancel moves it up), a fill from
    when it filled. At equal times the fill reads above its order. Times of `today` show
    as the time of day; older ones (a ledger's fills of earlier days) say which day.
    """
    newest_fills = heapq.nlargest(limit, fills, key=lambda fill: _recency(fill.filled_at))
    newest_orders = heapq.nlargest(
        limit, orders, key=lambda order: _recency(order.updated_at or order.submitted_at)
    )
    timed = [(_recency(fill.filled_at), _activity_fill(fill, today)) for fill in newest_fills]
    timed.extend(
        (_recency(order.updated_at or order.submitted_at), _activity_order(order, today))
        for order in newest_orders
    )
    timed.sort(key=lambda pair: pair[0], reverse=True)  # stable: fills stay first at ties
    return [row for _, row in timed[:limit]]
