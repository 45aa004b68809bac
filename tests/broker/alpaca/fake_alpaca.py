"""A local, in-process fake of Alpaca's Trading REST API (v2), for tests and benchmarks.

`FakeAlpaca` is a real HTTP server on 127.0.0.1 (an ephemeral port, served from a daemon
thread), so the real alpaca-py `TradingClient` can be pointed at it::

    with FakeAlpaca() as fake:
        client = TradingClient("PKTEST", "secret-test", paper=True, raw_data=True,
                               url_override=fake.url)
        client.get_account()            # GET http://127.0.0.1:PORT/v2/account

What it fakes (all under ``/v2``):

- ``GET /account``, ``GET /positions``, ``GET /clock``;
- ``POST /orders`` (market and limit orders), ``GET /orders`` (``status``, ``limit``,
  ``after``/``until`` exclusive on ``submitted_at`` at nanosecond precision, ``direction``,
  ``symbols``, ``side``), ``GET /orders/{id}``, ``GET /orders:by_client_order_id`` (a literal
  colon in the path), ``DELETE /orders/{id}``;
- ``GET /account/activities`` and ``GET /account/activities/{type}`` (``activity_types``,
  ``category``, ``direction``, ``page_size``, ``page_token`` exclusive, ``after``/``until``
  exclusive, ``date``).

The traps are reproduced on purpose, because they are what a client must survive:

- the key headers are checked (401, or 403 with ``forbid``), errors are
  ``{"code": int, "message": str}``;
- a repeated ``client_order_id`` is refused (422, ``client_order_id must be unique``);
- times are sent the way Alpaca's Go servers write them (``time.RFC3339Nano``): UTC, up to
  nine fraction digits, **trailing zeros trimmed** (``...05.1Z``, or ``...05Z`` for a whole
  second). Such strings do not sort as text;
- several orders may share one ``submitted_at`` (`tick_ns = 0`, or explicit times), and
  ``after_order_id`` is ignored (like an older server), so paging orders by time can skip the
  rest of a tie at a page boundary;
- account-activity ids are ``YYYYMMDDhhmmssSSS::uuid`` (the prefix is the booking time in
  New York local time, as in Alpaca's documented example); ``page_token`` is the last id
  seen, exclusive. A non-trade activity booked with an earlier ``created_at`` sorts behind
  ids a client has already passed;
- unknown activity types (``MISCFEE``...) are served like any other;
- every response carries ``X-Ratelimit-Limit``/``-Remaining``/``-Reset``; over
  ``rate_limit`` requests in a rolling ``window_seconds`` the fake answers 429 itself;
- programmable faults (`FakeAlpaca.fail_next`): 429 with or without ``Retry-After``,
  500/502/503, 504 *after* the request took effect (a POST /orders whose order exists while
  the client sees an error), a hang (so a client timeout fires), a truncated or non-JSON
  body.

Order events (for the trade-updates websocket, `fake_trade_stream.FakeTradeStream`):
every function in `listeners` is called as ``listener(event, order_copy, extra)`` under
`lock`, in the order things happen: ``pending_new`` then ``new`` when an order is created
(their copies say status ``pending_new`` / ``new``, while REST keeps `new_order_status`);
``partial_fill`` / ``fill`` from `fill` (`extra`: ``execution_id``, ``price``, ``qty``,
``position_qty``, ``timestamp``; the FILL activity's id ends in the same uuid,
``...::<execution_id>``); ``canceled`` from a cancel; and from `update_order`, an event
named after a new status such as ``rejected`` or ``expired``. `extra` always has
``timestamp``. `bulk_fills` announces nothing. A listener that raises is recorded in
`errors`.

Auto-fill (`auto_fill = True`, off by default): a market order POSTed is filled at once at
``prices[symbol]`` (no price: it stays working), in `auto_fill_parts` whole-share fills when
its quantity allows (``partial_fill`` ... then ``fill``); the POST still answers with the
order as created.

What it does not fake: market data, assets, calendars, watchlists, order replacement
(PATCH), bracket/OCO/OTO orders, notional orders, margin, buying-power checks, holidays
(`GET /clock` only knows weekdays 09:30-16:00 New York), order matching beyond auto-fill
(fills otherwise only happen when a test calls `FakeAlpaca.fill`), and the asynchronous
states of a real cancel (``DELETE`` goes straight to ``canceled``).

Time: the fake has its own clock in integer nanoseconds (`now`, `set_now`, `advance`). It
stands still except that every stamped event (an order created, a fill, an activity booked
without an explicit time) moves it on by `tick_ns` (1 ms by default) afterwards, so
consecutive orders get distinct ``submitted_at`` unless a test sets ``tick_ns = 0``.
`follow_clock(clock.now)` makes the fake's time follow another clock instead (an engine's
simulated clock): its time is then that clock's, or just after the fake's last stamped
event if that is later (so stamps still never go backwards).

Rate-limit header formats: ``X-Ratelimit-Reset`` is epoch seconds and ``Retry-After`` is
whole seconds (at least 1), as Alpaca sends them, while ``window_seconds >= 10``; when a test
shrinks the window below 10 s both become decimal seconds with millisecond precision, so
scaled-down time keeps its proportions. A request refused by the limiter is not counted in
the window.

State (`account`, `positions`, `orders`, `activities`, `prices`) is plain dicts and lists,
guarded by `lock` (an `RLock`): tests may read or change it under ``with fake.lock:``; the
helpers take the lock themselves. `activities` must stay sorted by id (the helpers keep it
so), and an order's ``submitted_at`` should only be set through the helpers (they keep an
index of it for fast listing).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import math
import random
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl, unquote
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
NS_PER_SECOND = 1_000_000_000
DEFAULT_START = "2026-11-20T14:31:05.123456789Z"
"""A Friday, 09:31:05 in New York: the market is open."""

FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})
"""Order statuses after which nothing changes (``status=closed``); all others are open."""
ANNOUNCED_STATUSES = frozenset({"new", "pending_new", "canceled", "expired", "rejected",
                                "replaced", "done_for_day", "pending_cancel", "suspended",
                                "stopped", "calculated"})
"""Statuses `update_order` announces as the event of the same name (fills are announced
by `fill`, with their execution)."""
TIME_IN_FORCE = frozenset({"day", "gtc", "opg", "cls", "ioc", "fok"})
ORDER_LIMIT_DEFAULT, ORDER_LIMIT_MAX = 50, 500
ACTIVITY_PAGE_DEFAULT, ACTIVITY_PAGE_MAX = 100, 100

UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}
NOT_FOUND = {"code": 40410000, "message": "order not found"}
DUPLICATE = {"code": 40010001, "message": "client_order_id must be unique"}
RATE_LIMITED = {"code": 42910000, "message": "rate limit exceeded"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9})\d*)?)?)?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$")
_by_id = itemgetter("id")

OrderListener = Callable[[str, dict[str, Any], dict[str, Any]], None]
"""``listener(event, order_copy, extra)``: see the module docstring."""


# -- times -----------------------------------------------------------------------------------


def parse_time_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (up to nine fraction digits, ``Z`` or
    an offset; a bare date is its midnight; no offset means UTC). ValueError otherwise."""
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    base = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                    int(second or 0), tzinfo=UTC)
    offset = 0
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
        offset = -offset if zone[0] == "-" else offset
    seconds = (base - _EPOCH) // timedelta(seconds=1) - offset
    return seconds * NS_PER_SECOND + int((fraction or "0").ljust(9, "0"))


