"""Broker reports with provenance: what sync and reconciliation read from a broker.

An adapter's trade and cash reports are normalized records (`BrokerFill`, `CashActivity`)
that keep the payload exactly as the broker sent it, its SHA-256 over a canonical encoding,
the broker's own local timestamp beside the UTC one, and whether the broker calls the
record final. A payload that cannot be normalized (a required field missing, a
non-numeric amount, an unknown side, a naive timestamp) becomes a `RefusedReport` naming
the problem: it is reported on its own and never stops the rest of the page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from tbot.broker.models import BrokerFill, CashActivity

REPORT_SCHEMA_VERSION = 1
"""Version of the normalized report shape; stored beside every record sync keeps."""


class ReportKind(StrEnum):
    """What a broker report is about."""

    FILL = "fill"
    CASH = "cash"


class ReportMalformed(ValueError):
    """A broker payload that cannot be normalized; the message names the field."""


def canonical_json(payload: Mapping[str, Any]) -> str:
    """`payload` as canonical JSON: sorted keys, no spaces, UTF-8 kept, Decimals as text.
    The same payload always gives the same text, whatever order its keys arrived in."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def payload_sha256(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of `payload`'s canonical JSON."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a record came from: the payload as sent, its hash, the broker's own clock."""

    raw: Mapping[str, Any]
    sha256: str
    broker_local_time: str | None
    """The record's timestamp as the broker wrote it (its own zone or format), None when
    the payload has none."""
    source: str
    """The adapter call that fetched it, e.g. ``fetch_fill_reports``."""

    canonical: str = ""
    """`raw` as canonical JSON: the exact text the hash is over (and what is kept)."""

    @classmethod
    def of(cls, raw: Mapping[str, Any], *, broker_local_time: str | None,
           source: str) -> Provenance:
        """Provenance of `raw` with its canonical text and hash computed here."""
        text = canonical_json(raw)
        return cls(raw=raw, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                   broker_local_time=broker_local_time, source=source, canonical=text)


@dataclass(frozen=True, slots=True)
class FillReport:
    """One execution as the broker reports it. `final` is False while the broker still
    calls it pending (not settled, or its order still working): sync follows it up."""

    fill: BrokerFill
    final: bool
    provenance: Provenance
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Payload fields the normalized record has no place for (kept as json_metadata)."""

    @property
    def broker_id(self) -> str:
        """The broker's id of the record (the ledger's FITID when booked)."""
        return self.fill.fill_id

    @property
    def kind(self) -> ReportKind:
        return ReportKind.FILL


@dataclass(frozen=True, slots=True)
class CashReport:
    """One non-trade cash movement as the broker reports it."""

    activity: CashActivity
    final: bool
    provenance: Provenance
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def broker_id(self) -> str:
        return self.activity.activity_id

    @property
    def kind(self) -> ReportKind:
        return ReportKind.CASH


@dataclass(frozen=True, slots=True)
class RefusedReport:
    """A payload that could not be normalized: kept with its hash and the reason."""

    kind: ReportKind
    broker_id: str | None
    reason: str
    provenance: Provenance


Report = FillReport | CashReport | RefusedReport


# -- field readers for adapters' normalizers ---------------------------------------------------


def required_text(raw: Mapping[str, Any], name: str) -> str:
    """Field `name` as non-empty text; ReportMalformed otherwise."""
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ReportMalformed(f"field {name!r} is missing or empty")
    return value


def required_decimal(raw: Mapping[str, Any], name: str, *, positive: bool = False,
                     non_negative: bool = False) -> Decimal:
    """Field `name` (text or a number, never a float's binary guess) as a finite Decimal."""
    value = raw.get(name)
    if value is None or isinstance(value, bool):
        raise ReportMalformed(f"field {name!r} is missing")
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str | int | float) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ReportMalformed(f"field {name!r} is not a number: {value!r}")
    if positive and number <= 0:
        raise ReportMalformed(f"field {name!r} must be above zero, not {number}")
    if non_negative and number < 0:
        raise ReportMalformed(f"field {name!r} must not be negative, not {number}")
    return number


def required_aware_time(raw: Mapping[str, Any], name: str) -> datetime:
    """Field `name` as an aware datetime (ISO 8601 with an offset or ``Z``); a naive
    timestamp is refused, never guessed to be UTC."""
    text = required_text(raw, name)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReportMalformed(f"field {name!r} is not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ReportMalformed(f"field {name!r} has no time zone: {text!r}")
    return moment
