"""The mapping view with the engine stopped: the queue, the active rules and the versions
read straight from the ledger file, read-only (`tui.ledger.ledger_reader.LedgerReader`),
with the engine's own table reads (`tbot.reconcile.mapping.store`).

The answers are built in the engine's shapes, so the view parses them as it parses the
engine's. Suggestions are the ones stored when each item was queued: fresh ones need the
bot's settings (its cash account, its threshold) and the engine's model, so the note says
they may be stale. Runs in a thread worker: a large queue never blocks the UI.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from tbot.clock import utc_text
from tbot.reconcile.compare import plain
from tbot.reconcile.mapping import store
from tui.ledger.ledger_reader import LedgerReader


@dataclass(frozen=True)
class OfflineAnswers:
    """`mapping.queue`, `mapping.rules` and `mapping.versions` as the ledger file holds
    them (`rules` is None before the first version was written)."""

    queue: dict[str, Any]
    rules: dict[str, Any] | None
    versions: dict[str, Any]


def read_offline(reader: LedgerReader, *, limit: int) -> OfflineAnswers:
    """The newest `limit` queued items, the active rules and every version (call from a
    thread: it reads SQL)."""
    connection = reader.connection()
    try:
        return OfflineAnswers(queue=_queue(connection, limit), rules=_rules(connection),
                              versions=_versions(connection))
    finally:
        reader.release_thread_connection()


def _queue(connection: sqlite3.Connection, limit: int) -> dict[str, Any]:
    waiting = store.waiting(connection)
    page = waiting[:limit]
    firsts = _first_ids(connection, [row.broker_id for row in page])
    return {"total": len(waiting), "limit": limit, "offset": 0,
            "items": [_item(row, firsts.get(row.broker_id, row.id)) for row in page]}


def _item(row: store.QueueRow, first_id: int) -> dict[str, Any]:
    return {
        "id": first_id, "broker_id": row.broker_id, "state": row.state,
        "reason": row.reason, "detail": row.detail, "broker": row.broker,
        "activity_type": row.activity_type, "subtype": row.subtype,
        "description": row.description, "symbol": row.symbol, "amount": plain(row.amount),
        "currency": row.currency, "occurred_at": utc_text(row.occurred_at),
        "record_hash": row.record_hash,
        "suggestions": [_suggestion(stored) for stored in row.suggestions],
        "decision_id": row.decision_id, "entry_id": row.entry_id,
        "since": utc_text(row.created_at),
    }


def _suggestion(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored suggestion in the engine's answer shape: the ledger keeps its figures as
    exact text (no floats in the ledger's JSON), the answers carry numbers."""
    shown = dict(stored)
    for name in ("confidence", "posterior"):
        value = shown.get(name)
        if isinstance(value, str):
            try:
                shown[name] = float(value)
            except ValueError:
                shown[name] = None
    return shown


def _first_ids(connection: sqlite3.Connection, broker_ids: list[str]) -> dict[str, int]:
    """An item is named by its first queue row's id, as the engine names it."""
    return {str(b): int(i) for b, i in connection.execute(
        "SELECT broker_id, MIN(id) FROM mapping_queue WHERE broker_id IN "
        "(SELECT value FROM json_each(?)) GROUP BY broker_id", (json.dumps(broker_ids),))}


def _rules(connection: sqlite3.Connection) -> dict[str, Any] | None:
    active = store.active_version(connection)
    if active is None:
        return None
    rules = store.rules_of(connection, active)
    return {"version": active.as_dict(), "active": True,
            "rules": [{**rule.as_dict(), "summary": rule.summary(),
                       "specificity": rule.specificity} for rule in rules]}


def _versions(connection: sqlite3.Connection) -> dict[str, Any]:
    active = store.active_version(connection)
    return {"active": active.version if active else None,
            "versions": [row.as_dict() for row in reversed(store.versions(connection))]}
