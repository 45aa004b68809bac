"""Reading the reconciliation record for people: runs, breaks, one break in full, and the
latest position and cash checks. JSON-ready dicts over a read-only connection, shared by
the engine's control methods and the offline CLI (and the console after them).

A break is the latest row of a (kind, trade_id) whose status is neither ``ok`` nor
``resolved``; its id is that row's id, the one `recon.resolve` takes.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from tbot.ledger.amounts import MONEY_PLACES, PRICE_PLACES, QUANTITY_PLACES, from_scaled
from tbot.ledger.timestamps import parse_utc
from tbot.reconcile.compare import plain
from tbot.reconcile.ledger_view import BREAK_STATUSES, LATEST_ROW
from tbot.reconcile.open_breaks import OpenBreakCounts
from tbot.reconcile.resolution import ResolutionError
from tbot.reconcile.statuses import BreakKind, RecordStatus

MAX_PAGE = 500
MAX_SEARCH = 64
"""Characters of a `search` text (`recon.breaks`)."""
SEARCHED_COLUMNS = ("symbol", "trade_id", "detail", "kind", "status")
"""What a `search` looks in, case-insensitively."""


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _json(text: object, default: object) -> object:
    if not text:
        return default
    try:
        return json.loads(str(text))
    except ValueError:
        return default


def like_escaped(text: str) -> str:
    """`text` as a LIKE pattern matching itself (ESCAPE '\\'): its wildcards are plain."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _age_seconds(stamp: object, now: datetime) -> int | None:
    if not isinstance(stamp, str):
        return None
    return max(0, int((now - parse_utc(stamp)).total_seconds()))


def break_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One reconciliation row as the protocol shows it."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "trade_id": row["trade_id"],
        "status": row["status"],
        "symbol": row["symbol"],
        "broker_value": row["broker_value"],
        "ledger_value": row["ledger_value"],
        "difference": _json(row["difference"], {}),
        "compare_fields": _json(row["compare_fields"], []),
        "detail": row["detail"],
        "record_hash": row["record_hash"],
        "entry_id": row["entry_id"],
        "broker_record_id": row["broker_record_id"],
        "sync_run_id": row["sync_run_id"],
        "at": row["timestamp_utc"],
        "age_seconds": _age_seconds(row["timestamp_utc"], now),
        "resolves_id": row["resolves_id"],
        "resolution_action": row["resolution_action"],
        "actor": row["actor"],
        "reason": row["reason"],
        "posted_entry_ids": _json(row["posted_entry_ids"], []),
    }


def list_breaks(connection: sqlite3.Connection, now: datetime, *, status: str | None = None,
                kind: str | None = None, symbol: str | None = None,
                search: str | None = None, limit: int = 100,
                offset: int = 0, counts: OpenBreakCounts | None = None) -> dict[str, Any]:
    """Open breaks (or, with `status`, the latest rows in that status), newest first,
    paged; with the count of open breaks by kind and status. `search` keeps the rows whose
    symbol, trade id, detail, kind or status contains it (case-insensitive; `%` and `_`
    are plain characters): the console's `/` filter, run here so it pages like the rest.

    `counts` (one per ledger, kept by the caller) follows the open breaks as the log grows,
    so the totals of an unfiltered or status/kind-filtered page cost nothing after the
    first call; without it they are counted from scratch."""
    if status is not None:
        RecordStatus(status)  # ValueError for an unknown status
    if kind is not None:
        BreakKind(kind)
    clauses: list[str] = []
    parameters: list[object] = []
    if status is None:
        clauses.append(f"l.status IN ({','.join('?' for _ in BREAK_STATUSES)})")
        parameters.extend(BREAK_STATUSES)
    else:
        clauses.append("l.status = ?")
        parameters.append(status)
    if kind is not None:
        clauses.append("l.kind = ?")
        parameters.append(kind)
    if symbol is not None:
        clauses.append("l.symbol = ?")
        parameters.append(symbol)
    if search is not None and search.strip():
        pattern = f"%{like_escaped(search.strip()[:MAX_SEARCH])}%"
        # SQLite's LIKE ignores the case of ASCII letters (symbols, ids, statuses are ASCII).
        matches = " OR ".join(f"coalesce(l.{column}, '') LIKE ? ESCAPE '\\'"
                              for column in SEARCHED_COLUMNS)
        clauses.append(f"({matches})")
        parameters.extend(pattern for _ in SEARCHED_COLUMNS)
    clauses.append(LATEST_ROW)
    where = " AND ".join(clauses)
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = _rows(connection.execute(
        f"SELECT l.* FROM reconciliation_log l WHERE {where} "  # noqa: S608
        "ORDER BY l.id DESC LIMIT ? OFFSET ?",
        (*parameters, limit, max(0, int(offset))),
    ))
    open_counts = (counts or OpenBreakCounts()).current(connection)
    if symbol is None and not (search and search.strip()) and (
            status is None or status in BREAK_STATUSES):
        total = sum(number for row_kind, statuses in open_counts.items()
                    if kind is None or row_kind == kind
                    for row_status, number in statuses.items()
                    if status is None or row_status == status)
    else:
        (total,) = connection.execute(
            f"SELECT COUNT(*) FROM reconciliation_log l WHERE {where}", parameters  # noqa: S608
        ).fetchone()
    return {
        "breaks": [break_view(row, now) for row in rows],
        "total": total,
        "offset": offset,
        "limit": limit,
        "open_by_kind": open_counts,
    }


