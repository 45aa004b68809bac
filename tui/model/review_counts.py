"""How much waits for the bookkeeper: open reconciliation breaks and queued mapping items.

The dashboard shows these two counts (and jumps to views 4 and 5). Online they come from the
engine (`recon.breaks` and `mapping.queue`, one row each: the answers carry the totals);
offline from the ledger's own tables, read-only, so the counts do not vanish with the engine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tbot.reconcile import queries
from tbot.reconcile.mapping import store
from tui.link.console_link import ConsoleLink
from tui.model.snapshot import SnapshotError

BREAKS_METHOD = "recon.breaks"
QUEUE_METHOD = "mapping.queue"
READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class ReviewCounts:
    """Open breaks (with their split by kind) and queued items; None where unknown."""

    open_breaks: int | None
    queued: int | None
    breaks_by_kind: Mapping[str, int] = field(default_factory=dict)
    source: str = "engine"
    """`engine` or `ledger` (read offline)."""
    problems: tuple[str, ...] = ()
    """Why a count is unknown (a refused or failed read)."""


def _total(answer: object, what: str) -> int:
    if not isinstance(answer, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {type(answer).__name__}")
    total = answer.get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise SnapshotError(f"{what}: field 'total' must be a count, got {total!r}")
    return total


def _by_kind(answer: Mapping[str, Any]) -> dict[str, int]:
    """`open_by_kind` ({kind: {status: n}}) summed per kind; malformed parts are skipped."""
    counts: dict[str, int] = {}
    raw = answer.get("open_by_kind")
    if not isinstance(raw, Mapping):
        return counts
    for kind, statuses in raw.items():
        if isinstance(statuses, Mapping):
            counts[str(kind)] = sum(n for n in statuses.values()
                                    if isinstance(n, int) and not isinstance(n, bool))
    return counts


async def read_from_engine(link: ConsoleLink, *, may_read_breaks: bool,
                           may_read_queue: bool) -> ReviewCounts:
    """Both counts from the engine; a read the caller may not make, or that fails, leaves
    its count unknown and says why."""
    problems: list[str] = []
    breaks: int | None = None
    by_kind: dict[str, int] = {}
    queued: int | None = None
    if may_read_breaks:
        try:
            answer = await link.call(BREAKS_METHOD, {"limit": 1}, timeout=READ_TIMEOUT)
            breaks = _total(answer, BREAKS_METHOD)
            by_kind = _by_kind(answer) if isinstance(answer, Mapping) else {}
        except Exception as error:  # a count is a hint: its failure must not break the view
            problems.append(f"breaks: {error}")
    if may_read_queue:
        try:
            answer = await link.call(QUEUE_METHOD, {"limit": 1}, timeout=READ_TIMEOUT)
            queued = _total(answer, QUEUE_METHOD)
        except Exception as error:
            problems.append(f"queue: {error}")
    return ReviewCounts(breaks, queued, by_kind, "engine", tuple(problems))


def read_from_ledger(connection: sqlite3.Connection, now: datetime) -> ReviewCounts:
    """Both counts from the ledger's tables (a read-only connection; call from a thread).
    A ledger older than reconciliation or mapping has no such tables: that count is 0."""
    problems: list[str] = []
    breaks: int | None = None
    by_kind: dict[str, int] = {}
    queued: int | None = None
    try:
        answer = queries.list_breaks(connection, now, limit=1)
        breaks, by_kind = int(answer["total"]), _by_kind(answer)
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            problems.append(f"breaks: {error}")
        else:
            breaks = 0
    try:
        queued = len(store.waiting(connection))
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            problems.append(f"queue: {error}")
        else:
            queued = 0
    return ReviewCounts(breaks, queued, by_kind, "ledger", tuple(problems))
