"""The bar stream's connection as the feed's health sees it: the `StreamEvents` of a
`BarStream`, kept (connected or since when not, reconnects, a refused login, a stream that
gave up) and handed on (each bar, each connection). Thread-safe: events arrive on the
stream's thread, questions from the engine's."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tbot.clock import Clock

log = logging.getLogger("tbot.market.alpaca")

NO_GREETING = "connected message not received"
"""alpaca-py's error when the server's first frame is not its ``connected`` greeting."""


class StreamStatus:
    """Implements `bar_stream.StreamEvents`; `on_bar` gets each raw bar message and
    `on_connected` is called after each connection (the first included)."""

    def __init__(self, clock: Clock, *, on_bar: Callable[[Any], None],
                 on_connected: Callable[[], None]) -> None:
        self._clock = clock
        self._on_bar = on_bar
        self._on_connected = on_connected
        self._lock = threading.Lock()
        self._connections = 0
        self._connected = False
        self._disconnected_since: datetime | None = None
        self._refused: str | None = None
        self._ended: str | None = None
        self._last_failure: str | None = None
        self._closing = False

    # -- the owner -------------------------------------------------------------------------
    def starting(self, now: datetime) -> None:
        """The stream is about to start: disconnected from `now` until it connects."""
        with self._lock:
            self._disconnected_since = now

    def closing(self) -> None:
        """The owner is closing: what follows is not news."""
        with self._lock:
            self._closing = True

    @property
    def is_connected(self) -> bool:
        """True while a connection is up and logged in."""
        with self._lock:
            return self._connected

    @property
    def reconnects(self) -> int:
        """Connections after the first."""
        with self._lock:
            return max(self._connections - 1, 0)

    def problem(self, now: datetime, stale_seconds: float, *, in_session: bool) -> str | None:
        """Why the stream is not doing its job now, or None: it gave up, its login is
        refused, or (during the session) it has been disconnected over `stale_seconds`."""
        with self._lock:
            if self._ended is not None:
                return self._ended
            if self._refused is not None:
                return self._refused
            since = self._disconnected_since
            if in_session and not self._connected and since is not None:
                away = (now - since).total_seconds()
                if away > stale_seconds:
                    return f"the bar stream has been disconnected for {away:.0f} s"
            return None

    # -- StreamEvents (the stream's thread) ------------------------------------------------------
    def connected(self) -> None:
        """Up: counted, the refusal forgotten, then `on_connected`."""
        with self._lock:
            self._connections += 1
            self._connected = True
            self._disconnected_since = None
            self._refused = None
            count = self._connections
        if count > 1:
            log.info("the bar stream reconnected (%d); backfilling what it missed", count - 1)
        else:
            log.info("the bar stream is connected")
        self._on_connected()

    def failed(self, error: Exception) -> None:
        """A failed attempt: a refused login is kept as the reason until a connection."""
        message = str(error) or type(error).__name__
        with self._lock:
            self._last_failure = message
            # The SDK raises ValueError with the server's message when the login is refused
            # (also for a missing greeting, which is no refusal of ours).
            if isinstance(error, ValueError) and message != NO_GREETING:
                self._refused = f"Alpaca refused the bar stream's login ({message})"
        log.warning("the bar stream could not connect: %s", message)

    def disconnected(self) -> None:
        """Down: disconnected from now (the SDK's own `close` calls this often: idempotent)."""
        now = self._clock.now()
        with self._lock:
            was_connected, self._connected = self._connected, False
            if was_connected:
                self._disconnected_since = now
            closing = self._closing
        if was_connected and not closing:
            log.warning("the bar stream disconnected; the SDK reconnects with backoff")

    def bar(self, record: Any) -> None:
        """One raw bar message, handed on."""
        self._on_bar(record)

    def ended(self, error: BaseException | None) -> None:
        """The SDK gave up (or we stopped it): unless closing, that is the reason."""
        with self._lock:
            self._connected = False
            closing = self._closing
            cause = error if error is not None else self._last_failure
            if not closing:
                self._ended = ("the bar stream stopped and will not reconnect"
                               + (f" (last error: {cause})" if cause else ""))
        if not closing:
            log.error("the bar stream stopped and will not reconnect (last error: %s)", cause)
