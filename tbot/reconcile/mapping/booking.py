"""What a mapping decision writes: the entry, the decision row, the queue row, and the
reconciliation row that clears the record's unmapped break; built here, written by the
caller in ONE ledger batch, so a posting never exists without its decision (or the other
way round) whatever is killed when.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tbot.booking.correction_ids import correction_fitid
from tbot.ledger.batch import LedgerBatch, ReversalDraft, RowRef
from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.reconcile.compare import plain
from tbot.reconcile.mapping.records import MappingRecord
from tbot.reconcile.mapping.store import QueueRow

MAPPING_SOURCE = "mapping"
"""The `source` of every entry the mapping room posts."""
REVERSAL_MARK = "~r"


@dataclass(frozen=True, slots=True)
class FitidUsage:
    """How a broker id's FITIDs are used so far: the base, corrections, reversals."""

    base_used: bool
    corrections: int
    reversals: int

    def next_posting(self, broker_id: str) -> str:
        """The FITID a new posting of `broker_id` takes."""
        if not self.base_used:
            return broker_id
        return correction_fitid(broker_id, self.corrections + 1)

    def next_reversal(self, broker_id: str) -> str:
        """The FITID a new reversal of `broker_id`'s entry takes."""
        return f"{broker_id}{REVERSAL_MARK}{self.reversals + 1}"


def fitid_usage(connection: sqlite3.Connection, broker_id: str) -> FitidUsage:
    """Index lookups only: the base FITID and the ``~...`` range after it."""
    base = connection.execute(
        "SELECT 1 FROM ledger_entries WHERE fitid = ?", (broker_id,)).fetchone() is not None
    corrections = reversals = 0
    for (fitid,) in connection.execute(
        "SELECT fitid FROM ledger_entries WHERE fitid > ? AND fitid < ?",
        (f"{broker_id}~", f"{broker_id}\x7f"),
    ):
        tail = str(fitid)[len(broker_id):]
        if tail.startswith("~c") and tail[2:].isdigit():
            corrections += 1
        elif tail.startswith(REVERSAL_MARK) and tail[2:].isdigit():
            reversals += 1
    return FitidUsage(base, corrections, reversals)


def entry_draft(record: MappingRecord, fitid: str, debit: str, credit: str, currency: str,
                memo: str) -> EntryDraft:
    """The balanced entry booking `record`: |amount| from `credit` to `debit`."""
    amount = abs(record.amount)
    return EntryDraft(
        fitid=fitid,
        dtposted=record.occurred_at,
        trntype="CREDIT" if record.amount > 0 else "DEBIT",
        memo=memo[:500],
        postings=(PostingDraft(debit, amount, currency), PostingDraft(credit, -amount, currency)),
        source=MAPPING_SOURCE,
    )


def memo_for(record: MappingRecord, how: str) -> str:
    """``MISCFEE -12.34: Simulated fee... [mapped by R40 (rule, version 2)]``."""
    text = f"{record.activity_type} {plain(record.amount)}"
    if record.description:
        text += f": {record.description}"
    return f"{text} [{how}]"


def reversal(fitid: str, new_fitid: str, memo: str, now: datetime) -> ReversalDraft:
    """Reverse the live entry `fitid` under `new_fitid`."""
    return ReversalDraft(fitid=fitid, new_fitid=new_fitid, memo=memo[:500], dtposted=now)


def decision_row(record: MappingRecord, *, layer: str, action: str, actor: str, reason: str,
                 now: datetime, account: str | None, debit: str | None, credit: str | None,
                 entry: object, version: int | None, rule_key: str | None = None,
                 model: str | None = None, confidence: float | None = None,
                 reversal_entry: object = None, supersedes: int | None = None
                 ) -> dict[str, object]:
    """A `mapping_decisions` row."""
    return {
        "broker": record.broker,
        "broker_id": record.broker_id,
        "record_hash": record.record_hash,
        "layer": layer,
        "action": action,
        "rule_version": version,
        "rule_key": rule_key,
        "model": model,
        "confidence": None if confidence is None else f"{confidence:.4f}",
        "account": account,
        "debit_account": debit,
        "credit_account": credit,
        "amount": record.amount,
        "activity_type": record.activity_type,
        "subtype": record.subtype,
        "description": record.description,
        "symbol": record.symbol,
        "occurred_at_utc": record.occurred_at,
        "tokens": list(record.tokens()),
        "entry_id": entry,
        "reversal_entry_id": reversal_entry,
        "supersedes_id": supersedes,
        "actor": actor,
        "reason": reason[:500],
        "decided_at_utc": now,
    }


def queue_row(record: MappingRecord, *, state: str, reason: str, detail: str, now: datetime,
              suggestions: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
              version: int | None = None, decision: object = None, entry: object = None,
              broker_record_id: int | None = None) -> dict[str, object]:
    """A `mapping_queue` row: one state of the record's item."""
    return {
        "broker": record.broker,
        "broker_id": record.broker_id,
        "state": state,
        "reason": reason,
        "detail": detail[:500],
        "record_hash": record.record_hash,
        "broker_record_id": broker_record_id,
        "activity_type": record.activity_type,
        "subtype": record.subtype,
        "description": record.description,
        "symbol": record.symbol,
        "amount": record.amount,
        "currency_code": record.currency,
        "occurred_at_utc": record.occurred_at,
        "suggestions": [stored_suggestion(s) for s in suggestions],
        "rule_version": version,
        "decision_id": decision,
        "entry_id": entry,
        "created_at_utc": now,
    }


def stored_suggestion(suggestion: dict[str, Any]) -> dict[str, Any]:
    """A suggestion as the ledger keeps it: its figures as exact text (no floats in
    the ledger's JSON)."""
    return {key: f"{value:.4f}" if isinstance(value, float) else value
            for key, value in suggestion.items()}


def record_of(item: QueueRow) -> MappingRecord:
    """The record a queue row describes."""
    return MappingRecord(
        broker=item.broker, broker_id=item.broker_id, activity_type=item.activity_type,
        amount=item.amount, currency=item.currency, occurred_at=item.occurred_at,
        description=item.description, subtype=item.subtype, symbol=item.symbol,
        record_hash=item.record_hash,
    )


def add_row(batch: LedgerBatch, table: str, row: dict[str, object]) -> RowRef:
    """Append `row` to `batch` and return its reference."""
    rows = batch.rows.setdefault(table, [])
    rows.append(row)
    return RowRef(table, len(rows) - 1)


def cleared_break_row(open_break: dict[str, Any], *, actor: str, reason: str, detail: str,
                      now: datetime, posted: list[object]) -> dict[str, object]:
    """The `reconciliation_log` row resolving the record's open unmapped break."""
    import json

    return {
        "kind": open_break["kind"],
        "trade_id": open_break["trade_id"],
        "status": "resolved",
        "compare_fields": json.loads(str(open_break["compare_fields"] or "[]")),
        "sync_run_id": None,
        "timestamp_utc": now,
        "record_hash": open_break["record_hash"],
        "broker_record_id": open_break["broker_record_id"],
        "entry_id": open_break["entry_id"],
        "symbol": open_break["symbol"],
        "broker_value": open_break["broker_value"],
        "ledger_value": open_break["ledger_value"],
        "difference": json.loads(str(open_break["difference"] or "{}")),
        "detail": detail[:500],
        "resolves_id": int(open_break["id"]),
        "resolution_action": "accept-broker",
        "actor": actor,
        "reason": reason[:500],
        "posted_entry_ids": posted,
    }