def to_ns(moment: datetime | str | int) -> int:
    """An aware datetime, an RFC 3339 text or nanoseconds since the epoch, as nanoseconds."""
    if isinstance(moment, bool):
        raise TypeError("a time, not a bool")
    if isinstance(moment, int):
        return moment
    if isinstance(moment, str):
        return parse_time_ns(moment)
    if moment.tzinfo is None:
        raise ValueError("a naive datetime: give the fake aware times (UTC)")
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def from_ns(ns: int) -> datetime:
    """Nanoseconds since the epoch as an aware UTC datetime (microseconds: truncated)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


@functools.lru_cache(maxsize=8192)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


@functools.lru_cache(maxsize=8192)
def _new_york_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, NEW_YORK).strftime("%Y%m%d%H%M%S")


def format_time(ns: int) -> str:
    """UTC RFC 3339 the way Go's ``time.RFC3339Nano`` writes it: nine fraction digits at
    most, trailing zeros trimmed, no fraction at all on a whole second."""
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    if not nanos:
        return _utc_second(seconds) + "Z"
    return f"{_utc_second(seconds)}.{nanos:09d}".rstrip("0") + "Z"


@functools.lru_cache(maxsize=8192)
def _new_york_date(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, NEW_YORK).date().isoformat()


def new_york_date(ns: int) -> str:
    """The New York calendar date of an instant, ``YYYY-MM-DD``."""
    return _new_york_date(ns // NS_PER_SECOND)


def activity_id(ns: int, suffix: str | None = None) -> str:
    """``YYYYMMDDhhmmssSSS::uuid``, the prefix in New York local time (milliseconds)."""
    seconds, nanos = divmod(ns, NS_PER_SECOND)
    return f"{_new_york_second(seconds)}{nanos // 1_000_000:03d}::{suffix or uuid.uuid4()}"


def _quick_uuids(count: int) -> list[str]:
    """`count` random version-4 UUID texts, several times faster than `uuid.uuid4` (no
    system call each; not for secrets: for bulk test data)."""
    bits, variant = random.getrandbits, "89ab"
    texts = []
    for _ in range(count):
        h = f"{bits(128):032x}"
        texts.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[int(h[16], 16) & 3]}{h[17:20]}-"
                     f"{h[20:]}")
    return texts


def _midnight_new_york_ns(day: str) -> int:
    moment = datetime.combine(date.fromisoformat(day[:10]), day_time(0), NEW_YORK)
    return to_ns(moment.astimezone(UTC))


@functools.lru_cache(maxsize=1024)
def _day_order_expiry(day: str) -> str:
    close = datetime.combine(date.fromisoformat(day), day_time(16), NEW_YORK)
    return format_time(to_ns(close.astimezone(UTC)))


@functools.lru_cache(maxsize=1024)
def _asset_id(symbol: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-alpaca/asset/{symbol}"))


# -- numbers ---------------------------------------------------------------------------------


def _decimal(value: object) -> Decimal:
    """A JSON number or numeric text as Decimal; ValueError if it is neither."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return number


def _text(number: Decimal) -> str:
    """A Decimal as Alpaca's number text: plain notation, no trailing zeros."""
    if number == 0:
        return "0"
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _next_holding(held: Decimal, average: Decimal, signed: Decimal, price: Decimal
                  ) -> tuple[Decimal, Decimal]:
    """A position (signed qty, average entry price) after a fill of `signed` at `price`:
    adding moves the average, reducing keeps it, crossing zero starts afresh at `price`."""
    new = held + signed
    if new == 0:
        return new, Decimal(0)
    if held == 0 or (held > 0) == (signed > 0):
        average = ((held * average + signed * price) / new).quantize(Decimal("0.000000001"))
    elif (held > 0) != (new > 0):
        average = price
    return new, average


def _parts(qty: Decimal, parts: int) -> list[Decimal]:
    """`qty` in `parts` whole-share fills (the rest in the last), or in one when it is too
    small for that."""
    each = (qty / max(parts, 1)).to_integral_value(rounding=ROUND_FLOOR)
    if parts <= 1 or each < 1:
        return [qty]
    return [each] * (parts - 1) + [qty - each * (parts - 1)]


def _sub_penny(price: Decimal) -> bool:
    """Alpaca's price increments: 0.01 at or above $1, 0.0001 below."""
    step = Decimal("0.01") if price >= 1 else Decimal("0.0001")
    return price % step != 0


# -- HTTP plumbing ---------------------------------------------------------------------------


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: object) -> _Answer:
    return _Answer(status, json.dumps(payload, separators=(",", ":")).encode())


def _error(status: int, code: int, message: str) -> _Answer:
    return _json(status, {"code": code, "message": message})


def _default_fault_body(status: int) -> _Answer:
    """What a failing Alpaca tends to send: JSON from the API, HTML from its gateways."""
    if status == 429:
        return _json(status, RATE_LIMITED)
    if status in (502, 503, 504):
        names = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
        html = f"<html><body><h1>{status} {names[status]}</h1></body></html>"
        return _Answer(status, html.encode(), "text/html")
    if status >= 500:
        return _error(status, 50010000, "internal server error")
    return _error(status, status * 100000, f"fault {status}")


