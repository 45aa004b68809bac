"""The console's link to a real engine over the control socket.

`EngineLink.run` is the app's long-lived worker: it connects, learns the caller's role
(`rpc.discover`), subscribes to every event topic, loads every read and today's PnL curve,
then both listens to events and polls the reads until the connection is lost; then it
reconnects with exponential backoff and jitter, and reloads everything (events were missed
meanwhile).
While offline the last known records stay in the state, so the screens can show them as
last known. Everything here is asyncio on the app's loop: nothing blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from tbot.clock import Clock
from tbot.control.client import ControlClient, EngineUnavailableError, RpcCallError
from tui.link.console_link import Notify
from tui.link.event_handling import (
    ACCOUNT_METHOD,
    EVENT_TOPICS,
    MALFORMED_RECORD_ERRORS,
    ORDERS_METHOD,
    PNL_HISTORY_METHOD,
    PNL_METHOD,
    POSITIONS_METHOD,
    READ_METHODS,
    STATUS_METHOD,
    Discovery,
    StateUpdater,
    describe_rpc_error,
    parse_discover,
)
from tui.model.live_state import ALL_TOPICS, ConnectionInfo, LinkState, LiveState, Topic

POLLED_EVERY_TICK: Final = (STATUS_METHOD, POSITIONS_METHOD, ACCOUNT_METHOD)
POLLED_EVERY_FIFTH_TICK: Final = (ORDERS_METHOD, PNL_METHOD)
"""Orders and PnL also arrive as events; polling them now and then only heals a gap."""

RECONNECT_FIRST_WAIT_SECONDS: Final = 0.25
RECONNECT_JITTER_SECONDS: Final = 0.25


class ControlConnection(Protocol):
    """What the link uses of `tbot.control.client.ControlClient`."""

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 10.0
    ) -> object:
        """One request; raises `RpcCallError` or `EngineUnavailableError`."""
        ...

    async def subscribe(self, topics: Sequence[str]) -> list[str]:
        """Subscribe to event topics."""
        ...

    def notifications(self) -> AsyncIterator[dict[str, Any]]:
        """Event params until the connection closes."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


Connect = Callable[[Path], Awaitable[ControlConnection]]
Sleep = Callable[[float], Awaitable[None]]


async def _connect_client(socket_path: Path) -> ControlConnection:
    return await ControlClient.connect(socket_path)


