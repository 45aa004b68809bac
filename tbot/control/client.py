"""A client of the engine's control socket, for the console, `tbot ctl` and scripts.

One reader task demultiplexes the connection: responses go to the `call` waiting for their
id (several calls may be in flight at once), ``events.notify`` notifications go to
`notifications()`. When the connection is lost, every waiting call fails with
`EngineUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from tbot.control.socket_path import connect_path
from tbot.control.wire import (
    FRAME_END,
    FRAME_TOO_LARGE,
    MAX_FRAME_BYTES,
    NOTIFY_METHOD,
    ParseError,
    decode_frame,
    encode_frame,
    request,
)
from tbot.errors import EXIT_BAD_INPUT, EXIT_FINDING, TbotError

# Server-sent frames are not capped by the protocol (a long orders.list is one line); this
# only stops a broken peer from growing our buffer without end.
CLIENT_FRAME_LIMIT: Final = 64 * 1_048_576
_DRAIN_ABOVE_BYTES: Final = 64 * 1024


class EngineUnavailableError(TbotError):
    """No engine to talk to: no socket, nothing listening, no permission, or the connection
    was lost. The CLI exits with 2."""

    exit_code = EXIT_BAD_INPUT


class RpcTimeoutError(EngineUnavailableError):
    """The engine did not answer a call in time."""


class RpcCallError(TbotError):
    """The engine answered a call with a JSON-RPC error. The CLI exits with 1."""

    exit_code = EXIT_FINDING

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data

    def as_dict(self) -> dict[str, object]:
        """The error as JSON-RPC spells it: {code, message, data}."""
        return {"code": self.code, "message": self.message, "data": self.data}


class _CallExpired(Exception):
    """Set on a call's future when its timeout passes."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_CallExpired())


def _error_of(response: Mapping[str, Any]) -> RpcCallError:
    error = response.get("error")
    if not isinstance(error, Mapping):
        return RpcCallError(0, f"malformed error response: {response!r}")
    code = error.get("code")
    return RpcCallError(
        code if isinstance(code, int) else 0, str(error.get("message", "")), error.get("data")
    )


