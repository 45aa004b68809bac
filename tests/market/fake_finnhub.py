"""A local stand-in for Finnhub's REST API: a stdlib HTTP server in a thread.

Serves ``/api/v1/stock/metric`` and ``/api/v1/stock/profile2`` from programmable company
data, checks the ``X-Finnhub-Token`` header (401 with Finnhub's error object when wrong),
and plays scripted replies first: any status, headers and body (JSON or raw bytes), or a
reply that hangs until a delay passes or the server stops. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_PREFIX = "/api/v1"
METRIC = "/stock/metric"
PROFILE = "/stock/profile2"


@dataclass
class Reply:
    """A scripted answer. `body` is JSON-encoded unless it is bytes; `hang` seconds pass
    (or the server stops) before anything is sent; `cut` announces more bytes than it sends
    and closes the connection (a body cut off in transit)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    cut: bool = False


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeFinnhub:
    """The fake server; use as a context manager (`with FakeFinnhub() as fake:`)."""

    def __init__(self, api_key: str = "fh-test-key-123") -> None:
        self.api_key = api_key
        self.metrics: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.requests: list[Seen] = []
        self._script: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- programming it ------------------------------------------------------------------

    def add_company(
        self,
        symbol: str,
        metric: dict[str, Any] | None = None,
        profile: dict[str, Any] | None = None,
    ) -> None:
        """What /stock/metric (its `metric` object) and /stock/profile2 answer for
        `symbol`; unknown symbols get Finnhub's empty answers."""
        if metric is not None:
            self.metrics[symbol] = metric
        if profile is not None:
            self.profiles[symbol] = profile

    def queue(self, path: str, *replies: Reply) -> None:
        """Replies for `path` (``/stock/metric``...), played in order before the data."""
        with self._lock:
            self._script.setdefault(path, deque()).extend(replies)

    def count(self, path: str | None = None, symbol: str | None = None) -> int:
        """How many requests came for `path` and/or `symbol`."""
        with self._lock:
            return sum(
                1
                for seen in self.requests
                if (path is None or seen.path == path)
                and (symbol is None or seen.query.get("symbol") == symbol)
            )

    # -- running it ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root to give the client, e.g. ``http://127.0.0.1:PORT/api/v1``."""
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def start(self) -> FakeFinnhub:
        """Listen on a free local port in a background thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging replies, stop serving and close the socket."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeFinnhub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering -----------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.removeprefix(API_PREFIX)
        query = dict(parse_qsl(parts.query))
        with self._lock:
            self.requests.append(Seen(path, query, dict(handler.headers.items())))
            script = self._script.get(path)
            reply = script.popleft() if script else None
        if reply is None:
            reply = self._data_reply(path, query, handler.headers.get("X-Finnhub-Token"))
        if reply.hang:
            self._release.wait(reply.hang)
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body) + (100 if reply.cut else 0)))
            handler.end_headers()
            handler.wfile.write(body)
            if reply.cut:
                handler.close_connection = True
        except OSError:
            pass  # the client gave up (a timeout test): nothing to answer

    def _data_reply(self, path: str, query: dict[str, str], token: str | None) -> Reply:
        if token != self.api_key:
            return Reply(401, {"error": "Invalid API key"})
        symbol = query.get("symbol", "")
        if path == METRIC:
            return Reply(
                200,
                {
                    "metric": self.metrics.get(symbol, {}),
                    "metricType": query.get("metric", ""),
                    "series": {},
                    "symbol": symbol,
                },
            )
        if path == PROFILE:
            return Reply(200, self.profiles.get(symbol, {}))
        return Reply(404, b"404 page not found", {"Content-Type": "text/plain"})
