"""Grid sources paged from the ledger in SQLite: the journal, one account, the fills.

A million-entry ledger must open and scroll at once, so no view ever reads more than the
page on screen, and no query walks table rows it does not show:

- **Counts** are taken once, then kept up to date cheaply: the tables are append-only and
  ids only grow, so a source remembers the highest id it has counted (its high-water mark)
  and later counts only the rows after it. Every page query stops at that mark, so the
  pages of one count always agree with each other while the engine keeps writing.
- **Pages** are found by key, not by OFFSET over table rows: the key of the row at a
  position comes from a covering index (no table row read), counted from whichever end is
  nearer, and the page is then read from that key onwards (``key <= ? ORDER BY key DESC
  LIMIT n``). The key after each page is remembered, so scrolling on from a page costs no
  skip at all.
- **Filters** (a case-insensitive substring of FITID, memo, symbol...) need a scan. It
  runs once per filter text, off the UI thread when the screen provides a runner
  (`run_in_background`), and keeps the matching ids in display order (8 bytes each); pages
  of a filtered view are then read by id. While it runs the source shows no rows and says
  it is `searching`. A filtered view is the ledger as of the moment the filter was set.

Orders: the journal by DTPOSTED (its index) then id; an account's postings and the fills
by id, i.e. in the order they were recorded (no index orders them by time; for the
engine's entries, recording order is time order).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from array import array
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from rich.text import Text

from tbot.ledger.amounts import MONEY_PLACES, PRICE_PLACES, QUANTITY_PLACES, format_money
from tbot.ledger.amounts import from_scaled as _from_scaled
from tbot.ledger.timestamps import TIMESTAMP_PATTERN, parse_utc
from tui.model.formatting import price, quantity, stamp
from tui.widgets.grid_source import GridColumn, GridRow

BackgroundRunner = Callable[[Callable[[], None]], None]
"""Runs `work` off the UI thread and, once it is done, reloads the grid on the UI thread."""

MAX_ANCHORS = 4096
"""Remembered page keys (position -> sort key) before the memory is cleared."""

K = TypeVar("K", int, tuple[str, int])


class ConnectionOwner(Protocol):
    """Hands each thread its read-only connection (`LedgerReader`)."""

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection."""
        ...

    def release_thread_connection(self) -> None:
        """Close the calling thread's connection."""
        ...


# -- cells ----------------------------------------------------------------------------------


def dr_cr(amount: Decimal) -> str:
    """A signed ledger amount the way accountants read it: `1,234.50 Dr`, `0.35 Cr`."""
    if amount == 0:
        return format_money(0)
    side = "Dr" if amount > 0 else "Cr"
    return f"{format_money(abs(amount))} {side}"


def signed_pnl(amount: Decimal) -> Text:
    """An exact P&L, signed and coloured: green gains, red losses."""
    if amount == 0:
        return Text(format_money(0))
    sign = "+" if amount > 0 else "-"
    return Text(f"{sign}{format_money(abs(amount))}", style="green" if amount > 0 else "red")


def stored_stamp(text: str) -> str:
    """A stored timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) as `stamp()` shows it, cut from
    the fixed-width text: parsing every time of every page would cost most of a page."""
    if TIMESTAMP_PATTERN.match(text) is None:
        return stamp(parse_utc(text))  # raises, naming the malformed value
    return f"{text[:10]} {text[11:19]}Z"


def entry_id_of_key(key: str) -> int | None:
    """The entry id a row key of these sources names (`"12"` or, for postings, `"12/31"`)."""
    head = key.split("/", 1)[0]
    return int(head) if head.isdigit() else None


