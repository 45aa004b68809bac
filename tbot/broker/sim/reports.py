"""The simulated broker's raw reports and their normalizers.

Like a remote broker, the simulated one reports each fill and cash activity as a raw
payload shaped like Alpaca's account activities: plain JSON types, money and quantities as
the exact text its state file holds, times in the broker's own zone (America/New_York) with
their offset. The payload is built from the state rows on every call, never stored, so it is
byte-for-byte the same (and its SHA-256 too) until the broker's books change.

The normalizers turn one payload into a `FillReport` / `CashReport`, or a `RefusedReport`
naming the field at fault; one bad payload never stops the rest of a page.

Fill payload::

    {"id", "activity_type": "FILL", "type": "fill" | "partial_fill", "transaction_time",
     "symbol", "side": "buy" | "sell", "qty", "price", "fee", "order_id", "client_order_id",
     "order_status", "cum_qty", "leaves_qty", "status": "executed" | "pending"}

Cash payload::

    {"id", "activity_type", "date": "YYYY-MM-DD", "transaction_time", "net_amount",
     "description", ["symbol"], "status": "executed" | "pending"}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from tbot.broker.models import BrokerFill, CashActivity, OrderSide, OrderStatus
from tbot.broker.reports import (
    CashReport,
    FillReport,
    Provenance,
    RefusedReport,
    ReportKind,
    ReportMalformed,
    required_aware_time,
    required_decimal,
    required_text,
)
from tbot.broker.sim.execution import exact_arithmetic
from tbot.broker.sim.state_store import StoredActivity, StoredFill

E = TypeVar("E", OrderSide, OrderStatus)

BROKER_ZONE = ZoneInfo("America/New_York")
"""The zone the simulated broker writes its timestamps in, as a US broker does."""
FILL_ACTIVITY_TYPE = "FILL"
EXECUTED = "executed"
PENDING = "pending"
REPORT_STATUSES = (EXECUTED, PENDING)
FILL_TYPES = ("fill", "partial_fill")
"""``fill``: the execution that completed its order; ``partial_fill``: any other."""

FILL_FIELDS = frozenset({
    "id", "activity_type", "type", "transaction_time", "symbol", "side", "qty", "price",
    "fee", "order_id", "client_order_id", "order_status", "cum_qty", "leaves_qty", "status",
})
"""The fields a fill payload is read from; any other goes to the report's metadata."""
CASH_FIELDS = frozenset({
    "id", "activity_type", "date", "transaction_time", "net_amount", "description",
    "symbol", "status",
})
"""The fields a cash payload is read from; any other goes to the report's metadata."""


# -- building payloads ------------------------------------------------------------------------


def broker_local_time(moment: datetime) -> str:
    """`moment` as the broker writes it: ISO 8601 in America/New_York with its offset."""
    return moment.astimezone(BROKER_ZONE).isoformat()


def fill_payload(fill: StoredFill, *, now: datetime) -> dict[str, Any]:
    """The raw payload the broker reports for `fill` at `now` (its status is ``pending``
    while `now` is before the fill's `pending_until`)."""
    with exact_arithmetic():
        leaves = Decimal(fill.order_quantity) - fill.cumulative_quantity
    pending = fill.pending_until is not None and now < fill.pending_until
    return {
        "id": fill.fill_id,
        "activity_type": FILL_ACTIVITY_TYPE,
        "type": "fill" if leaves == 0 else "partial_fill",
        "transaction_time": broker_local_time(fill.filled_at),
        "symbol": fill.symbol,
        "side": fill.side,
        "qty": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "order_status": fill.order_status,
        # Computed, not stored: fixed-point text, so a tiny quantity never reads as 1E-9.
        "cum_qty": format(fill.cumulative_quantity, "f"),
        "leaves_qty": format(leaves, "f"),
        "status": PENDING if pending else EXECUTED,
    }


def cash_payload(activity: StoredActivity) -> dict[str, Any]:
    """The raw payload the broker reports for `activity` (the simulated broker posts every
    cash activity as executed; ``symbol`` is left out when there is none)."""
    local = activity.occurred_at.astimezone(BROKER_ZONE)
    payload: dict[str, Any] = {
        "id": activity.activity_id,
        "activity_type": activity.activity_type,
        "date": local.date().isoformat(),
        "transaction_time": local.isoformat(),
        "net_amount": activity.amount,
        "description": activity.description,
        "status": EXECUTED,
    }
    if activity.symbol is not None:
        payload["symbol"] = activity.symbol
    return payload


# -- normalizing payloads ---------------------------------------------------------------------


