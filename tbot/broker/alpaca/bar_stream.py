"""Alpaca's live minute-bar stream: alpaca-py's `StockDataStream` on a daemon thread, made
to say when it connects, fails to, and drops.

The SDK reconnects by itself (exponential backoff with jitter) but tells nobody, and has
no disconnect callback. `BarStream` overrides two of its methods to find out, both pinned
by tests/broker/alpaca/test_alpaca_market_data.py so an SDK upgrade that changes them fails
loudly rather than silently losing reconnect backfills:

- `_start_ws` (private): called for the first connection and for every reconnection, then
  the SDK sends the subscription. It succeeds → `connected`; it raises (refused login,
  handshake refused, unreachable) → `failed(error)`.
- `close` (public coroutine): called when the connection drops (after a
  `WebSocketException`), after a failed attempt, and when stopping → `disconnected`.

Stopping: the SDK's `stop()` only queues a request that its receive loop reads between
5-second receive timeouts, and `run()` drops a stop requested before its loop starts.
`shutdown` therefore runs the SDK's `stop_ws` *and* closes the socket on the stream's own
loop (which wakes the receive at once), then joins the thread for a bounded time.

Handlers run on the stream's event loop: `events.bar` must be quick and must not raise (an
exception there would lose the rest of the frame's messages), so it is guarded here too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from alpaca.data.live.stock import StockDataStream

from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.data_client import data_feed

log = logging.getLogger("tbot.market.alpaca")

PING_INTERVAL_SECONDS = 10.0
PING_TIMEOUT_SECONDS = 20.0
"""A connection that stops answering pings is dropped (and reconnected) within ~30 s; the
SDK's own default waits 180 s."""


class StreamEvents(Protocol):
    """What the stream tells its owner; called on the stream's thread."""

    def connected(self) -> None:
        """A connection is up and logged in (the subscription follows at once)."""

    def failed(self, error: Exception) -> None:
        """An attempt to connect or log in failed; the SDK will retry with backoff."""

    def disconnected(self) -> None:
        """The connection is gone (dropped, failed, or stopping)."""

    def bar(self, record: Any) -> None:
        """One raw ``{"T": "b", ...}`` message."""

    def ended(self, error: BaseException | None) -> None:
        """The stream's thread is over (stopped, or the SDK gave up)."""


class BarStream(StockDataStream):
    """Minute bars of `symbols` from the credentials' feed, raw, on its own thread."""

    def __init__(self, credentials: AlpacaCredentials, symbols: Sequence[str],
                 events: StreamEvents, *, open_timeout_seconds: float,
                 reconnect_backoff_seconds: tuple[float, float] = (1.0, 30.0)) -> None:
        super().__init__(
            credentials.api_key_id, credentials.secret_key, raw_data=True,
            feed=data_feed(credentials), url_override=credentials.data_stream_url,
            websocket_params={
                "ping_interval": PING_INTERVAL_SECONDS,
                "ping_timeout": PING_TIMEOUT_SECONDS,
                "max_queue": 1024,
                "open_timeout": open_timeout_seconds,
                "close_timeout": min(open_timeout_seconds, 5.0),
            })
        # The SDK's reconnect backoff (private attributes, pinned by a test).
        self._reconnect_min_backoff, self._reconnect_max_backoff = reconnect_backoff_seconds
        self._events = events
        self._thread: threading.Thread | None = None
        self._stream_loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self.subscribe_bars(self._on_bar, *symbols)

    # -- the SDK's hooks -------------------------------------------------------------------
    async def _start_ws(self) -> None:
        try:
            await super()._start_ws()
        except Exception as error:
            self._events.failed(error)
            raise
        self._events.connected()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._events.disconnected()

    async def _on_bar(self, record: Any) -> None:
        try:
            self._events.bar(record)
        except Exception:  # never let one record cost the rest of the frame
            log.exception("a stream bar could not be taken in: %r", record)

    # -- the thread ----------------------------------------------------------------------------
    def start_thread(self) -> None:
        """Run the stream on a daemon thread (the SDK's loop uses `asyncio.run`)."""
        if self._thread is not None:
            raise RuntimeError("the bar stream is already started")
        self._thread = threading.Thread(target=self._run_thread, name="alpaca-bar-stream",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the stream's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def shutdown(self, timeout_seconds: float) -> bool:
        """Stop the stream and wait for its thread at most `timeout_seconds`; True when it
        ended. Safe to call more than once, or before `start_thread`."""
        thread = self._thread
        if thread is None:
            return True
        self._loop_ready.wait(timeout_seconds)
        loop = self._stream_loop
        if loop is not None and not loop.is_closed():
            halt = self._halt()
            try:
                asyncio.run_coroutine_threadsafe(halt, loop)
            except RuntimeError:  # the loop closed meanwhile: the thread is ending
                halt.close()
        thread.join(timeout_seconds)
        return not thread.is_alive()

    async def _halt(self) -> None:
        await self.stop_ws()
        await self.close()  # wakes the receive now instead of after its 5 s timeout

    def _run_thread(self) -> None:
        error: BaseException | None = None
        try:
            asyncio.run(self._serve())
        except BaseException as raised:  # reported, never raised on a daemon thread
            error = raised
            log.exception("the bar stream's thread failed")
        finally:
            self._events.ended(error)

    async def _serve(self) -> None:
        self._stream_loop = asyncio.get_running_loop()
        self._loop_ready.set()
        await self._run_forever()