def show_break(connection: sqlite3.Connection, break_id: int, now: datetime) -> dict[str, Any]:
    """One break in full: the row, its broker record (raw payload and hash), the ledger's
    entry with its postings, the history of its record and the sync runs that saw it."""
    cursor = connection.execute("SELECT * FROM reconciliation_log WHERE id = ?", (break_id,))
    found = _rows(cursor)
    if not found:
        raise ResolutionError("unknown", f"there is no break #{break_id}")
    row = found[0]
    history = _rows(connection.execute(
        "SELECT * FROM reconciliation_log WHERE kind = ? AND trade_id = ? ORDER BY id",
        (row["kind"], row["trade_id"]),
    ))
    record = None
    if row["broker_record_id"] is not None:
        records = _rows(connection.execute(
            "SELECT * FROM broker_records WHERE id = ?", (row["broker_record_id"],)))
        if records:
            kept = records[0]
            record = {
                "id": kept["id"],
                "kind": kept["kind"],
                "broker_id": kept["broker_id"],
                "record_hash": kept["record_hash"],
                "raw_payload": _json(kept["raw_payload"], {}),
                "json_metadata": _json(kept["json_metadata"], {}),
                "broker_local_time": kept["broker_local_time"],
                "occurred_at": kept["occurred_at_utc"],
                "final": bool(kept["final"]),
                "source": kept["source"],
                "fetched_at": kept["fetched_at_utc"],
            }
    seen_by = sorted({
        run for run in (
            *(h["sync_run_id"] for h in history),
            *(r[0] for r in connection.execute(
                "SELECT sync_run_id FROM broker_records WHERE kind = ? AND broker_id = ?",
                (row["kind"], row["trade_id"]))),
        ) if run is not None
    })
    runs = [run_view(run) for run in _rows(connection.execute(
        f"SELECT * FROM sync_runs WHERE id IN ({','.join('?' * len(seen_by))})"  # noqa: S608
        " ORDER BY id", seen_by))] if seen_by else []
    latest = history[-1]["id"] if history else row["id"]
    return {
        "break": break_view(row, now),
        "is_open": latest == row["id"] and RecordStatus(row["status"]).is_break,
        "latest_id": latest,
        "broker_record": record,
        "ledger_entry": _entry(connection, row["entry_id"]),
        "history": [break_view(h, now) for h in history],
        "sync_runs": runs,
    }


def _entry(connection: sqlite3.Connection, entry_id: object) -> dict[str, Any] | None:
    if entry_id is None:
        return None
    entries = _rows(connection.execute(
        "SELECT id, fitid, dtposted, trntype, memo, source, is_manual, reverses_entry_id "
        "FROM ledger_entries WHERE id = ?", (entry_id,)))
    if not entries:
        return None
    entry = entries[0]
    entry["postings"] = [
        {"account": account, "amount": plain(from_scaled(amount, MONEY_PLACES)),
         "quantity": None if quantity is None else plain(from_scaled(quantity,
                                                                      QUANTITY_PLACES)),
         "symbol": symbol}
        for account, amount, quantity, symbol in connection.execute(
            "SELECT account_code, amount, quantity, symbol FROM ledger_postings "
            "WHERE entry_id = ? ORDER BY id", (entry_id,))
    ]
    entry["is_manual"] = bool(entry["is_manual"])
    reversal = connection.execute(
        "SELECT fitid FROM ledger_entries WHERE reverses_entry_id = ?", (entry_id,)).fetchone()
    entry["reversed_by"] = reversal[0] if reversal else None
    return entry


