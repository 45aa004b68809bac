"""What the engine says, written into the live state: read answers and pushed events.

Both links use this one `StateUpdater`, so a record from a real engine and a record from a
fixture take the same path: parsed by `tui.model.snapshot`, stored in the `LiveState`, and
answered with the set of topics that changed. A malformed record never replaces a good
one; it becomes an error line in the event log (once, until that source is good again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tbot.clock import Clock
from tbot.control.client import RpcCallError
from tbot.control.wire import ERROR_NAMES
from tui.model.formatting import price, quantity
from tui.model.live_state import EventLine, LiveState, MethodAccess, Topic
from tui.model.snapshot import (
    AccountSummary,
    EngineStatus,
    FillRow,
    OrderRow,
    PnlHistory,
    PnlSummary,
    PositionRow,
    SnapshotError,
    TradingStateView,
    parse_time,
)

LINK_TOPIC: Final = "link"
"""The event-log topic of the console's own lines (connection changes, bad records)."""

STATUS_METHOD: Final = "engine.status"
POSITIONS_METHOD: Final = "positions.list"
ORDERS_METHOD: Final = "orders.list"
PNL_METHOD: Final = "pnl.summary"
ACCOUNT_METHOD: Final = "account.summary"
READ_METHODS: Final = (STATUS_METHOD, POSITIONS_METHOD, ORDERS_METHOD, PNL_METHOD, ACCOUNT_METHOD)
"""Every read the console keeps in its live state."""
PNL_HISTORY_METHOD: Final = "pnl.history"
"""Today's PnL curve: read once per connection (the `pnl` events extend it), and only from
an engine that offers it."""

EVENT_TOPICS: Final = ("fills", "orders", "state", "pnl", "alerts", "logs", "recon", "mapping")
"""The engine's event topics the console subscribes to."""

# The snapshot parsers raise SnapshotError for what they check, and the plain errors of
# dict/int conversions for deeper shape mistakes (a list where an object belongs): all of
# them mean "this record is malformed", never "the console is broken".
MALFORMED_RECORD_ERRORS: Final = (SnapshotError, TypeError, ValueError, AttributeError, KeyError)

_TRADING_LEVELS: Final = {"halted": "error", "reducing": "warning"}

APPROVAL_TRIGGERS: Final = frozenset({"approval_needed", "approval_dropped"})
"""The alerts the approval queue raises: an entry started waiting, or was dropped."""


@dataclass(frozen=True)
class EventEffect:
    """What one pushed event changed, and whether `engine.status` should be read again."""

    topics: frozenset[Topic]
    reload_status: bool = False


@dataclass(frozen=True)
class Discovery:
    """One `rpc.discover` answer: who the engine says the caller is, and what it may call."""

    caller: str | None
    role: str | None
    methods: Mapping[str, MethodAccess]


def parse_discover(result: object) -> Discovery:
    """Parse an `rpc.discover` answer; raises `SnapshotError` when it is malformed."""
    record = _object(result, "rpc.discover")
    methods = record.get("methods")
    if not isinstance(methods, Sequence) or isinstance(methods, str):
        raise SnapshotError("rpc.discover: field 'methods' must be a list")
    access: dict[str, MethodAccess] = {}
    for item in methods:
        entry = _object(item, "rpc.discover method")
        name = entry.get("name")
        if not isinstance(name, str):
            raise SnapshotError(f"rpc.discover: a method without a name: {entry!r}")
        access[name] = MethodAccess(
            name=name,
            min_role=str(entry.get("min_role", "")),
            allowed=entry.get("allowed") is True,
            changes_state=entry.get("changes_state") is True,
        )
    caller, role = record.get("caller"), record.get("role")
    return Discovery(
        caller=caller if isinstance(caller, str) else None,
        role=role if isinstance(role, str) else None,
        methods=access,
    )


def describe_rpc_error(error: RpcCallError) -> str:
    """`FORBIDDEN: forbidden: ... needs the operator role`: the code's name and message."""
    name = ERROR_NAMES.get(error.code, str(error.code))
    return f"{name}: {error.message}"


