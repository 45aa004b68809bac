"""Reads of the mapping tables (SQL on the ledger's read connection), as plain values.

Everything the mapping room knows is derived from append-only rows: the active rule set is
the newest version written active; an item's state is its newest queue row; what the
model learns from is every operator decision no later decision superseded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tbot.clock import utc_text
from tbot.ledger.amounts import MONEY_PLACES, from_scaled
from tbot.reconcile.compare import plain
from tbot.reconcile.mapping.learning import Precedent
from tbot.reconcile.mapping.records import MappingRecord
from tbot.reconcile.mapping.rules import Rule, RuleSet

LEARNING_ACTIONS = ("post", "adopt", "reclassify")


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version of the rule set, as stored."""

    id: int
    version: int
    action: str
    active: bool
    source_version: int | None
    author: str
    reason: str
    created_at: datetime
    content_hash: str
    rule_count: int
    source_identity: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "action": self.action, "active_on_creation": self.active,
            "source_version": self.source_version, "author": self.author,
            "reason": self.reason, "created_at": utc_text(self.created_at),
            "content_hash": self.content_hash, "rule_count": self.rule_count,
            "source_identity": self.source_identity,
        }


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One decision, as stored."""

    id: int
    broker: str
    broker_id: str
    layer: str
    action: str
    rule_version: int | None
    rule_key: str | None
    model: str | None
    confidence: str | None
    account: str | None
    debit: str | None
    credit: str | None
    amount: Decimal
    activity_type: str
    subtype: str | None
    description: str
    symbol: str | None
    occurred_at: datetime
    tokens: tuple[str, ...]
    entry_id: int | None
    reversal_entry_id: int | None
    supersedes_id: int | None
    actor: str
    reason: str
    decided_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "broker": self.broker, "broker_id": self.broker_id,
            "layer": self.layer, "action": self.action, "rule_version": self.rule_version,
            "rule": self.rule_key, "model": self.model, "confidence": self.confidence,
            "account": self.account, "debit": self.debit, "credit": self.credit,
            "amount": plain(self.amount), "entry_id": self.entry_id,
            "reversal_entry_id": self.reversal_entry_id, "supersedes": self.supersedes_id,
            "actor": self.actor, "reason": self.reason,
            "decided_at": utc_text(self.decided_at),
        }

    def record(self, currency: str) -> MappingRecord:
        """The record this decision was about."""
        return MappingRecord(
            broker=self.broker, broker_id=self.broker_id, activity_type=self.activity_type,
            amount=self.amount, currency=currency, occurred_at=self.occurred_at,
            description=self.description, subtype=self.subtype, symbol=self.symbol,
        )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One state of one queue item, as stored."""

    id: int
    broker: str
    broker_id: str
    state: str
    reason: str
    detail: str
    record_hash: str | None
    broker_record_id: int | None
    activity_type: str
    subtype: str | None
    description: str
    symbol: str | None
    amount: Decimal
    currency: str
    occurred_at: datetime
    suggestions: list[dict[str, Any]]
    rule_version: int | None
    decision_id: int | None
    entry_id: int | None
    created_at: datetime


# -- versions and rules ---------------------------------------------------------------------

_VERSION_SQL = (
    "SELECT id, version, action, active, source_version, author, reason, created_at_utc, "
    "content_hash, rule_count, source_identity FROM coa_mapping_versions"
)


def _version(row: tuple[Any, ...]) -> VersionRow:
    return VersionRow(int(row[0]), int(row[1]), str(row[2]), bool(row[3]),
                      None if row[4] is None else int(row[4]), str(row[5]), str(row[6]),
                      datetime.fromisoformat(row[7]), str(row[8]), int(row[9]),
                      None if row[10] is None else str(row[10]))


def versions(connection: sqlite3.Connection) -> list[VersionRow]:
    """Every version, oldest first."""
    return [_version(row) for row in connection.execute(f"{_VERSION_SQL} ORDER BY version")]


def version_row(connection: sqlite3.Connection, number: int) -> VersionRow | None:
    """Version `number`, or None."""
    row = connection.execute(f"{_VERSION_SQL} WHERE version = ?", (number,)).fetchone()
    return _version(row) if row else None


def active_version(connection: sqlite3.Connection) -> VersionRow | None:
    """The version in force: the newest one written active (None before the first)."""
    row = connection.execute(
        f"{_VERSION_SQL} WHERE active = 1 ORDER BY version DESC LIMIT 1").fetchone()
    return _version(row) if row else None


def newest_version_number(connection: sqlite3.Connection) -> int:
    """The highest version number (0 when there is none)."""
    (number,) = connection.execute(
        "SELECT COALESCE(MAX(version), 0) FROM coa_mapping_versions").fetchone()
    return int(number)