class EngineLink:
    """A `ConsoleLink` to the engine listening on `socket_path`.

    `connect` and `sleep` (the wait between reconnect attempts) are replaceable so tests
    can run the link against a fake client on a fake clock.
    """

    def __init__(
        self,
        socket_path: Path,
        state: LiveState,
        notify: Notify,
        clock: Clock,
        *,
        poll_seconds: float = 1.0,
        reconnect_max_seconds: float = 5.0,
        connect: Connect = _connect_client,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.state = state
        self._notify = notify
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._reconnect_max_seconds = reconnect_max_seconds
        self._connect = connect
        self._sleep = sleep
        self._updater = StateUpdater(state, clock)
        self._client: ControlConnection | None = None
        self._closed = asyncio.Event()

    # -- ConsoleLink ----------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the live state fed until `close` (or cancellation)."""
        if self._closed.is_set():
            return
        self._set_connection(
            LinkState.CONNECTING, since=self._clock.now(), attempts=0, last_error=None
        )
        self._notify(frozenset({Topic.CONNECTION}))
        work = asyncio.create_task(self._keep_connected(), name="engine-link")
        closed = asyncio.create_task(self._closed.wait(), name="engine-link-closed")
        try:
            await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, closed):
                task.cancel()
            await asyncio.gather(work, closed, return_exceptions=True)
            await self._drop_client()
        failure = None if work.cancelled() else work.exception()
        if failure is not None:
            raise failure  # a bug, not an outage: let the worker report it

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> object:
        """Send one request to the engine now (see `ConsoleLink.call`)."""
        client = self._client
        if client is None or not self.state.connection.online:
            why = self.state.connection.last_error or "not connected yet"
            raise EngineUnavailableError(f"the engine is offline ({why})")
        return await client.call(method, params, timeout=timeout)

    async def refresh(self) -> None:
        """Reload every read now; does nothing while offline."""
        client = self._client
        if client is None:
            return
        try:
            topics = await self._load(client, READ_METHODS)
        except EngineUnavailableError:
            return  # `run` notices the loss on its own and reconnects
        self._notify(topics)

    async def close(self) -> None:
        """Stop: `run` returns and the connection is closed."""
        self._closed.set()
        await self._drop_client()

    # -- connecting -----------------------------------------------------------------------

    async def _keep_connected(self) -> None:
        while True:
            client = await self._connect_with_backoff()
            try:
                await self._serve(client)
            except EngineUnavailableError as error:
                await self._drop_client()
                self._connection_lost(error.message)

    async def _connect_with_backoff(self) -> ControlConnection:
        # A fresh retrier per outage: the backoff starts small again after a good session.
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(EngineUnavailableError),
            wait=wait_exponential_jitter(
                multiplier=RECONNECT_FIRST_WAIT_SECONDS,
                max=self._reconnect_max_seconds,
                jitter=RECONNECT_JITTER_SECONDS,
            ),
            sleep=self._sleep,
            reraise=True,
        )
        return await retrying(self._open_session)

    async def _open_session(self) -> ControlConnection:
        """One attempt: connect, discover, subscribe, load everything."""
        try:
            client = await self._connect(self.socket_path)
        except EngineUnavailableError as error:
            self._attempt_failed(error.message)
            raise
        try:
            await self._start_session(client)
        except EngineUnavailableError as error:
            await self._drop_client(client)
            self._attempt_failed(error.message)
            raise
        return client

    async def _start_session(self, client: ControlConnection) -> None:
        # Neither a refused nor a malformed discover/subscribe is an outage: the console
        # then shows every command disabled, or relies on polling, and says why.
        discovery: Discovery | None = None
        try:
            discovery = parse_discover(await client.call("rpc.discover"))
        except RpcCallError as error:
            self._updater.problem(
                "rpc.discover", f"rpc.discover failed: {describe_rpc_error(error)}"
            )
        except MALFORMED_RECORD_ERRORS as error:
            self._updater.problem("rpc.discover", f"rpc.discover is malformed: {error}")
        try:
            await client.subscribe(EVENT_TOPICS)
        except RpcCallError as error:
            self._updater.problem(
                "events.subscribe", f"events.subscribe failed: {describe_rpc_error(error)}"
            )
        self._client = client
        self.state.connection = ConnectionInfo(
            state=LinkState.ONLINE,
            since=self._clock.now(),
            socket_path=str(self.socket_path),
            caller=discovery.caller if discovery else None,
            role=discovery.role if discovery else None,
            methods=discovery.methods if discovery else {},
        )
        role = discovery.role if discovery and discovery.role else "an unknown role"
        self._updater.note("info", f"connected to the engine as {role}")
        reads = READ_METHODS
        if discovery is not None and PNL_HISTORY_METHOD in discovery.methods:
            reads = (*READ_METHODS, PNL_HISTORY_METHOD)  # the day so far, for the chart
        await self._load(client, reads)
        self._record_pnl_point()
        self._notify(ALL_TOPICS)

    def _attempt_failed(self, message: str) -> None:
        current = self.state.connection
        # The outage started when the link was lost (or, never connected, when the console
        # started looking): later failed attempts keep that moment.
        since = self._clock.now() if current.state is LinkState.ONLINE else current.since
        self.state.connection = dataclasses.replace(
            current,
            state=LinkState.OFFLINE,
            since=since,
            last_error=message,
            attempts=current.attempts + 1,
        )
        self._notify(frozenset({Topic.CONNECTION}))

    def _connection_lost(self, message: str) -> None:
        self.state.connection = dataclasses.replace(
            self.state.connection,
            state=LinkState.OFFLINE,
            since=self._clock.now(),
            last_error=message,
            attempts=0,
        )
        topics = self._updater.note("warning", f"lost the engine: {message}")
        self._notify(topics | {Topic.CONNECTION})

    def _set_connection(self, state: LinkState, **changes: Any) -> None:
        self.state.connection = dataclasses.replace(
            self.state.connection, state=state, socket_path=str(self.socket_path), **changes
        )

    async def _drop_client(self, client: ControlConnection | None = None) -> None:
        client = client or self._client
        if client is self._client:
            self._client = None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may complain
                await client.close()

    # -- a live session -------------------------------------------------------------------

    async def _serve(self, client: ControlConnection) -> None:
        """Listen and poll until the connection is lost (raises EngineUnavailableError)."""
        pump = asyncio.create_task(self._pump(client), name="engine-link-events")
        poll = asyncio.create_task(self._poll(client), name="engine-link-poll")
        try:
            done, _ = await asyncio.wait({pump, poll}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, poll):
                task.cancel()
            await asyncio.gather(pump, poll, return_exceptions=True)
        for task in done:
            task.result()
        raise EngineUnavailableError("the connection to the engine ended")

    async def _pump(self, client: ControlConnection) -> None:
        async for params in client.notifications():
            effect = self._updater.apply_notification(params)
            topics = effect.topics
            if effect.reload_status:
                topics |= await self._load(client, (STATUS_METHOD,))
            if topics:
                self._notify(topics)
        # The stream ended because the connection closed; a call on the closed client
        # raises at once with the client's reason (engine gone, slow subscriber dropped...).
        await client.call(STATUS_METHOD, timeout=1.0)

    async def _poll(self, client: ControlConnection) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self._poll_seconds)
            tick += 1
            methods = POLLED_EVERY_TICK
            if tick % 5 == 0:
                methods = (*POLLED_EVERY_TICK, *POLLED_EVERY_FIFTH_TICK)
            topics = await self._load(client, methods)
            if self._record_pnl_point():
                topics |= {Topic.PNL}
            if topics:
                self._notify(topics)

    async def _load(self, client: ControlConnection, methods: Sequence[str]) -> frozenset[Topic]:
        """Call `methods` at once and store their answers; the topics that changed.
        Raises `EngineUnavailableError` when the connection is lost."""
        results = await asyncio.gather(
            *(client.call(method) for method in methods), return_exceptions=True
        )
        topics: set[Topic] = set()
        for method, result in zip(methods, results, strict=True):
            if isinstance(result, RpcCallError):
                topics |= self._updater.refused_read(method, result)
            elif isinstance(result, BaseException):
                raise result
            else:
                topics |= self._updater.apply_read(method, result)
        return frozenset(topics)

    def _record_pnl_point(self) -> bool:
        """Sample the chart on the engine's clock, so it moves at the simulation's speed."""
        status = self.state.status
        if status is None or self.state.pnl is None:
            return False
        self.state.record_pnl_point(status.clock.now)
        return True