class StateUpdater:
    """Writes engine answers and events into one `LiveState`; shared by every link."""

    def __init__(self, state: LiveState, clock: Clock) -> None:
        self.state = state
        self._clock = clock
        # The last problem reported per source: a record that stays malformed is polled
        # every second and must not flood the event log with the same line.
        self._problems: dict[str, str] = {}
        self._readers: Mapping[str, Callable[[object], frozenset[Topic]]] = {
            STATUS_METHOD: self._store_status,
            POSITIONS_METHOD: self._store_positions,
            ORDERS_METHOD: self._store_orders,
            PNL_METHOD: self._store_pnl,
            ACCOUNT_METHOD: self._store_account,
            PNL_HISTORY_METHOD: self._store_pnl_history,
        }
        self._handlers: Mapping[str, Callable[[object, datetime], EventEffect]] = {
            "fills": self._on_fill,
            "orders": self._on_order,
            "state": self._on_state,
            "pnl": self._on_pnl,
            "alerts": self._on_alert,
            "logs": self._on_log,
            "recon": self._on_recon,
            "mapping": self._on_mapping,
        }

    # -- reads ----------------------------------------------------------------------------

    def apply_read(self, method: str, result: object) -> frozenset[Topic]:
        """Store the answer of one read (`READ_METHODS` or `PNL_HISTORY_METHOD`); the topics
        that changed."""
        self.state.last_update = self._clock.now()
        reader = self._readers.get(method)
        if reader is None:
            raise ValueError(f"{method} is not a read the console keeps")
        try:
            topics = reader(result)
        except MALFORMED_RECORD_ERRORS as error:
            return self.problem(
                method, f"kept the last good {method}: the answer is malformed ({_why(error)})"
            )
        self._problems.pop(method, None)
        return topics

    def refused_read(self, method: str, error: RpcCallError) -> frozenset[Topic]:
        """A read the engine answered with an error: an error line, the last record kept."""
        return self.problem(method, f"{method} failed: {describe_rpc_error(error)}")

    def _store_status(self, result: object) -> frozenset[Topic]:
        self.state.status = EngineStatus.from_wire(_object(result, STATUS_METHOD))
        return frozenset({Topic.STATUS})

    def _store_positions(self, result: object) -> frozenset[Topic]:
        records = _list(result, POSITIONS_METHOD, "positions")
        self.state.replace_positions([PositionRow.from_wire(record) for record in records])
        return frozenset({Topic.POSITIONS})

    def _store_orders(self, result: object) -> frozenset[Topic]:
        records = _list(result, ORDERS_METHOD, "orders")
        self.state.replace_orders([OrderRow.from_wire(record) for record in records])
        return frozenset({Topic.ORDERS})

    def _store_pnl(self, result: object) -> frozenset[Topic]:
        self.state.pnl = PnlSummary.from_wire(_object(result, PNL_METHOD))
        return frozenset({Topic.PNL})

    def _store_pnl_history(self, result: object) -> frozenset[Topic]:
        self.state.replace_pnl_history(PnlHistory.from_wire(_object(result, PNL_HISTORY_METHOD)))
        return frozenset({Topic.PNL})

    def _store_account(self, result: object) -> frozenset[Topic]:
        self.state.account = AccountSummary.from_wire(_object(result, ACCOUNT_METHOD))
        return frozenset({Topic.ACCOUNT})

    # -- events ---------------------------------------------------------------------------

    def apply_notification(self, params: Mapping[str, Any]) -> EventEffect:
        """One `events.notify` params object ({topic, seq, at, data})."""
        self.state.last_update = self._clock.now()
        topic = params.get("topic")
        try:
            at = parse_time(params.get("at"), "event time")
        except SnapshotError as error:
            return EventEffect(
                self.problem(f"event:{topic}", f"ignored a {topic} event: {_why(error)}")
            )
        return self.apply_event(str(topic), params.get("data"), at or self._clock.now())

    def apply_event(self, topic: str, data: object, at: datetime) -> EventEffect:
        """One pushed event of `topic` published at `at` (engine clock)."""
        self.state.last_update = self._clock.now()
        handler = self._handlers.get(topic)
        if handler is None:
            return EventEffect(frozenset())  # a topic of a newer engine: not ours to show
        try:
            effect = handler(data, at)
        except MALFORMED_RECORD_ERRORS as error:
            return EventEffect(
                self.problem(f"event:{topic}", f"ignored a malformed {topic} event ({_why(error)})")
            )
        self._problems.pop(f"event:{topic}", None)
        return effect

    def _on_fill(self, data: object, at: datetime) -> EventEffect:
        row = FillRow.from_wire(_object(data, "fills event"))
        if not self.state.add_fill(row):
            return EventEffect(frozenset())
        strategy = f" [{row.strategy}]" if row.strategy else ""
        text = (
            f"fill {row.side.upper()} {quantity(row.quantity)} {row.symbol} "
            f"@ {price(row.price)}{strategy}"
        )
        self._add_line(at, "info", "fills", text)
        return EventEffect(frozenset({Topic.FILLS, Topic.EVENTS}))

    def _on_order(self, data: object, at: datetime) -> EventEffect:
        self.state.upsert_order(OrderRow.from_wire(_object(data, "orders event")))
        return EventEffect(frozenset({Topic.ORDERS}))

    def _on_state(self, data: object, at: datetime) -> EventEffect:
        record = _object(data, "state event")
        engine_state = _text(record, "engine_state", "state event")
        trading_record = _object(record.get("trading_state"), "state event.trading_state")
        trading = TradingStateView(
            state=_text(trading_record, "state", "state event.trading_state"),
            reason=str(trading_record.get("reason") or ""),
            since=parse_time(trading_record.get("since"), "state event.trading_state.since"),
        )
        reason = str(record.get("reason") or trading.reason)
        topics = {Topic.EVENTS}
        if self.state.status is not None:
            # Show the new state at once; the status reload that follows fills in the rest.
            self.state.status = dataclasses.replace(
                self.state.status, engine_state=engine_state, trading=trading
            )
            topics.add(Topic.STATUS)
        level = _TRADING_LEVELS.get(trading.state, "info")
        self._add_line(
            at, level, "state", f"trading {trading.label}, engine {engine_state}: {reason}"
        )
        return EventEffect(frozenset(topics), reload_status=True)

    def _on_pnl(self, data: object, at: datetime) -> EventEffect:
        self.state.pnl = PnlSummary.from_wire(_object(data, "pnl event"))
        self.state.record_pnl_point(at)
        return EventEffect(frozenset({Topic.PNL}))

    def _on_alert(self, data: object, at: datetime) -> EventEffect:
        record = _object(data, "alerts event")
        level = record.get("level") or "warning"
        self._add_line(at, str(level), "alerts", _text(record, "message", "alerts event"))
        if record.get("trigger") in APPROVAL_TRIGGERS:
            # The queue changed: the approvals view reads it, the dashboard's count follows.
            return EventEffect(frozenset({Topic.EVENTS, Topic.APPROVALS}), reload_status=True)
        return EventEffect(frozenset({Topic.EVENTS}))

    def _on_log(self, data: object, at: datetime) -> EventEffect:
        record = _object(data, "logs event")
        message = _text(record, "message", "logs event")
        logger = record.get("logger")
        text = f"{logger}: {message}" if logger else message
        self._add_line(at, str(record.get("level") or "info"), "logs", text)
        return EventEffect(frozenset({Topic.EVENTS}))

    def _on_recon(self, data: object, at: datetime) -> EventEffect:
        record = _object(data, "recon event")
        text = recon_event_text(_text(record, "event", "recon event"), record)
        self._add_line(at, "info", "recon", text)
        return EventEffect(frozenset({Topic.RECON, Topic.EVENTS}))

    def _on_mapping(self, data: object, at: datetime) -> EventEffect:
        record = _object(data, "mapping event")
        text = mapping_event_text(_text(record, "change", "mapping event"), record)
        self._add_line(at, "info", "mapping", text)
        return EventEffect(frozenset({Topic.MAPPING, Topic.EVENTS}))

    # -- the console's own lines ----------------------------------------------------------

    def note(self, level: str, text: str) -> frozenset[Topic]:
        """A line of the link itself (console clock), e.g. the connection was lost."""
        self._add_line(self._clock.now(), level, LINK_TOPIC, text)
        return frozenset({Topic.EVENTS})

    def problem(self, source: str, text: str) -> frozenset[Topic]:
        """An error line about `source`, unless it is the same as the last one reported."""
        if self._problems.get(source) == text:
            return frozenset()
        self._problems[source] = text
        return self.note("error", text)

    def _add_line(self, at: datetime, level: str, topic: str, text: str) -> None:
        self.state.events.append(EventLine(at=at, level=level, topic=topic, text=text))


