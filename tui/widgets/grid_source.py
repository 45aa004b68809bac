"""What a `DataGrid` shows: its columns, its rows, and where the rows come from.

A grid never holds its rows. It asks a `GridSource` for the count and for one page of rows
at a time, so a source can be a list in memory (`ListSource`) or a SQL query that pages
with LIMIT/OFFSET over a million ledger entries. Filtering belongs to the source too: only
it knows how to filter cheaply (a list scans itself, SQL adds a WHERE clause).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from rich.text import Text

Cell = str | Text
"""One formatted cell: plain text, or rich text when it needs colour (red losses)."""

ColumnAlign = Literal["left", "right"]
"""Which side of its column a cell hugs (numbers go right)."""

RowMatcher = Callable[["GridRow", str], bool]
"""Whether a row matches a filter text (never called with an empty filter)."""


@dataclass(frozen=True)
class GridColumn:
    """One column of a grid: its key, its title and how it is laid out."""

    key: str
    title: str
    width: int
    """Cells; the minimum width when `flex`."""
    align: ColumnAlign = "left"
    flex: bool = False
    """Takes the width the other columns leave over (at most one per grid)."""


@dataclass(frozen=True)
class GridRow:
    """One row: a stable key (symbol, order id, entry id) and its cells, already formatted."""

    key: str
    cells: tuple[Cell, ...]


class GridSource(Protocol):
    """Rows for a grid, counted and paged under the current filter."""

    def count(self) -> int:
        """How many rows match the current filter."""
        ...

    def rows(self, offset: int, limit: int) -> Sequence[GridRow]:
        """Up to `limit` rows starting at position `offset` under the current filter."""
        ...

    def index_of(self, key: str) -> int | None:
        """The position of the row with `key` under the filter; None if absent or unknown."""
        ...

    def set_filter(self, text: str) -> None:
        """Show only the rows matching `text`; "" shows every row."""
        ...

    @property
    def filter_text(self) -> str:
        """The filter set last ("" when none)."""
        ...


def cell_plain_text(cell: Cell) -> str:
    """The text of a cell without its styles."""
    return cell.plain if isinstance(cell, Text) else cell


def row_contains(row: GridRow, text: str) -> bool:
    """The default filter: `text` is a case-insensitive substring of some cell."""
    needle = text.casefold()
    return any(needle in cell_plain_text(cell).casefold() for cell in row.cells)


class ListSource:
    """A `GridSource` over rows held in memory (positions, orders, events).

    `replace` swaps in a whole new list in O(n); the filtered view and the key index are
    rebuilt lazily, on the next question that needs them, so replacing ten times a second
    costs little more than the list copy until the grid reloads.
    """

    def __init__(
        self,
        rows: Iterable[GridRow] = (),
        *,
        matches: RowMatcher | None = None,
    ) -> None:
        self._matches: RowMatcher = matches or row_contains
        self._rows: list[GridRow] = list(rows)
        self._filter_text = ""
        self._visible: list[GridRow] | None = None
        self._positions: dict[str, int] | None = None

    def replace(self, rows: Iterable[GridRow]) -> None:
        """Swap in a whole new list of rows, in the order given."""
        self._rows = list(rows)
        self._forget_views()

    @property
    def all_rows(self) -> Sequence[GridRow]:
        """Every row, ignoring the filter."""
        return self._rows

    # -- GridSource ---------------------------------------------------------------------

    def count(self) -> int:
        """How many rows match the current filter."""
        return len(self._visible_rows())

    def rows(self, offset: int, limit: int) -> Sequence[GridRow]:
        """Up to `limit` rows from position `offset` under the current filter."""
        start = max(0, offset)
        return self._visible_rows()[start : start + max(0, limit)]

    def index_of(self, key: str) -> int | None:
        """The position of `key` under the current filter, or None if it is not shown."""
        if self._positions is None:
            # Built once per replace/filter. Filled from the end so that, should a key
            # repeat, its first position wins.
            rows = self._visible_rows()
            self._positions = {rows[index].key: index for index in range(len(rows) - 1, -1, -1)}
        return self._positions.get(key)

    def set_filter(self, text: str) -> None:
        """Show only rows that match `text` ("" or blanks show every row)."""
        if text == self._filter_text:
            return
        self._filter_text = text
        self._forget_views()

    @property
    def filter_text(self) -> str:
        """The filter set last ("" when none)."""
        return self._filter_text

    # -- internals ----------------------------------------------------------------------

    def _forget_views(self) -> None:
        self._visible = None
        self._positions = None

    def _visible_rows(self) -> list[GridRow]:
        if self._visible is None:
            needle = self._filter_text.strip()
            if needle:
                self._visible = [row for row in self._rows if self._matches(row, needle)]
            else:
                self._visible = self._rows
        return self._visible
