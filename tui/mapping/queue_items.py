"""The mapping methods' answers as plain data: queue items, their suggestions, and what an
assignment would post (`mapping.queue`, `mapping.assign` with `dry_run`; docs/protocol.md,
"Mapping").

A malformed answer raises `SnapshotError` naming the field, so the view shows one error
line and keeps the last good page instead of failing half-way through a list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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
    record = _object(result, QUEUE_METHOD)
    items = _list(record, "items", QUEUE_METHOD)
    parsed = tuple(_item(item, f"{QUEUE_METHOD} item {index}") for index, item in
                   enumerate(items))
    return QueuePage(total=_int(record, "total", QUEUE_METHOD, default=len(parsed)),
                     items=parsed)


def parse_assign(result: object) -> AssignPreview:
    """A `mapping.assign` result (a dry run's or a real one's)."""
    what = ASSIGN_METHOD
    record = _object(result, what)
    entries = tuple(_entry(entry, f"{what} entry {index}")
                    for index, entry in enumerate(_list(record, "entries", what, optional=True)))
    return AssignPreview(
        item=_int(record, "item", what),
        account=_text(record, "account", what),
        action=_text(record, "action", what, optional=True) or "post",
        debit=_text(record, "debit", what, optional=True),
        credit=_text(record, "credit", what, optional=True),
        amount=_decimal(record, "amount", what),
        rule_version=_optional_int(record, "rule_version", what),
        entries=entries,
        unchanged=record.get("unchanged") is True,
        decision_id=_optional_int(record, "decision_id", what),
    )


def _item(value: object, what: str) -> QueueItem:
    record = _object(value, what)
    suggestions = _list(record, "suggestions", what, optional=True)
    return QueueItem(
        id=_int(record, "id", what),
        broker_id=_text(record, "broker_id", what),
        state=_text(record, "state", what),
        reason=_text(record, "reason", what, optional=True),
        detail=_text(record, "detail", what, optional=True),
        broker=_text(record, "broker", what, optional=True),
        activity_type=_text(record, "activity_type", what),
        subtype=_text(record, "subtype", what, optional=True),
        description=_text(record, "description", what, optional=True),
        symbol=_text(record, "symbol", what, optional=True),
        amount=_decimal(record, "amount", what),
        currency=_text(record, "currency", what, optional=True),
        occurred_at=parse_time(record.get("occurred_at"), f"{what}.occurred_at"),
        record_hash=_text(record, "record_hash", what, optional=True),
        suggestions=tuple(_suggestion(s, f"{what} suggestion {n}")
                          for n, s in enumerate(suggestions)),
        decision_id=_optional_int(record, "decision_id", what),
        entry_id=_optional_int(record, "entry_id", what),
        since=parse_time(record.get("since"), f"{what}.since"),
    )


def _suggestion(value: object, what: str) -> Suggestion:
    record = _object(value, what)
    confidence = record.get("confidence")
    if confidence is not None and (isinstance(confidence, bool)
                                   or not isinstance(confidence, int | float)):
        raise SnapshotError(f"{what}: field 'confidence' must be a number, got {confidence!r}")
    return Suggestion(
        account=_text(record, "account", what),
        name=_text(record, "name", what, optional=True),
        confidence=None if confidence is None else float(confidence),
        reasons=tuple(str(reason) for reason in _list(record, "reasons", what, optional=True)),
        precedents=tuple(_whole(p, f"{what}.precedents")
                         for p in _list(record, "precedents", what, optional=True)),
        source=_text(record, "source", what, optional=True),
        evidence=_text(record, "evidence", what, optional=True),
    )


def _entry(value: object, what: str) -> PreviewEntry:
    record = _object(value, what)
    postings = tuple(
        PreviewPosting(account=_text(p, "account", f"{what} posting"),
                       amount=_decimal(p, "amount", f"{what} posting"))
        for p in (_object(item, f"{what} posting")
                  for item in _list(record, "postings", what, optional=True))
    )
    reverses = record.get("reverses")
    return PreviewEntry(
        fitid=_text(record, "fitid", what),
        memo=_text(record, "memo", what, optional=True),
        trntype=_text(record, "trntype", what, optional=True),
        dtposted=parse_time(record.get("dtposted"), f"{what}.dtposted"),
        postings=postings,
        reverses=str(reverses) if reverses is not None else None,
    )


# -- field helpers ------------------------------------------------------------------------------


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _list(record: Mapping[str, Any], name: str, what: str, *,
          optional: bool = False) -> Sequence[object]:
    value = record.get(name)
    if value is None and optional:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise SnapshotError(f"{what}: field {name!r} must be a list, got {value!r}")
    return value


def _text(record: Mapping[str, Any], name: str, what: str, *, optional: bool = False) -> str:
    value = record.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise SnapshotError(f"{what}: field {name!r} must be text, got {value!r}")
    return value


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{what}: expected a whole number, got {value!r}")
    return value


def _int(record: Mapping[str, Any], name: str, what: str, *, default: int | None = None) -> int:
    if name not in record and default is not None:
        return default
    return _whole(record.get(name), f"{what}.{name}")


def _optional_int(record: Mapping[str, Any], name: str, what: str) -> int | None:
    value = record.get(name)
    return None if value is None else _whole(value, f"{what}.{name}")


def _decimal(record: Mapping[str, Any], name: str, what: str) -> Decimal:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SnapshotError(f"{what}: field {name!r} must be a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SnapshotError(f"{what}: field {name!r} is not a number: {value!r}") from None
    if not number.is_finite():
        raise SnapshotError(f"{what}: field {name!r} is not finite: {value!r}")
    return number