def normalize_fill_payload(raw: Mapping[str, Any], *, source: str) -> FillReport | RefusedReport:
    """`raw` as a `FillReport` (final when its status is ``executed`` and its order is
    final), or a `RefusedReport` naming the field that cannot be read. `source` is the
    adapter call that fetched it."""
    raw = dict(raw)  # a snapshot: the hash must keep matching what is kept
    provenance = _provenance(raw, source)
    try:
        fill, final = _read_fill(raw)
    except ReportMalformed as problem:
        return RefusedReport(ReportKind.FILL, _broker_id(raw), str(problem), provenance)
    return FillReport(fill, final, provenance, metadata=_extra_fields(raw, FILL_FIELDS))


def normalize_cash_payload(raw: Mapping[str, Any], *, source: str) -> CashReport | RefusedReport:
    """`raw` as a `CashReport` (final when its status is ``executed``), or a
    `RefusedReport` naming the field that cannot be read."""
    raw = dict(raw)
    provenance = _provenance(raw, source)
    try:
        activity, final = _read_cash(raw)
    except ReportMalformed as problem:
        return RefusedReport(ReportKind.CASH, _broker_id(raw), str(problem), provenance)
    return CashReport(activity, final, provenance, metadata=_extra_fields(raw, CASH_FIELDS))


def _read_fill(raw: Mapping[str, Any]) -> tuple[BrokerFill, bool]:
    fill_id = required_text(raw, "id")
    activity_type = required_text(raw, "activity_type")
    if activity_type != FILL_ACTIVITY_TYPE:
        raise ReportMalformed(
            f"field 'activity_type' is {activity_type!r}, not {FILL_ACTIVITY_TYPE!r}: "
            "not a fill"
        )
    fill_type = raw.get("type")
    if fill_type is not None and fill_type not in FILL_TYPES:
        raise ReportMalformed(f"field 'type' is {fill_type!r}, not one of {FILL_TYPES}")
    side = _member(raw, "side", OrderSide)
    quantity = required_decimal(raw, "qty", positive=True)
    price = required_decimal(raw, "price", positive=True)
    fee = required_decimal(raw, "fee", non_negative=True)
    filled_at = required_aware_time(raw, "transaction_time").astimezone(UTC)
    for optional in ("cum_qty", "leaves_qty"):
        if raw.get(optional) is not None:
            required_decimal(raw, optional, non_negative=True)
    order_status = _member(raw, "order_status", OrderStatus)
    status = _status(raw)
    fill = BrokerFill(
        fill_id=fill_id,
        order_id=required_text(raw, "order_id"),
        client_order_id=required_text(raw, "client_order_id"),
        symbol=required_text(raw, "symbol"),
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
        filled_at=filled_at,
    )
    return fill, status == EXECUTED and order_status.is_final


def _read_cash(raw: Mapping[str, Any]) -> tuple[CashActivity, bool]:
    activity_id = required_text(raw, "id")
    activity_type = required_text(raw, "activity_type")
    if activity_type == FILL_ACTIVITY_TYPE:
        raise ReportMalformed("field 'activity_type' is 'FILL': a trade, not a cash activity")
    amount = required_decimal(raw, "net_amount")
    moment = required_aware_time(raw, "transaction_time")
    day = raw.get("date")
    if day is not None:
        _check_local_date(day, moment)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise ReportMalformed(f"field 'description' is not text: {description!r}")
    symbol = raw.get("symbol")
    if symbol is not None:
        symbol = required_text(raw, "symbol")
    status = _status(raw)
    activity = CashActivity(
        activity_id=activity_id,
        activity_type=activity_type,
        amount=amount,
        occurred_at=moment.astimezone(UTC),
        description=description or "",
        symbol=symbol,
    )
    return activity, status == EXECUTED


def _check_local_date(day: object, moment: datetime) -> None:
    """The payload's ``date`` must be the transaction's date on the broker's own clock."""
    try:
        parsed = date.fromisoformat(day) if isinstance(day, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ReportMalformed(f"field 'date' is not an ISO date: {day!r}")
    if parsed != moment.date():
        raise ReportMalformed(
            f"field 'date' {day} is not the date of 'transaction_time' {moment.isoformat()}"
        )


def _member(raw: Mapping[str, Any], name: str, kind: type[E]) -> E:
    text = required_text(raw, name)
    try:
        return kind(text)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ReportMalformed(f"field {name!r} is {text!r}, not one of {known}") from None


def _status(raw: Mapping[str, Any]) -> str:
    status = required_text(raw, "status")
    if status not in REPORT_STATUSES:
        raise ReportMalformed(
            f"field 'status' is {status!r}, not one of {', '.join(REPORT_STATUSES)}"
        )
    return status


def _provenance(raw: Mapping[str, Any], source: str) -> Provenance:
    local = raw.get("transaction_time")
    return Provenance.of(
        raw, broker_local_time=local if isinstance(local, str) else None, source=source
    )


def _broker_id(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("id")
    return value if isinstance(value, str) and value.strip() else None


def _extra_fields(raw: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in raw.items() if name not in known}