def run_view(row: dict[str, Any]) -> dict[str, Any]:
    """One sync run as the protocol shows it."""
    return {
        "id": row["id"],
        "trigger": row["trigger"],
        "window": {"since": row["window_start_utc"], "until": row["window_end_utc"]},
        "started_at": row["started_at_utc"],
        "ended_at": row["ended_at_utc"],
        "actor": row["actor"],
        "credential_fingerprint": row["credential_fingerprint"],
        "outcome": row["outcome"],
        "counts": _json(row["counts"], {}),
        "records_seen": row["records_seen"],
        "records_refused": row["records_refused"],
        "spans_not_read": _json(row["spans_not_read"], []),
        "error": row["error"],
    }


def list_runs(connection: sqlite3.Connection, *, limit: int = 20,
              offset: int = 0) -> dict[str, Any]:
    """Sync runs, newest first, with the records each refused."""
    limit = max(1, min(int(limit), MAX_PAGE))
    runs = [run_view(row) for row in _rows(connection.execute(
        "SELECT * FROM sync_runs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, max(0, offset))))]
    for run in runs:
        run["refused"] = [
            {"listing": kind, "broker_id": broker_id or None, "reason": reason,
             "record_hash": record_hash}
            for kind, broker_id, reason, record_hash in connection.execute(
                "SELECT kind, broker_id, refused_reason, record_hash FROM broker_records "
                "WHERE sync_run_id = ? AND refused_reason IS NOT NULL ORDER BY id", (run["id"],))
        ]
    (total,) = connection.execute("SELECT COUNT(*) FROM sync_runs").fetchone()
    return {"runs": runs, "total": total, "offset": offset, "limit": limit}


def latest_positions(connection: sqlite3.Connection) -> dict[str, Any]:
    """The latest check of every symbol, and the latest cash assertion per currency."""
    checks = _rows(connection.execute(
        "SELECT c.* FROM position_checks c JOIN (SELECT MAX(id) AS id FROM position_checks "
        "GROUP BY symbol) m ON m.id = c.id ORDER BY c.symbol"))
    balances = _rows(connection.execute(
        "SELECT b.* FROM balance_assertions b JOIN (SELECT MAX(id) AS id FROM "
        "balance_assertions GROUP BY currency_code) m ON m.id = b.id ORDER BY b.currency_code"))

    def number(value: object, places: int) -> str | None:
        return None if value is None else plain(from_scaled(int(value), places))  # type: ignore[arg-type]

    return {
        "positions": [
            {
                "symbol": c["symbol"],
                "checked_at": c["checked_at_utc"],
                "trigger": c["trigger"],
                "broker_quantity": number(c["broker_quantity"], QUANTITY_PLACES),
                "broker_average_cost": number(c["broker_average_cost"], PRICE_PLACES),
                "ledger_quantity": number(c["ledger_quantity"], QUANTITY_PLACES),
                "ledger_cost_basis": number(c["ledger_cost_basis"], MONEY_PLACES),
                "engine_quantity": number(c["engine_quantity"], QUANTITY_PLACES),
                "explained_quantity": number(c["explained_quantity"], QUANTITY_PLACES),
                "outcome": c["outcome"],
                "reason": c["divergence_reason"],
            }
            for c in checks
        ],
        "balances": [
            {
                "currency": b["currency_code"],
                "account": b["account_code"],
                "asserted_at": b["asserted_at_utc"],
                "trigger": b["trigger"],
                "broker_cash": number(b["broker_cash"], MONEY_PLACES),
                "ledger_cash": number(b["ledger_cash"], MONEY_PLACES),
                "in_transit": number(b["in_transit"], MONEY_PLACES),
                "difference": number(b["difference"], MONEY_PLACES),
                "tolerance": number(b["tolerance"], MONEY_PLACES),
                "passed": bool(b["passed"]),
                "detail": b["detail"],
            }
            for b in balances
        ],
    }
