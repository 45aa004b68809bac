"""`AlpacaTradeUpdates`: Alpaca's trade-updates websocket as an `OrderUpdateStream`, over
alpaca-py's `TradingStream` (raw-data mode).

Threads. The SDK runs its own event loop (`TradingStream.run` calls `asyncio.run`, so it can
never share the engine's loop): that loop lives on the daemon thread
``alpaca-trade-updates``, where it connects, authenticates, listens, reads and reconnects
with backoff. `deliver` and `on_connected` are called on one other thread owned by the
stream, ``alpaca-trade-updates-deliver``, one call at a time, in arrival order. The SDK's
handler awaits each call before the SDK reads the next message, so delivery is
write-through; meanwhile the SDK's loop stays free to answer keepalive pings and to stop on
`close()`, even when the engine takes seconds over an update (its fill catch-up retries).

What this adds to the SDK (by subclassing it; the private names relied on are pinned by
tests/broker/alpaca/test_alpaca_trade_updates.py):

- every received frame is checked to be a JSON object first: anything else would make the
  SDK raise and drop it, here it becomes an `UnreadableUpdate`;
- each message becomes an `OrderUpdate` (`trade_update_messages.read_trade_update`); the
  handler never raises into the SDK, which would log and lose the event;
- each (re)connection is seen: `connected` turns true and `on_connected` is called once the
  server confirms the subscription (its ``listening`` answer), `reconnects` counts them;
- `last_error` says why the stream is not connected. A refused key makes the SDK raise in
  its authentication and retry forever with backoff; here `connected` stays false and
  `last_error` says the credentials were refused (never the key itself).

When `deliver` raises, the update is lost to the stream (there is no replay): the failure
is logged and `needs_catch_up` turns true until the engine clears it (clear it *before*
catching up, so a failure during the catch-up is not forgotten). `on_connected` raising
does the same. Neither stops the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from alpaca.common.enums import BaseURL
from alpaca.trading.stream import TradingStream

from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.trade_update_messages import read_trade_update
from tbot.broker.order_updates import Deliver, OrderUpdate, UnreadableUpdate

log = logging.getLogger("tbot.broker.alpaca.stream")

TRADE_UPDATES: Final = "trade_updates"
UNREADABLE_FRAME: Final = "tbot.unreadable_frame"
"""The stand-in `stream` name of a frame that is not a JSON object (see `_ScreenedSocket`)."""
CLOSE_TIMEOUT_SECONDS: Final = 5.0
STOP_GRACE_SECONDS: Final = 1.0
"""How long `close()` lets the SDK stop by itself (at most half its time left) before
cancelling its loop's tasks."""


