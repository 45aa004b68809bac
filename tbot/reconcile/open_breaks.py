"""Counting open breaks without reading the whole reconciliation log each time.

The log is append-only: a record's state is its newest row. Counting open breaks from
scratch costs one probe per row in a break status (a quarter of a second at 100,000 open
breaks), too slow to repeat for every page a console asks for while breaks arrive. Since
rows are only ever appended, the counts can follow the log instead: each new row closes
its record's previous state (if that was a break) and opens its own (if it is one).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter

from tbot.reconcile.ledger_view import BREAK_STATUSES, LATEST_ROW

_MAX_STEP = 20_000
"""More new rows than this since the last count: counting from scratch is cheaper."""

_OPEN = frozenset(BREAK_STATUSES)


class OpenBreakCounts:
    """Open breaks by (kind, status), kept current incrementally; one per ledger file.

    Thread-safe (the engine reads its ledger from worker threads). A log that shrank (a
    restored backup) is counted again from scratch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._upto = 0
        self._counts: Counter[tuple[str, str]] = Counter()

    def current(self, connection: sqlite3.Connection) -> dict[str, dict[str, int]]:
        """`{kind: {status: count}}` of the open breaks as of the newest row."""
        with self._lock:
            (high,) = connection.execute("SELECT COALESCE(MAX(id), 0) FROM reconciliation_log"
                                         ).fetchone()
            if high < self._upto or high - self._upto > _MAX_STEP or self._upto == 0:
                self._recount(connection, high)
            elif high > self._upto:
                self._follow(connection, high)
            result: dict[str, dict[str, int]] = {}
            for (kind, status), count in sorted(self._counts.items()):
                if count:
                    result.setdefault(kind, {})[status] = count
            return result

    def _recount(self, connection: sqlite3.Connection, high: int) -> None:
        marks = ",".join("?" for _ in BREAK_STATUSES)
        # As of `high`: a row appended meanwhile is left to the next call.
        latest = LATEST_ROW.replace("n.id > l.id", "n.id > l.id AND n.id <= ?")
        rows = connection.execute(
            f"SELECT l.kind, l.status, COUNT(*) FROM reconciliation_log l "  # noqa: S608
            f"WHERE l.id <= ? AND l.status IN ({marks}) AND {latest} "
            "GROUP BY l.kind, l.status",
            (high, *BREAK_STATUSES, high),
        )
        self._counts = Counter({(kind, status): count for kind, status, count in rows})
        self._upto = high

    def _follow(self, connection: sqlite3.Connection, high: int) -> None:
        new_rows = connection.execute(
            "SELECT id, kind, trade_id, status FROM reconciliation_log "
            "WHERE id > ? AND id <= ? ORDER BY id", (self._upto, high)).fetchall()
        for row_id, kind, trade_id, status in new_rows:
            previous = connection.execute(
                "SELECT status FROM reconciliation_log WHERE kind = ? AND trade_id = ? "
                "AND id < ? ORDER BY id DESC LIMIT 1", (kind, trade_id, row_id)).fetchone()
            if previous is not None and previous[0] in _OPEN:
                self._counts[(kind, previous[0])] -= 1
            if status in _OPEN:
                self._counts[(kind, status)] += 1
        self._upto = high
