"""The bytes on the control socket: framing, JSON-RPC 2.0 message shapes and error codes.

One JSON value per line: a request object or a batch array, UTF-8, terminated by ``\\n``,
at most `MAX_FRAME_BYTES` before the newline. Compact JSON never contains a raw newline,
so a line is always exactly one message. Money travels as exact decimal strings and
instants as ISO 8601 UTC strings ending in ``Z``; `to_json_ready` makes both so.

This module is shared by the server, the client and the console: it imports nothing of
the engine, pydantic or Textual.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, Final

from tbot.clock import utc_text

JSONRPC_VERSION: Final = "2.0"
MAX_FRAME_BYTES: Final = 1_048_576
FRAME_END: Final = b"\n"
NOTIFY_METHOD: Final = "events.notify"

# -- error codes -------------------------------------------------------------------------
# The JSON-RPC 2.0 standard codes.
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
# Server-defined codes (the -32000..-32099 range the standard reserves for servers).
FORBIDDEN: Final = -32001
FRAME_TOO_LARGE: Final = -32002
TOO_MANY_CONNECTIONS: Final = -32003
SHUTTING_DOWN: Final = -32004
REFUSED: Final = -32010
BROKER_ERROR: Final = -32011
CONFIG_INVALID: Final = -32012

ERROR_NAMES: Final[Mapping[int, str]] = {
    PARSE_ERROR: "PARSE_ERROR",
    INVALID_REQUEST: "INVALID_REQUEST",
    METHOD_NOT_FOUND: "METHOD_NOT_FOUND",
    INVALID_PARAMS: "INVALID_PARAMS",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    FORBIDDEN: "FORBIDDEN",
    FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
    TOO_MANY_CONNECTIONS: "TOO_MANY_CONNECTIONS",
    SHUTTING_DOWN: "SHUTTING_DOWN",
    REFUSED: "REFUSED",
    BROKER_ERROR: "BROKER_ERROR",
    CONFIG_INVALID: "CONFIG_INVALID",
}

_REQUEST_MEMBERS = frozenset({"jsonrpc", "method", "params", "id"})


# -- values ------------------------------------------------------------------------------


# Times on the wire: ISO 8601 UTC with ``Z``; naive datetimes are refused, never guessed.
format_utc = utc_text


def format_decimal(value: Decimal) -> str:
    """`value` as exact fixed-point text (``100.25``, never ``1.0025E+2``).

    NaN and infinities are refused: they are never a valid amount.
    """
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number and cannot be sent")
    return format(value, "f")


def _json_key(key: object) -> str:
    if isinstance(key, Enum):
        return str(key.value)
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise TypeError(f"cannot send a {type(key).__name__} as a JSON object key")


def to_json_ready(obj: Any) -> Any:
    """`obj` as plain JSON types, recursively.

    Decimal → exact string, datetime → ISO UTC ``...Z``, date → ``YYYY-MM-DD``, Enum → its
    value, dataclass / pydantic model / Mapping → object, list / tuple / set → array,
    path → string. Anything else raises TypeError, so nothing is sent by accident.
    """
    if isinstance(obj, Enum):  # before str/int: a StrEnum is a str, but we send its value
        return to_json_ready(obj.value)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, Decimal):
        return format_decimal(obj)
    if isinstance(obj, datetime):
        return format_utc(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            field.name: to_json_ready(getattr(obj, field.name)) for field in dataclasses.fields(obj)
        }
    if isinstance(obj, Mapping):
        return {_json_key(key): to_json_ready(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json_ready(item) for item in obj]
    if isinstance(obj, set | frozenset):
        items = [to_json_ready(item) for item in obj]
        try:
            return sorted(items)  # sets have no order; sorting makes the output stable
        except TypeError:
            return items
    if isinstance(obj, PurePath):
        return str(obj)
    model_dump = getattr(obj, "model_dump", None)  # pydantic, without importing it here
    if callable(model_dump):
        return to_json_ready(model_dump())
    raise TypeError(f"cannot send a {type(obj).__name__} over the control socket")


# The encoder's `default` sees only what json cannot write itself; the usual ones (a status
# answer carries a dozen datetimes and Decimals) are looked up by exact type first.
_BY_EXACT_TYPE: Final[Mapping[type, Callable[[Any], Any]]] = {
    datetime: format_utc,
    Decimal: format_decimal,
    date: date.isoformat,
}


def _default(obj: Any) -> Any:
    convert = _BY_EXACT_TYPE.get(type(obj))
    return convert(obj) if convert is not None else to_json_ready(obj)


# One encoder for the process: building a JSONEncoder per message costs more than encoding.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)


def encode(message: Any) -> bytes:
    """`message` as compact UTF-8 JSON, without the newline. Raises TypeError/ValueError
    for values that cannot be sent (see `to_json_ready`)."""
    return _ENCODER.encode(message).encode("utf-8")


def encode_frame(message: Any) -> bytes:
    """`message` as one wire frame: compact JSON and the terminating newline."""
    return _ENCODER.encode(message).encode("utf-8") + FRAME_END


class ParseError(ValueError):
    """A frame that is not valid UTF-8 JSON."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_EXACT_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