class ControlClient:
    """An open connection to the engine. Make one with `connect`; close it with `close` (or
    use it as an async context manager)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        socket_path: Path,
        *,
        notification_buffer: int = 10_000,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._socket_path = socket_path
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        # Bounded: a consumer that falls behind loses the oldest events (the seq numbers
        # show the gap) rather than growing memory without end.
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(notification_buffer)
        self._dropped_notifications = 0
        self._server_error: RpcCallError | None = None
        self._received_any = False
        self._closed_reason: str | None = None
        self._reader_task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, socket_path: Path, *, timeout: float = 5.0, notification_buffer: int = 10_000
    ) -> ControlClient:
        """Connect to the engine at `socket_path` (a long path is followed to the real
        socket). Raises `EngineUnavailableError` saying why it cannot."""
        socket_path = Path(socket_path)
        address = connect_path(socket_path)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(
                    os.fspath(address), limit=CLIENT_FRAME_LIMIT
                )
        except FileNotFoundError:
            raise EngineUnavailableError(
                f"no engine socket at {socket_path}: is the engine running?"
            ) from None
        except ConnectionRefusedError:
            raise EngineUnavailableError(
                f"nothing is listening on {socket_path} (a stale socket): is the engine running?"
            ) from None
        except PermissionError:
            raise EngineUnavailableError(
                f"permission denied on {socket_path}: your user needs access to the socket "
                "(its group) and a role in CONTROL_ROLES"
            ) from None
        except TimeoutError:
            raise EngineUnavailableError(
                f"timed out after {timeout:g}s connecting to {socket_path}"
            ) from None
        except OSError as error:
            raise EngineUnavailableError(
                f"cannot connect to {socket_path}: {error.strerror or error}"
            ) from None
        return cls(reader, writer, socket_path, notification_buffer=notification_buffer)

    @property
    def is_connected(self) -> bool:
        """Whether the connection is still open."""
        return self._closed_reason is None

    @property
    def dropped_notifications(self) -> int:
        """Notifications discarded because `notifications()` was not consumed fast enough."""
        return self._dropped_notifications

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 10.0
    ) -> object:
        """Call `method` and return its result. Raises `RpcCallError` for an error answer,
        `RpcTimeoutError` after `timeout` seconds, `EngineUnavailableError` when the
        connection is (or gets) lost."""
        if self._closed_reason is not None:
            raise EngineUnavailableError(self._closed_reason)
        request_id = next(self._ids)
        frame = encode_frame(request(method, params, request_id))
        if len(frame) - len(FRAME_END) > MAX_FRAME_BYTES:
            raise RpcCallError(
                FRAME_TOO_LARGE,
                f"the request is {len(frame) - 1} bytes; the limit is {MAX_FRAME_BYTES}",
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[request_id] = future
        # A plain timer on the future: cheaper per call than asyncio.timeout's task
        # cancellation machinery, which matters at thousands of calls a second.
        timer = loop.call_later(timeout, _expire, future)
        try:
            self._writer.write(frame)
            if self._writer.transport.get_write_buffer_size() > _DRAIN_ABOVE_BYTES:
                await self._writer.drain()
            return await future
        except _CallExpired:
            raise RpcTimeoutError(
                f"the engine did not answer {method} within {timeout:g}s"
            ) from None
        except ConnectionError as error:
            raise EngineUnavailableError(f"connection to the engine lost: {error}") from None
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)

    async def subscribe(self, topics: Sequence[str]) -> list[str]:
        """Subscribe to `topics`; returns every topic now subscribed."""
        result = await self.call("events.subscribe", {"topics": list(topics)})
        return list(result["topics"]) if isinstance(result, Mapping) else []

    async def unsubscribe(self, topics: Sequence[str]) -> list[str]:
        """Unsubscribe from `topics`; returns the topics still subscribed."""
        result = await self.call("events.unsubscribe", {"topics": list(topics)})
        return list(result["topics"]) if isinstance(result, Mapping) else []

    async def notifications(self) -> AsyncIterator[dict[str, Any]]:
        """The params of each ``events.notify`` ({topic, seq, at, data}) as they arrive;
        ends when the connection closes."""
        while True:
            event = await self._events.get()
            if event is None:
                self._events.put_nowait(None)  # let any later iteration end too
                return
            yield event

    async def close(self) -> None:
        """Close the connection; calls still waiting fail with `EngineUnavailableError`."""
        self._connection_lost("the client closed the connection")
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError, RuntimeError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the reader task -----------------------------------------------------------------
    async def _read_loop(self) -> None:
        reason = "the engine closed the connection"
        try:
            while True:
                try:
                    frame = await self._reader.readuntil(FRAME_END)
                except asyncio.IncompleteReadError:
                    break
                except asyncio.LimitOverrunError:
                    reason = "the engine sent a message larger than this client accepts"
                    break
                except (ConnectionError, OSError) as error:
                    reason = f"connection to the engine lost: {error}"
                    break
                self._received_any = True
                try:
                    message = decode_frame(frame)
                except ParseError:
                    continue  # not ours to answer; the next line is still a frame
                for item in message if isinstance(message, list) else (message,):
                    if isinstance(item, dict):
                        self._deliver(item)
        finally:
            if self._server_error is not None:
                reason += f": {self._server_error.message}"
            elif not self._received_any:
                # The server closes on peers it has no role for without a word.
                reason += " (does your user have a role in CONTROL_ROLES?)"
            self._connection_lost(reason)

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("method") == NOTIFY_METHOD:
            params = message.get("params")
            if isinstance(params, dict):
                self._queue_event(params)
            return
        request_id = message.get("id")
        if request_id is None:
            # An error about the connection itself (too many connections, frame too large):
            # it concerns every call waiting.
            if "error" in message:
                self._server_error = _error_of(message)
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(_error_of(message))
            return
        future = self._pending.get(request_id) if isinstance(request_id, int) else None
        if future is None or future.done():
            return  # an answer to a call that timed out
        if "error" in message:
            future.set_exception(_error_of(message))
        else:
            future.set_result(message.get("result"))

    def _queue_event(self, event: dict[str, Any] | None) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self._events.get_nowait()
            self._dropped_notifications += 1
            self._events.put_nowait(event)

    def _connection_lost(self, reason: str) -> None:
        if self._closed_reason is not None:
            return
        self._closed_reason = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EngineUnavailableError(reason))
        self._queue_event(None)


def call_once(
    socket_path: Path,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    timeout: float = 10.0,
) -> object:
    """Connect, call `method`, close: for scripts and the CLI (not from a running loop)."""

    async def once() -> object:
        async with await ControlClient.connect(socket_path, timeout=timeout) as client:
            return await client.call(method, params, timeout=timeout)

    return asyncio.run(once())
