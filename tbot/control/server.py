"""The control server: JSON-RPC 2.0 over the engine's Unix socket, events to subscribers.

The engine registers its methods (`MethodSpec`) and calls `publish` for events; the server
does everything else: peer credentials and roles, framing, request checks in a fixed
order, auditing of state changes, subscriptions and back-pressure.

Never waiting on a client is the rule that shapes it. Each connection has one bounded
outbox drained by its own writer task; responses and events both go through it. `publish`
only appends to outboxes and drops a subscriber whose outbox is full, so a console that
stops reading costs a bounded amount of memory and never slows the engine or anyone else.
Frames are read by an `asyncio.Protocol` that enforces the size cap itself (see
`_Connection` for why not a StreamReader).

Requests on one connection run concurrently (a slow ``ledger.verify`` does not hold up
``engine.status``); a batch runs in order. Methods that change state run one at a time
across all connections, in arrival order, each audited with its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

from tbot.clock import Clock, SystemClock
from tbot.control.methods import Caller, MethodSpec, NoParams, RpcError
from tbot.control.roles import Role, RoleMap
from tbot.control.socket_path import SocketBinding
from tbot.control.topics import TOPIC_SUMMARIES, TOPICS
from tbot.control.wire import (
    FORBIDDEN,
    FRAME_END,
    FRAME_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    MAX_FRAME_BYTES,
    METHOD_NOT_FOUND,
    NOTIFY_METHOD,
    PARSE_ERROR,
    REFUSED,
    SHUTTING_DOWN,
    TOO_MANY_CONNECTIONS,
    InvalidRequest,
    ParseError,
    Request,
    RequestId,
    decode_frame,
    encode,
    encode_frame,
    error_response,
    format_utc,
    parse_request,
    result_response,
)

AuditHook = Callable[[Caller, str, Mapping[str, object] | list | None, str], Awaitable[None]]
"""``(caller, method, params, outcome)`` for every call of a state-changing method that
passed the shape checks; outcome is ``"ok"``, ``"refused: ..."`` or ``"error: ..."``."""

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_NO_PARAMS: Final = NoParams()
_DRAIN_ABOVE_BYTES: Final = 64 * 1024
_MAX_IN_FLIGHT: Final = 64  # requests one connection may have running; then reading pauses
_HANDLER_GRACE_SECONDS: Final = 5.0  # how long stop() lets running handlers finish
_FLUSH_SECONDS: Final = 1.0  # how long a closing connection may take to send what is queued


class _Outbox:
    """One connection's bounded queue of outgoing frames.

    `offer` never waits (events); `put` waits for room (responses: a client that sends
    requests without reading the answers is simply not read further). The writer task
    takes everything queued at once and writes it in one go.

    When nothing is queued and the transport is not backed up, a frame is written straight
    through instead: order is kept (the queue is empty) and the common case skips a task
    switch. A backed-up transport (past its high-water mark) sends frames to the queue,
    where they wait for the writer, so memory stays bounded.
    """

    __slots__ = ("_closed", "_frames", "_has_frames", "_has_room", "_limit", "_transport", "paused")

    def __init__(self, limit: int, transport: asyncio.WriteTransport) -> None:
        self._frames: deque[bytes] = deque()
        self._limit = limit
        self._transport = transport
        self._has_frames = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closed = False
        self.paused = False  # the transport's buffer is past its high-water mark

    def _write_through(self, frame: bytes) -> bool:
        if self._frames or self.paused or self._transport.is_closing():
            return False
        self._transport.write(frame)
        return True

    def offer(self, frame: bytes) -> bool:
        """Send or queue `frame` if there is room; False when full (drop the client)."""
        if self._closed:
            return True  # a closing connection silently discards; it is not "slow"
        if self._write_through(frame):
            return True
        if len(self._frames) >= self._limit:
            return False
        self._frames.append(frame)
        self._has_frames.set()
        return True

    async def put(self, frame: bytes) -> None:
        """Send or queue `frame`, waiting for room; a closed outbox discards it."""
        while len(self._frames) >= self._limit and not self._closed:
            self._has_room.clear()
            await self._has_room.wait()
        if not self._closed and not self._write_through(frame):
            self._frames.append(frame)
            self._has_frames.set()

    async def take_all(self) -> list[bytes] | None:
        """Everything queued, waiting until there is something; None once closed and empty."""
        while not self._frames:
            if self._closed:
                return None
            self._has_frames.clear()
            await self._has_frames.wait()
        frames = list(self._frames)
        self._frames.clear()
        self._has_room.set()
        return frames

    def close(self) -> None:
        """No more frames are accepted; the writer sends what is queued, then stops."""
        self._closed = True
        self._has_frames.set()
        self._has_room.set()


class _Connection(asyncio.Protocol):
    """One client connection: framing of its input, its requests in flight, its outbox.

    A protocol rather than a StreamReader: ``data_received`` splits frames and starts
    their requests in the same event-loop turn that read them, which halves the loop
    turns per request and roughly doubles the requests per second on a small machine.
    The frame limit is enforced on the buffered bytes just as a stream limit would.
    """

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.frame_limit = server.frame_limit
        self.transport: asyncio.Transport | None = None
        self.caller: Caller | None = None
        self.outbox: _Outbox | None = None
        self.topics: set[str] = set()
        self.seq = 0
        self.closed = False  # the transport is gone, or we are dropping it
        self.input_ended = False  # EOF, an oversized frame, or the server stopping
        self.in_flight: set[asyncio.Task[None]] = set()
        self.writer_task: asyncio.Task[None] | None = None
        self._pending = bytearray()  # bytes of an incomplete frame
        self._backlog: deque[bytes] = deque()  # complete frames waiting for a free slot
        self._reading_paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._abort_timer: asyncio.TimerHandle | None = None
        self.lost = asyncio.Event()  # set when the transport is gone

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        caller = self.server._admit(transport)
        if caller is None:
            self.closed = True
            return
        self.caller = caller
        transport.set_write_buffer_limits(high=_DRAIN_ABOVE_BYTES)
        self.outbox = _Outbox(self.server.queue_limit, transport)
        self.writer_task = asyncio.get_running_loop().create_task(self._write_loop())
        self.server._register(self)

    def data_received(self, data: bytes) -> None:
        if self.closed or self.input_ended:
            return
        pending = self._pending
        if pending:
            pending += data
            if b"\n" not in data:
                if len(pending) > self.frame_limit:
                    self._refuse_large_frame()
                return
            frames = pending.split(b"\n")
            self._pending = bytearray(frames.pop())
        else:
            frames = data.split(b"\n")
            last = frames.pop()
            if last:
                self._pending += last
        backlog = self._backlog
        for frame in frames:
            if len(frame) > self.frame_limit:
                self._start_backlog()  # the complete frames before it are still answered
                self._refuse_large_frame()
                return
            if frame and not frame.isspace():
                backlog.append(frame)
        self._start_backlog()
        if len(self._pending) > self.frame_limit:
            self._refuse_large_frame()

    def eof_received(self) -> bool:
        # A last request without its newline (``printf ... | socat``) is still one.
        if not self.closed and not self.input_ended and self._pending.strip():
            self._backlog.append(bytes(self._pending))
        self._pending.clear()
        self.input_ended = True
        self._start_backlog()
        self._finish_if_done()
        return True  # keep the transport open: the answers still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.input_ended = True
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        if self.outbox is not None:
            self.outbox.close()
        self._writable.set()  # a writer waiting for the buffer to drain wakes and ends
        self.lost.set()
        # Handlers still running are not cancelled: a state change half done is worse
        # than an answer nobody reads.
        self.server._forget(self)

    def pause_writing(self) -> None:
        if self.outbox is not None:
            self.outbox.paused = True
        self._writable.clear()

    def resume_writing(self) -> None:
        if self.outbox is not None:
            self.outbox.paused = False
        self._writable.set()

    # -- requests ------------------------------------------------------------------------
    def _start_backlog(self) -> None:
        """Start waiting requests while fewer than `_MAX_IN_FLIGHT` run; stop reading the
        socket while some still wait (back-pressure on a client that pipelines faster than
        we answer), read again once none do."""
        backlog, in_flight = self._backlog, self.in_flight
        while backlog and len(in_flight) < _MAX_IN_FLIGHT and not self.closed:
            frame = backlog.popleft()
            task = asyncio.get_running_loop().create_task(self._run_request(frame))
            in_flight.add(task)
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if backlog and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()
        elif not backlog and self._reading_paused and not self.input_ended:
            self._reading_paused = False
            transport.resume_reading()

    async def _run_request(self, frame: bytes) -> None:
        try:
            await self.server._handle_frame(self, frame)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self.in_flight.discard(task)
            if self._backlog or self._reading_paused:
                self._start_backlog()
            self._finish_if_done()

    def _refuse_large_frame(self) -> None:
        # The rest of the oversized line is unread: there is no safe place to resume.
        assert self.outbox is not None and self.transport is not None and self.caller
        self.server._log.warning(
            "control: %s sent a frame over %d bytes; closing",
            self.caller.name,
            self.frame_limit,
        )
        self.input_ended = True
        self._pending = bytearray()
        self._reading_paused = True
        self.transport.pause_reading()
        self.outbox.offer(
            encode_frame(
                error_response(
                    None,
                    FRAME_TOO_LARGE,
                    f"frame too large: the limit is {self.frame_limit} bytes per line",
                )
            )
        )
        self._finish_if_done()

    def end_input(self) -> None:
        """Read no more requests (the server is stopping); finish what is running."""
        self.input_ended = True
        if self.transport is not None and not self.transport.is_closing():
            self._reading_paused = True
            self.transport.pause_reading()
        self._finish_if_done()

    def _finish_if_done(self) -> None:
        """Once input has ended and no request runs or waits, send what is queued and
        close."""
        if (
            self.input_ended
            and not self.in_flight
            and not self._backlog
            and self.outbox is not None
        ):
            self.outbox.close()

    # -- output --------------------------------------------------------------------------
    async def _write_loop(self) -> None:
        assert self.outbox is not None and self.transport is not None
        transport, outbox = self.transport, self.outbox
        try:
            while (frames := await outbox.take_all()) is not None:
                if transport.is_closing():
                    break
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
                if outbox.paused:
                    await self._writable.wait()
        finally:
            if not transport.is_closing():
                transport.close()  # sends what the transport still holds, then closes
                # A peer that never reads would keep it open for ever: cut it off.
                self._abort_timer = asyncio.get_running_loop().call_later(
                    _FLUSH_SECONDS, transport.abort
                )

    async def send(self, frame: bytes) -> None:
        """Send `frame` (an answer), waiting while the outbox is full."""
        if self.outbox is not None:
            await self.outbox.put(frame)

    @property
    def admitted_caller(self) -> Caller:
        """The caller; only admitted connections ever run requests."""
        if self.caller is None:
            raise RuntimeError("a request on a connection that was not admitted")
        return self.caller

    def drop(self) -> None:
        """Disconnect at once, discarding what is queued (a subscriber too slow to keep)."""
        self.closed = True
        self.input_ended = True
        if self.outbox is not None:
            self.outbox.close()
        if self.transport is not None:
            self.transport.abort()


class _TopicsParams(BaseModel):
    """Params of events.subscribe / events.unsubscribe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: list[str]