def rules_of(connection: sqlite3.Connection, version: VersionRow) -> RuleSet:
    """The rule set of `version`, read back exactly as written."""
    rules = []
    for (key, name, broker, activity_type, subtype, description, symbol, sign, low, high,
         debit, credit, enabled, origin) in connection.execute(
        "SELECT rule_key, name, broker, activity_type, subtype, description, symbol, sign, "
        "amount_min, amount_max, debit_account, credit_account, enabled, origin "
        "FROM coa_mapping_rules WHERE version_id = ? ORDER BY id", (version.id,)
    ):
        rules.append(Rule(
            id=key, name=name, broker=broker, activity_type=activity_type, subtype=subtype,
            description=description, symbol=symbol, sign=sign,
            amount_min=None if low is None else from_scaled(int(low), MONEY_PLACES),
            amount_max=None if high is None else from_scaled(int(high), MONEY_PLACES),
            debit=debit, credit=credit, enabled=bool(enabled), origin=origin,
        ))
    return RuleSet(rules)


def rule_rows(version_ref: object, rules: RuleSet) -> list[dict[str, object]]:
    """The `coa_mapping_rules` rows of `rules` for the version row `version_ref`."""
    return [{
        "version_id": version_ref, "rule_key": rule.id, "name": rule.name,
        "broker": rule.broker, "activity_type": rule.activity_type, "subtype": rule.subtype,
        "description": rule.description, "symbol": rule.symbol, "sign": rule.sign,
        "amount_min": rule.amount_min, "amount_max": rule.amount_max,
        "debit_account": rule.debit, "credit_account": rule.credit,
        "enabled": rule.enabled, "origin": rule.origin,
    } for rule in rules]


# -- decisions --------------------------------------------------------------------------------

_DECISION_SQL = (
    "SELECT id, broker, broker_id, layer, action, rule_version, rule_key, model, confidence, "
    "account, debit_account, credit_account, amount, activity_type, subtype, description, "
    "symbol, occurred_at_utc, tokens, entry_id, reversal_entry_id, supersedes_id, actor, "
    "reason, decided_at_utc FROM mapping_decisions"
)


def _decision(row: tuple[Any, ...]) -> DecisionRow:
    return DecisionRow(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
        None if row[5] is None else int(row[5]), row[6], row[7], row[8], row[9], row[10],
        row[11], from_scaled(int(row[12]), MONEY_PLACES), str(row[13]), row[14],
        str(row[15]), row[16], datetime.fromisoformat(row[17]),
        tuple(json.loads(row[18] or "[]")),
        None if row[19] is None else int(row[19]), None if row[20] is None else int(row[20]),
        None if row[21] is None else int(row[21]), str(row[22]), str(row[23]),
        datetime.fromisoformat(row[24]),
    )



def decision(connection: sqlite3.Connection, decision_id: int) -> DecisionRow | None:
    """Decision `decision_id`, or None."""
    row = connection.execute(f"{_DECISION_SQL} WHERE id = ?", (decision_id,)).fetchone()
    return _decision(row) if row else None


def decisions_of(connection: sqlite3.Connection, broker_id: str) -> list[DecisionRow]:
    """Every decision on one record, oldest first."""
    return [_decision(row) for row in connection.execute(
        f"{_DECISION_SQL} WHERE broker_id = ? ORDER BY id", (broker_id,))]


def standing_decisions(connection: sqlite3.Connection,
                       broker_ids: Iterable[str]) -> dict[str, DecisionRow]:
    """The decision in force for each of `broker_ids` that has one (an undo leaves none)."""
    wanted = json.dumps(sorted(set(broker_ids)))
    found: dict[str, DecisionRow] = {}
    for row in connection.execute(
        f"{_DECISION_SQL} WHERE broker_id IN (SELECT value FROM json_each(?)) ORDER BY id",  # noqa: S608 (fixed column lists)
        (wanted,),
    ):
        current = _decision(row)
        if current.action == "undo":
            found.pop(current.broker_id, None)
        else:
            found[current.broker_id] = current
    return found


def precedents(connection: sqlite3.Connection) -> list[Precedent]:
    """What the model learns from: every operator decision (a reclassification of the
    bot's own mapping included) that no later decision superseded, oldest first."""
    rows = connection.execute(
        "SELECT d.id, d.account, d.tokens FROM mapping_decisions d "  # noqa: S608 (fixed column lists)
        "WHERE d.layer = 'operator' AND d.account IS NOT NULL "
        f"AND d.action IN ({', '.join(repr(a) for a in LEARNING_ACTIONS)}) "
        "AND NOT EXISTS (SELECT 1 FROM mapping_decisions s WHERE s.supersedes_id = d.id) "
        "ORDER BY d.id"
    )
    return [Precedent(int(i), str(account), tuple(json.loads(tokens or "[]")))
            for i, account, tokens in rows]


# -- the queue --------------------------------------------------------------------------------