def _count(record: Mapping[str, Any], name: str, noun: str) -> str:
    """`2 new breaks` from a list (or a number) field."""
    value = record.get(name)
    number = len(value) if isinstance(value, list) else value if isinstance(value, int) else 0
    return f"{number} {noun if number == 1 else noun + 's'}"


def recon_event_text(event: str, record: Mapping[str, Any]) -> str:
    """One event-log line for a `recon` event, e.g. `sync finished, 2 new breaks`."""
    if event == "sync_started":
        return f"sync started ({record.get('trigger') or 'unknown trigger'})"
    if event in {"sync_finished", "check_finished"}:
        what = "sync" if event == "sync_finished" else "check"
        outcome = record.get("outcome")
        ended = f"{what} finished" if outcome in (None, "complete") else f"{what} {outcome}"
        text = f"{ended}, {_count(record, 'new_breaks', 'new break')}"
        closed = record.get("closed")
        if closed:
            text += f", {_count(record, 'closed', 'break')} closed"
        return text
    if event == "break_resolved":
        return (f"break #{record.get('break_id')} resolved ({record.get('action')}) "
                f"by {record.get('actor') or 'unknown'}")
    return event.replace("_", " ")


_RULE_CHANGES: Final = {"add": "added", "edit": "edited", "enable": "enabled",
                        "disable": "disabled"}