@dataclass(frozen=True)
class _BuiltIn:
    """A method the server answers itself; it needs the connection, not only the caller."""

    spec: MethodSpec
    run: Callable[[_Connection, Any], object]


async def _never_called(params: Any, caller: Caller) -> object:
    # Built-ins are dispatched to `_BuiltIn.run`; their MethodSpec only describes them.
    raise RpcError(INTERNAL_ERROR, "built-in method dispatched as an engine method")


def _peer_credentials(transport: asyncio.BaseTransport) -> tuple[int, int, int]:
    """(pid, uid, gid) of the peer, from the kernel. Raises OSError if unavailable."""
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        raise OSError("peer credentials (SO_PEERCRED) are not available")
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return pid, uid, gid


def _params_problems(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors, summarised for the caller: which field, what is wrong."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "params",
            "problem": item["msg"],
        }
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


class ControlServer:
    """The JSON-RPC server on the engine's control socket. See the module docstring.

    `methods` maps each name to its spec; `roles` gives each peer uid its role (a uid
    without one is disconnected at once, sent nothing). `audit` receives every call of a
    state-changing method with its outcome. `clock` stamps events (``at``).
    """

    def __init__(
        self,
        socket_path: Path,
        methods: Mapping[str, MethodSpec],
        roles: RoleMap,
        *,
        audit: AuditHook | None = None,
        max_connections: int = 256,
        queue_limit: int = 1000,
        frame_limit: int = MAX_FRAME_BYTES,
        socket_mode: int = 0o660,
        logger: logging.Logger | None = None,
        clock: Clock | None = None,
    ) -> None:
        if max_connections < 1 or queue_limit < 1 or frame_limit < 1:
            raise ValueError("max_connections, queue_limit and frame_limit must be positive")
        self._socket_path = Path(socket_path)
        self._roles = roles
        self._audit_hook = audit
        self._max_connections = max_connections
        self.queue_limit = queue_limit
        self.frame_limit = frame_limit
        self._socket_mode = socket_mode
        self._log = logger or logging.getLogger("tbot.control")
        self._clock: Clock = clock or SystemClock()
        self._builtins = self._built_in_methods()
        for name, spec in methods.items():
            if name != spec.name:
                raise ValueError(f"method registered as {name!r} is named {spec.name!r}")
            if name in self._builtins or name == NOTIFY_METHOD:
                raise ValueError(f"{name} is reserved by the control server")
        self._methods = dict(methods)
        self._all_specs = sorted(
            [*self._methods.values(), *(built_in.spec for built_in in self._builtins.values())],
            key=lambda spec: spec.name,
        )
        self._connections: set[_Connection] = set()
        self._subscribers: dict[str, set[_Connection]] = {topic: set() for topic in TOPICS}
        # Precomputed start of each topic's notification; only seq, at and data vary.
        self._notify_heads = {
            topic: b'{"jsonrpc":"2.0","method":"'
            + NOTIFY_METHOD.encode()
            + b'","params":{"topic":'
            + encode(topic)
            + b',"seq":'
            for topic in TOPICS
        }
        self._state_lock = asyncio.Lock()
        self._dropped_slow_clients = 0
        self._stopping = False
        self._server: asyncio.AbstractServer | None = None
        self._binding: SocketBinding | None = None
        self._bound_inode: int | None = None

    # -- counters ------------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Clients connected now (with a role)."""
        return len(self._connections)

    @property
    def subscriber_count(self) -> int:
        """Connected clients subscribed to at least one topic."""
        return sum(1 for connection in self._connections if connection.topics)

    @property
    def dropped_slow_clients(self) -> int:
        """Subscribers disconnected since start because their outbox was full."""
        return self._dropped_slow_clients

    @property
    def socket_path(self) -> Path:
        """The path clients are told to use (a symlink when the real one is elsewhere)."""
        return self._socket_path

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the socket and start accepting. A socket left by a crashed engine is
        replaced; one a live server answers on raises `ControlSocketError`."""
        if self._server is not None:
            raise RuntimeError("the control server is already started")
        binding = SocketBinding.claim(self._socket_path, socket_mode=self._socket_mode)
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_unix_server(
                lambda: _Connection(self),
                path=os.fspath(binding.bind_path),
                backlog=max(128, self._max_connections + 16),
            )
        except BaseException:
            binding.abandon()
            raise
        bound_inode = binding.bind_path.lstat().st_ino
        try:
            binding.bind_path.chmod(self._socket_mode)
            binding.publish()
        except BaseException:
            server.close()
            binding.release(bound_inode)
            raise
        self._server, self._binding, self._bound_inode = server, binding, bound_inode
        self._stopping = False
        self._log.info("control socket listening on %s", self._socket_path)

    async def stop(self) -> None:
        """Stop accepting, let running handlers finish briefly and queued answers go out,
        close every connection and remove the socket (and its symlink).

        Safe to call from a handler (e.g. ``engine.shutdown``): that handler is not waited
        for. Requests arriving meanwhile get SHUTTING_DOWN.
        """
        server, self._server = self._server, None  # a second stop() finds nothing to do
        if server is None:
            return
        self._stopping = True
        server.close()
        current = asyncio.current_task()
        # Requests keep being read meanwhile, and answered SHUTTING_DOWN.
        running = {
            task
            for connection in self._connections
            for task in connection.in_flight
            if task is not current
        }
        if running:
            _, still_running = await asyncio.wait(running, timeout=_HANDLER_GRACE_SECONDS)
            for task in still_running:
                self._log.warning("control: cancelling a handler still running at shutdown")
                task.cancel()
        connections = list(self._connections)
        for connection in connections:
            connection.end_input()
        # A connection whose handler called stop() closes once that handler has answered.
        closing = [c for c in connections if current not in c.in_flight]
        for connection in closing:
            if connection.outbox is not None:
                connection.outbox.close()
        if closing:
            waits = [asyncio.create_task(c.lost.wait()) for c in closing]
            await asyncio.wait(waits, timeout=_FLUSH_SECONDS)
            for wait in waits:
                wait.cancel()
        for connection in closing:
            if connection.transport is not None:
                connection.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), _FLUSH_SECONDS)
        if self._binding is not None:
            self._binding.release(self._bound_inode)
        self._binding = None
        self._log.info("control socket closed")

    # -- events --------------------------------------------------------------------------
    def publish(self, topic: str, data: Mapping[str, object]) -> None:
        """Send an event to every subscriber of `topic`. Never waits: a subscriber whose
        outbox is full is disconnected instead. Call it from the event loop's thread.
        Raises ValueError for an unknown topic, TypeError for data that cannot be sent."""
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            raise ValueError(f"unknown topic {topic!r}; topics: {', '.join(sorted(TOPICS))}")
        if not subscribers:
            return
        head = self._notify_heads[topic]
        tail = (
            b',"at":"'
            + format_utc(self._clock.now()).encode()
            + b'","data":'
            + encode(data)
            + b"}}\n"
        )
        for connection in tuple(subscribers):
            if connection.closed:
                continue
            connection.seq += 1
            if not connection.outbox.offer(head + str(connection.seq).encode() + tail):
                self._drop_slow(connection)

    def _drop_slow(self, connection: _Connection) -> None:
        # Close first, log after: a log handler may publish the record (the `logs` topic),
        # and that publish must already skip this connection.
        self._dropped_slow_clients += 1
        self._unsubscribe_all(connection)
        connection.drop()
        self._log.warning(
            "control: dropped %s: it is not reading and %d messages are queued for it",
            connection.caller.name if connection.caller else "a client",
            self.queue_limit,
        )

    def _unsubscribe_all(self, connection: _Connection) -> None:
        for topic in connection.topics:
            self._subscribers[topic].discard(connection)
        connection.topics.clear()

    # -- connections ---------------------------------------------------------------------
    def _admit(self, transport: asyncio.Transport) -> Caller | None:
        """The caller of a new connection, or None after turning it away."""
        try:
            pid, uid, gid = _peer_credentials(transport)
        except OSError as error:
            self._log.error("control: refused a connection: %s", error)
            transport.abort()
            return None
        role = self._roles.role_for(uid)
        if role is None:
            # Unknown uids get nothing: not even an error that would confirm who listens.
            self._log.warning(
                "control: refused uid %d (pid %d): no role in CONTROL_ROLES", uid, pid
            )
            transport.abort()
            return None
        if self._stopping:
            transport.abort()
            return None
        if len(self._connections) >= self._max_connections:
            self._log.warning(
                "control: refused uid %d (pid %d): %d connections already open",
                uid,
                pid,
                self._max_connections,
            )
            transport.write(
                encode_frame(
                    error_response(
                        None,
                        TOO_MANY_CONNECTIONS,
                        f"too many connections (limit {self._max_connections}); try later",
                    )
                )
            )
            transport.close()
            return None
        return Caller.from_peer(uid, gid, pid, role)

    def _register(self, connection: _Connection) -> None:
        self._connections.add(connection)

    def _forget(self, connection: _Connection) -> None:
        self._unsubscribe_all(connection)
        self._connections.discard(connection)

    # -- requests ------------------------------------------------------------------------
    async def _handle_frame(self, connection: _Connection, frame: bytes) -> None:
        try:
            message = decode_frame(frame, exact_numbers=True)
        except ParseError as error:
            await connection.send(
                encode_frame(error_response(None, PARSE_ERROR, f"parse error: {error}"))
            )
            return
        if isinstance(message, list):
            if not message:
                await connection.send(
                    encode_frame(
                        error_response(None, INVALID_REQUEST, "invalid request: empty batch")
                    )
                )
                return
            answers = []
            for item in message:
                answer = await self._answer(connection, item)
                if answer is not None:
                    answers.append(answer)
            if answers:  # a batch of notifications only gets no response at all
                await connection.send(b"[" + b",".join(answers) + b"]" + FRAME_END)
            return
        answer = await self._answer(connection, message)
        if answer is not None:
            await connection.send(answer + FRAME_END)

    async def _answer(self, connection: _Connection, message: object) -> bytes | None:
        """One request's response as JSON bytes, or None for a notification."""
        try:
            request = parse_request(message)
        except InvalidRequest as error:
            return encode(
                error_response(error.request_id, INVALID_REQUEST, f"invalid request: {error}")
            )
        try:
            response = await self._dispatch(connection, request)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Only a bug of the server itself gets here: handler errors are caught inside.
            self._log.exception("control: error answering %s", request.method)
            response = error_response(request.id, INTERNAL_ERROR, "internal error")
        if request.is_notification:
            return None
        try:
            return encode(response)
        except (TypeError, ValueError):
            self._log.exception("control: the result of %s cannot be sent", request.method)
            return encode(error_response(request.id, INTERNAL_ERROR, "internal error"))

    async def _dispatch(self, connection: _Connection, request: Request) -> dict[str, Any]:
        """Checks in the documented order (method, role, shutdown, params), then the call."""
        built_in = self._builtins.get(request.method)
        spec = built_in.spec if built_in else self._methods.get(request.method)
        if spec is None:
            return error_response(
                request.id, METHOD_NOT_FOUND, f"method not found: {request.method}"
            )
        caller = connection.admitted_caller
        if caller.role < spec.min_role:
            message = (
                f"forbidden: {spec.name} needs the {spec.min_role.label} role; "
                f"{caller.name} is {caller.role.label}"
            )
            await self._audit(caller, spec, request.params, f"refused: {message}")
            return error_response(
                request.id,
                FORBIDDEN,
                message,
                {"required_role": spec.min_role.label, "role": caller.role.label},
            )
        if self._stopping:
            await self._audit(caller, spec, request.params, "refused: shutting down")
            return error_response(request.id, SHUTTING_DOWN, "the engine is shutting down")
        params = self._validated_params(spec, request)
        if isinstance(params, RpcError):
            await self._audit(caller, spec, request.params, f"error: {params.message}")
            return error_response(request.id, params.code, params.message, params.data)
        if built_in is not None:
            try:
                return result_response(request.id, built_in.run(connection, params))
            except RpcError as error:
                return error_response(request.id, error.code, error.message, error.data)
        if not spec.changes_state:
            return await self._call_handler(spec, params, caller, request.id)
        async with self._state_lock:
            return await self._call_handler(spec, params, caller, request.id, audited=request)

    @staticmethod
    def _validated_params(spec: MethodSpec, request: Request) -> BaseModel | RpcError:
        """The params model, or the INVALID_PARAMS error to answer with."""
        if isinstance(request.params, list):
            return RpcError(
                INVALID_PARAMS, "invalid params: pass named params (a JSON object), not an array"
            )
        if not request.params and spec.params is NoParams:
            return _NO_PARAMS
        try:
            return spec.params.model_validate(request.params or {})
        except ValidationError as error:
            problems = _params_problems(error)
            message = f"invalid params for {spec.name}: " + "; ".join(
                f"{problem['field']}: {problem['problem']}" for problem in problems
            )
            return RpcError(INVALID_PARAMS, message, problems)

    async def _call_handler(
        self,
        spec: MethodSpec,
        params: BaseModel,
        caller: Caller,
        request_id: RequestId,
        *,
        audited: Request | None = None,
    ) -> dict[str, Any]:
        try:
            result = await spec.handler(params, caller)
        except RpcError as error:
            response = error_response(request_id, error.code, error.message, error.data)
            kind = "refused" if error.code == REFUSED else "error"
            outcome = f"{kind}: {error.message}"
        except asyncio.CancelledError:
            if audited is not None:
                self._log.warning(
                    "control: %s by %s was cancelled; its outcome is unknown",
                    spec.name,
                    caller.name,
                )
            raise
        except Exception:
            self._log.exception("control: handler of %s failed", spec.name)
            response = error_response(request_id, INTERNAL_ERROR, "internal error")
            outcome = "error: internal error"
        else:
            response = result_response(request_id, result)
            outcome = "ok"
        if audited is not None:
            await self._audit(caller, spec, audited.params, outcome)
        return response

    async def _audit(
        self,
        caller: Caller,
        spec: MethodSpec,
        params: Mapping[str, object] | list | None,
        outcome: str,
    ) -> None:
        if not spec.changes_state or self._audit_hook is None:
            return
        try:
            await self._audit_hook(caller, spec.name, params, outcome)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The call already happened (or was refused); failing the answer now would lie.
            self._log.exception(
                "control: AUDIT FAILED for %s by %s (%s)", spec.name, caller.name, outcome
            )

    # -- built-in methods ----------------------------------------------------------------
    def _built_in_methods(self) -> dict[str, _BuiltIn]:
        def described(name: str, summary: str, params: type[BaseModel]) -> MethodSpec:
            return MethodSpec(
                name=name,
                summary=summary,
                handler=_never_called,
                params=params,
                min_role=Role.VIEWER,
                changes_state=False,
            )

        return {
            "events.subscribe": _BuiltIn(
                described(
                    "events.subscribe",
                    "receive events of the given topics as events.notify notifications",
                    _TopicsParams,
                ),
                self._subscribe,
            ),
            "events.unsubscribe": _BuiltIn(
                described(
                    "events.unsubscribe", "stop receiving events of the given topics", _TopicsParams
                ),
                self._unsubscribe,
            ),
            "rpc.discover": _BuiltIn(
                described(
                    "rpc.discover",
                    "every method with its summary, role and whether you may call it",
                    NoParams,
                ),
                self._discover,
            ),
        }

    @staticmethod
    def _checked_topics(params: _TopicsParams) -> list[str]:
        unknown = [topic for topic in params.topics if topic not in TOPICS]
        if unknown:
            valid = sorted(TOPICS)
            raise RpcError(
                INVALID_PARAMS,
                f"unknown topic {unknown[0]!r}; valid topics: {', '.join(valid)}",
                {"unknown_topics": unknown, "valid_topics": valid},
            )
        return params.topics

    def _subscribe(self, connection: _Connection, params: _TopicsParams) -> object:
        for topic in self._checked_topics(params):
            connection.topics.add(topic)
            self._subscribers[topic].add(connection)
        return {"topics": sorted(connection.topics)}

    def _unsubscribe(self, connection: _Connection, params: _TopicsParams) -> object:
        for topic in self._checked_topics(params):
            connection.topics.discard(topic)
            self._subscribers[topic].discard(connection)
        return {"topics": sorted(connection.topics)}

    def _discover(self, connection: _Connection, params: NoParams) -> object:
        caller = connection.admitted_caller
        role = caller.role
        return {
            "caller": caller.name,
            "role": role.label,
            "methods": [
                {
                    "name": spec.name,
                    "summary": spec.summary,
                    "min_role": spec.min_role.label,
                    "changes_state": spec.changes_state,
                    "allowed": role >= spec.min_role,
                    "params": list(spec.params.model_fields),
                }
                for spec in self._all_specs
            ],
            "topics": [
                {"name": topic, "summary": TOPIC_SUMMARIES[topic]} for topic in sorted(TOPICS)
            ],
        }
