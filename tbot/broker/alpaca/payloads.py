"""Alpaca's JSON, read into tbot's records: every number from its exact text into
`Decimal`, every time aware UTC, every activity type kept as sent (a type this code has
never heard of is still a cash activity for the mapping queue, never an error).

A payload missing what we need raises `MalformedBrokerRecordError` (account, positions,
orders: the caller must not mistake it for "flat") or becomes a `RefusedReport` naming the
field (activities: one bad record never stops a page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from tbot.broker.errors import MalformedBrokerRecordError
from tbot.broker.models import (
    AccountSnapshot,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CashActivity,
    OrderSide,
    OrderStatus,
)
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

MARKET_ZONE = ZoneInfo("America/New_York")
FILL_TYPE = "FILL"
SELL_SHORT_SIDE = "sell_short"
"""The side of a trade activity that sold short (Alpaca's orders themselves say ``sell``)."""
FILL_FIELDS = frozenset({"id", "activity_type", "transaction_time", "type", "price", "qty",
                         "side", "symbol", "leaves_qty", "cum_qty", "order_id",
                         "order_status"})
CASH_FIELDS = frozenset({"id", "activity_type", "date", "transaction_time", "net_amount",
                         "description", "symbol", "status"})
_STATUS = {
    "filled": OrderStatus.FILLED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "suspended": OrderStatus.REJECTED,
}
"""Alpaca's order statuses that are not simply 'working' (new, accepted, pending_new,
done_for_day, pending_cancel, held, calculated...: all NEW to the engine)."""


def _decimal(raw: Mapping[str, Any], name: str, what: str, *, optional: bool = False
             ) -> Decimal | None:
    value = raw.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedBrokerRecordError(f"{what}: field {name!r} is {value!r}, not a number "
                                         "as text")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MalformedBrokerRecordError(f"{what}: field {name!r} is not a number: "
                                         f"{value!r}") from None
    if not number.is_finite():
        raise MalformedBrokerRecordError(f"{what}: field {name!r} is not finite")
    return number


def _text(raw: Mapping[str, Any], name: str, what: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedBrokerRecordError(f"{what}: field {name!r} is missing")
    return value


def _time(raw: Mapping[str, Any], name: str, what: str) -> datetime:
    try:
        return required_aware_time(raw, name).astimezone(UTC)
    except ReportMalformed as problem:
        raise MalformedBrokerRecordError(f"{what}: {problem}") from None


def read_account(raw: object, now: datetime) -> AccountSnapshot:
    """`GET /v2/account`."""
    record = _object(raw, "the account")
    equity = _decimal(record, "equity", "the account", optional=True)
    if equity is None:
        equity = _decimal(record, "portfolio_value", "the account")
    return AccountSnapshot(
        account_id=_text(record, "id", "the account"),
        currency=str(record.get("currency") or "USD"),
        cash=_decimal(record, "cash", "the account"),  # type: ignore[arg-type]
        buying_power=_decimal(record, "buying_power", "the account"),  # type: ignore[arg-type]
        equity=equity,  # type: ignore[arg-type]
        as_of=now,
    )


def read_position(raw: object) -> BrokerPosition:
    """One of `GET /v2/positions`. A short position (side ``short``; Alpaca writes its
    ``qty`` negative) has a negative quantity, as tbot counts positions everywhere."""
    record = _object(raw, "a position")
    symbol = _text(record, "symbol", "a position")
    what = f"position {symbol}"
    quantity = _decimal(record, "qty", what)
    assert quantity is not None
    side = record.get("side", "short" if quantity < 0 else "long")
    if side not in ("long", "short") or quantity == 0:
        raise MalformedBrokerRecordError(f"{what}: side {side!r} with qty {quantity} is not a "
                                         "position")
    if side == "short":
        quantity = -abs(quantity)
    elif quantity < 0:
        raise MalformedBrokerRecordError(f"{what}: a long position of {quantity} shares")
    return BrokerPosition(
        symbol=symbol,
        quantity=quantity,
        average_cost=_decimal(record, "avg_entry_price", what),  # type: ignore[arg-type]
        market_price=_decimal(record, "current_price", what, optional=True),
    )


def read_order(raw: object) -> BrokerOrder:
    """One order of `/v2/orders`."""
    record = _object(raw, "an order")
    order_id = _text(record, "id", "an order")
    what = f"order {order_id}"
    side = record.get("side")
    if side not in ("buy", "sell"):
        raise MalformedBrokerRecordError(f"{what}: side {side!r} is not buy or sell")
    quantity = _decimal(record, "qty", what, optional=True)
    if quantity is None:
        raise MalformedBrokerRecordError(f"{what}: a notional order (no qty): not one of ours")
    status_text = str(record.get("status") or "")
    if not status_text:
        raise MalformedBrokerRecordError(f"{what}: no status")
    status = _STATUS.get(status_text, OrderStatus.NEW)
    submitted = _time(record, "submitted_at", what) if record.get("submitted_at") else (
        _time(record, "created_at", what))
    updated = _time(record, "updated_at", what) if record.get("updated_at") else submitted
    reason = None
    if status_text in ("rejected", "suspended", "expired", "replaced"):
        reason = f"{status_text} at the broker"
    return BrokerOrder(
        order_id=order_id,
        client_order_id=str(record.get("client_order_id") or ""),
        symbol=_text(record, "symbol", what),
        side=OrderSide(side),
        quantity=quantity,
        filled_quantity=_decimal(record, "filled_qty", what, optional=True) or Decimal(0),
        average_price=_decimal(record, "filled_avg_price", what, optional=True),
        status=status,
        submitted_at=submitted,
        updated_at=updated,
        reject_reason=reason,
    )


# -- activities --------------------------------------------------------------------------------


def is_fill(raw: Mapping[str, Any]) -> bool:
    """True for a trade activity (``FILL``); every other type is cash activity."""
    return raw.get("activity_type") == FILL_TYPE


def fill_report(raw: Mapping[str, Any], *, source: str,
                client_order_id: Callable[[str], str | None]) -> FillReport | RefusedReport:
    """A FILL activity as a `FillReport`. Alpaca's activity has no client order id: it is
    looked up from the order (`client_order_id(order_id)`) and kept in the metadata, so the
    hash stays the hash of exactly what Alpaca sent."""
    raw = dict(raw)
    provenance = Provenance.of(raw, broker_local_time=_local(raw, "transaction_time"),
                               source=source)
    try:
        fill_id = required_text(raw, "id")
        order_id = required_text(raw, "order_id")
        side = raw.get("side")
        if side == SELL_SHORT_SIDE:  # a trade activity's word for a sell that went short
            side = OrderSide.SELL.value
        if side not in ("buy", "sell"):
            raise ReportMalformed(f"field 'side' is {side!r}, not buy or sell")
        client_id = client_order_id(order_id)
        fill = BrokerFill(
            fill_id=fill_id,
            order_id=order_id,
            client_order_id=client_id or "",
            symbol=required_text(raw, "symbol"),
            side=OrderSide(side),
            quantity=required_decimal(raw, "qty", positive=True),
            price=required_decimal(raw, "price", positive=True),
            fee=Decimal(0),  # Alpaca charges its fees as their own FEE activities
            filled_at=required_aware_time(raw, "transaction_time").astimezone(UTC),
        )
    except ReportMalformed as problem:
        return RefusedReport(ReportKind.FILL, _id(raw), str(problem), provenance)
    metadata = {k: v for k, v in raw.items() if k not in FILL_FIELDS}
    metadata["client_order_id"] = client_id
    # An execution is final once reported; "pending" only if the broker says so.
    return FillReport(fill, raw.get("status") != "pending", provenance, metadata=metadata)


def cash_report(raw: Mapping[str, Any], *, source: str) -> CashReport | RefusedReport:
    """A non-trade activity, whatever its type, as a `CashReport`."""
    raw = dict(raw)
    provenance = Provenance.of(
        raw, broker_local_time=_local(raw, "transaction_time") or _local(raw, "date"),
        source=source)
    try:
        activity = CashActivity(
            activity_id=required_text(raw, "id"),
            activity_type=required_text(raw, "activity_type"),
            amount=required_decimal(raw, "net_amount"),
            occurred_at=activity_time(raw),
            description=str(raw.get("description") or ""),
            symbol=raw.get("symbol") if isinstance(raw.get("symbol"), str) else None,
        )
    except ReportMalformed as problem:
        return RefusedReport(ReportKind.CASH, _id(raw), str(problem), provenance)
    metadata = {k: v for k, v in raw.items() if k not in CASH_FIELDS}
    return CashReport(activity, raw.get("status") != "pending", provenance, metadata=metadata)


def activity_time(raw: Mapping[str, Any]) -> datetime:
    """When an activity happened: its ``transaction_time``, else the start of its
    ``date`` in New York (non-trade activities are often dated only)."""
    if raw.get("transaction_time"):
        return required_aware_time(raw, "transaction_time").astimezone(UTC)
    day = raw.get("date")
    if not isinstance(day, str):
        raise ReportMalformed("neither 'transaction_time' nor 'date' is given")
    try:
        parsed = date.fromisoformat(day[:10])
    except ValueError:
        raise ReportMalformed(f"field 'date' is not a date: {day!r}") from None
    return datetime.combine(parsed, time(0), MARKET_ZONE).astimezone(UTC)


def _local(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return value if isinstance(value, str) else None


def _id(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("id")
    return value if isinstance(value, str) and value else None


def _object(raw: object, what: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedBrokerRecordError(f"{what}: expected a JSON object, got "
                                         f"{type(raw).__name__}")
    return raw
