"""A local, in-process fake of Alpaca's Market Data API (stocks, minute bars), for tests.

`FakeAlpacaData` is two real servers on 127.0.0.1, each on an ephemeral port and served
from daemon threads, so the real alpaca-py clients can be pointed at it::

    with FakeAlpacaData() as fake:
        rest = StockHistoricalDataClient("PKTEST", "secret-test", raw_data=True,
                                         url_override=fake.url)
        stream = StockDataStream("PKTEST", "secret-test", raw_data=True,
                                 url_override=fake.stream_url)

What it fakes:

- ``GET /v2/stocks/bars`` (``symbols`` comma-separated, ``timeframe=1Min`` only, ``start``
  and ``end`` both inclusive, ``limit`` 1..10000 (default 1000), ``page_token``, ``feed``
  iex/sip, ``sort`` asc/desc). The answer is ``{"bars": {symbol: [bar, ...]},
  "next_page_token": token-or-null}``; a bar is ``{"t", "o", "h", "l", "c", "v", "n",
  "vw"}`` with ``t`` RFC 3339 UTC (``...T14:31:00Z``) and prices as JSON floats. Like
  Alpaca's multi-symbol endpoint, bars are ordered by symbol, then time, and ``limit``
  counts bars across all symbols, so one symbol's bars can straddle a page boundary.
  Symbols without bars are left out of the map (``{}`` when none has any).
- ``GET /v2/stocks/bars/latest`` (``symbols``, ``feed``): ``{"bars": {symbol: bar}}``.
- The stream at `stream_url` (``/v2/iex`` or ``/v2/sip``): on connect
  ``[{"T":"success","msg":"connected"}]``; an ``auth`` action answered
  ``[{"T":"success","msg":"authenticated"}]`` or, for a wrong key,
  ``[{"T":"error","code":402,"msg":"auth failed"}]`` and the connection closed;
  ``subscribe``/``unsubscribe`` of ``bars`` answered with a ``subscription`` frame listing
  every channel; bars pushed as ``{"T":"b","S","o","h","l","c","v","t","n","vw"}`` with
  ``t`` a msgpack Timestamp. Frames are msgpack (the SDK always asks for it).

The traps are reproduced on purpose:

- the key headers ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` are checked (401,
  ``{"code":40110000,"message":"request is not authorized"}``); a feed in `forbidden_feeds`
  answers 403 ``subscription does not permit querying recent SIP data`` on REST and
  ``[{"T":"error","code":409,"msg":"insufficient subscription"}]`` at the stream's login
  (a free key on SIP; the SDK then stops its stream for good instead of reconnecting);
- prices are floats on the wire (``187.23`` arrives as the nearest binary double);
- paging is by an opaque ``next_page_token``, not by time;
- only one authenticated stream connection per key (`connection_limit`): another gets
  ``[{"T":"error","code":406,"msg":"connection limit exceeded"}]``, as Alpaca answers a
  client whose previous connection has not been reaped;
- `drop_connections` cuts the TCP connections without a closing handshake (a network drop);
  bars published meanwhile reach the history only, as at Alpaca;
- programmable REST faults (`fail_next`, `hang_next`): 429 with or without ``Retry-After``,
  5xx (JSON, or gateway HTML for 502-504), a 200 whose body is not JSON, a hang;
- `refuse_streams` refuses websocket handshakes (HTTP 503) so a client stays disconnected;
- `push_raw` sends any messages as they are (malformed bars, unknown types).

What it does not fake: trades, quotes, snapshots, other timeframes, ``updatedBars`` and
``dailyBars``, adjustments, ``asof``, the JSON (non-msgpack) stream encoding, rate limiting
of its own (a 429 only when programmed), and the 15-minute delay of SIP for free keys
(beyond `forbidden_feeds`).

State (`bars`: symbol → minute → wire record) is guarded by `lock`; the helpers take it.
`requests` lists every REST request (path, query, `time.monotonic()`); `errors` collects
exceptions raised inside the fake's handlers (a test can assert it stays empty).
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import msgpack
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tbot.clock import Clock
from tbot.market.bars import Bar, BarFeed

MINUTE = timedelta(minutes=1)
FEEDS = ("iex", "sip")
LIMIT_DEFAULT, LIMIT_MAX = 1000, 10_000
UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}
SIP_REFUSED = {"code": 40310000,
               "message": "subscription does not permit querying recent SIP data"}
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds",
            "corrections", "cancelErrors")


def wire_time(moment: datetime) -> str:
    """A minute as Alpaca's REST API writes it: ``2026-11-20T14:31:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wire_bar(bar: Bar) -> dict[str, Any]:
    """A tbot `Bar` as Alpaca's REST record (floats, as Alpaca sends them)."""
    return {"t": wire_time(bar.start), "o": float(bar.open), "h": float(bar.high),
            "l": float(bar.low), "c": float(bar.close), "v": int(bar.volume),
            "n": max(1, bar.volume // 100), "vw": float((bar.high + bar.low + bar.close) / 3)}


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _token(symbol: str, minute: datetime) -> str:
    raw = f"{symbol}|{int(minute.timestamp())}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _untoken(token: str) -> tuple[str, datetime]:
    symbol, _, seconds = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
    return symbol, datetime.fromtimestamp(int(seconds), UTC)


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: object) -> _Answer:
    return _Answer(status, json.dumps(payload, separators=(",", ":")).encode())


class _Refused(Exception):
    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.answer = _json(status, {"code": code or status * 100000, "message": message})


@dataclass
class RestFault:
    """One programmed REST fault (see `FakeAlpacaData.fail_next`)."""

    path: str
    status: int | None
    times: int
    retry_after: float | None
    body: str | None
    hang_seconds: float | None


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fake: FakeAlpacaData

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        answer = self.fake._answer(self.path, self.headers)
        if answer is None:  # closing during a hang: drop the connection unanswered
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
        except OSError:  # the client gave up (a timeout during a hang)
            self.close_connection = True


@dataclass(eq=False)
class _Subscriber:
    """One authenticated stream connection and what it subscribed to."""

    connection: ServerConnection
    bars: set[str] = field(default_factory=set)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    """Told it is authenticated: nothing else may reach it before that frame."""

    def send(self, messages: list[dict[str, Any]]) -> bool:
        try:
            with self.send_lock:
                self.connection.send(msgpack.packb(messages))
        except (ConnectionClosed, OSError, RuntimeError):
            return False
        return True

    def wants(self, symbol: str) -> bool:
        return symbol in self.bars or "*" in self.bars


class FakeAlpacaData:
    """Alpaca's stock market data REST API and bar stream on 127.0.0.1 (see the module
    docstring)."""

    def __init__(self, *, key_id: str = "PKTEST", secret_key: str = "secret-test") -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.page_limit = LIMIT_MAX
        """The most bars one page holds, whatever ``limit`` asks (tests shrink it to page)."""
        self.forbidden_feeds: set[str] = set()
        """Feeds the key may not use: REST answers 403 (a free key asking for SIP)."""
        self.connection_limit = 1
        """Authenticated stream connections allowed at once per key (Alpaca: one)."""
        self.refuse_streams = False
        """Refuse websocket handshakes with HTTP 503 (the client stays disconnected)."""
        self.lock = threading.RLock()
        self.bars: dict[str, dict[datetime, dict[str, Any]]] = {}
        self.requests: list[tuple[str, dict[str, str], float]] = []
        self.errors: list[str] = []
        self.stream_logins = 0
        """Successful stream authentications (the first connection and every reconnect)."""
        self._faults: list[RestFault] = []
        self._subscribers: list[_Subscriber] = []
        self._subscribed = threading.Condition(self.lock)
        self._closing = threading.Event()
        self._publisher: threading.Thread | None = None
        self._stop_publisher = threading.Event()

        handler = type("FakeAlpacaDataHandler", (_Handler,), {"fake": self})
        self._http = _HttpServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._http_thread = threading.Thread(target=self._http.serve_forever,
                                             kwargs={"poll_interval": 0.05},
                                             name="fake-alpaca-data:rest", daemon=True)
        self._http_thread.start()

        self._ws: Server = serve(self._serve_stream, "127.0.0.1", 0,
                                 process_request=self._check_handshake, compression=None,
                                 ping_interval=None)
        ws_port = self._ws.socket.getsockname()[1]
        self.stream_base = f"ws://127.0.0.1:{ws_port}"
        self.stream_url = f"{self.stream_base}/v2/iex"
        """The IEX stream's full URL (``/v2/sip`` works too: `stream_base` + path)."""
        self._ws_thread = threading.Thread(target=self._ws.serve_forever,
                                           name="fake-alpaca-data:stream", daemon=True)
        self._ws_thread.start()

    # -- life ----------------------------------------------------------------------------------
    def __enter__(self) -> FakeAlpacaData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop publishing and serving; wake hanging requests; close every connection.
        Idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        self.stop_publishing()
        self._http.shutdown()
        self._http.server_close()
        self._ws.shutdown()
        self._http_thread.join(timeout=5)
        self._ws_thread.join(timeout=5)

    # -- bars ------------------------------------------------------------------------------------
    def add_bars(self, bars: Iterable[Bar]) -> None:
        """Put `bars` in the history (REST) without pushing them to the stream."""
        with self.lock:
            for bar in bars:
                self.bars.setdefault(bar.symbol, {})[bar.start] = wire_bar(bar)

    def add_raw(self, symbol: str, minute: datetime, record: dict[str, Any]) -> None:
        """Put a wire record in the history as it is (junk included)."""
        with self.lock:
            self.bars.setdefault(symbol, {})[minute] = dict(record)

    def publish(self, bars: Iterable[Bar]) -> int:
        """Keep `bars` in the history and push them, one frame per connection, to every
        connection subscribed to their symbol. Returns the connections reached."""
        bars = list(bars)
        self.add_bars(bars)
        reached = 0
        for subscriber in self._current_subscribers():
            messages = [self._stream_bar(bar) for bar in bars if subscriber.wants(bar.symbol)]
            if messages and subscriber.send(messages):
                reached += 1
        return reached

    def push_raw(self, messages: list[dict[str, Any]]) -> int:
        """Send `messages` as one frame, as they are, to every authenticated connection."""
        return sum(1 for s in self._current_subscribers() if s.send(messages))

    @staticmethod
    def _stream_bar(bar: Bar) -> dict[str, Any]:
        record = wire_bar(bar)
        record.update(T="b", S=bar.symbol, t=msgpack.Timestamp.from_datetime(bar.start))
        return record

    def auto_publish(self, source: BarFeed, clock: Clock, *,
                     skip: Iterable[tuple[datetime, str]] = (),
                     delay: timedelta = timedelta(0), poll_seconds: float = 0.005) -> None:
        """Publish `source`'s bars as `clock` passes the end of each minute (plus `delay`),
        from the minute `clock` is in now, on a background thread, until
        `stop_publishing`. (minute, symbol) pairs in `skip` are never published: a gap."""
        self.stop_publishing()
        skipped = set(skip)
        next_minute = clock.now().replace(second=0, microsecond=0)
        self._stop_publisher = stop = threading.Event()

        def run() -> None:
            nonlocal next_minute
            while not stop.wait(poll_seconds):
                now = clock.now()
                while next_minute + MINUTE + delay <= now and not stop.is_set():
                    try:
                        bars = [bar for symbol, bar in source.minute(next_minute).items()
                                if (next_minute, symbol) not in skipped]
                        if bars:
                            self.publish(bars)
                    except Exception as error:  # a bug here must show in the test
                        with self.lock:
                            self.errors.append(f"auto_publish {next_minute}: {error!r}")
                    next_minute += MINUTE

        self._publisher = threading.Thread(target=run, name="fake-alpaca-data:publisher",
                                           daemon=True)
        self._publisher.start()

    def stop_publishing(self) -> None:
        """Stop `auto_publish` (waits for its thread)."""
        self._stop_publisher.set()
        if self._publisher is not None:
            self._publisher.join(timeout=5)
            self._publisher = None

    # -- the stream ------------------------------------------------------------------------------
    def subscribers(self) -> list[set[str]]:
        """The bar subscriptions of the authenticated connections."""
        with self.lock:
            return [set(s.bars) for s in self._subscribers]

    def wait_for_subscribers(self, symbols: Iterable[str], *, count: int = 1,
                             timeout: float = 5.0) -> bool:
        """Wait until `count` connections are subscribed to bars of every symbol in
        `symbols`; False on timeout."""
        wanted = set(symbols)
        with self._subscribed:
            return self._subscribed.wait_for(
                lambda: sum(1 for s in self._subscribers if wanted <= s.bars) >= count,
                timeout=timeout)

    def drop_connections(self) -> int:
        """Cut every stream connection without a closing handshake. Returns how many."""
        with self.lock:
            dropped, self._subscribers = self._subscribers, []
        for subscriber in dropped:
            with contextlib.suppress(OSError):
                subscriber.connection.socket.shutdown(socket.SHUT_RDWR)
        return len(dropped)

    def _current_subscribers(self) -> list[_Subscriber]:
        with self.lock:
            return [s for s in self._subscribers if s.ready]

    def _check_handshake(self, connection: ServerConnection, request: Request
                         ) -> Response | None:
        if self.refuse_streams or self._closing.is_set():
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "refused by the test\n")
        if request.path not in tuple(f"/v2/{feed}" for feed in FEEDS):
            return connection.respond(HTTPStatus.NOT_FOUND, "no such stream\n")
        return None

    def _serve_stream(self, connection: ServerConnection) -> None:
        subscriber: _Subscriber | None = None
        try:
            connection.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
            login = self._read(connection.recv(timeout=10))
            if (login.get("action") != "auth" or login.get("key") != self.key_id
                    or login.get("secret") != self.secret_key):
                connection.send(msgpack.packb([{"T": "error", "code": 402,
                                                "msg": "auth failed"}]))
                return
            with self.lock:
                if len(self._subscribers) >= self.connection_limit:
                    refused = True
                else:
                    refused = False
                    subscriber = _Subscriber(connection)
                    self._subscribers.append(subscriber)
                    self.stream_logins += 1
            if refused:
                connection.send(msgpack.packb([{"T": "error", "code": 406,
                                                "msg": "connection limit exceeded"}]))
                return
            if connection.request is not None and (
                    connection.request.path.rsplit("/", 1)[-1] in self.forbidden_feeds):
                with self.lock:
                    self._subscribers.remove(subscriber)
                connection.send(msgpack.packb([{"T": "error", "code": 409,
                                                "msg": "insufficient subscription"}]))
                return
            assert subscriber is not None
            subscriber.send([{"T": "success", "msg": "authenticated"}])
            subscriber.ready = True
            while True:
                self._act(subscriber, self._read(connection.recv()))
        except ConnectionClosed:
            pass
        except Exception as error:
            with self.lock:
                self.errors.append(f"stream: {error!r}")
        finally:
            if subscriber is not None:
                with self.lock:
                    if subscriber in self._subscribers:
                        self._subscribers.remove(subscriber)

    def _act(self, subscriber: _Subscriber, message: dict[str, Any]) -> None:
        action = message.get("action")
        symbols = message.get("bars") or []
        if action not in ("subscribe", "unsubscribe"):
            subscriber.send([{"T": "error", "code": 401, "msg": "invalid syntax"}])
            return
        with self._subscribed:
            if action == "subscribe":
                subscriber.bars.update(str(s) for s in symbols)
            else:
                subscriber.bars.difference_update(str(s) for s in symbols)
            self._subscribed.notify_all()
            frame = {channel: [] for channel in CHANNELS}
            frame["bars"] = sorted(subscriber.bars)
        subscriber.send([{"T": "subscription", **frame}])

    @staticmethod
    def _read(data: str | bytes) -> dict[str, Any]:
        message = msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)
        if not isinstance(message, dict):
            raise ValueError(f"expected a map, got {message!r}")
        return message

    # -- REST faults -----------------------------------------------------------------------------
    def fail_next(self, route: str, status: int, *, times: int = 1,
                  retry_after: float | None = None, body: str | None = None) -> RestFault:
        """Answer the next `times` requests to `route` (``/v2/stocks/bars``, or without the
        ``/v2``) with `status`: Alpaca-like JSON, gateway HTML for 502-504, or `body` (a 200
        with a non-JSON `body` is a broken answer). `retry_after` adds ``Retry-After``."""
        return self._add_fault(route, status, times, retry_after, body, None)

    def hang_next(self, route: str, *, seconds: float = 10.0, times: int = 1) -> RestFault:
        """Hold the next `times` requests to `route` for `seconds` (a client timeout fires),
        then answer normally; `close()` wakes them (dropped unanswered)."""
        return self._add_fault(route, None, times, None, None, seconds)

    def _add_fault(self, route: str, status: int | None, times: int,
                   retry_after: float | None, body: str | None,
                   hang_seconds: float | None) -> RestFault:
        path = route.strip()
        if not path.startswith("/v2/"):
            path = "/v2" + path
        fault = RestFault(path, status, times, retry_after, body, hang_seconds)
        with self.lock:
            self._faults.append(fault)
        return fault

    def _take_fault(self, path: str) -> RestFault | None:
        with self.lock:
            for fault in self._faults:
                if fault.path == path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- REST ------------------------------------------------------------------------------------
    def _answer(self, raw_path: str, headers: Mapping[str, str]) -> _Answer | None:
        path, _, query_text = raw_path.partition("?")
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        with self.lock:
            self.requests.append((path, query, time.monotonic()))
        if (headers.get("APCA-API-KEY-ID") != self.key_id
                or headers.get("APCA-API-SECRET-KEY") != self.secret_key):
            return _json(401, UNAUTHORIZED)
        fault = self._take_fault(path)
        if fault is not None:
            if fault.hang_seconds and self._closing.wait(fault.hang_seconds):
                return None
            if fault.status is not None:
                return self._fault_answer(fault)
        try:
            return _json(200, self._route(path, query))
        except _Refused as refused:
            return refused.answer
        except Exception as error:  # a bug in the fake: answer 500 and keep it for the test
            with self.lock:
                self.errors.append(f"GET {path}: {error!r}")
            return _json(500, {"code": 50010000, "message": f"fake failed: {error!r}"})

    @staticmethod
    def _fault_answer(fault: RestFault) -> _Answer:
        status = fault.status or 500
        if fault.body is not None:
            kind = "text/html" if fault.body.lstrip().startswith("<") else "application/json"
            answer = _Answer(status, fault.body.encode(), kind)
        elif status in (502, 503, 504):
            answer = _Answer(status, f"<html><body><h1>{status}</h1></body></html>".encode(),
                             "text/html")
        elif status == 429:
            answer = _json(status, {"code": 42910000, "message": "rate limit exceeded"})
        else:
            answer = _json(status, {"code": status * 100000, "message": f"fault {status}"})
        if fault.retry_after is not None:
            retry = fault.retry_after
            answer.headers["Retry-After"] = str(int(retry)) if retry == int(retry) else str(retry)
        return answer

    def _route(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        feed = query.get("feed", "sip")
        if feed not in FEEDS:
            raise _Refused(400, f"invalid feed {feed!r}", 40010001)
        if feed in self.forbidden_feeds:
            raise _Refused(403, SIP_REFUSED["message"], SIP_REFUSED["code"])
        symbols = [s for s in query.get("symbols", "").split(",") if s]
        if not symbols:
            raise _Refused(400, "missing symbols", 40010001)
        if path == "/v2/stocks/bars":
            return self._bars_page(symbols, query)
        if path == "/v2/stocks/bars/latest":
            with self.lock:
                latest = {s: self.bars[s][max(self.bars[s])] for s in symbols if self.bars.get(s)}
            return {"bars": latest}
        raise _Refused(404, "endpoint not found", 40410000)

    def _bars_page(self, symbols: list[str], query: dict[str, str]) -> dict[str, Any]:
        if query.get("timeframe") != "1Min":
            raise _Refused(422, f"the fake serves timeframe 1Min only, not "
                                f"{query.get('timeframe')!r}", 42210000)
        try:
            start = _parse_time(query["start"]) if query.get("start") else None
            end = _parse_time(query["end"]) if query.get("end") else None
            limit = int(query.get("limit") or LIMIT_DEFAULT)
            after = _untoken(query["page_token"]) if query.get("page_token") else None
        except (ValueError, KeyError) as error:
            raise _Refused(400, f"invalid query: {error}", 40010001) from None
        if not 1 <= limit <= LIMIT_MAX:
            raise _Refused(422, "invalid limit: exceeds 10000", 42210000)
        descending = query.get("sort") == "desc"
        with self.lock:
            found = [(symbol, minute, dict(record))
                     for symbol in sorted(set(symbols))
                     for minute, record in sorted(self.bars.get(symbol, {}).items(),
                                                  reverse=descending)
                     if (start is None or minute >= start) and (end is None or minute <= end)]
        if after is not None:
            position = next((i for i, (s, m, _) in enumerate(found) if (s, m) == after), None)
            found = found[position + 1:] if position is not None else []
        size = min(limit, self.page_limit)
        page, rest = found[:size], found[size:]
        grouped: dict[str, list[dict[str, Any]]] = {}
        for symbol, _, record in page:
            grouped.setdefault(symbol, []).append(record)
        token = _token(page[-1][0], page[-1][1]) if rest and page else None
        return {"bars": grouped, "next_page_token": token}