class _BadRequest(Exception):
    """A request the fake refuses; carries the answer."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.body.decode(errors="replace"))
        self.answer = answer


def _invalid(message: str, code: int = 42210000, status: int = 422) -> _BadRequest:
    return _BadRequest(_error(status, code, message))


@dataclass
class Fault:
    """One programmed fault (see `FakeAlpaca.fail_next`)."""

    method: str | None
    prefix: str
    status: int | None
    times: int
    retry_after: float | None
    body: str | bytes | None
    hang_seconds: float | None
    truncate: bool
    processed: bool

    def matches(self, method: str, route: str) -> bool:
        return (self.method is None or self.method == method) and route.startswith(self.prefix)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's session expects
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    fake: FakeAlpaca

    def setup(self) -> None:
        super().setup()
        self.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._connection_closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.fake._answer(method, self.path, body, self.headers)
        if answer is None:  # closing: drop the connection unanswered
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.status != 204:
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.status != 204:
                self.wfile.write(answer.body)
            self.wfile.flush()
        except OSError:  # the client gave up (a timeout during a hang)
            self.close_connection = True


# -- the fake --------------------------------------------------------------------------------


class FakeAlpaca:
    """Alpaca's Trading REST API v2 on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, key_id: str = "PKTEST", secret_key: str = "secret-test",
                 cash: str = "100000", now: datetime | str | int = DEFAULT_START,
                 rate_limit: int = 200, window_seconds: float = 60.0) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.forbid = False
        """Answer a wrong key with 403 instead of 401 (a paper key on live, say)."""
        self.rate_limit = rate_limit
        """Requests allowed in any rolling `window_seconds`; more get a 429 from the fake."""
        self.window_seconds = float(window_seconds)
        self.tick_ns = 1_000_000
        """How far the clock moves after each stamped event; 0 freezes it (ties)."""
        self.new_order_status = "accepted"
        """The status of an order created by POST /orders ("accepted" or "new")."""
        self.activities_default_direction = "desc"
        """Alpaca's default when a request gives no ``direction``."""
        self.auto_fill = False
        """Fill a POSTed market order at once at ``prices[symbol]`` (see the module
        docstring)."""
        self.auto_fill_parts = 1
        """In how many whole-share fills auto-fill executes an order (when its qty allows)."""
        self.listeners: list[OrderListener] = []
        """Called with every order event (see the module docstring)."""

        self.lock = threading.RLock()
        self._follow: Callable[[], datetime] | None = None
        self._now_ns = to_ns(now)
        created = self._stamp()
        self.account: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "account_number": "PA1234567",
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "cash": cash,
            "buying_power": cash,
            "regt_buying_power": cash,
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": cash,
            "options_buying_power": cash,
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": cash,
            "equity": cash,
            "last_equity": cash,
            "long_market_value": "0",
            "short_market_value": "0",
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "multiplier": "1",
            "daytrade_count": 0,
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "shorting_enabled": False,
            "options_approved_level": 0,
            "options_trading_level": 0,
            "created_at": created,
        }
        self.positions: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.activities: list[dict[str, Any]] = []
        self.prices: dict[str, str] = {}
        """Last price per symbol (positions' current_price); fills set it."""
        self.requests: list[tuple[str, str, dict[str, str], float]] = []
        """(method, raw path without the query, query, time.monotonic()) of every request."""
        self.order_posts = 0
        """POST /v2/orders received (answered or not)."""
        self.errors: list[str] = []
        """Exceptions raised inside the fake's handlers (a test can assert it is empty)."""

        self._faults: list[Fault] = []
        self._window: deque[float] = deque()
        self._order_index: list[tuple[int, int, str]] = []  # (submitted ns, seq, id), sorted
        self._order_seq = 0
        self._by_client_id: dict[str, str] = {}
        self._activity_ns: dict[str, int] = {}
        self._bulk_runs = 0
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()

        handler = type("FakeAlpacaHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-alpaca:{self.port}", daemon=True)
        self._thread.start()

    # -- life ----------------------------------------------------------------------------------
    def __enter__(self) -> FakeAlpaca:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving: wake hanging handlers (they drop their connection unanswered),
        close open connections, stop the server thread. Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=5)

    def _connection_opened(self, connection: socket.socket) -> None:
        with self.lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self.lock:
            self._connections.discard(connection)

    # -- the clock ---------------------------------------------------------------------------
    @property
    def _now_ns(self) -> int:
        """The clock in ns: the own clock, or the followed one (never before the floor
        the last stamped event left)."""
        if self._follow is None:
            return self._clock_ns
        return max(to_ns(self._follow()), self._clock_ns)

    @_now_ns.setter
    def _now_ns(self, ns: int) -> None:
        self._clock_ns = ns

    def follow_clock(self, now: Callable[[], datetime] | None) -> None:
        """Take the time from `now` (returning aware datetimes) from here on; None goes
        back to the fake's own clock, starting where the followed one was."""
        with self.lock:
            self._clock_ns = self._now_ns
            self._follow = now
            if now is not None:
                self._clock_ns = to_ns(now())

    def now(self) -> datetime:
        """The fake's time (aware UTC, microseconds; see `now_ns` for all of it)."""
        with self.lock:
            return from_ns(self._now_ns)

    def now_ns(self) -> int:
        with self.lock:
            return self._now_ns

    def now_text(self) -> str:
        """The fake's time as it would send it."""
        with self.lock:
            return format_time(self._now_ns)

    def set_now(self, moment: datetime | str | int) -> None:
        """Set the clock: an aware datetime, RFC 3339 text (nanoseconds kept) or ns."""
        with self.lock:
            self._own_clock("set_now")
            self._now_ns = to_ns(moment)

    def advance(self, seconds: float | timedelta) -> None:
        """Move the clock on."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        with self.lock:
            self._own_clock("advance")
            self._now_ns += round(seconds * NS_PER_SECOND)

    def _own_clock(self, what: str) -> None:
        if self._follow is not None:
            raise RuntimeError(f"{what}: the fake follows another clock; move that one "
                               "(or follow_clock(None) first)")

    def _stamp(self) -> str:
        """The current time as text, then the clock moves on by `tick_ns`."""
        return format_time(self._tick())

    def _tick(self) -> int:
        with self.lock:
            ns = self._now_ns
            self._now_ns += self.tick_ns
            return ns

    # -- faults --------------------------------------------------------------------------------
    def fail_next(self, route: str, *, status: int | None = None, times: int = 1,
                  retry_after: float | None = None, body: str | bytes | None = None,
                  hang_seconds: float | None = None, truncate: bool = False,
                  processed: bool | None = None) -> Fault:
        """Spoil the next `times` requests matching `route`.

        `route` is ``"[METHOD ]/path-prefix"`` relative to ``/v2`` (``"POST /orders"``,
        ``"/account/activities"``; ``"/orders"`` also matches ``/orders/{id}`` and
        ``/orders:by_client_order_id``). Faults are queued: the first matching one is used.

        - `status`: answer with it; the body is `body`, else Alpaca-like JSON (429, 500) or
          gateway HTML (502-504). `retry_after` adds a ``Retry-After`` header.
        - `body` without `status`: a 200 with that body (``'{"id": "abc'``,
          ``"<html>oops</html>"``).
        - `truncate`: the real answer, its body cut in half (Content-Length matches the cut,
          so the client reads invalid JSON rather than a broken connection).
        - `hang_seconds`: sleep that long first (a client timeout fires); then answer as
          above, or normally. `close()` wakes a hang (the connection is then dropped).
        - `processed`: whether the request takes effect before the fault (the real handler
          runs, its answer thrown away). Default: True for 504 and for `truncate` (the
          gateway gave up, the order exists), False otherwise (the request never arrived).
        """
        if status is None and body is None and hang_seconds is None and not truncate:
            raise ValueError("a fault needs a status, a body, a hang or truncate=True")
        method, _, prefix = route.strip().rpartition(" ")
        if prefix.startswith("/v2/") or prefix == "/v2":
            prefix = prefix[3:]
        if processed is None:
            processed = status == 504 or truncate
        fault = Fault(method.upper() or None, prefix, status, times, retry_after, body,
                      hang_seconds, truncate, processed)
        with self.lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, method: str, route: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, route):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- one request ---------------------------------------------------------------------------
    def _answer(self, method: str, raw_path: str, body: bytes,
                headers: Mapping[str, str]) -> _Answer | None:
        path, _, query_text = raw_path.partition("?")
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        route = unquote(path)
        with self.lock:
            self.requests.append((method, path, query, time.monotonic()))
            if method == "POST" and route == "/v2/orders":
                self.order_posts += 1
        if headers.get("APCA-API-KEY-ID") != self.key_id or (
                headers.get("APCA-API-SECRET-KEY") != self.secret_key):
            answer = _json(403 if self.forbid else 401, UNAUTHORIZED)
            answer.headers.update(self._rate_headers(count=False)[1])
            return answer
        allowed, rate_headers = self._rate_headers(count=True)
        if not allowed:
            answer = _json(429, RATE_LIMITED)
            answer.headers.update(rate_headers)
            return answer
        if not route.startswith("/v2/"):
            answer = _error(404, 40410000, "endpoint not found")
        else:
            answer = self._faulty(method, route[3:], query, body)
        if answer is not None:
            answer.headers.update(rate_headers)
        return answer

    def _faulty(self, method: str, route: str, query: dict[str, str],
                body: bytes) -> _Answer | None:
        fault = self._take_fault(method, route)
        if fault is None:
            return self._route(method, route, query, body)
        real = self._route(method, route, query, body) if fault.processed else None
        if fault.hang_seconds and self._closing.wait(fault.hang_seconds):
            return None
        if fault.status is None and fault.body is None and not fault.truncate:
            return real if real is not None else self._route(method, route, query, body)
        if fault.truncate:
            if real is None:
                real = self._route(method, route, query, body)
            answer = _Answer(fault.status or real.status, real.body, real.content_type)
            if fault.body is not None:
                answer.body = fault.body.encode() if isinstance(fault.body, str) else fault.body
            answer.body = answer.body[: len(answer.body) // 2]
        elif fault.body is not None:
            content = fault.body.encode() if isinstance(fault.body, str) else fault.body
            kind = "text/html" if content.lstrip().startswith(b"<") else "application/json"
            answer = _Answer(fault.status or 200, content, kind)
        else:
            assert fault.status is not None
            answer = _default_fault_body(fault.status)
        if fault.retry_after is not None:
            retry = fault.retry_after
            answer.headers["Retry-After"] = str(int(retry)) if retry == int(retry) else str(retry)
        return answer

    def _rate_headers(self, *, count: bool) -> tuple[bool, dict[str, str]]:
        """Count this request in the rolling window (if `count`); whether it is allowed,
        and the rate-limit headers (see the module docstring for their formats)."""
        with self.lock:
            now = time.monotonic()
            window = self.window_seconds
            while self._window and self._window[0] <= now - window:
                self._window.popleft()
            allowed = len(self._window) < self.rate_limit
            if count and allowed:
                self._window.append(now)
            free_in = (self._window[0] + window - now) if self._window else 0.0
            fine = window < 10
            reset = time.time() + free_in
            headers = {
                "X-Ratelimit-Limit": str(self.rate_limit),
                "X-Ratelimit-Remaining": str(max(self.rate_limit - len(self._window), 0)),
                "X-Ratelimit-Reset": f"{reset:.3f}" if fine else str(math.ceil(reset)),
            }
            if not allowed:
                wait = max(free_in, 0.001)
                headers["Retry-After"] = (f"{math.ceil(wait * 1000) / 1000:.3f}" if fine
                                          else str(max(1, math.ceil(wait))))
            return allowed, headers

    def _route(self, method: str, route: str, query: dict[str, str], body: bytes) -> _Answer:
        try:
            return self._dispatch(method, route, query, body)
        except _BadRequest as refused:
            return refused.answer
        except Exception as error:  # a bug in the fake: answer 500 and keep it for the test
            with self.lock:
                self.errors.append(f"{method} {route}: {error!r}")
            return _error(500, 50010000, f"fake alpaca failed: {error!r}")

    def _dispatch(self, method: str, route: str, query: dict[str, str],
                  body: bytes) -> _Answer:
        parts = route.rstrip("/").split("/")[1:]  # "/orders/x" -> ["orders", "x"]
        if method == "GET":
            if route == "/account":
                return _json(200, self._account_copy())
            if route == "/positions":
                with self.lock:
                    return _json(200, [dict(p) for p in self.positions])
            if route == "/clock":
                return _json(200, self.clock())
            if route == "/orders":
                return _json(200, self._list_orders(query))
            if route == "/orders:by_client_order_id":
                return _json(200, self._order_by_client_id(query.get("client_order_id", "")))
            if len(parts) == 2 and parts[0] == "orders":
                return _json(200, self._order_copy(parts[1]))
            if route == "/account/activities":
                return _json(200, self._list_activities(query, None))
            if len(parts) == 3 and parts[:2] == ["account", "activities"]:
                return _json(200, self._list_activities(query, parts[2]))
        elif method == "POST" and route == "/orders":
            return _json(200, self._submit(body))
        elif method == "DELETE" and len(parts) == 2 and parts[0] == "orders":
            self._cancel(parts[1])
            return _Answer(204)
        return _error(404, 40410000, "endpoint not found")

    # -- account, positions, clock ----------------------------------------------------------------
    def _account_copy(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.account)

    def clock(self) -> dict[str, Any]:
        """`GET /clock`'s answer: New York times with their offset, weekdays 09:30-16:00."""
        with self.lock:
            ns = self._now_ns
        local = from_ns(ns).astimezone(NEW_YORK)
        opens = local.replace(hour=9, minute=30, second=0, microsecond=0)
        closes = local.replace(hour=16, minute=0, second=0, microsecond=0)
        weekday = local.weekday() < 5
        is_open = weekday and opens <= local < closes

        def next_weekday_at(hour: int, minute: int, after: datetime) -> datetime:
            day = after.date()
            while True:
                moment = datetime.combine(day, day_time(hour, minute), NEW_YORK)
                if moment.weekday() < 5 and moment > after:
                    return moment
                day += timedelta(days=1)

        stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
        nanos = ns % NS_PER_SECOND
        if nanos:
            stamp += f".{nanos:09d}".rstrip("0")
        return {
            "timestamp": stamp + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:],
            "is_open": is_open,
            "next_open": next_weekday_at(9, 30, local).isoformat(),
            "next_close": next_weekday_at(16, 0, local).isoformat(),
        }

    def set_price(self, symbol: str, price: str | Decimal) -> None:
        """The symbol's last price (positions' current_price and market value)."""
        with self.lock:
            self.prices[symbol] = _text(_decimal(price))
            self._refresh_positions_and_account()

    def _position(self, symbol: str) -> dict[str, Any] | None:
        return next((p for p in self.positions if p.get("symbol") == symbol), None)

    def _book(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> None:
        """A fill's effect on the position and on cash (no fees: Alpaca books those as FEE
        activities)."""
        signed = qty if side == "buy" else -qty
        held, average = self._holding(symbol)
        self._set_holding(symbol, *_next_holding(held, average, signed, price))
        self.account["cash"] = _text(_decimal(self.account["cash"]) - signed * price)
        self.prices[symbol] = _text(price)

    def _holding(self, symbol: str) -> tuple[Decimal, Decimal]:
        position = self._position(symbol)
        if position is None:
            return Decimal(0), Decimal(0)
        return _decimal(position["qty"]), _decimal(position["avg_entry_price"])

    def _set_holding(self, symbol: str, qty: Decimal, average: Decimal) -> None:
        position = self._position(symbol)
        if qty == 0:
            if position is not None:
                self.positions.remove(position)
            return
        if position is None:
            position = {"symbol": symbol}
            self.positions.append(position)
        position["qty"], position["avg_entry_price"] = _text(qty), _text(average)

    def _refresh_positions_and_account(self) -> None:
        """Recompute every position's derived fields and the account's totals."""
        long_value = short_value = Decimal(0)
        for position in self.positions:
            symbol = position["symbol"]
            qty = _decimal(position["qty"])
            average = _decimal(position["avg_entry_price"])
            price = _decimal(self.prices.get(symbol, position["avg_entry_price"]))
            market = qty * price
            cost = abs(qty) * average
            pl = (price - average) * qty
            position.update({
                "asset_id": _asset_id(symbol),
                "exchange": "NASDAQ",
                "asset_class": "us_equity",
                "asset_marginable": True,
                "side": "long" if qty > 0 else "short",
                "market_value": _text(market),
                "cost_basis": _text(cost),
                "unrealized_pl": _text(pl),
                "unrealized_plpc": _text((pl / cost).quantize(Decimal("0.0000000001")))
                if cost else "0",
                "unrealized_intraday_pl": _text(pl),
                "unrealized_intraday_plpc": _text((pl / cost).quantize(
                    Decimal("0.0000000001"))) if cost else "0",
                "current_price": _text(price),
                "lastday_price": _text(price),
                "change_today": "0",
                "qty_available": position["qty"],
            })
            if qty > 0:
                long_value += market
            else:
                short_value += market
        cash = _decimal(self.account["cash"])
        equity = cash + long_value + short_value
        self.account.update({
            "buying_power": _text(cash), "regt_buying_power": _text(cash),
            "non_marginable_buying_power": _text(cash), "options_buying_power": _text(cash),
            "long_market_value": _text(long_value), "short_market_value": _text(short_value),
            "equity": _text(equity), "portfolio_value": _text(equity),
        })

    # -- orders --------------------------------------------------------------------------------
    def add_order(self, symbol: str = "AAPL", qty: str | Decimal = "1", side: str = "buy", *,
                  type: str = "market", time_in_force: str = "day",
                  limit_price: str | Decimal | None = None, client_order_id: str | None = None,
                  status: str | None = None,
                  submitted_at: datetime | str | int | None = None) -> dict[str, Any]:
        """Put an order on the books directly (no HTTP, no validation beyond a unique
        client order id). `submitted_at` (aware datetime, RFC 3339 text with nanoseconds, or
        ns) gives ties at will; default: the clock (which then ticks). Returns a copy."""
        with self.lock:
            if client_order_id is not None and client_order_id in self._by_client_id:
                raise ValueError(f"client_order_id {client_order_id!r} is already used")
            ns = self._tick() if submitted_at is None else to_ns(submitted_at)
            order = self._create_order(
                symbol=symbol, qty=_decimal(qty), side=side, order_type=type,
                time_in_force=time_in_force,
                limit_price=None if limit_price is None else _decimal(limit_price),
                client_order_id=client_order_id or str(uuid.uuid4()),
                status=status or self.new_order_status, ns=ns)
            return dict(order)

    def _create_order(self, *, symbol: str, qty: Decimal, side: str, order_type: str,
                      time_in_force: str, limit_price: Decimal | None, client_order_id: str,
                      status: str, ns: int) -> dict[str, Any]:
        if client_order_id in self._by_client_id:
            raise _BadRequest(_json(422, DUPLICATE))
        stamp = format_time(ns)
        order_id = str(uuid.uuid4())
        order = self._order_record(order_id, client_order_id, stamp, symbol, qty, side,
                                   order_type, time_in_force, limit_price, status, ns)
        self._index_order(order, ns)
        if status not in FINAL_STATUSES:
            self._announce("pending_new", {**order, "status": "pending_new"}, timestamp=stamp)
            self._announce("new", {**order, "status": "new"}, timestamp=stamp)
        return order

    def _order_record(self, order_id: str, client_order_id: str, stamp: str, symbol: str,
                      qty: Decimal, side: str, order_type: str, time_in_force: str,
                      limit_price: Decimal | None, status: str, ns: int) -> dict[str, Any]:
        return {
            "id": order_id,
            "client_order_id": client_order_id,
            "created_at": stamp,
            "updated_at": stamp,
            "submitted_at": stamp,
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": _asset_id(symbol),
            "symbol": symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _text(qty),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "",
            "order_type": order_type,
            "type": order_type,
            "side": side,
            "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
            "time_in_force": time_in_force,
            "limit_price": None if limit_price is None else _text(limit_price),
            "stop_price": None,
            "status": status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
            "expires_at": _day_order_expiry(new_york_date(ns))
            if time_in_force == "day" else None,
        }

    def _index_order(self, order: dict[str, Any], ns: int) -> None:
        self._order_seq += 1
        self.orders[order["id"]] = order
        self._by_client_id[order["client_order_id"]] = order["id"]
        bisect.insort(self._order_index, (ns, self._order_seq, order["id"]))

    def _announce(self, event: str, order: Mapping[str, Any], **extra: Any) -> None:
        """Tell every listener about an order event (a copy of the order; under `lock`)."""
        for listener in list(self.listeners):
            try:
                listener(event, dict(order), dict(extra))
            except Exception as error:  # a listener's bug must not break the REST fake
                self.errors.append(f"listener {listener!r} on {event}: {error!r}")

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise _BadRequest(_json(404, NOT_FOUND))
        return order

    def get_order(self, order_id: str) -> dict[str, Any]:
        """A copy of an order; KeyError if unknown."""
        with self.lock:
            if order_id not in self.orders:
                raise KeyError(order_id)
            return dict(self.orders[order_id])

    def order_by_client_order_id(self, client_order_id: str) -> dict[str, Any] | None:
        """A copy of the order placed under `client_order_id`, or None."""
        with self.lock:
            order_id = self._by_client_id.get(client_order_id)
            return dict(self.orders[order_id]) if order_id in self.orders else None

    def _order_copy(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self._order(order_id))

    def _order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        with self.lock:
            order_id = self._by_client_id.get(client_order_id)
            if order_id is None or order_id not in self.orders:
                raise _BadRequest(_json(404, NOT_FOUND))
            return dict(self.orders[order_id])

    def update_order(self, order_id: str, **fields: Any) -> dict[str, Any]:
        """Set fields of an order (``status="rejected"``, ``status="expired"``...);
        ``updated_at`` becomes now unless given. Not ``submitted_at``. Returns a copy."""
        if "submitted_at" in fields:
            raise ValueError("submitted_at is indexed: give it to add_order")
        with self.lock:
            order = self.orders[order_id]
            before = order["status"]
            fields.setdefault("updated_at", self._stamp())
            order.update(fields)
            if order["status"] != before and order["status"] in ANNOUNCED_STATUSES:
                self._announce(order["status"], order, timestamp=order["updated_at"])
            return dict(order)

    def _submit(self, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body or b"null")
        except ValueError:
            raise _invalid("request body format is invalid", 40010000, 400) from None
        if not isinstance(request, dict):
            raise _invalid("request body format is invalid", 40010000, 400)
        symbol = request.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise _invalid("symbol is required", 40010000)
        if request.get("qty") is None:
            raise _invalid("qty is required" if request.get("notional") is None
                           else "notional orders are not supported by the fake", 40010000)
        try:
            qty = _decimal(request["qty"])
        except ValueError:
            raise _invalid(f"invalid qty {request['qty']!r}", 40010000) from None
        if qty <= 0:
            raise _invalid("qty must be > 0", 40010000)
        side = request.get("side")
        if side not in ("buy", "sell"):
            raise _invalid(f"invalid side {side!r}", 40010000)
        order_type = request.get("type", request.get("order_type"))
        if order_type not in ("market", "limit"):
            raise _invalid(f"invalid order type {order_type!r} (the fake knows market, limit)",
                           40010000)
        time_in_force = request.get("time_in_force")
        if time_in_force not in TIME_IN_FORCE:
            raise _invalid(f"invalid time_in_force {time_in_force!r}", 40010000)
        if qty != qty.to_integral_value() and time_in_force != "day":
            raise _invalid("fractional orders must be DAY orders")
        limit_price = None
        if order_type == "limit":
            if request.get("limit_price") is None:
                raise _invalid("limit_price is required for limit orders", 40010000)
            try:
                limit_price = _decimal(request["limit_price"])
            except ValueError:
                raise _invalid(f"invalid limit_price {request['limit_price']!r}",
                               40010000) from None
            if limit_price <= 0:
                raise _invalid("limit_price must be > 0", 40010000)
            if _sub_penny(limit_price):
                raise _invalid(f"invalid limit_price {request['limit_price']}. sub-penny "
                               "increment does not fulfill minimum pricing criteria")
        client_order_id = request.get("client_order_id") or str(uuid.uuid4())
        if not isinstance(client_order_id, str) or len(client_order_id) > 128:
            raise _invalid("client_order_id must be a string of at most 128 characters",
                           40010000)
        with self.lock:
            if self.account.get("trading_blocked") or self.account.get("account_blocked"):
                raise _invalid("account is not allowed to trade", 40310000, 403)
            if client_order_id in self._by_client_id:
                raise _BadRequest(_json(422, DUPLICATE))
            order = self._create_order(
                symbol=symbol, qty=qty, side=side, order_type=order_type,
                time_in_force=time_in_force, limit_price=limit_price,
                client_order_id=client_order_id, status=self.new_order_status,
                ns=self._tick())
            placed = dict(order)
            if self.auto_fill and order_type == "market" and symbol in self.prices:
                price = self.prices[symbol]
                for part in _parts(qty, self.auto_fill_parts):
                    self.fill(order["id"], part, price)
            return placed

    def _list_orders(self, query: dict[str, str]) -> list[dict[str, Any]]:
        status = query.get("status") or "open"
        if status not in ("open", "closed", "all"):
            raise _invalid(f"invalid status {status!r}")
        limit = _int_param(query, "limit", ORDER_LIMIT_DEFAULT, 1, ORDER_LIMIT_MAX)
        direction = query.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise _invalid(f"invalid direction {direction!r}")
        after = _time_param(query, "after")
        until = _time_param(query, "until")
        symbols = {s.strip() for s in query["symbols"].split(",")} if query.get(
            "symbols") else None
        side = query.get("side") or None
        # query["after_order_id"] / ["before_order_id"]: ignored, like an older server.
        with self.lock:
            index = self._order_index
            if len(index) != len(self.orders):  # orders added or removed behind our back
                self._rebuild_order_index()
                index = self._order_index
            start = 0 if after is None else bisect.bisect_right(index, (after, 1 << 62))
            end = len(index) if until is None else bisect.bisect_left(index, (until, -1))
            positions = range(start, end) if direction == "asc" else range(end - 1,
                                                                           start - 1, -1)
            found: list[dict[str, Any]] = []
            for position in positions:
                order = self.orders[index[position][2]]
                final = order["status"] in FINAL_STATUSES
                if (status == "open" and final) or (status == "closed" and not final):
                    continue
                if symbols is not None and order["symbol"] not in symbols:
                    continue
                if side is not None and order["side"] != side:
                    continue
                found.append(dict(order))
                if len(found) >= limit:
                    break
            return found

    def _rebuild_order_index(self) -> None:
        self._order_index = sorted(
            (parse_time_ns(order["submitted_at"]), seq, order_id)
            for seq, (order_id, order) in enumerate(self.orders.items()))
        self._order_seq = len(self._order_index)
        self._by_client_id = {o["client_order_id"]: i for i, o in self.orders.items()}

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """Cancel as the broker would (not through HTTP); ValueError if the order is
        already final. Returns a copy."""
        try:
            return self._cancel(order_id)
        except _BadRequest as refused:
            raise ValueError(str(refused)) from None

    def _cancel(self, order_id: str) -> dict[str, Any]:
        with self.lock:
            order = self._order(order_id)
            if order["status"] in FINAL_STATUSES:
                raise _invalid(f'order is already in "{order["status"]}" state')
            stamp = self._stamp()
            order.update(status="canceled", canceled_at=stamp, updated_at=stamp)
            self._announce("canceled", order, timestamp=stamp)
            return dict(order)

    # -- fills ---------------------------------------------------------------------------------
    def fill(self, order_id: str, qty: str | Decimal, price: str | Decimal, *,
             at: datetime | str | int | None = None) -> dict[str, Any]:
        """Execute `qty` of an order at `price`: a FILL activity (returned, a copy), the
        order's filled_qty / filled_avg_price / status, the position and cash. `at` is the
        transaction time (default: the clock, which then ticks). ValueError if the order is
        final or `qty` is more than is left."""
        quantity, fill_price = _decimal(qty), _decimal(price)
        if quantity <= 0 or fill_price <= 0:
            raise ValueError("a fill needs a positive qty and price")
        with self.lock:
            order = self.orders[order_id]
            if order["status"] in FINAL_STATUSES:
                raise ValueError(f"order {order_id} is {order['status']}")
            ordered = _decimal(order["qty"])
            done = _decimal(order["filled_qty"])
            if done + quantity > ordered:
                raise ValueError(f"order {order_id}: {quantity} is more than the "
                                 f"{ordered - done} left")
            ns = self._tick() if at is None else to_ns(at)
            stamp = format_time(ns)
            average = _decimal(order["filled_avg_price"] or "0")
            cumulative = done + quantity
            average = ((done * average + quantity * fill_price) / cumulative).quantize(
                Decimal("0.000000001"))
            leaves = ordered - cumulative
            status = "filled" if leaves == 0 else "partially_filled"
            order.update(filled_qty=_text(cumulative), filled_avg_price=_text(average),
                         status=status, updated_at=stamp)
            if status == "filled":
                order["filled_at"] = stamp
            execution_id = str(uuid.uuid4())
            activity = {
                "id": activity_id(ns, execution_id),
                "activity_type": "FILL",
                "transaction_time": stamp,
                "type": "fill" if status == "filled" else "partial_fill",
                "price": _text(fill_price),
                "qty": _text(quantity),
                "side": order["side"],
                "symbol": order["symbol"],
                "leaves_qty": _text(leaves),
                "cum_qty": _text(cumulative),
                "order_id": order_id,
                "order_status": status,
            }
            self._insert_activity(activity, ns)
            self._book(order["symbol"], order["side"], quantity, fill_price)
            self._refresh_positions_and_account()
            self._announce(activity["type"], order, execution_id=execution_id,
                           price=activity["price"], qty=activity["qty"],
                           position_qty=_text(self._holding(order["symbol"])[0]),
                           timestamp=stamp)
            return dict(activity)

    # -- activities ----------------------------------------------------------------------------
    def add_activity(self, activity_type: str, net_amount: str | Decimal, *,
                     description: str = "", symbol: str | None = None,
                     date: str | None = None, created_at: datetime | str | int | None = None,
                     status: str = "executed", **extra: Any) -> dict[str, Any]:
        """Book a non-trade activity (any type, known or not: ``FEE``, ``DIV``, ``MISCFEE``).

        `created_at` is when Alpaca books it: the id's prefix (default: the clock, which then
        ticks). `date` (``YYYY-MM-DD``) is the day it is for; default the New York date of
        `created_at`. Back-dating `created_at` puts the id behind cursors already passed.
        `extra` fields are added as given (``qty="2"``, ``per_share_amount="0.51"``,
        ``transaction_time=...``). An ``executed`` activity changes the account's cash by
        `net_amount`. Returns a copy."""
        amount = _decimal(net_amount)
        with self.lock:
            created = self._tick() if created_at is None else to_ns(created_at)
            day = date or new_york_date(created)
            activity: dict[str, Any] = {
                "id": activity_id(created),
                "activity_type": activity_type,
                "date": day,
                "net_amount": _text(amount),
                "description": description,
                "status": status,
            }
            if symbol is not None:
                activity["symbol"] = symbol
            activity.update(extra)
            self._insert_activity(activity, self._activity_time(activity))
            if status == "executed":
                self.account["cash"] = _text(_decimal(self.account["cash"]) + amount)
                self._refresh_positions_and_account()
            return dict(activity)

    def _insert_activity(self, activity: dict[str, Any], ns: int) -> None:
        self._activity_ns[activity["id"]] = ns
        bisect.insort(self.activities, activity, key=_by_id)

    @staticmethod
    def _activity_time(activity: Mapping[str, Any]) -> int:
        """When an activity happened, for after/until: its transaction_time, else the start
        of its date in New York."""
        if activity.get("transaction_time"):
            return parse_time_ns(str(activity["transaction_time"]))
        return _midnight_new_york_ns(str(activity.get("date") or "1970-01-01"))

    def _activity_ns_of(self, activity: Mapping[str, Any]) -> int:
        ns = self._activity_ns.get(activity["id"])
        if ns is None:
            ns = self._activity_ns[activity["id"]] = self._activity_time(activity)
        return ns

    def _list_activities(self, query: dict[str, str], path_type: str | None
                         ) -> list[dict[str, Any]]:
        types: set[str] | None = None
        if path_type is not None:
            types = {path_type}
        elif query.get("activity_types"):
            types = {t.strip() for t in query["activity_types"].split(",") if t.strip()}
        category = query.get("category") or None
        if category is not None:
            if types is not None:
                raise _invalid("category cannot be combined with activity_types")
            if category not in ("trade_activity", "non_trade_activity"):
                raise _invalid(f"invalid category {category!r}")
        direction = query.get("direction") or self.activities_default_direction
        if direction not in ("asc", "desc"):
            raise _invalid(f"invalid direction {direction!r}")
        page_size = _int_param(query, "page_size", ACTIVITY_PAGE_DEFAULT, 1, ACTIVITY_PAGE_MAX)
        token = query.get("page_token") or None
        after = _time_param(query, "after")
        until = _time_param(query, "until")
        day = query.get("date") or None
        if day is not None and (after is not None or until is not None):
            raise _invalid("date cannot be combined with after or until")
        with self.lock:
            activities = self.activities
            if direction == "asc":
                start = 0 if token is None else bisect.bisect_right(activities, token,
                                                                    key=_by_id)
                positions: Iterable[int] = range(start, len(activities))
            else:
                end = len(activities) if token is None else bisect.bisect_left(
                    activities, token, key=_by_id)
                positions = range(end - 1, -1, -1)
            found: list[dict[str, Any]] = []
            for position in positions:
                activity = activities[position]
                kind = activity.get("activity_type")
                if types is not None and kind not in types:
                    continue
                if category is not None and (kind == "FILL") != (category == "trade_activity"):
                    continue
                if after is not None or until is not None or day is not None:
                    ns = self._activity_ns_of(activity)
                    if (after is not None and ns <= after) or (
                            until is not None and ns >= until):
                        continue
                    if day is not None and (activity.get("date") or new_york_date(ns)) != day:
                        continue
                found.append(dict(activity))
                if len(found) >= page_size:
                    break
            return found

    # -- benchmarks ----------------------------------------------------------------------------
    def bulk_fills(self, n: int, *, symbols: Iterable[str] = ("AAPL", "MSFT", "NVDA", "SPY"),
                   start: datetime | str | int | None = None,
                   same_timestamp_every: int | None = None,
                   spacing: timedelta = timedelta(milliseconds=10),
                   qty: str = "1", price: str = "100") -> list[str]:
        """`n` filled orders and their FILL activities, built directly (fast: about 100,000
        in a couple of seconds). Fill i is on ``symbols[i % len(symbols)]``; each symbol
        alternates buy and sell of `qty`, so positions stay small; prices wander around
        `price` by cents. Times start at `start` (default the clock) and step by `spacing`;
        with `same_timestamp_every=k` each run of k consecutive fills (and their orders)
        shares one time. The clock ends after the last fill. Returns the new activity ids in
        id order (the order Alpaca pages them in)."""
        names = list(symbols)
        if not names:
            raise ValueError("bulk_fills needs at least one symbol")
        quantity, base = _decimal(qty), _decimal(price)
        qty_text = _text(quantity)
        step = spacing // timedelta(microseconds=1) * 1000
        group = same_timestamp_every or 1
        with self.lock:
            first = self._now_ns if start is None else to_ns(start)
            self._bulk_runs += 1
            run = self._bulk_runs
            books = {symbol: list(self._holding(symbol)) for symbol in names}
            cash = _decimal(self.account["cash"])
            new_activities: list[dict[str, Any]] = []
            new_index: list[tuple[int, int, str]] = []
            last_price: dict[str, Decimal] = {}
            ids = _quick_uuids(2 * n)
            prices = [base + Decimal(k) / 100 for k in range(97)]
            price_texts = [_text(p) for p in prices]
            ns = first
            for i in range(n):
                ns = first + (i // group) * step
                symbol = names[i % len(names)]
                side = "buy" if (i // len(names)) % 2 == 0 else "sell"
                fill_price, price_text = prices[i % 97], price_texts[i % 97]
                stamp = format_time(ns)
                order_id = ids[2 * i]
                order = self._order_record(order_id, f"bulk-{run}-{i}", stamp, symbol,
                                           quantity, side, "market", "day", None, "filled", ns)
                order.update(filled_qty=qty_text, filled_avg_price=price_text,
                             filled_at=stamp)
                self._order_seq += 1
                self.orders[order_id] = order
                self._by_client_id[order["client_order_id"]] = order_id
                new_index.append((ns, self._order_seq, order_id))
                activity = {
                    "id": activity_id(ns, ids[2 * i + 1]), "activity_type": "FILL",
                    "transaction_time": stamp,
                    "type": "fill", "price": price_text, "qty": qty_text, "side": side,
                    "symbol": symbol, "leaves_qty": "0", "cum_qty": qty_text,
                    "order_id": order_id, "order_status": "filled",
                }
                self._activity_ns[activity["id"]] = ns
                new_activities.append(activity)
                signed = quantity if side == "buy" else -quantity
                book = books[symbol]
                book[0], book[1] = _next_holding(book[0], book[1], signed, fill_price)
                cash -= signed * fill_price
                last_price[symbol] = fill_price
            self._order_index.extend(new_index)
            self._order_index.sort()
            self.activities.extend(new_activities)
            self.activities.sort(key=_by_id)
            for symbol, (held, average) in books.items():
                self._set_holding(symbol, held, average)
                if symbol in last_price:
                    self.prices[symbol] = _text(last_price[symbol])
            self.account["cash"] = _text(cash)
            self._refresh_positions_and_account()
            self._now_ns = max(self._now_ns, ns + max(self.tick_ns, 1))
            return sorted(a["id"] for a in new_activities)


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter, clamped to `high`; 422 if it is not a number >= low."""
    text = query.get(name)
    if text in (None, ""):
        return default
    try:
        value = int(text)
    except ValueError:
        raise _invalid(f"invalid {name} {text!r}") from None
    if value < low:
        raise _invalid(f"{name} must be >= {low}")
    return min(value, high)


def _time_param(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if text in (None, ""):
        return None
    try:
        return parse_time_ns(text)
    except ValueError:
        raise _invalid(f"invalid {name} {text!r}: expected an RFC 3339 time") from None