def like_pattern(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching `text` anywhere, wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- the paging machinery -------------------------------------------------------------------


class LedgerSource(ABC, Generic[K]):
    """A `GridSource` over one ordered ledger query, newest first (see the module doc).

    Subclasses say how to count, skip to a position, read a page from a key, read rows by
    id and scan for a filter; this class does the paging, the anchors and the filter state.
    """

    columns: tuple[GridColumn, ...] = ()
    """The grid columns the rows are formatted for."""

    def __init__(self, owner: ConnectionOwner) -> None:
        self._owner = owner
        self.run_in_background: BackgroundRunner | None = None
        """Set by a screen so filter scans run off the UI thread; None runs them inline."""
        self._lock = threading.Lock()
        self._high_water = 0
        self._count = 0
        self._counted = False
        self._anchors: dict[int, K] = {}
        self._filter_text = ""
        self._matches: array[int] | None = None
        self._generation = 0
        self._scanning: sqlite3.Connection | None = None
        self._scan_error: str | None = None

    # -- GridSource -------------------------------------------------------------------------

    def count(self) -> int:
        """Rows under the current filter; without one, rows written since the last count
        are added first (a cheap range count)."""
        if self._filter_text:
            matches = self._matches
            return 0 if matches is None else len(matches)
        self._refresh_count()
        return self._count

    def rows(self, offset: int, limit: int) -> Sequence[GridRow]:
        """Up to `limit` rows from position `offset` (0 = newest) under the filter."""
        if limit <= 0 or offset < 0:
            return []
        if self._filter_text:
            matches = self._matches
            if matches is None:
                return []
            return self._rows_in_order(list(matches[offset : offset + limit]))
        if not self._counted:
            self._refresh_count()
        limit = min(limit, self._count - offset)
        if limit <= 0:
            return []
        key = self._anchors.get(offset)
        if key is None:
            key = self._key_at(offset)
            if key is None:
                return []
        page = self._page_from(self._connection(), key, limit + 1)
        self._remember(offset, key)
        if len(page) > limit:
            self._remember(offset + limit, page[limit][0])
        return [row for _, row in page[:limit]]

    def index_of(self, key: str) -> int | None:
        """The position of the row with `key` under the filter, or None."""
        row_id = self._row_id(key)
        if row_id is None:
            return None
        if self._filter_text:
            matches = self._matches
            if matches is None:
                return None
            try:
                return matches.index(row_id)
            except ValueError:
                return None
        if not self._counted:
            self._refresh_count()
        if row_id > self._high_water:
            return None
        return self._position(self._connection(), row_id)

    def set_filter(self, text: str) -> None:
        """Show only rows matching `text` ("" shows every row). The scan runs through
        `run_in_background` when set; until it ends the source is `searching`."""
        text = text.strip()
        if text == self._filter_text:
            return
        self._cancel_scan()
        self._filter_text = text
        self._matches = None
        self._scan_error = None
        if not text:
            return
        if not self._counted:  # the scan stops at the high-water mark of a count
            self._refresh_count()
        generation = self._generation
        runner = self.run_in_background
        if runner is None:
            self._scan_filter(text, generation)
        else:
            runner(lambda: self._scan_filter(text, generation))

    @property
    def filter_text(self) -> str:
        """The filter set last ("" when none)."""
        return self._filter_text

    # -- more than a GridSource -------------------------------------------------------------

    @property
    def searching(self) -> bool:
        """True while the scan for the current filter is running."""
        return bool(self._filter_text) and self._matches is None

    @property
    def scan_error(self) -> str | None:
        """Why the current filter's scan failed (it then shows no rows), or None."""
        return self._scan_error

    def prepare(self) -> int:
        """Count now (in a worker, before the grid asks on the UI thread); the count."""
        try:
            return self.count()
        finally:
            self._release_if_worker()

    # -- internals --------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        return self._owner.connection()

    def _release_if_worker(self) -> None:
        # A worker thread's connection is closed when its work is done; the UI thread's
        # stays open for the next page.
        if threading.current_thread() is not threading.main_thread():
            self._owner.release_thread_connection()

    def _refresh_count(self) -> None:
        connection = self._connection()
        if not self._counted:
            high_water, count = self._count_all(connection)
            self._high_water, self._count, self._counted = high_water, count, True
            return
        high_water, added = self._count_after(connection, self._high_water)
        if high_water != self._high_water:
            self._high_water = high_water
            self._count += added
            self._anchors.clear()  # newer rows came in on top: every position moved

    def _key_at(self, offset: int) -> K | None:
        """The sort key of the row at `offset`, skipping from the nearer end."""
        from_bottom = self._count - 1 - offset
        connection = self._connection()
        if offset <= from_bottom:
            return self._skip(connection, self._high_water, offset, newest_first=True)
        return self._skip(connection, self._high_water, from_bottom, newest_first=False)

    def _remember(self, position: int, key: K) -> None:
        if len(self._anchors) >= MAX_ANCHORS:
            self._anchors.clear()
        self._anchors[position] = key

    def _rows_in_order(self, ids: list[int]) -> list[GridRow]:
        if not ids:
            return []
        found = self._rows_by_id(self._connection(), ids)
        return [found[row_id] for row_id in ids if row_id in found]

    def _scan_filter(self, text: str, generation: int) -> None:
        """Find the ids matching `text` (in display order); runs in any thread. A failed
        scan ends the search with no rows and says why (`scan_error`)."""
        ids: array[int] | None = None
        failure: str | None = None
        connection: sqlite3.Connection | None = None
        try:
            connection = self._connection()
            with self._lock:
                if generation != self._generation:
                    return  # superseded before it started
                self._scanning = connection
            ids = array("q", self._scan(connection, self._high_water, like_pattern(text)))
        except Exception as error:  # a newer filter's interruption, or a broken ledger
            failure = str(error) or repr(error)
        finally:
            with self._lock:
                if connection is not None and self._scanning is connection:
                    self._scanning = None
            self._release_if_worker()
        with self._lock:
            if generation != self._generation or text != self._filter_text:
                return  # superseded: a newer filter owns the view
            self._matches = ids if ids is not None else array("q")
            self._scan_error = failure

    def _cancel_scan(self) -> None:
        with self._lock:
            self._generation += 1
            if self._scanning is not None:
                self._scanning.interrupt()

    # -- what each view defines -------------------------------------------------------------

    @abstractmethod
    def _row_id(self, key: str) -> int | None:
        """The id a row key stands for (the id the filter scan yields)."""

    @abstractmethod
    def _count_all(self, connection: sqlite3.Connection) -> tuple[int, int]:
        """(high-water mark, row count) in one statement."""

    @abstractmethod
    def _count_after(self, connection: sqlite3.Connection, high_water: int) -> tuple[int, int]:
        """(new high-water mark, rows after `high_water` up to it) in one statement."""

    @abstractmethod
    def _skip(self, connection: sqlite3.Connection, high_water: int, skip: int,
              *, newest_first: bool) -> K | None:
        """The key of the row `skip` rows from the newest (or the oldest) end."""

    @abstractmethod
    def _page_from(self, connection: sqlite3.Connection, key: K,
                   limit: int) -> list[tuple[K, GridRow]]:
        """Up to `limit` rows from `key` (included) towards the oldest, with their keys."""

    @abstractmethod
    def _rows_by_id(self, connection: sqlite3.Connection, ids: list[int]) -> dict[int, GridRow]:
        """The rows of `ids`, by id."""

    @abstractmethod
    def _scan(self, connection: sqlite3.Connection, high_water: int,
              pattern: str) -> list[int]:
        """Ids of the rows matching the LIKE `pattern`, newest first."""

    @abstractmethod
    def _position(self, connection: sqlite3.Connection, row_id: int) -> int | None:
        """The unfiltered position of `row_id` (at most the high-water mark)."""


def _one(
    connection: sqlite3.Connection, sql: str, parameters: Sequence[object]
) -> tuple[Any, ...]:
    row = connection.execute(sql, parameters).fetchone()
    return tuple(row) if row is not None else ()


def _ids_json(ids: list[int]) -> str:
    return json.dumps(ids)


# -- the journal ----------------------------------------------------------------------------

_ENTRY_COLUMNS = (
    "e.id, e.dtposted, e.fitid, e.trntype, e.memo, "
    "(SELECT COALESCE(SUM(p.amount), 0) FROM ledger_postings p "
    "WHERE p.entry_id = e.id AND p.amount > 0), "
    "(SELECT COUNT(*) FROM ledger_postings p WHERE p.entry_id = e.id)"
)
# `+e.id` keeps the id bound from being used as a rowid range: the dtposted index (which
# holds the rowid) must drive these queries, or SQLite would sort a million rows.
_JOURNAL_COUNT_ALL = (
    "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger_entries), "
    "(SELECT COUNT(*) FROM ledger_entries)"
)
_JOURNAL_COUNT_AFTER = (
    "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger_entries), "
    "(SELECT COUNT(*) FROM ledger_entries WHERE id > ?1 AND id <= "
    "(SELECT COALESCE(MAX(id), 0) FROM ledger_entries))"
)
_JOURNAL_SKIP_NEWEST = (
    "SELECT dtposted, id FROM ledger_entries WHERE +id <= ? "
    "ORDER BY dtposted DESC, id DESC LIMIT 1 OFFSET ?"
)
_JOURNAL_SKIP_OLDEST = (
    "SELECT dtposted, id FROM ledger_entries WHERE +id <= ? "
    "ORDER BY dtposted ASC, id ASC LIMIT 1 OFFSET ?"
)
_JOURNAL_PAGE = (
    f"SELECT {_ENTRY_COLUMNS} FROM ledger_entries e "  # noqa: S608 (constant text)
    "WHERE +e.id <= ? AND (e.dtposted, e.id) <= (?, ?) "
    "ORDER BY e.dtposted DESC, e.id DESC LIMIT ?"
)
_JOURNAL_BY_ID = (
    f"SELECT {_ENTRY_COLUMNS} FROM ledger_entries e "  # noqa: S608 (constant text)
    "WHERE e.id IN (SELECT value FROM json_each(?))"
)
_JOURNAL_SCAN = (
    "SELECT e.id FROM ledger_entries e WHERE +e.id <= ?1 "
    "AND (e.fitid LIKE ?2 ESCAPE '\\' OR e.memo LIKE ?2 ESCAPE '\\' "
    "OR e.trntype LIKE ?2 ESCAPE '\\') "
    "ORDER BY e.dtposted DESC, e.id DESC"
)
_JOURNAL_DTPOSTED = "SELECT dtposted FROM ledger_entries WHERE id = ?"
_JOURNAL_NEWER = (
    "SELECT COUNT(*) FROM ledger_entries WHERE +id <= ?1 AND (dtposted, id) > (?2, ?3)"
)
_JOURNAL_OLDER = (
    "SELECT COUNT(*) FROM ledger_entries WHERE +id <= ?1 AND (dtposted, id) < (?2, ?3)"
)

JOURNAL_COLUMNS = (
    GridColumn("time", "Time (UTC)", 20),
    GridColumn("fitid", "FITID", 15),
    GridColumn("type", "Type", 6),
    GridColumn("memo", "Memo", 10, flex=True),
    GridColumn("amount", "Amount", 14, align="right"),
    GridColumn("postings", "#", 2, align="right"),
)


class JournalSource(LedgerSource[tuple[str, int]]):
    """Every entry, newest DTPOSTED first: time, FITID, type, memo, amount (the sum of its
    debits) and posting count. Row key: the entry id. Filter: FITID, memo or type."""

    columns = JOURNAL_COLUMNS

    def _row_id(self, key: str) -> int | None:
        return int(key) if key.isdigit() else None

    def _count_all(self, connection: sqlite3.Connection) -> tuple[int, int]:
        high_water, count = _one(connection, _JOURNAL_COUNT_ALL, ())
        return int(high_water), int(count)

    def _count_after(self, connection: sqlite3.Connection, high_water: int) -> tuple[int, int]:
        new_mark, added = _one(connection, _JOURNAL_COUNT_AFTER, (high_water,))
        return int(new_mark), int(added)

    def _skip(self, connection: sqlite3.Connection, high_water: int, skip: int,
              *, newest_first: bool) -> tuple[str, int] | None:
        sql = _JOURNAL_SKIP_NEWEST if newest_first else _JOURNAL_SKIP_OLDEST
        found = _one(connection, sql, (high_water, skip))
        return (str(found[0]), int(found[1])) if found else None

    def _page_from(self, connection: sqlite3.Connection, key: tuple[str, int],
                   limit: int) -> list[tuple[tuple[str, int], GridRow]]:
        rows = connection.execute(_JOURNAL_PAGE, (self._high_water, key[0], key[1], limit))
        return [((row[1], row[0]), _journal_row(row)) for row in rows]

    def _rows_by_id(self, connection: sqlite3.Connection, ids: list[int]) -> dict[int, GridRow]:
        rows = connection.execute(_JOURNAL_BY_ID, (_ids_json(ids),))
        return {row[0]: _journal_row(row) for row in rows}

    def _scan(self, connection: sqlite3.Connection, high_water: int,
              pattern: str) -> list[int]:
        return [row[0] for row in connection.execute(_JOURNAL_SCAN, (high_water, pattern))]

    def _position(self, connection: sqlite3.Connection, row_id: int) -> int | None:
        found = _one(connection, _JOURNAL_DTPOSTED, (row_id,))
        if not found:
            return None
        # Count from the nearer end; ids follow time closely enough to guess which it is.
        parameters = (self._high_water, found[0], row_id)
        if row_id * 2 >= self._high_water:
            return int(_one(connection, _JOURNAL_NEWER, parameters)[0])
        return self._count - 1 - int(_one(connection, _JOURNAL_OLDER, parameters)[0])


def _journal_row(row: Sequence[Any]) -> GridRow:
    entry_id, dtposted, fitid, trntype, memo, debits, postings = row
    return GridRow(
        key=str(entry_id),
        cells=(
            stored_stamp(str(dtposted)),
            str(fitid),
            str(trntype),
            str(memo),
            format_money(_from_scaled(int(debits), MONEY_PLACES)),
            str(postings),
        ),
    )


# -- one account ----------------------------------------------------------------------------

_POSTING_COLUMNS = (
    "p.id, p.entry_id, e.dtposted, e.fitid, e.trntype, COALESCE(p.memo, e.memo), p.amount"
)
_ACCOUNT_COUNT = (
    "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger_postings), "
    "(SELECT COUNT(*) FROM ledger_postings WHERE account_code = ?1 AND id > ?2 AND id <= "
    "(SELECT COALESCE(MAX(id), 0) FROM ledger_postings))"
)
_ACCOUNT_SKIP_NEWEST = (
    "SELECT id FROM ledger_postings WHERE account_code = ? AND id <= ? "
    "ORDER BY id DESC LIMIT 1 OFFSET ?"
)
_ACCOUNT_SKIP_OLDEST = (
    "SELECT id FROM ledger_postings WHERE account_code = ? AND id <= ? "
    "ORDER BY id ASC LIMIT 1 OFFSET ?"
)
_ACCOUNT_PAGE = (
    f"SELECT {_POSTING_COLUMNS} FROM ledger_postings p "  # noqa: S608 (constant text)
    "JOIN ledger_entries e ON e.id = p.entry_id "
    "WHERE p.account_code = ? AND p.id <= ? ORDER BY p.id DESC LIMIT ?"
)
_ACCOUNT_BY_ID = (
    f"SELECT {_POSTING_COLUMNS} FROM ledger_postings p "  # noqa: S608 (constant text)
    "JOIN ledger_entries e ON e.id = p.entry_id "
    "WHERE p.id IN (SELECT value FROM json_each(?))"
)
_ACCOUNT_SCAN = (
    "SELECT p.id FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
    "WHERE p.account_code = ?1 AND p.id <= ?2 "
    "AND (e.fitid LIKE ?3 ESCAPE '\\' OR e.memo LIKE ?3 ESCAPE '\\' "
    "OR e.trntype LIKE ?3 ESCAPE '\\' OR p.memo LIKE ?3 ESCAPE '\\' "
    "OR p.symbol LIKE ?3 ESCAPE '\\') "
    "ORDER BY p.id DESC"
)
_ACCOUNT_HAS = "SELECT 1 FROM ledger_postings WHERE id = ? AND account_code = ?"
_ACCOUNT_NEWER = (
    "SELECT COUNT(*) FROM ledger_postings WHERE account_code = ? AND id > ? AND id <= ?"
)
_ACCOUNT_OLDER = "SELECT COUNT(*) FROM ledger_postings WHERE account_code = ? AND id < ?"

ACCOUNT_COLUMNS = (
    GridColumn("time", "Time (UTC)", 20),
    GridColumn("fitid", "FITID", 15),
    GridColumn("type", "Type", 6),
    GridColumn("memo", "Memo", 10, flex=True),
    GridColumn("amount", "Amount", 16, align="right"),
)


class AccountSource(LedgerSource[int]):
    """The postings of one account, newest first: their entries' time, FITID, type and memo
    (the posting's own memo when it has one) and the amount as Dr/Cr. Row key:
    `"{entry_id}/{posting_id}"` (an entry may post twice to one account). Filter: FITID,
    memo, type or symbol."""

    columns = ACCOUNT_COLUMNS

    def __init__(
        self, owner: ConnectionOwner, code: str, counted: tuple[int, int] | None = None
    ) -> None:
        """`counted`: (posting id, postings of `code` up to it), when already known (the
        trial balance counts them): only later postings are counted then, not a million."""
        super().__init__(owner)
        self.code = code
        self._known_count = counted

    def _row_id(self, key: str) -> int | None:
        _, _, posting = key.partition("/")
        return int(posting) if posting.isdigit() else None

    def _count_all(self, connection: sqlite3.Connection) -> tuple[int, int]:
        known_mark, known = self._known_count or (0, 0)
        new_mark, added = self._count_after(connection, known_mark)
        return new_mark, known + added

    def _count_after(self, connection: sqlite3.Connection, high_water: int) -> tuple[int, int]:
        new_mark, added = _one(connection, _ACCOUNT_COUNT, (self.code, high_water))
        return int(new_mark), int(added)

    def _skip(self, connection: sqlite3.Connection, high_water: int, skip: int,
              *, newest_first: bool) -> int | None:
        sql = _ACCOUNT_SKIP_NEWEST if newest_first else _ACCOUNT_SKIP_OLDEST
        found = _one(connection, sql, (self.code, high_water, skip))
        return int(found[0]) if found else None

    def _page_from(self, connection: sqlite3.Connection, key: int,
                   limit: int) -> list[tuple[int, GridRow]]:
        rows = connection.execute(_ACCOUNT_PAGE, (self.code, min(key, self._high_water), limit))
        return [(int(row[0]), _posting_row(row)) for row in rows]

    def _rows_by_id(self, connection: sqlite3.Connection, ids: list[int]) -> dict[int, GridRow]:
        rows = connection.execute(_ACCOUNT_BY_ID, (_ids_json(ids),))
        return {row[0]: _posting_row(row) for row in rows}

    def _scan(self, connection: sqlite3.Connection, high_water: int,
              pattern: str) -> list[int]:
        rows = connection.execute(_ACCOUNT_SCAN, (self.code, high_water, pattern))
        return [row[0] for row in rows]

    def _position(self, connection: sqlite3.Connection, row_id: int) -> int | None:
        if not _one(connection, _ACCOUNT_HAS, (row_id, self.code)):
            return None
        if row_id * 2 >= self._high_water:
            return int(_one(connection, _ACCOUNT_NEWER,
                            (self.code, row_id, self._high_water))[0])
        return self._count - 1 - int(_one(connection, _ACCOUNT_OLDER, (self.code, row_id))[0])


def _posting_row(row: Sequence[Any]) -> GridRow:
    posting_id, entry_id, dtposted, fitid, trntype, memo, amount = row
    return GridRow(
        key=f"{entry_id}/{posting_id}",
        cells=(
            stored_stamp(str(dtposted)),
            str(fitid),
            str(trntype),
            str(memo or ""),
            dr_cr(_from_scaled(int(amount), MONEY_PLACES)),
        ),
    )


# -- the fills (trades table) ---------------------------------------------------------------

_TRADE_COLUMNS = (
    "t.entry_id, t.dtposted, t.symbol, t.trntype, t.size, t.entry_price, t.exit_price, "
    "t.pnl, t.strategy, t.fitid"
)
_FILLS_COUNT_ALL = (
    "SELECT (SELECT COALESCE(MAX(entry_id), 0) FROM trades), (SELECT COUNT(*) FROM trades)"
)
_FILLS_COUNT_AFTER = (
    "SELECT (SELECT COALESCE(MAX(entry_id), 0) FROM trades), "
    "(SELECT COUNT(*) FROM trades WHERE entry_id > ?1 AND entry_id <= "
    "(SELECT COALESCE(MAX(entry_id), 0) FROM trades))"
)
_FILLS_SKIP_NEWEST = (
    "SELECT entry_id FROM trades WHERE entry_id <= ? ORDER BY entry_id DESC LIMIT 1 OFFSET ?"
)
_FILLS_SKIP_OLDEST = (
    "SELECT entry_id FROM trades WHERE entry_id <= ? ORDER BY entry_id ASC LIMIT 1 OFFSET ?"
)
_FILLS_PAGE = (
    f"SELECT {_TRADE_COLUMNS} FROM trades t "  # noqa: S608 (constant text)
    "WHERE t.entry_id <= ? ORDER BY t.entry_id DESC LIMIT ?"
)
_FILLS_BY_ID = (
    f"SELECT {_TRADE_COLUMNS} FROM trades t "  # noqa: S608 (constant text)
    "WHERE t.entry_id IN (SELECT value FROM json_each(?))"
)
_FILLS_SCAN = (
    "SELECT t.entry_id FROM trades t WHERE t.entry_id <= ?1 "
    "AND (t.symbol LIKE ?2 ESCAPE '\\' OR t.fitid LIKE ?2 ESCAPE '\\' "
    "OR t.strategy LIKE ?2 ESCAPE '\\' OR t.trntype LIKE ?2 ESCAPE '\\') "
    "ORDER BY t.entry_id DESC"
)
_FILLS_HAS = "SELECT 1 FROM trades WHERE entry_id = ?"
_FILLS_NEWER = "SELECT COUNT(*) FROM trades WHERE entry_id > ? AND entry_id <= ?"
_FILLS_OLDER = "SELECT COUNT(*) FROM trades WHERE entry_id < ?"

FILLS_COLUMNS = (
    GridColumn("time", "Time (UTC)", 20),
    GridColumn("symbol", "Symbol", 6),
    GridColumn("side", "Side", 4),
    GridColumn("size", "Size", 7, align="right"),
    GridColumn("price", "Price", 9, align="right"),
    GridColumn("pnl", "PnL", 10, align="right"),
    GridColumn("strategy", "Strat", 5),
    GridColumn("fitid", "FITID", 8, flex=True),
)

_CLOSING_TRNTYPES = frozenset({"SELL", "COVER"})


class FillsSource(LedgerSource[int]):
    """The booked fills (`trades`), newest first: time, symbol, BUY/SELL, size, fill price
    (the exit price of a closing leg), P&L, strategy and FITID. Row key: the entry id.
    Filter: symbol, FITID, strategy or side."""

    columns = FILLS_COLUMNS

    def _row_id(self, key: str) -> int | None:
        return int(key) if key.isdigit() else None

    def _count_all(self, connection: sqlite3.Connection) -> tuple[int, int]:
        high_water, count = _one(connection, _FILLS_COUNT_ALL, ())
        return int(high_water), int(count)

    def _count_after(self, connection: sqlite3.Connection, high_water: int) -> tuple[int, int]:
        new_mark, added = _one(connection, _FILLS_COUNT_AFTER, (high_water,))
        return int(new_mark), int(added)

    def _skip(self, connection: sqlite3.Connection, high_water: int, skip: int,
              *, newest_first: bool) -> int | None:
        sql = _FILLS_SKIP_NEWEST if newest_first else _FILLS_SKIP_OLDEST
        found = _one(connection, sql, (high_water, skip))
        return int(found[0]) if found else None

    def _page_from(self, connection: sqlite3.Connection, key: int,
                   limit: int) -> list[tuple[int, GridRow]]:
        rows = connection.execute(_FILLS_PAGE, (min(key, self._high_water), limit))
        return [(int(row[0]), _fill_row(row)) for row in rows]

    def _rows_by_id(self, connection: sqlite3.Connection, ids: list[int]) -> dict[int, GridRow]:
        rows = connection.execute(_FILLS_BY_ID, (_ids_json(ids),))
        return {row[0]: _fill_row(row) for row in rows}

    def _scan(self, connection: sqlite3.Connection, high_water: int,
              pattern: str) -> list[int]:
        return [row[0] for row in connection.execute(_FILLS_SCAN, (high_water, pattern))]

    def _position(self, connection: sqlite3.Connection, row_id: int) -> int | None:
        if not _one(connection, _FILLS_HAS, (row_id,)):
            return None
        if row_id * 2 >= self._high_water:
            return int(_one(connection, _FILLS_NEWER, (row_id, self._high_water))[0])
        return self._count - 1 - int(_one(connection, _FILLS_OLDER, (row_id,))[0])


def _fill_row(row: Sequence[Any]) -> GridRow:
    (entry_id, dtposted, symbol, trntype, size, entry_price, exit_price, pnl, strategy,
     fitid) = row
    fill_price = exit_price if trntype in _CLOSING_TRNTYPES and exit_price is not None \
        else entry_price
    return GridRow(
        key=str(entry_id),
        cells=(
            stored_stamp(str(dtposted)),
            str(symbol),
            str(trntype),
            quantity(_from_scaled(int(size), QUANTITY_PLACES)),
            price(_from_scaled(int(fill_price), PRICE_PLACES)),
            signed_pnl(_from_scaled(int(pnl), MONEY_PLACES)),
            str(strategy),
            str(fitid),
        ),
    )