_PLAIN_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def decode_frame(frame: bytes, *, exact_numbers: bool = False) -> Any:
    """The JSON value of one frame (the newline may be present).

    With `exact_numbers`, numbers with a fraction or exponent become `Decimal` instead of
    float: the server reads requests this way so an amount is never rounded on arrival.
    Raises `ParseError`.
    """
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("the frame is not valid UTF-8") from None
    decoder = _EXACT_DECODER if exact_numbers else _PLAIN_DECODER
    try:
        return decoder.decode(text)
    except RecursionError:
        raise ParseError("the JSON is nested too deeply") from None
    except ValueError as error:
        raise ParseError(f"invalid JSON: {error}") from None


# -- message shapes ----------------------------------------------------------------------

RequestId = int | str | None


@dataclass(frozen=True)
class Request:
    """A well-shaped JSON-RPC request. `is_notification`: it had no ``id`` member, so it
    gets no response at all."""

    method: str
    params: dict[str, Any] | list[Any] | None
    id: RequestId
    is_notification: bool


class InvalidRequest(ValueError):
    """A JSON value that is not a JSON-RPC 2.0 request. `request_id` is the id to answer
    with: the request's own when it could be read, else None."""

    def __init__(self, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


def is_valid_id(value: object) -> bool:
    """Ids are strings, integers or null. Fractional numbers are refused (JSON-RPC says
    they SHOULD NOT be used, and we read numbers exactly, so 1.0 would not echo back)."""
    return (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int) and not isinstance(value, bool))
    )


def parse_request(message: object) -> Request:
    """Check the shape of one decoded request; raises `InvalidRequest` saying what is wrong."""
    if not isinstance(message, dict):
        raise InvalidRequest("a request must be a JSON object")
    raw_id = message.get("id")
    request_id = raw_id if is_valid_id(raw_id) else None
    if message.get("jsonrpc") != JSONRPC_VERSION:
        raise InvalidRequest('"jsonrpc" must be "2.0"', request_id)
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidRequest('"method" must be a non-empty string', request_id)
    if not is_valid_id(raw_id):
        raise InvalidRequest('"id" must be a string, an integer or null')
    if not _REQUEST_MEMBERS.issuperset(message):
        unknown = sorted(set(message) - _REQUEST_MEMBERS)
        raise InvalidRequest(f"unknown member {unknown[0]!r} in the request", request_id)
    params = message.get("params")
    if "params" in message and not isinstance(params, dict | list):
        raise InvalidRequest('"params" must be an object or an array', request_id)
    return Request(method, params, request_id, is_notification="id" not in message)


def request(method: str, params: Mapping[str, Any] | None, request_id: RequestId) -> dict[str, Any]:
    """A request object; params are left out when None."""
    message: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "method": method}
    if params is not None:
        message["params"] = params
    message["id"] = request_id
    return message


def result_response(request_id: RequestId, result: Any) -> dict[str, Any]:
    """A success response."""
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result}


def error_response(
    request_id: RequestId, code: int, message: str, data: Any = None
) -> dict[str, Any]:
    """An error response; ``data`` is left out when None."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": error}


def notification(topic: str, seq: int, at: datetime, data: Any) -> dict[str, Any]:
    """An ``events.notify`` notification (the server builds these bytes itself, faster;
    this is the reference shape, for tests and other senders)."""
    return {
        "jsonrpc": JSONRPC_VERSION,
        "method": NOTIFY_METHOD,
        "params": {"topic": topic, "seq": seq, "at": format_utc(at), "data": data},
    }
