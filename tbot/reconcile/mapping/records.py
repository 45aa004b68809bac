"""The broker cash record as the mapping layers see it, and the tokens they learn from.

A `MappingRecord` is built from a normalized `CashReport` (or from a stored queue row): the
broker's own vocabulary (activity type and subtype, description, symbol) is kept exactly as
sent, and the amount stays a signed `Decimal` from the account's view (positive = cash in).

`tokens()` is the record's feature set for the learned layer: a small, stable vocabulary
(`type=FEE`, `sign=-`, `word=opra`...) that is stored with every operator decision, so the
model can be rebuilt from the decision history alone, whatever the broker sends later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tbot.broker.reports import CashReport
from tbot.clock import utc_text
from tbot.reconcile.compare import plain

SUBTYPE_FIELDS = ("activity_sub_type", "activity_subtype", "subtype", "sub_type")
"""Where brokers put an activity's subtype (Alpaca: ``activity_sub_type``); the first
present in the report's extra fields wins."""
_WORD = re.compile(r"[a-z][a-z0-9]+")
_STOP_WORDS = frozenset({"of", "on", "the", "for", "to", "in", "at", "by", "and", "a", "an"})


@dataclass(frozen=True, slots=True)
class MappingRecord:
    """One cash activity to map: what the rules match and the model reads."""

    broker: str
    broker_id: str
    activity_type: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    description: str = ""
    subtype: str | None = None
    symbol: str | None = None
    record_hash: str | None = None

    @property
    def sign(self) -> str:
        """``+`` for cash in, ``-`` for cash out."""
        return "+" if self.amount > 0 else "-"

    def tokens(self) -> tuple[str, ...]:
        """The record's features, deduplicated, in a stable order."""
        found: dict[str, None] = {}
        found[f"broker={self.broker}"] = None
        found[f"type={self.activity_type.upper()}"] = None
        found[f"sign={self.sign}"] = None
        found[f"type_sign={self.activity_type.upper()}{self.sign}"] = None
        if self.subtype:
            found[f"subtype={self.subtype.upper()}"] = None
        found["symbol=yes" if self.symbol else "symbol=no"] = None
        if self.symbol:
            found[f"symbol={self.symbol.upper()}"] = None
        for word in _WORD.findall(self.description.lower()):
            if word not in _STOP_WORDS:
                found[f"word={word}"] = None
        found[f"size={magnitude(self.amount)}"] = None
        return tuple(found)

    def fields(self) -> dict[str, Any]:
        """The record as JSON-ready fields (what a queue row stores and a console shows)."""
        return {
            "broker": self.broker,
            "broker_id": self.broker_id,
            "activity_type": self.activity_type,
            "subtype": self.subtype,
            "description": self.description,
            "symbol": self.symbol,
            "amount": plain(self.amount),
            "currency": self.currency,
            "occurred_at": utc_text(self.occurred_at),
            "record_hash": self.record_hash,
        }


def magnitude(amount: Decimal) -> str:
    """The order of magnitude of |amount| as a token value: ``0`` for 1-9.99, ``2`` for
    100-999.99, ``-1`` for 0.10-0.99; ``zero`` for 0."""
    if amount == 0:
        return "zero"
    return str(math.floor(math.log10(abs(float(amount)))))


def record_from_report(report: CashReport, broker: str, currency: str) -> MappingRecord:
    """The mapping view of a normalized cash report."""
    activity = report.activity
    return MappingRecord(
        broker=broker,
        broker_id=activity.activity_id,
        activity_type=activity.activity_type,
        amount=activity.amount,
        currency=currency,
        occurred_at=activity.occurred_at,
        description=activity.description or "",
        subtype=subtype_of(report.metadata),
        symbol=activity.symbol,
        record_hash=report.provenance.sha256,
    )


def subtype_of(metadata: Mapping[str, Any]) -> str | None:
    """The activity's subtype from a report's extra fields, if the broker sent one."""
    for name in SUBTYPE_FIELDS:
        value = metadata.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
