"""A link that replays fixed engine records: for snapshot tests, Pilot tests and benchmarks.

The records are wire dicts (the shapes of docs/protocol.md, as in
tests/console/console_fixtures.py), parsed by the same `StateUpdater` as the real link's,
so a screen sees exactly what a real engine's answer would give it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tbot.clock import Clock
from tbot.control.client import EngineUnavailableError, RpcCallError
from tbot.control.wire import FORBIDDEN, METHOD_NOT_FOUND
from tui.link.console_link import Notify
from tui.link.event_handling import (
    ACCOUNT_METHOD,
    ORDERS_METHOD,
    PNL_HISTORY_METHOD,
    PNL_METHOD,
    POSITIONS_METHOD,
    READ_METHODS,
    STATUS_METHOD,
    Discovery,
    StateUpdater,
    parse_discover,
)
from tui.model.live_state import ALL_TOPICS, EventLine, LinkState, LiveState, Topic
from tui.model.snapshot import FillRow

WireRecord = Mapping[str, Any]


class FixtureLink:
    """A `ConsoleLink` over fixed records.

    `fills` (oldest first) fill the fills history only; `events` are `events.notify` params
    ({topic, at, data}) replayed through the same handling as a live engine's (so they also
    write event-log lines), or ready `EventLine`s added to the log as they are. `answers`
    are what `call` returns per method (an exception instance is raised); the reads answer
    with the fixture's records unless overridden. When `discover` says a method is not
    allowed, `call` refuses it with FORBIDDEN, as the engine would.
    """

    def __init__(
        self,
        state: LiveState,
        notify: Notify,
        clock: Clock,
        *,
        status: WireRecord | None = None,
        positions: Iterable[WireRecord] = (),
        orders: Iterable[WireRecord] = (),
        pnl: WireRecord | None = None,
        account: WireRecord | None = None,
        pnl_history: WireRecord | None = None,
        discover: WireRecord | None = None,
        fills: Iterable[WireRecord] = (),
        events: Iterable[WireRecord | EventLine] = (),
        online: bool = True,
        answers: Mapping[str, object | Exception] | None = None,
    ) -> None:
        self.state = state
        self._notify = notify
        self._clock = clock
        self._updater = StateUpdater(state, clock)
        self._records: dict[str, object] = {
            STATUS_METHOD: status,
            POSITIONS_METHOD: {"positions": list(positions)},
            ORDERS_METHOD: {"orders": list(orders)},
            PNL_METHOD: pnl,
            ACCOUNT_METHOD: account,
        }
        self._pnl_history = pnl_history
        self._discovery: Discovery | None = (
            parse_discover(discover) if discover is not None else None
        )
        self._discover_record = discover
        self._fills = list(fills)
        self._events = list(events)
        self._online = online
        self._answers: dict[str, object | Exception] = dict(answers or {})
        self._closed = asyncio.Event()
        self.calls: list[tuple[str, Mapping[str, Any] | None]] = []
        """Every request `call` accepted while online, in order."""
        self.refreshes = 0
        """How many times `refresh` was called."""

    # -- ConsoleLink ----------------------------------------------------------------------

    async def run(self) -> None:
        """Fill the state once, tell the app, then wait until closed."""
        self.load()
        await self._closed.wait()

    def load(self) -> None:
        """Fill the state from the fixture now (what `run` does first); for benchmarks
        that drive the state without running the link."""
        if self._online:
            self._set_online()
        else:
            self._set_offline("the engine is not running")
        self._load_reads()
        if self._pnl_history is not None:
            self._updater.apply_read(PNL_HISTORY_METHOD, self._pnl_history)
        for record in self._fills:
            self.state.add_fill(FillRow.from_wire(record))
        for event in self._events:
            if isinstance(event, EventLine):
                self.state.events.append(event)
            else:
                self._updater.apply_notification(event)
        if self.state.status is not None:
            # One chart point on the engine's clock, as the engine link samples it.
            self.state.record_pnl_point(self.state.status.clock.now)
        self._notify(ALL_TOPICS)

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> object:
        """Answer from `answers` (or the fixture's reads), as the engine would."""
        if not self.state.connection.online:
            why = self.state.connection.last_error or "not connected"
            raise EngineUnavailableError(f"the engine is offline ({why})")
        self.calls.append((method, params))
        access = self.state.connection.methods.get(method)
        if access is not None and not access.allowed:
            role = self.state.connection.role
            raise RpcCallError(
                FORBIDDEN,
                f"forbidden: {method} needs the {access.min_role} role; the caller is {role}",
                {"required_role": access.min_role, "role": role},
            )
        if method in self._answers:
            answer = self._answers[method]
        elif method in self._records and self._records[method] is not None:
            answer = self._records[method]
        elif method == "rpc.discover" and self._discover_record is not None:
            answer = self._discover_record
        else:
            raise RpcCallError(METHOD_NOT_FOUND, f"method not found: {method}")
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def refresh(self) -> None:
        """Apply the fixture's read records again."""
        self.refreshes += 1
        self._notify(self._load_reads())

    async def close(self) -> None:
        """`run` returns."""
        self._closed.set()

    # -- helpers for tests and benchmarks -------------------------------------------------

    def set_positions(self, records: Iterable[WireRecord]) -> None:
        """Replace the positions (as a `positions.list` would) and notify."""
        answer = {"positions": list(records)}
        self._records[POSITIONS_METHOD] = answer
        self._notify(self._updater.apply_read(POSITIONS_METHOD, answer))

    def set_read(self, method: str, record: WireRecord) -> None:
        """Replace the answer of one read (`engine.status`, `pnl.summary`, ...) and notify."""
        self._records[method] = record
        self._notify(self._updater.apply_read(method, record))

    def set_answer(self, method: str, answer: object | Exception) -> None:
        """Answer `method` with this from now on (an exception is raised to the caller)."""
        self._answers[method] = answer

    def push_event(self, topic: str, data: WireRecord, at: datetime) -> None:
        """Deliver one event as the engine would push it, and notify what changed."""
        topics = self._updater.apply_event(topic, data, at).topics
        if topics:
            self._notify(topics)

    def go_offline(self, error: str) -> None:
        """Lose the engine: OFFLINE since now, saying `error`; the records stay."""
        self._online = False
        self._set_offline(error)
        self._notify(frozenset({Topic.CONNECTION}))

    def go_online(self) -> None:
        """The engine is back."""
        self._online = True
        self._set_online()
        self._notify(frozenset({Topic.CONNECTION}))

    # -- internals ------------------------------------------------------------------------

    def _load_reads(self) -> frozenset[Topic]:
        topics: set[Topic] = set()
        for method in READ_METHODS:
            record = self._records[method]
            if record is not None:
                topics |= self._updater.apply_read(method, record)
        return frozenset(topics)

    def _set_online(self) -> None:
        discovery = self._discovery
        self.state.connection = dataclasses.replace(
            self.state.connection,
            state=LinkState.ONLINE,
            since=self._clock.now(),
            last_error=None,
            attempts=0,
            caller=discovery.caller if discovery else None,
            role=discovery.role if discovery else None,
            methods=discovery.methods if discovery else {},
        )

    def _set_offline(self, error: str) -> None:
        self.state.connection = dataclasses.replace(
            self.state.connection,
            state=LinkState.OFFLINE,
            since=self._clock.now(),
            last_error=error,
        )
