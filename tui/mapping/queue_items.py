"""The mapping methods' answers as plain data: queue items, their suggestions, and what an
assignment would post (`mapping.queue`, `mapping.assign` with `dry_run`; docs/protocol.md,
"Mapping").

A malformed answer raises `SnapshotError` naming the field, so the view shows one error
line and keeps the last good page instead of failing half-way through a list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tui.mapping.fields import (
    expect_decimal,
    expect_int,
    expect_list,
    expect_object,
    expect_text,
    expect_whole,
    optional_int,
)
from tui.model.snapshot import SnapshotError, parse_time

QUEUE_METHOD = "mapping.queue"
ASSIGN_METHOD = "mapping.assign"


@dataclass(frozen=True)
class Suggestion:
    """An account the engine proposes for an item, and why."""

    account: str
    name: str
    confidence: float | None
    """0 to 1; None for a rule of an ambiguous tie (no figure, one of them is meant)."""
    reasons: tuple[str, ...]
    precedents: tuple[int, ...]
    """Ids of earlier decisions most like this record."""
    source: str
    """`learned`, `similar-rule` or `tied-rule`."""
    evidence: str = ""
    """For a learned suggestion, e.g. `3 of 4 decisions of this kind`."""

    @property
    def source_label(self) -> str:
        """`similar rule` for people."""
        return self.source.replace("-", " ")


@dataclass(frozen=True)
class QueueItem:
    """One broker record in the mapping queue."""

    id: int
    broker_id: str
    state: str
    reason: str
    detail: str
    broker: str
    activity_type: str
    subtype: str
    description: str
    symbol: str
    amount: Decimal
    currency: str
    occurred_at: datetime | None
    record_hash: str
    suggestions: tuple[Suggestion, ...]
    decision_id: int | None
    entry_id: int | None
    since: datetime | None

    @property
    def key(self) -> str:
        """The grid's row key."""
        return str(self.id)

    @property
    def top(self) -> Suggestion | None:
        """The best suggestion, if any."""
        return self.suggestions[0] if self.suggestions else None


@dataclass(frozen=True)
class QueuePage:
    """One `mapping.queue` answer."""

    total: int
    """Items matching the query, of which `items` is one page (newest first)."""
    items: tuple[QueueItem, ...]


@dataclass(frozen=True)
class PreviewPosting:
    """One line of an entry an assignment would post."""

    account: str
    amount: Decimal


@dataclass(frozen=True)
class PreviewEntry:
    """An entry an assignment would post (or, reclassifying, reverse)."""

    fitid: str
    memo: str
    trntype: str
    dtposted: datetime | None
    postings: tuple[PreviewPosting, ...]
    reverses: str | None = None


@dataclass(frozen=True)
class AssignPreview:
    """A `mapping.assign` answer: what was (or, for a dry run, would be) posted."""

    item: int
    account: str
    action: str
    """`post`, `adopt` (the ledger already books it there: nothing posted) or `reclassify`."""
    debit: str
    credit: str
    amount: Decimal
    rule_version: int | None
    entries: tuple[PreviewEntry, ...]
    unchanged: bool
    """Already mapped to this account: nothing would be written."""
    decision_id: int | None


# -- parsing ------------------------------------------------------------------------------------


def parse_queue(result: object) -> QueuePage:
    """A `mapping.queue` result."""
    record = expect_object(result, QUEUE_METHOD)
    items = expect_list(record, "items", QUEUE_METHOD)
    parsed = tuple(_item(item, f"{QUEUE_METHOD} item {index}") for index, item in
                   enumerate(items))
    return QueuePage(total=expect_int(record, "total", QUEUE_METHOD, default=len(parsed)),
                     items=parsed)


def parse_assign(result: object) -> AssignPreview:
    """A `mapping.assign` result (a dry run's or a real one's)."""
    what = ASSIGN_METHOD
    record = expect_object(result, what)
    entries = tuple(_entry(entry, f"{what} entry {index}") for index, entry in
                    enumerate(expect_list(record, "entries", what, optional=True)))
    return AssignPreview(
        item=expect_int(record, "item", what),
        account=expect_text(record, "account", what),
        action=expect_text(record, "action", what, optional=True) or "post",
        debit=expect_text(record, "debit", what, optional=True),
        credit=expect_text(record, "credit", what, optional=True),
        amount=expect_decimal(record, "amount", what),
        rule_version=optional_int(record, "rule_version", what),
        entries=entries,
        unchanged=record.get("unchanged") is True,
        decision_id=optional_int(record, "decision_id", what),
    )


def _item(value: object, what: str) -> QueueItem:
    record = expect_object(value, what)
    suggestions = expect_list(record, "suggestions", what, optional=True)
    return QueueItem(
        id=expect_int(record, "id", what),
        broker_id=expect_text(record, "broker_id", what),
        state=expect_text(record, "state", what),
        reason=expect_text(record, "reason", what, optional=True),
        detail=expect_text(record, "detail", what, optional=True),
        broker=expect_text(record, "broker", what, optional=True),
        activity_type=expect_text(record, "activity_type", what),
        subtype=expect_text(record, "subtype", what, optional=True),
        description=expect_text(record, "description", what, optional=True),
        symbol=expect_text(record, "symbol", what, optional=True),
        amount=expect_decimal(record, "amount", what),
        currency=expect_text(record, "currency", what, optional=True),
        occurred_at=parse_time(record.get("occurred_at"), f"{what}.occurred_at"),
        record_hash=expect_text(record, "record_hash", what, optional=True),
        suggestions=tuple(_suggestion(s, f"{what} suggestion {n}")
                          for n, s in enumerate(suggestions)),
        decision_id=optional_int(record, "decision_id", what),
        entry_id=optional_int(record, "entry_id", what),
        since=parse_time(record.get("since"), f"{what}.since"),
    )


def _suggestion(value: object, what: str) -> Suggestion:
    record = expect_object(value, what)
    confidence = record.get("confidence")
    if confidence is not None and (isinstance(confidence, bool)
                                   or not isinstance(confidence, int | float)):
        raise SnapshotError(f"{what}: field 'confidence' must be a number, got {confidence!r}")
    return Suggestion(
        account=expect_text(record, "account", what),
        name=expect_text(record, "name", what, optional=True),
        confidence=None if confidence is None else float(confidence),
        reasons=tuple(str(reason) for reason in
                      expect_list(record, "reasons", what, optional=True)),
        precedents=tuple(expect_whole(p, f"{what}.precedents")
                         for p in expect_list(record, "precedents", what, optional=True)),
        source=expect_text(record, "source", what, optional=True),
        evidence=expect_text(record, "evidence", what, optional=True),
    )


def _entry(value: object, what: str) -> PreviewEntry:
    record = expect_object(value, what)
    postings = tuple(
        PreviewPosting(account=expect_text(p, "account", f"{what} posting"),
                       amount=expect_decimal(p, "amount", f"{what} posting"))
        for p in (expect_object(item, f"{what} posting")
                  for item in expect_list(record, "postings", what, optional=True))
    )
    reverses = record.get("reverses")
    return PreviewEntry(
        fitid=expect_text(record, "fitid", what),
        memo=expect_text(record, "memo", what, optional=True),
        trntype=expect_text(record, "trntype", what, optional=True),
        dtposted=parse_time(record.get("dtposted"), f"{what}.dtposted"),
        postings=postings,
        reverses=str(reverses) if reverses is not None else None,
    )
