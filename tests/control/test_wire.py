"""The wire format: exact values, compact frames, and the shape checks of a request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path

import pytest
from pydantic import BaseModel

from tbot.control.wire import (
    ERROR_NAMES,
    MAX_FRAME_BYTES,
    InvalidRequest,
    ParseError,
    decode_frame,
    encode,
    encode_frame,
    error_response,
    notification,
    parse_request,
    to_json_ready,
)


class Side(Enum):
    BUY = "buy"


class State(StrEnum):
    HALTED = "HALTED"


@dataclass(frozen=True)
class Fill:
    symbol: str
    price: Decimal
    filled_at: datetime
    side: Side


class Account(BaseModel):
    cash: Decimal


def test_decimals_travel_as_exact_fixed_point_strings() -> None:
    assert to_json_ready(Decimal("100184.30")) == "100184.30"
    assert to_json_ready(Decimal("1.25E+3")) == "1250"
    assert to_json_ready(Decimal("0.000000001")) == "0.000000001"


def test_non_finite_decimals_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        to_json_ready(Decimal("NaN"))


def test_datetimes_travel_as_utc_with_z() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert to_json_ready(datetime(2026, 3, 2, 9, 30, tzinfo=eastern)) == "2026-03-02T14:30:00Z"
    assert (
        to_json_ready(datetime(2026, 3, 2, 14, 30, 0, 250000, tzinfo=UTC))
        == "2026-03-02T14:30:00.250000Z"
    )


def test_naive_datetimes_are_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_json_ready(datetime(2026, 3, 2, 14, 30))  # noqa: DTZ001 - the point of the test


def test_nested_structures_are_converted_recursively() -> None:
    fill = Fill("SPY", Decimal("512.10"), datetime(2026, 3, 2, 14, 30, tzinfo=UTC), Side.BUY)
    ready = to_json_ready(
        {
            "fills": (fill,),
            "day": date(2026, 3, 2),
            "state": State.HALTED,
            "account": Account(cash=Decimal("10.50")),
            "symbols": frozenset({"QQQ", "SPY"}),
            "where": Path("/srv/bot"),
        }
    )
    assert ready == {
        "fills": [
            {"symbol": "SPY", "price": "512.10", "filled_at": "2026-03-02T14:30:00Z", "side": "buy"}
        ],
        "day": "2026-03-02",
        "state": "HALTED",
        "account": {"cash": "10.50"},
        "symbols": ["QQQ", "SPY"],
        "where": "/srv/bot",
    }
    assert json.loads(json.dumps(ready)) == ready


def test_unknown_types_are_refused_so_nothing_is_sent_by_accident() -> None:
    with pytest.raises(TypeError, match="cannot send"):
        to_json_ready({"x": object()})


def test_frames_are_compact_one_line_json() -> None:
    frame = encode_frame({"text": "two\nlines", "amount": Decimal("1.50"), "name": "Zürich"})
    assert frame == '{"text":"two\\nlines","amount":"1.50","name":"Zürich"}\n'.encode()
    assert frame.count(b"\n") == 1


def test_encode_refuses_float_nan() -> None:
    with pytest.raises(ValueError):
        encode({"x": float("nan")})


def test_exact_decoding_keeps_decimal_numbers_exact() -> None:
    assert decode_frame(b'{"price": 0.1}\n', exact_numbers=True) == {"price": Decimal("0.1")}
    assert decode_frame(b'{"price": 0.1}\n') == {"price": 0.1}


@pytest.mark.parametrize(
    "frame",
    [b"{not json", b"\xff\xfe", b'{"x": NaN}', b"[" * 100_000 + b"]" * 100_000],
    ids=["syntax", "not-utf8", "nan", "too-deep"],
)
def test_bad_frames_raise_parse_error(frame: bytes) -> None:
    with pytest.raises(ParseError):
        decode_frame(frame)


def test_a_well_shaped_request_parses() -> None:
    request = parse_request({"jsonrpc": "2.0", "method": "echo", "params": {"a": 1}, "id": "x"})
    assert (request.method, request.params, request.id, request.is_notification) == (
        "echo",
        {"a": 1},
        "x",
        False,
    )
    assert parse_request({"jsonrpc": "2.0", "method": "echo"}).is_notification


@pytest.mark.parametrize(
    ("message", "answer_id", "complaint"),
    [
        ([1], None, "object"),
        ({"method": "echo", "id": 1}, 1, "jsonrpc"),
        ({"jsonrpc": "1.0", "method": "echo", "id": 1}, 1, "jsonrpc"),
        ({"jsonrpc": "2.0", "method": 5, "id": 1}, 1, "method"),
        ({"jsonrpc": "2.0", "method": "", "id": 1}, 1, "method"),
        ({"jsonrpc": "2.0", "method": "echo", "id": [1]}, None, "id"),
        ({"jsonrpc": "2.0", "method": "echo", "id": True}, None, "id"),
        ({"jsonrpc": "2.0", "method": "echo", "id": Decimal("1.5")}, None, "id"),
        ({"jsonrpc": "2.0", "method": "echo", "params": "x", "id": 1}, 1, "params"),
        ({"jsonrpc": "2.0", "method": "echo", "param": {}, "id": 1}, 1, "param"),
    ],
)
def test_malformed_requests_say_what_is_wrong(
    message: object, answer_id: object, complaint: str
) -> None:
    with pytest.raises(InvalidRequest, match=complaint) as caught:
        parse_request(message)
    assert caught.value.request_id == answer_id


def test_error_response_leaves_out_empty_data() -> None:
    assert error_response(7, -32601, "method not found: x") == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32601, "message": "method not found: x"},
    }


def test_notification_shape() -> None:
    at = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert notification("fills", 3, at, {"qty": Decimal("2")}) == {
        "jsonrpc": "2.0",
        "method": "events.notify",
        "params": {
            "topic": "fills",
            "seq": 3,
            "at": "2026-03-02T14:30:00Z",
            "data": {"qty": Decimal("2")},
        },
    }


def test_error_codes_are_the_documented_numbers() -> None:
    assert {name: code for code, name in ERROR_NAMES.items()} == {
        "PARSE_ERROR": -32700,
        "INVALID_REQUEST": -32600,
        "METHOD_NOT_FOUND": -32601,
        "INVALID_PARAMS": -32602,
        "INTERNAL_ERROR": -32603,
        "FORBIDDEN": -32001,
        "FRAME_TOO_LARGE": -32002,
        "TOO_MANY_CONNECTIONS": -32003,
        "SHUTTING_DOWN": -32004,
        "REFUSED": -32010,
        "BROKER_ERROR": -32011,
        "CONFIG_INVALID": -32012,
    }
    assert MAX_FRAME_BYTES == 1_048_576