def mapping_event_text(change: str, record: Mapping[str, Any]) -> str:
    """One event-log line for a `mapping` event, e.g. `item #3 assigned to 5070`."""
    if change == "sync":
        return (f"sync posted {_count(record, 'posted', 'record')}, "
                f"queued {_count(record, 'queued', 'record')}")
    if change == "assign":
        text = f"item #{record.get('item')} assigned to {record.get('account')}"
        version = record.get("version")
        return text + (f" (rule saved: version {version})" if version else "")
    if change == "undo":
        return f"item #{record.get('item')} undone, queued again"
    if change in _RULE_CHANGES:
        return (f"rule {record.get('rule')} {_RULE_CHANGES[change]}: "
                f"version {record.get('version')} active")
    if change == "import":
        return f"version {record.get('version')} imported as a candidate (not active)"
    if change == "activate":
        return (f"version {record.get('source_version')} activated: "
                f"version {record.get('version')} active")
    if change == "rollback":
        return (f"rolled back to version {record.get('source_version')}: "
                f"version {record.get('version')} active")
    return f"{change} changed the mapping"


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _list(result: object, what: str, name: str) -> Sequence[object]:
    items = _object(result, what).get(name)
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise SnapshotError(f"{what}: field {name!r} must be a list, got {items!r}")
    return items


def _text(record: Mapping[str, Any], name: str, what: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise SnapshotError(f"{what}: field {name!r} must be text, got {value!r}")
    return value


def _why(error: Exception) -> str:
    if isinstance(error, SnapshotError):
        return str(error)
    return f"{type(error).__name__}: {error}"