class AlpacaTradeUpdates:
    """One Alpaca account's trade-updates stream (see the module docstring)."""

    def __init__(self, credentials: AlpacaCredentials, *,
                 reconnect_backoff: tuple[float, float] = (1.0, 30.0)) -> None:
        """`reconnect_backoff`: the SDK's (min, max) seconds between reconnection attempts
        (it doubles from min to max, with jitter); tests shorten it."""
        self.credentials = credentials
        default = BaseURL.TRADING_STREAM_PAPER if credentials.paper else (
            BaseURL.TRADING_STREAM_LIVE)
        self.url: str = credentials.stream_url or default.value
        self.reconnect_backoff = reconnect_backoff
        self.reconnects = 0
        """Successful (re)connections after the first."""
        self.last_error: str | None = None
        """Why the stream is not connected (a refused key, an unreachable server, a lost
        connection); None while connected and before the first attempt."""
        self._lock = threading.Lock()
        self._connected = False
        self._connections = 0
        self._needs_catch_up = False
        self._closing = False
        self._closed = False
        self._deliver: Deliver | None = None
        self._on_connected: Callable[[], None] | None = None
        self._socket: _Socket | None = None
        self._thread: threading.Thread | None = None
        self._worker: ThreadPoolExecutor | None = None
        self._worker_ident: int | None = None

    # -- the protocol ---------------------------------------------------------------------------
    def start(self, deliver: Deliver, on_connected: Callable[[], None]) -> None:
        """Connect (and keep reconnecting) on the stream's own thread. `deliver` and
        `on_connected` run on the stream's delivery thread (see the module docstring).
        RuntimeError if started before or closed."""
        with self._lock:
            if self._thread is not None or self._closed:
                raise RuntimeError("an AlpacaTradeUpdates stream starts once")
            self._deliver, self._on_connected = deliver, on_connected
            self._worker = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="alpaca-trade-updates-deliver",
                initializer=self._note_worker)
            self._socket = _Socket(self)
            self._socket._reconnect_min_backoff = float(self.reconnect_backoff[0])
            self._socket._reconnect_max_backoff = float(self.reconnect_backoff[1])
            self._socket.subscribe_trade_updates(self._on_message)
            self._thread = threading.Thread(target=self._run, name="alpaca-trade-updates",
                                            daemon=True)
            self._thread.start()

    @property
    def connected(self) -> bool:
        """True while connected, authorized and subscribed to trade updates."""
        return self._connected

    @property
    def needs_catch_up(self) -> bool:
        """True once an update was lost because `deliver` (or `on_connected`) raised;
        stays true until the engine clears it (``stream.needs_catch_up = False``)."""
        return self._needs_catch_up

    @needs_catch_up.setter
    def needs_catch_up(self, value: bool) -> None:
        self._needs_catch_up = bool(value)

    def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> None:
        """Stop the stream and join its thread, waiting at most about `timeout` seconds
        (then the daemon thread is left to die with the process, logged). Idempotent; safe
        before `start()`. Called from inside `deliver` it only asks the stream to stop
        (joining there would wait for itself)."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._closing = True
            thread, socket, worker = self._thread, self._socket, self._worker
        deadline = time.monotonic() + timeout
        if thread is not None and socket is not None:
            self._stop(thread, socket, deadline)
        if worker is not None:
            worker.shutdown(wait=False, cancel_futures=True)
        self._connected = False

    # -- stopping -------------------------------------------------------------------------------
    def _stop(self, thread: threading.Thread, socket: _Socket, deadline: float) -> None:
        """Ask the SDK to stop and close its socket (half the time left at most), let it
        wind down (`STOP_GRACE_SECONDS` at most), then cancel its loop's tasks."""
        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        loop = socket._loop
        while loop is None and thread.is_alive() and left():
            time.sleep(0.005)  # the thread has not reached its loop yet
            loop = socket._loop
        if loop is None or not loop.is_running():
            thread.join(left())
            return
        try:
            stopping = asyncio.run_coroutine_threadsafe(socket.stop_and_close(), loop)
            stopping.result(timeout=left() / 2)
        except Exception as error:  # the loop ended meanwhile, or the close hangs
            log.debug("stopping the trade-updates stream: %r", error)
        if threading.get_ident() == self._worker_ident:
            return  # inside deliver: the stream stops once this call returns
        thread.join(min(STOP_GRACE_SECONDS, left() / 2))
        if thread.is_alive() and not loop.is_closed():
            # Still connecting, or waiting on a deliver that hangs: cancel its loop's tasks.
            with contextlib.suppress(RuntimeError):  # closed in between
                loop.call_soon_threadsafe(_cancel_all_tasks)
            thread.join(left())
        if thread.is_alive():
            log.warning("the trade-updates stream's thread did not stop in time; left to die "
                        "with the process")

    def _run(self) -> None:
        """The stream's thread: the SDK's loop, until `close()`."""
        socket = self._socket
        assert socket is not None
        try:
            socket.run()
        except asyncio.CancelledError:
            log.debug("the trade-updates stream was cancelled by close()")
        except Exception:
            log.exception("the trade-updates stream stopped unexpectedly")
            self.last_error = "the trade-updates stream stopped unexpectedly (see the log)"
        finally:
            self._connected = False

    def _note_worker(self) -> None:
        self._worker_ident = threading.get_ident()

    # -- on the SDK's loop ---------------------------------------------------------------------
    async def _on_message(self, message: Any) -> None:
        """The SDK's trade-updates handler: never raises (the SDK would drop the event)."""
        await self._hand_over(read_trade_update(message))

    async def _hand_over(self, update: OrderUpdate | UnreadableUpdate) -> None:
        """`deliver(update)` on the delivery thread; returns when it has returned."""
        deliver = self._deliver
        assert deliver is not None
        try:
            await self._on_worker(deliver, update)
        except Exception:
            self._needs_catch_up = True
            what = update.key if isinstance(update, OrderUpdate) else "an unreadable update"
            if self._closing:
                log.debug("an order update (%s) arrived while closing", what)
            else:
                log.exception("delivering an order update (%s) failed; a catch-up is needed",
                              what)

    async def _subscribed(self, streams: object) -> None:
        """The server confirmed a subscription: connected, then `on_connected`."""
        if not isinstance(streams, list) or TRADE_UPDATES not in streams:
            self.last_error = (f"the trade-updates stream subscribed to {streams!r}, not "
                               f"to {TRADE_UPDATES}")
            log.error("%s", self.last_error)
            return
        if self._connections:
            self.reconnects += 1
        self._connections += 1
        self._connected = True
        self.last_error = None
        log.info("trade-updates stream connected to %s (%s)", self.url,
                 "reconnection" if self.reconnects else "first connection")
        on_connected = self._on_connected
        assert on_connected is not None
        try:
            await self._on_worker(on_connected)
        except Exception:
            self._needs_catch_up = True
            log.exception("on_connected of the trade-updates stream failed; a catch-up is "
                          "needed")

    def _failed(self, error: BaseException) -> None:
        """A connection attempt failed (the SDK retries it after a backoff)."""
        self._connected = False
        if isinstance(error, ValueError) and "authenticate" in str(error):
            reason = ("Alpaca refused the trade-updates stream's credentials (not "
                      "authorized); retrying with backoff")
        else:
            reason = (f"cannot connect to the trade-updates stream at {self.url}: "
                      f"{type(error).__name__}: {error}")
        self.last_error = self._without_keys(reason)
        if not self._closing:
            log.warning("%s", self.last_error)

    def _lost(self) -> None:
        """The SDK closed the connection (lost, or stopping)."""
        if self._connected and not self._closing:
            self.last_error = "the trade-updates connection was lost; reconnecting"
            log.warning("%s", self.last_error)
        self._connected = False

    async def _on_worker(self, call: Callable[..., None], *args: object) -> None:
        worker = self._worker
        assert worker is not None
        await asyncio.get_running_loop().run_in_executor(worker, call, *args)

    def _without_keys(self, text: str) -> str:
        for secret in (self.credentials.secret_key, self.credentials.api_key_id):
            if secret:
                text = text.replace(secret, "…")
        return text


