"""Alpaca's minute-bar records read into tbot `Bar`s, exactly or not at all.

Both of Alpaca's bar sources send numbers as binary floats: JSON numbers from the REST API,
msgpack float64 from the stream. `Decimal(repr(x))` recovers the shortest decimal that
round-trips to that float (``187.23``, where `Decimal(187.23)` would be
``187.229999999999989768...``), and prices are then quantized to 4 places (Alpaca's finest
increment is 0.0001). A record
with a missing or junk field is refused with `MalformedBrokerRecordError` naming the field:
a feed skips and logs it, never turns it into a bar of zeros.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tbot.broker.errors import MalformedBrokerRecordError
from tbot.market.bars import Bar

PRICE_PLACES = Decimal("0.0001")


def read_rest_bar(symbol: str, record: Any) -> Bar:
    """One bar of ``GET /v2/stocks/bars`` (``t`` RFC 3339 text) for `symbol`."""
    if not isinstance(record, Mapping):
        raise MalformedBrokerRecordError(f"{symbol}: a bar is not a JSON object: {record!r}")
    stamp = record.get("t")
    if not isinstance(stamp, str):
        raise MalformedBrokerRecordError(f"{symbol}: bar time t is not text: {stamp!r}")
    try:
        start = datetime.fromisoformat(stamp.strip().replace("z", "Z"))
    except ValueError:
        raise MalformedBrokerRecordError(
            f"{symbol}: bar time t is not RFC 3339: {stamp!r}") from None
    return _bar(symbol, start, record)


def read_stream_bar(record: Any) -> Bar:
    """One ``{"T": "b", ...}`` message of the bar stream (``t`` a msgpack Timestamp)."""
    if not isinstance(record, Mapping):
        raise MalformedBrokerRecordError(f"a stream bar is not a map: {record!r}")
    symbol = record.get("S")
    if not isinstance(symbol, str) or not symbol:
        raise MalformedBrokerRecordError(f"a stream bar has no symbol S: {record!r}")
    stamp = record.get("t")
    to_datetime = getattr(stamp, "to_datetime", None)  # msgpack.Timestamp
    if callable(to_datetime):
        start = to_datetime()
    elif isinstance(stamp, datetime):
        start = stamp
    else:
        raise MalformedBrokerRecordError(f"{symbol}: bar time t is not a timestamp: {stamp!r}")
    return _bar(symbol, start, record)


def _bar(symbol: str, start: datetime, record: Mapping[str, Any]) -> Bar:
    if start.tzinfo is None or start.utcoffset() is None:
        raise MalformedBrokerRecordError(f"{symbol}: bar time {start.isoformat()} has no zone")
    start = start.astimezone(UTC)
    if start.second or start.microsecond:
        raise MalformedBrokerRecordError(
            f"{symbol}: bar time {start.isoformat()} is not a whole minute")
    prices = {name: price(symbol, name, record.get(name)) for name in ("o", "h", "l", "c")}
    low, high = prices["l"], prices["h"]
    if not low <= min(prices["o"], prices["c"]) <= max(prices["o"], prices["c"]) <= high:
        raise MalformedBrokerRecordError(
            f"{symbol}: bar at {start.isoformat()} has open/close outside low..high: "
            f"{record!r}")
    return Bar(symbol=symbol, start=start, open=prices["o"], high=high, low=low,
               close=prices["c"], volume=volume(symbol, record.get("v")))


def price(symbol: str, name: str, value: Any) -> Decimal:
    """A wire price (float, int or numeric text) as an exact positive Decimal, 4 places."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedBrokerRecordError(f"{symbol}: price {name} is not a number: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedBrokerRecordError(f"{symbol}: price {name} is not finite: {value!r}")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise MalformedBrokerRecordError(
            f"{symbol}: price {name} is not a number: {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise MalformedBrokerRecordError(f"{symbol}: price {name} is not positive: {value!r}")
    return number.quantize(PRICE_PLACES)


def volume(symbol: str, value: Any) -> int:
    """A wire volume: a whole number of shares, zero or more (an integral float is
    accepted, a fractional one refused)."""
    if isinstance(value, bool):
        raise MalformedBrokerRecordError(f"{symbol}: volume v is not a number: {value!r}")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise MalformedBrokerRecordError(
            f"{symbol}: volume v is not a whole number of shares: {value!r}")
    return value
