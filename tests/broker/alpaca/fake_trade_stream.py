"""A local fake of Alpaca's trade-updates websocket, pushing the order events of a
`FakeAlpaca`, so the real alpaca-py `TradingStream` (and `AlpacaTradeUpdates` over it) can be
pointed at it::

    with FakeAlpaca() as fake, FakeTradeStream(fake) as stream:
        credentials = credentials_for(fake, stream_url=stream.url)

The protocol, as Alpaca speaks it (every server message a **binary** frame of JSON):

- the client sends ``{"action": "authenticate", "data": {"key_id", "secret_key"}}``; the
  server answers ``{"stream": "authorization", "data": {"status": "authorized",
  "action": "authenticate"}}``, or ``"unauthorized"`` (wrong key, or `refuse_auth`) and
  closes the connection;
- the client sends ``{"action": "listen", "data": {"streams": ["trade_updates"]}}``; the
  server answers ``{"stream": "listening", "data": {"streams": ["trade_updates"]}}``;
- from then on each order event of the fake arrives as ``{"stream": "trade_updates",
  "data": {"event", "timestamp", "order", ...}}`` (see `FakeAlpaca`'s module docstring for
  the events and their fields).

Like the real service it never replays: an event while no client listens is gone.

Faults: `drop_connections` (the network drops every connection; the client must
reconnect), `lose_next` (the next events are silently not sent), `duplicate_next` (sent
twice), `send_raw` / `send_frame` (anything, to make unreadable messages), `refuse_auth`.

Bookkeeping for tests: `events_sent` (each message as written to a client, duplicates
twice), `events_lost` (order events no client got), `connections`, `auth_refusals`,
`listening`, and the waits `wait_listening` / `wait_sent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.broker.alpaca.fake_alpaca import FakeAlpaca

TRADE_UPDATES = "trade_updates"


class FakeTradeStream:
    """Alpaca's trade-updates websocket on 127.0.0.1, fed by `fake` (see the module
    docstring). Served by its own event loop on a daemon thread."""

    def __init__(self, fake: FakeAlpaca) -> None:
        self.fake = fake
        self.refuse_auth = False
        """Answer every authentication ``unauthorized``, whatever the key."""
        self.events_sent: list[Any] = []
        """Every message written to a listening client (parsed), in order."""
        self.events_lost: list[dict[str, Any]] = []
        """Order events no client got (`lose_next`, or nobody listening)."""
        self.connections = 0
        """Websocket connections opened."""
        self.auth_refusals = 0
        self._lock = threading.Lock()
        self._lose = 0
        self._duplicate = 0
        self._clients: dict[ServerConnection, asyncio.Queue[tuple[Any, str | bytes]]] = {}
        self._open: set[ServerConnection] = set()
        self._server: Server | None = None
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-trade-stream",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(5) or self._server is None:
            raise RuntimeError("the fake trade stream did not start")
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/stream"
        fake.listeners.append(self._on_order_event)

    # -- life ----------------------------------------------------------------------------------
    def __enter__(self) -> FakeTradeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening to the fake, close every connection (going away), stop the
        thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError):
            self.fake.listeners.remove(self._on_order_event)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._open_server())
        finally:
            self._ready.set()
        self._loop.run_forever()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _open_server(self) -> Server:
        return await serve(self._serve, "127.0.0.1", 0, ping_interval=None)

    async def _shut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- controls ------------------------------------------------------------------------------
    @property
    def listening(self) -> int:
        """Clients currently subscribed to trade updates."""
        return len(self._clients)

    def wait_listening(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Wait until at least `count` clients listen; False on timeout."""
        return _wait(lambda: self.listening >= count, timeout)

    def wait_sent(self, count: int, timeout: float = 2.0) -> bool:
        """Wait until at least `count` messages were sent; False on timeout."""
        return _wait(lambda: len(self.events_sent) >= count, timeout)

    def drop_connections(self) -> None:
        """The network drops every open connection at once (no closing handshake)."""
        async def drop() -> None:
            for connection in list(self._open):
                connection.transport.abort()
        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(5)

    def lose_next(self, count: int = 1) -> None:
        """The next `count` order events are never sent (the client misses them)."""
        with self._lock:
            self._lose += count

    def duplicate_next(self, count: int = 1) -> None:
        """The next `count` order events are each sent twice."""
        with self._lock:
            self._duplicate += count

    def send_raw(self, message: Any) -> None:
        """Send `message` (anything JSON can encode) to every listening client, as is."""
        self._loop.call_soon_threadsafe(self._broadcast, message,
                                        json.dumps(message).encode(), 1)

    def send_frame(self, frame: str | bytes) -> None:
        """Send `frame` verbatim (text frame for str, binary for bytes), even if not JSON."""
        self._loop.call_soon_threadsafe(self._broadcast, frame, frame, 1)

    def push(self, event: str, order_id: str, **extra: Any) -> None:
        """An event of any name about an existing order of the fake (``restated``,
        ``done_for_day``, an invented one...), through the same path as real ones."""
        extra.setdefault("timestamp", self.fake.now_text())
        self._on_order_event(event, self.fake.get_order(order_id), extra)

    # -- events --------------------------------------------------------------------------------
    def _on_order_event(self, event: str, order: dict[str, Any], extra: dict[str, Any]) -> None:
        """`FakeAlpaca`'s listener (any thread, under the fake's lock, in event order)."""
        message = {"stream": TRADE_UPDATES, "data": {"event": event, **extra, "order": order}}
        with self._lock:
            if self._lose > 0:
                self._lose -= 1
                self.events_lost.append(message)
                return
            times = 1
            if self._duplicate > 0:
                self._duplicate -= 1
                times = 2
        with contextlib.suppress(RuntimeError):  # closed
            self._loop.call_soon_threadsafe(self._broadcast, message,
                                            json.dumps(message).encode(), times)

    def _broadcast(self, message: Any, frame: str | bytes, times: int) -> None:
        """On the loop: queue `frame` for every listening client (FIFO per client)."""
        if not self._clients and isinstance(message, dict) and (
                message.get("stream") == TRADE_UPDATES):
            self.events_lost.append(message)
        for queue in self._clients.values():
            for _ in range(times):
                queue.put_nowait((message, frame))

    async def _pump(self, connection: ServerConnection,
                    queue: asyncio.Queue[tuple[Any, str | bytes]]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message, frame = await queue.get()
                await connection.send(frame)
                self.events_sent.append(message)

    # -- one connection ------------------------------------------------------------------------
    async def _serve(self, connection: ServerConnection) -> None:
        self.connections += 1
        self._open.add(connection)
        pump: asyncio.Task[None] | None = None
        authorized = False
        try:
            async for frame in connection:
                try:
                    request = json.loads(frame)
                except ValueError:
                    continue
                if not isinstance(request, dict):
                    continue
                data = request.get("data") if isinstance(request.get("data"), dict) else {}
                action = request.get("action")
                if action == "authenticate":
                    authorized = not self.refuse_auth and (
                        data.get("key_id") == self.fake.key_id
                        and data.get("secret_key") == self.fake.secret_key)
                    await _send(connection, {"stream": "authorization", "data": {
                        "status": "authorized" if authorized else "unauthorized",
                        "action": "authenticate"}})
                    if not authorized:
                        self.auth_refusals += 1
                        await connection.close()
                        return
                elif action == "listen":
                    if not authorized:
                        await _send(connection, {"stream": "authorization", "data": {
                            "status": "unauthorized", "action": "listen"}})
                        continue
                    streams = data.get("streams")
                    wanted = [TRADE_UPDATES] if isinstance(streams, list) and (
                        TRADE_UPDATES in streams) else []
                    await _send(connection, {"stream": "listening",
                                             "data": {"streams": wanted}})
                    if wanted and pump is None:
                        queue: asyncio.Queue[tuple[Any, str | bytes]] = asyncio.Queue()
                        self._clients[connection] = queue
                        pump = asyncio.create_task(self._pump(connection, queue))
                    elif not wanted and pump is not None:
                        self._clients.pop(connection, None)
                        pump.cancel()
                        pump = None
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(connection, None)
            self._open.discard(connection)
            if pump is not None:
                pump.cancel()


async def _send(connection: ServerConnection, message: dict[str, Any]) -> None:
    await connection.send(json.dumps(message).encode())


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True
