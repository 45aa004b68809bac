"""One message of Alpaca's trade-updates stream, read into an `OrderUpdate`.

Reading never raises: a message this code cannot read becomes an `UnreadableUpdate` naming
what is wrong, because an exception inside alpaca-py's stream handler loses the message
without a trace (the SDK logs it and reads on). The engine catches up through REST on an
unreadable update, so refusing is always safe; guessing never is.

The message, as the SDK passes it in raw-data mode::

    {"stream": "trade_updates",
     "data": {"event": "partial_fill", "execution_id": "…", "timestamp": "…Z",
              "price": "179.08", "qty": "2", "position_qty": "2", "order": {…}}}

Numbers are read exactly: text as written, a JSON number from its shortest repr (the wire
has carried both). The order is read like the REST API's (`payloads.read_order`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any

from tbot.broker.alpaca.payloads import read_order
from tbot.broker.errors import MalformedBrokerRecordError
from tbot.broker.order_updates import EXECUTION_EVENTS, OrderUpdate, UnreadableUpdate
from tbot.broker.reports import ReportMalformed, required_aware_time


class _Unreadable(ValueError):
    """What is wrong with a message, in plain words."""


def read_trade_update(message: object) -> OrderUpdate | UnreadableUpdate:
    """`message` (a decoded ``trade_updates`` message) as an `OrderUpdate`, or as an
    `UnreadableUpdate` carrying the message and the reason. Event names this code does not
    know pass through unchanged."""
    try:
        return _read(message)
    except (_Unreadable, MalformedBrokerRecordError, ReportMalformed) as problem:
        return UnreadableUpdate(str(problem), message)
    except Exception as error:  # a bug here must still not lose the message
        return UnreadableUpdate(f"the update could not be read: {error!r}", message)


def _read(message: object) -> OrderUpdate:
    if not isinstance(message, Mapping):
        raise _Unreadable(f"the message is not a JSON object but {type(message).__name__}")
    data = message.get("data")
    if not isinstance(data, Mapping):
        raise _Unreadable("the message has no data object")
    event = data.get("event")
    if not isinstance(event, str) or not event:
        raise _Unreadable("the update has no event name")
    if data.get("order") is None:
        raise _Unreadable(f"the {event} update has no order")
    order = read_order(data["order"])
    stamp = data.get("timestamp")
    if not isinstance(stamp, str) or not stamp:
        raise _Unreadable(f"the {event} update of order {order.order_id} has no timestamp")
    at = required_aware_time(data, "timestamp").astimezone(UTC)
    execution_id = data.get("execution_id")
    if execution_id is not None and not isinstance(execution_id, str):
        raise _Unreadable(f"the {event} update's execution_id is {execution_id!r}, not text")
    quantity = _exact(data, "qty", event)
    price = _exact(data, "price", event)
    if event in EXECUTION_EVENTS:
        for name, value in (("qty", quantity), ("price", price)):
            if value is None or value <= 0:
                raise _Unreadable(f"the {event} update of order {order.order_id} has no "
                                  f"positive {name} ({data.get(name)!r})")
    return OrderUpdate(
        event=event,
        order=order,
        at=at,
        key=f"{order.order_id}:{event}:{execution_id or stamp}",
        execution_quantity=quantity,
        execution_price=price,
    )


def _exact(data: Mapping[str, Any], name: str, event: str) -> Decimal | None:
    """Field `name` as an exact, finite Decimal; None when absent or null."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Unreadable(f"the {event} update's {name} is {value!r}, not a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise _Unreadable(f"the {event} update's {name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise _Unreadable(f"the {event} update's {name} is not finite: {value!r}")
    return number
