"""The console's picture of the engine: the latest records, recent history, and the link.

One `LiveState` per app. The link (`tui.link`) writes into it; screens read it when told
that a topic changed (`tui.messages.LiveUpdated`). It holds plain data only, so tests and
benchmarks can fill it without an engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tui.model.snapshot import (
    AccountSummary,
    EngineStatus,
    FillRow,
    OrderRow,
    PnlHistory,
    PnlPoint,
    PnlSummary,
    PositionRow,
)

EVENT_LOG_SIZE = 500
FILL_HISTORY_SIZE = 500
COMMAND_LOG_SIZE = 500
PNL_HISTORY_SIZE = 2_000


class Topic(StrEnum):
    """What changed in the live state; screens refresh only the parts that show it."""

    CONNECTION = "connection"
    STATUS = "status"
    POSITIONS = "positions"
    ORDERS = "orders"
    FILLS = "fills"
    PNL = "pnl"
    ACCOUNT = "account"
    EVENTS = "events"
    COMMANDS = "commands"
    MAPPING = "mapping"
    """The engine's mapping queue or rules changed (the mapping view reads them again)."""
    RECON = "recon"
    """A reconciliation sync, check or resolution happened."""
    APPROVALS = "approvals"
    """An entry started waiting for approval or was dropped (the approvals view reads the
    queue again)."""


ALL_TOPICS = frozenset(Topic)


class LinkState(StrEnum):
    """Whether the console is talking to an engine."""

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class MethodAccess:
    """One method of `rpc.discover` as the console needs it."""

    name: str
    min_role: str
    allowed: bool
    changes_state: bool


@dataclass(frozen=True)
class ConnectionInfo:
    """The link to the engine: its state, since when, and what the caller may do."""

    state: LinkState
    since: datetime
    socket_path: str
    last_error: str | None = None
    attempts: int = 0
    caller: str | None = None
    role: str | None = None
    methods: Mapping[str, MethodAccess] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        """Whether commands can be sent now."""
        return self.state is LinkState.ONLINE


@dataclass(frozen=True)
class EventLine:
    """One line of the alert/event log."""

    at: datetime
    level: str
    topic: str
    text: str


@dataclass(frozen=True)
class CommandLogEntry:
    """One command the operator sent and what came back."""

    at: datetime
    command_id: str
    method: str
    params: Mapping[str, object]
    outcome: str
    ok: bool


@dataclass
class LiveState:
    """Everything the console shows that comes from the engine."""

    connection: ConnectionInfo
    status: EngineStatus | None = None
    positions: dict[str, PositionRow] = field(default_factory=dict)
    orders: dict[str, OrderRow] = field(default_factory=dict)
    pnl: PnlSummary | None = None
    account: AccountSummary | None = None
    fills: deque[FillRow] = field(default_factory=lambda: deque(maxlen=FILL_HISTORY_SIZE))
    events: deque[EventLine] = field(default_factory=lambda: deque(maxlen=EVENT_LOG_SIZE))
    commands: deque[CommandLogEntry] = field(
        default_factory=lambda: deque(maxlen=COMMAND_LOG_SIZE)
    )
    pnl_history: deque[PnlPoint] = field(
        default_factory=lambda: deque(maxlen=PNL_HISTORY_SIZE)
    )
    last_update: datetime | None = None
    """When the engine last sent anything (console clock); shown as data age when offline."""

    def replace_positions(self, rows: Iterable[PositionRow]) -> None:
        """A full `positions.list`: keyed by symbol, in the engine's order (by symbol)."""
        self.positions = {row.symbol: row for row in rows}

    def replace_orders(self, rows: Iterable[OrderRow]) -> None:
        """A full `orders.list`: keyed by order id, newest submitted first."""
        ordered = sorted(
            rows, key=lambda row: (row.submitted_at is not None, row.submitted_at), reverse=True
        )
        self.orders = {row.order_id: row for row in ordered}

    def upsert_order(self, row: OrderRow) -> None:
        """One `orders` event: replace the order in place, or put a new one first."""
        if row.order_id in self.orders:
            self.orders[row.order_id] = row
        else:
            self.orders = {row.order_id: row, **self.orders}

    def add_fill(self, row: FillRow) -> bool:
        """One `fills` event (newest first); False when the fill was already known."""
        if any(known.fill_id == row.fill_id for known in self.fills):
            return False
        self.fills.appendleft(row)
        return True

    def replace_pnl_history(self, history: PnlHistory) -> None:
        """The engine's curve of today (`pnl.history`) replaces what the chart had; later
        samples add to it."""
        self.pnl_history.clear()
        self.pnl_history.extend(history.points[-PNL_HISTORY_SIZE:])

    def record_pnl_point(self, at: datetime) -> None:
        """Sample today's total PnL (and equity, when known) for the chart."""
        if self.pnl is None:
            return
        equity = self.account.equity if self.account is not None else None
        point = PnlPoint(at=at, total=self.pnl.today.total, equity=equity)
        if self.pnl_history and self.pnl_history[-1].at >= at:
            if self.pnl_history[-1].at == at:  # the engine clock did not move: replace
                self.pnl_history[-1] = point
            # Older than the curve: a status read a moment before the `pnl.history` it was
            # loaded with (a fast simulation answers them minutes of engine time apart).
            # Keep the curve; an engine restart means a new session, whose history replaces
            # this one.
            return
        self.pnl_history.append(point)

    def may_call(self, method: str) -> bool:
        """Whether the engine said this caller may call `method` (False when offline)."""
        if not self.connection.online:
            return False
        access = self.connection.methods.get(method)
        return access is not None and access.allowed