_QUEUE_COLUMNS = (
    "id, broker, broker_id, state, reason, detail, record_hash, broker_record_id, "
    "activity_type, subtype, description, symbol, amount, currency_code, occurred_at_utc, "
    "suggestions, rule_version, decision_id, entry_id, created_at_utc"
)
LATEST_QUEUE_ROW = (
    "NOT EXISTS (SELECT 1 FROM mapping_queue n WHERE n.broker_id = q.broker_id "
    "AND n.id > q.id)"
)


def _queue(row: tuple[Any, ...]) -> QueueRow:
    return QueueRow(
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]), row[6],
        None if row[7] is None else int(row[7]), str(row[8]), row[9], str(row[10]), row[11],
        from_scaled(int(row[12]), MONEY_PLACES), str(row[13]), datetime.fromisoformat(row[14]),
        list(json.loads(row[15] or "[]")), None if row[16] is None else int(row[16]),
        None if row[17] is None else int(row[17]), None if row[18] is None else int(row[18]),
        datetime.fromisoformat(row[19]),
    )


def queue_states(connection: sqlite3.Connection,
                 broker_ids: Iterable[str] | None = None) -> dict[str, QueueRow]:
    """The newest queue row of each item (of `broker_ids`, default all)."""
    if broker_ids is None:
        rows = connection.execute(
            f"SELECT {_QUEUE_COLUMNS} FROM mapping_queue q WHERE {LATEST_QUEUE_ROW}")  # noqa: S608 (fixed column lists)
    else:
        rows = connection.execute(
            f"SELECT {_QUEUE_COLUMNS} FROM mapping_queue q "  # noqa: S608 (fixed column lists)
            f"WHERE broker_id IN (SELECT value FROM json_each(?)) AND {LATEST_QUEUE_ROW}",
            (json.dumps(sorted(set(broker_ids))),),
        )
    return {item.broker_id: item for item in map(_queue, rows)}


def queue_page(connection: sqlite3.Connection, *, state: str = "queued",
               search: str | None = None, activity_type: str | None = None, limit: int = 100,
               offset: int = 0) -> tuple[int, list[QueueRow]]:
    """(how many items match, one page of them newest first): items whose newest row is in
    `state` (`all`: any), of `activity_type` (any case), whose broker id, type, description
    or symbol contains `search` (any case). Filtered, counted and paged in SQL, so a page of
    a 10,000-item queue does not read the other 9,900."""
    clauses = [LATEST_QUEUE_ROW]
    parameters: list[object] = []
    if state != "all":
        clauses.append("q.state = ?")
        parameters.append(state)
    if activity_type:
        clauses.append("upper(q.activity_type) = upper(?)")
        parameters.append(activity_type)
    if search:
        clauses.append(
            "instr(lower(q.broker_id || ' ' || q.activity_type || ' ' || q.description || ' '"
            " || coalesce(q.symbol, '')), lower(?)) > 0")
        parameters.append(search)
    where = " AND ".join(clauses)
    (total,) = connection.execute(
        f"SELECT COUNT(*) FROM mapping_queue q WHERE {where}", parameters).fetchone()  # noqa: S608 (fixed clauses)
    # The page's ids first: sorting whole rows (suggestions and all) costs three times more.
    ids = [row_id for (row_id,) in connection.execute(
        f"SELECT q.id FROM mapping_queue q WHERE {where} "  # noqa: S608 (fixed clauses)
        "ORDER BY q.occurred_at_utc DESC, q.id DESC LIMIT ? OFFSET ?",
        (*parameters, max(1, int(limit)), max(0, int(offset))))]
    rows = {row[0]: _queue(row) for row in connection.execute(
        f"SELECT {_QUEUE_COLUMNS} FROM mapping_queue "  # noqa: S608 (fixed column lists)
        "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))}
    return int(total), [rows[row_id] for row_id in ids]


def queue_item(connection: sqlite3.Connection, item_id: int) -> QueueRow | None:
    """Queue row `item_id` (any row of an item names it), or None."""
    row = connection.execute(
        f"SELECT {_QUEUE_COLUMNS} FROM mapping_queue WHERE id = ?", (item_id,)).fetchone()  # noqa: S608 (fixed column lists)
    return _queue(row) if row else None


def queue_history(connection: sqlite3.Connection, broker_id: str) -> list[QueueRow]:
    """Every state of one item, oldest first."""
    return [_queue(row) for row in connection.execute(
        f"SELECT {_QUEUE_COLUMNS} FROM mapping_queue WHERE broker_id = ? ORDER BY id",  # noqa: S608 (fixed column lists)
        (broker_id,))]


def waiting(connection: sqlite3.Connection) -> list[QueueRow]:
    """Every item waiting for a person, newest first."""
    return [_queue(row) for row in connection.execute(
        f"SELECT {_QUEUE_COLUMNS} FROM mapping_queue q WHERE state = 'queued' AND "  # noqa: S608 (fixed column lists)
        f"{LATEST_QUEUE_ROW} ORDER BY occurred_at_utc DESC, id DESC")]

