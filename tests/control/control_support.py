"""Helpers for the control-plane tests: a fake engine's method table, a running server, a
raw socket peer that speaks bytes, and a server running in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from tbot.clock import FrozenClock
from tbot.control.methods import Caller, MethodSpec, NoParams, RpcError
from tbot.control.roles import Role, RoleMap
from tbot.control.server import ControlServer
from tbot.control.wire import REFUSED, decode_frame, encode_frame

EVENT_TIME = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
T = TypeVar("T")


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    times: int = 1


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float


class PauseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One call of the audit hook."""

    caller: str
    method: str
    params: object
    outcome: str


@dataclass
class FakeEngine:
    """A handful of methods covering every kind of answer, and a record of what ran."""

    pauses: list[str | None] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    running_sleeps: int = 0

    def methods(self) -> dict[str, MethodSpec]:
        """The method table, keyed by name."""
        specs = [
            MethodSpec(
                "engine.status", "the engine's state", self.status, NoParams, Role.VIEWER, False
            ),
            MethodSpec("echo", "say it back", self.echo, EchoParams, Role.VIEWER, False),
            MethodSpec(
                "sleep", "answer after a while", self.sleep, SleepParams, Role.VIEWER, False
            ),
            MethodSpec("boom", "a handler with a bug", self.boom, NoParams, Role.VIEWER, False),
            MethodSpec(
                "unsendable",
                "returns what JSON cannot hold",
                self.unsendable,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "trading.pause",
                "stop opening positions",
                self.pause,
                PauseParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "trading.resume", "resume trading", self.resume, NoParams, Role.OPERATOR, True
            ),
            MethodSpec(
                "engine.shutdown", "stop the engine", self.shutdown, NoParams, Role.ADMIN, True
            ),
        ]
        return {spec.name: spec for spec in specs}

    async def status(self, params: NoParams, caller: Caller) -> object:
        return {
            "engine_state": "idle",
            "equity": Decimal("100184.30"),
            "as_of": EVENT_TIME,
            "caller": caller.name,
            "role": caller.role,
        }

    async def echo(self, params: EchoParams, caller: Caller) -> object:
        return {"text": params.text * params.times}

    async def sleep(self, params: SleepParams, caller: Caller) -> object:
        self.running_sleeps += 1
        try:
            await asyncio.sleep(params.seconds)
        finally:
            self.running_sleeps -= 1
        return {"slept": params.seconds}

    async def boom(self, params: NoParams, caller: Caller) -> object:
        raise RuntimeError("a bug in a handler")

    async def unsendable(self, params: NoParams, caller: Caller) -> object:
        return {"value": object()}

    async def pause(self, params: PauseParams, caller: Caller) -> object:
        self.pauses.append(params.reason)
        return {"trading_state": "HALTED"}

    async def resume(self, params: NoParams, caller: Caller) -> object:
        raise RpcError(REFUSED, "halted by the kill switch: risk.reset first", {"state": "HALTED"})

    async def shutdown(self, params: NoParams, caller: Caller) -> object:
        return {"shutting_down": True}

    async def record_audit(
        self, caller: Caller, method: str, params: Mapping[str, object] | list | None, outcome: str
    ) -> None:
        """The audit hook."""
        self.audit.append(AuditRecord(caller.name, method, params, outcome))


@asynccontextmanager
async def running_server(
    socket_path: Path, engine: FakeEngine, roles: RoleMap, **options: Any
) -> AsyncIterator[ControlServer]:
    """A started server on `socket_path` serving `engine`; stopped on exit."""
    server = ControlServer(
        socket_path,
        engine.methods(),
        roles,
        audit=engine.record_audit,
        clock=FrozenClock(EVENT_TIME),
        **options,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class RawPeer:
    """A client that reads and writes raw frames, to test what the server does with bytes
    no well-behaved client would send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, path: Path) -> RawPeer:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=64 * 1_048_576)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_json(self, message: object) -> None:
        await self.send(encode_frame(message))

    async def receive(self, timeout: float = 5.0) -> Any:
        """The next frame, decoded."""
        line = await asyncio.wait_for(self.reader.readuntil(b"\n"), timeout)
        return decode_frame(line)

    async def request(self, message: object) -> Any:
        await self.send_json(message)
        return await self.receive()

    async def read_to_end(self, timeout: float = 5.0) -> bytes:
        """Everything the server sends until it closes the connection. (Closing with our
        request unread makes the kernel report a reset after the data: also an end.)"""
        received = bytearray()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    chunk = await self.reader.read(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
        return bytes(received)

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


async def subscriber_that_never_reads(path: Path, topics: list[str]) -> RawPeer:
    """A peer subscribed to `topics` that will not read again, with a tiny receive buffer
    so that the server's side fills up quickly."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, str(path))
    peer = RawPeer(*await asyncio.open_unix_connection(sock=sock))
    answer = await peer.request(call("events.subscribe", {"topics": topics}))
    assert answer["result"]["topics"] == sorted(topics)
    return peer


def call(method: str, params: object = None, request_id: object = 1) -> dict[str, Any]:
    """A request object."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        message["params"] = params
    return message


class ServerThread:
    """A server running in its own event loop on a background thread, for testing blocking
    callers (`call_once`, `tbot ctl`) from the test's thread."""

    def __init__(self, socket_path: Path, engine: FakeEngine, roles: RoleMap) -> None:
        self.socket_path = socket_path
        self.engine = engine
        self.roles = roles
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: ControlServer | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    async def _start(self) -> ControlServer:
        server = ControlServer(
            self.socket_path,
            self.engine.methods(),
            self.roles,
            audit=self.engine.record_audit,
            clock=FrozenClock(EVENT_TIME),
        )
        await server.start()
        return server

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.server = self.run(self._start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.server is not None:
            self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