def _cancel_all_tasks() -> None:
    for task in asyncio.all_tasks():
        task.cancel()


class _Socket(TradingStream):
    """The SDK's stream with the hooks `AlpacaTradeUpdates` needs (private SDK names, pinned
    by tests: `_connect`, `_ws`, `_start_ws`, `_dispatch`, `close`, `stop_ws`, `_loop`,
    `_reconnect_min_backoff`, `_reconnect_max_backoff`)."""

    def __init__(self, owner: AlpacaTradeUpdates) -> None:
        credentials = owner.credentials
        super().__init__(credentials.api_key_id, credentials.secret_key,
                         paper=credentials.paper, raw_data=True, url_override=owner.url)
        self._owner = owner
        self._confirmed = False

    async def _connect(self) -> None:
        await super()._connect()
        self._ws = _ScreenedSocket(self._ws)

    async def _start_ws(self) -> None:
        self._confirmed = False
        try:
            await super()._start_ws()  # connect, authenticate, send listen
        except Exception as error:
            self._owner._failed(error)
            raise

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        stream = msg.get("stream")
        if stream == "listening":
            data = msg.get("data")
            self._confirmed = True
            await self._owner._subscribed(data.get("streams") if isinstance(data, Mapping)
                                          else None)
        elif stream == UNREADABLE_FRAME:
            data = msg.get("data") or {}
            await self._owner._hand_over(UnreadableUpdate(str(data.get("reason")),
                                                          data.get("raw")))
        elif stream == TRADE_UPDATES:
            if not self._confirmed:  # a server that does not confirm: its first event does
                self._confirmed = True
                await self._owner._subscribed([TRADE_UPDATES])
            await super()._dispatch(msg)
        else:
            log.debug("trade-updates stream: ignored a %r message", stream)

    async def close(self) -> None:
        self._owner._lost()
        await super().close()

    async def stop_and_close(self) -> None:
        """Stop for good: the SDK's stop, then close the socket so a pending read ends now
        instead of at its 5-second poll."""
        await self.stop_ws()
        await self.close()


class _ScreenedSocket:
    """The SDK's websocket, each received frame checked to be a JSON object. Any other frame
    is handed on as a stand-in object naming the problem (stream `UNREADABLE_FRAME`), which
    `_Socket._dispatch` delivers as an `UnreadableUpdate`: the SDK itself would raise on it
    and lose it. Everything else is the wrapped socket's."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    async def recv(self) -> str | bytes:
        frame = await self._ws.recv()
        try:
            if isinstance(json.loads(frame), dict):
                return frame  # type: ignore[no-any-return]
            reason = "the frame is JSON but not an object"
        except ValueError as error:  # not JSON, or not UTF-8
            reason = f"the frame is not JSON ({error})"
        raw = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        return json.dumps({"stream": UNREADABLE_FRAME, "data": {"reason": reason, "raw": raw}})
