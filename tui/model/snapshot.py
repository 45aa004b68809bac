"""Engine answers and events parsed into typed, immutable records.

The wire carries money, prices and quantities as exact decimal strings and times as ISO
UTC text (docs/protocol.md); they become `Decimal` and aware `datetime` here, once, so no
widget parses JSON. A record missing a field or holding a malformed value raises
`SnapshotError` naming the field: the link reports it as an alert and keeps the last good
record instead of crashing the console.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class SnapshotError(ValueError):
    """An engine record the console cannot read."""


def _wire_parser(parse: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn any shape error inside a parser (a string where an object belongs, a list
    where a number does) into a SnapshotError, so callers catch one exception."""

    @functools.wraps(parse)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return parse(*args, **kwargs)
        except SnapshotError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError) as error:
            raise SnapshotError(f"{parse.__qualname__}: malformed record ({error})") from None

    return guarded


def _field(record: Mapping[str, Any], name: str, what: str) -> Any:
    if not isinstance(record, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {type(record).__name__}")
    if name not in record:
        raise SnapshotError(f"{what}: missing field {name!r}")
    return record[name]


def _text(record: Mapping[str, Any], name: str, what: str, *, optional: bool = False) -> str:
    value = _field(record, name, what) if not optional else record.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise SnapshotError(f"{what}: field {name!r} must be text, got {value!r}")
    return value


def _decimal(
    record: Mapping[str, Any], name: str, what: str, *, optional: bool = False
) -> Decimal | None:
    value = record.get(name) if optional else _field(record, name, what)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SnapshotError(f"{what}: field {name!r} must be a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SnapshotError(f"{what}: field {name!r} is not a number: {value!r}") from None
    if not number.is_finite():
        raise SnapshotError(f"{what}: field {name!r} is not finite: {value!r}")
    return number


def _required_decimal(record: Mapping[str, Any], name: str, what: str) -> Decimal:
    number = _decimal(record, name, what)
    assert number is not None
    return number


def parse_time(value: object, what: str = "time") -> datetime | None:
    """An ISO UTC time from the wire (`...Z`), or None for null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SnapshotError(f"{what}: expected an ISO time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotError(f"{what}: not an ISO time: {value!r}") from None
    if moment.tzinfo is None:
        raise SnapshotError(f"{what}: time without a zone: {value!r}")
    return moment.astimezone(UTC)


def _time(record: Mapping[str, Any], name: str, what: str) -> datetime | None:
    return parse_time(record.get(name), f"{what}.{name}")


def _int(record: Mapping[str, Any], name: str, what: str, default: int = 0) -> int:
    value = record.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{what}: field {name!r} must be an integer, got {value!r}")
    return value


# -- engine.status --------------------------------------------------------------------------


@dataclass(frozen=True)
class TradingStateView:
    """ACTIVE / REDUCING / HALTED, why, and since when."""

    state: str
    reason: str
    since: datetime | None

    @property
    def label(self) -> str:
        """The state as operators say it: ACTIVE, REDUCING, HALTED."""
        return self.state.upper()


@dataclass(frozen=True)
class ClockView:
    """The engine's clock: real or simulated, and how fast."""

    now: datetime
    mode: str
    speed: float


@dataclass(frozen=True)
class StrategyView:
    """The strategy window the engine is in, and which strategies may trade."""

    active: str | None
    phase: str | None
    phase_ends: datetime | None
    next_change: datetime | None
    enabled: Mapping[str, bool]


@dataclass(frozen=True)
class BrokerView:
    """The broker's health as the engine last saw it."""

    name: str
    healthy: bool
    last_ok: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class FeedView:
    """A real broker's live market data, as the engine last saw it."""

    feed: str
    healthy: bool
    reason: str | None
    gaps_today: int


@dataclass(frozen=True)
class DrawdownView:
    """The drawdown guard (`guards.drawdown`): equity against its peak and the limits, and
    once triggered, why and when it closes every position."""

    phase: str
    """armed, warning (counting down), closing, halted."""
    equity: Decimal | None
    peak: Decimal | None
    drawdown_pct: Decimal | None
    max_drawdown_pct: Decimal
    min_equity: Decimal
    trigger: str | None
    deadline: datetime | None
    reason: str

    @property
    def counting_down(self) -> bool:
        """True while the warning runs or the close-all is under way."""
        return self.phase in ("warning", "closing")


def _drawdown_view(block: object, what: str) -> DrawdownView | None:
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {block!r}")
    return DrawdownView(
        phase=_text(block, "phase", what),
        equity=_decimal(block, "equity", what, optional=True),
        peak=_decimal(block, "peak", what, optional=True),
        drawdown_pct=_decimal(block, "drawdown_pct", what, optional=True),
        max_drawdown_pct=_required_decimal(block, "max_drawdown_pct", what),
        min_equity=_required_decimal(block, "min_equity", what),
        trigger=_text(block, "trigger", what, optional=True) or None,
        deadline=_time(block, "deadline", what),
        reason=_text(block, "reason", what, optional=True),
    )


@dataclass(frozen=True)
class MarketFlagView:
    """One symbol the market guard flagged today (`guards.market.flags`): it blocks new
    entries in that symbol."""

    symbol: str
    kind: str
    """gap, overnight_gap or spread (another word from a newer engine is shown as is)."""
    at: datetime | None
    size: Decimal | None
    """The move in percent (a gap) or the spread in bps."""
    detail: str


@dataclass(frozen=True)
class MarketGuardView:
    """The market guard (`guards.market`): today's flags, the positions left for review,
    and the fills that slipped beyond MAX_SLIPPAGE_BPS."""

    flags: tuple[MarketFlagView, ...]
    review: tuple[str, ...]
    position_action: str
    slippage_flags: int
    gap_pct: Decimal | None
    spread_bps: Decimal | None
    """None when LIQUIDITY_CHECK_ENABLED=false."""


@dataclass(frozen=True)
class DefenseView:
    """Defense mode (`guards.defense`): on or off, by the setting or by itself, and why."""

    active: bool
    manual: bool
    since: datetime | None
    reason: str | None


def _defense_view(block: object, what: str) -> DefenseView | None:
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {block!r}")
    return DefenseView(active=bool(block.get("active", False)),
                       manual=bool(block.get("manual", False)),
                       since=_time(block, "since", what),
                       reason=_text(block, "reason", what, optional=True))


def _market_view(block: object, what: str) -> MarketGuardView | None:
    # Every field but the flags is optional: the console shows what a guard of any
    # version says rather than nothing.
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {block!r}")
    flags = block.get("flags") or []
    review = block.get("review") or []
    if not isinstance(flags, list):
        raise SnapshotError(f"{what}: field 'flags' must be a list, got {flags!r}")
    if not isinstance(review, list):
        raise SnapshotError(f"{what}: field 'review' must be a list, got {review!r}")
    return MarketGuardView(
        flags=tuple(
            MarketFlagView(
                symbol=_text(flag, "symbol", f"{what}.flags[{index}]"),
                kind=_text(flag, "kind", f"{what}.flags[{index}]", optional=True) or "flag",
                at=_time(flag, "at", f"{what}.flags[{index}]"),
                size=_decimal(flag, "size", f"{what}.flags[{index}]", optional=True),
                detail=_text(flag, "detail", f"{what}.flags[{index}]", optional=True),
            )
            for index, flag in enumerate(flags)
        ),
        review=tuple(str(symbol) for symbol in review),
        position_action=_text(block, "position_action", what, optional=True),
        slippage_flags=_int(block, "slippage_flags", what),
        gap_pct=_decimal(block, "gap_pct", what, optional=True),
        spread_bps=_decimal(block, "spread_bps", what, optional=True),
    )


@dataclass(frozen=True)
class ApprovalsView:
    """`TRADE_CONFIRMATION_REQUIRED` (`approvals`): whether entries wait for an operator,
    and how many wait now (`entries.pending` lists them)."""

    required: bool
    waiting: int


def _approvals_view(block: object, what: str) -> ApprovalsView | None:
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {block!r}")
    return ApprovalsView(required=block.get("required") is True,
                         waiting=_int(block, "waiting", what))


@dataclass(frozen=True)
class EngineStatus:
    """One `engine.status` answer."""

    bot: str
    version: str
    pid: int
    engine_state: str
    trading: TradingStateView
    clock: ClockView
    strategy: StrategyView
    broker: BrokerView
    counters: Mapping[str, int]
    config_changed_on_disk: bool
    market_data: FeedView | None = None
    """None for the simulated broker's generated or replayed bars."""
    order_stream_connected: bool | None = None
    """None when the broker pushes no order updates (the simulated one)."""
    drawdown: DrawdownView | None = None
    """None from an engine without the drawdown guard."""
    market_guard: MarketGuardView | None = None
    """None from an engine without the market guard."""
    approvals: ApprovalsView | None = None
    """None from an engine without the approval queue."""
    defense: DefenseView | None = None
    """None from an engine without defense mode."""

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> EngineStatus:
        """Parse an `engine.status` result."""
        what = "engine.status"
        trading = _field(record, "trading_state", what)
        clock = _field(record, "clock", what)
        strategy = _field(record, "strategy", what)
        broker = _field(record, "broker", what)
        counters = record.get("counters") or {}
        config = record.get("config") or {}
        enabled = strategy.get("enabled") or {} if isinstance(strategy, Mapping) else {}
        guards = record.get("guards") or {}
        now = _time(clock, "now", f"{what}.clock")
        if now is None:
            raise SnapshotError(f"{what}.clock: missing field 'now'")
        speed = clock.get("speed", 1)
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise SnapshotError(f"{what}.clock: field 'speed' must be a number, got {speed!r}")
        return cls(
            bot=_text(record, "bot", what),
            version=_text(record, "version", what, optional=True),
            pid=_int(record, "pid", what),
            engine_state=_text(record, "engine_state", what),
            trading=TradingStateView(
                state=_text(trading, "state", f"{what}.trading_state"),
                reason=_text(trading, "reason", f"{what}.trading_state", optional=True),
                since=_time(trading, "since", f"{what}.trading_state"),
            ),
            clock=ClockView(now=now, mode=_text(clock, "mode", f"{what}.clock"),
                            speed=float(speed)),
            strategy=StrategyView(
                active=strategy.get("active"),
                phase=strategy.get("phase"),
                phase_ends=_time(strategy, "phase_ends", f"{what}.strategy"),
                next_change=_time(strategy, "next_change", f"{what}.strategy"),
                enabled={str(k): bool(v) for k, v in dict(enabled).items()},
            ),
            broker=BrokerView(
                name=_text(broker, "name", f"{what}.broker"),
                healthy=bool(_field(broker, "healthy", f"{what}.broker")),
                last_ok=_time(broker, "last_ok", f"{what}.broker"),
                last_error=broker.get("last_error"),
            ),
            counters={str(k): int(v) for k, v in dict(counters).items()},
            config_changed_on_disk=bool(config.get("changed_on_disk", False)),
            market_data=_feed_view(record.get("market_data"), f"{what}.market_data"),
            order_stream_connected=_stream_connected(record.get("order_stream")),
            drawdown=_drawdown_view(guards.get("drawdown"), f"{what}.guards.drawdown"),
            market_guard=_market_view(guards.get("market"), f"{what}.guards.market"),
            approvals=_approvals_view(record.get("approvals"), f"{what}.approvals"),
            defense=_defense_view(guards.get("defense"), f"{what}.guards.defense"),
        )


def _feed_view(block: object, what: str) -> FeedView | None:
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {block!r}")
    return FeedView(feed=_text(block, "feed", what),
                    healthy=bool(_field(block, "healthy", what)),
                    reason=_text(block, "reason", what, optional=True) or None,
                    gaps_today=int(block.get("gaps_today") or 0))


def _stream_connected(block: object) -> bool | None:
    if not isinstance(block, Mapping):
        return None
    return bool(block.get("connected"))


# -- positions, orders, fills ---------------------------------------------------------------


@dataclass(frozen=True)
class PositionRow:
    """One open position (`positions.list`)."""

    symbol: str
    side: str
    quantity: Decimal
    average_cost: Decimal
    last_price: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    unrealized_pnl_pct: Decimal | None
    strategy: str
    tag: str
    opened_at: datetime | None
    age_seconds: int

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> PositionRow:
        """Parse one element of `positions.list`."""
        what = f"position {record.get('symbol', '?') if isinstance(record, Mapping) else '?'}"
        return cls(
            symbol=_text(record, "symbol", what),
            side=_text(record, "side", what, optional=True) or "long",
            quantity=_required_decimal(record, "quantity", what),
            average_cost=_required_decimal(record, "average_cost", what),
            last_price=_decimal(record, "last_price", what, optional=True),
            market_value=_decimal(record, "market_value", what, optional=True),
            unrealized_pnl=_decimal(record, "unrealized_pnl", what, optional=True),
            unrealized_pnl_pct=_decimal(record, "unrealized_pnl_pct", what, optional=True),
            strategy=_text(record, "strategy", what, optional=True),
            tag=_text(record, "tag", what, optional=True) or "none",
            opened_at=_time(record, "opened_at", what),
            age_seconds=_int(record, "age_seconds", what),
        )


@dataclass(frozen=True)
class OrderRow:
    """One order of the session (`orders.list`, `orders` events)."""

    order_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    status: str
    strategy: str
    submitted_at: datetime | None
    updated_at: datetime | None
    reject_reason: str | None

    @property
    def is_open(self) -> bool:
        """Whether the broker may still fill it."""
        return self.status in {"new", "accepted", "pending_new", "partially_filled"}

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> OrderRow:
        """Parse one order."""
        what = f"order {record.get('order_id', '?') if isinstance(record, Mapping) else '?'}"
        return cls(
            order_id=_text(record, "order_id", what),
            client_order_id=_text(record, "client_order_id", what, optional=True),
            symbol=_text(record, "symbol", what),
            side=_text(record, "side", what),
            quantity=_required_decimal(record, "quantity", what),
            filled_quantity=_decimal(record, "filled_quantity", what, optional=True)
            or Decimal(0),
            average_price=_decimal(record, "average_price", what, optional=True),
            status=_text(record, "status", what),
            strategy=_text(record, "strategy", what, optional=True),
            submitted_at=_time(record, "submitted_at", what),
            updated_at=_time(record, "updated_at", what),
            reject_reason=record.get("reject_reason"),
        )


@dataclass(frozen=True)
class FillRow:
    """One fill: from a `fills` event while live, or from the ledger's trades table."""

    fill_id: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    strategy: str
    filled_at: datetime | None
    entry_fitid: str

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> FillRow:
        """Parse the data of a `fills` event."""
        what = f"fill {record.get('fill_id', '?') if isinstance(record, Mapping) else '?'}"
        return cls(
            fill_id=_text(record, "fill_id", what),
            symbol=_text(record, "symbol", what),
            side=_text(record, "side", what),
            quantity=_required_decimal(record, "quantity", what),
            price=_required_decimal(record, "price", what),
            fee=_decimal(record, "fee", what, optional=True) or Decimal(0),
            strategy=_text(record, "strategy", what, optional=True),
            filled_at=_time(record, "filled_at", what),
            entry_fitid=_text(record, "entry_fitid", what, optional=True),
        )


# -- money ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PnlFigures:
    """Realized, unrealized, fees and total for a day or a strategy."""

    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    total: Decimal
    trades: int = 0

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any], what: str) -> PnlFigures:
        """Parse a `{realized, unrealized, fees, total[, trades]}` object."""
        return cls(
            realized=_required_decimal(record, "realized", what),
            unrealized=_required_decimal(record, "unrealized", what),
            fees=_decimal(record, "fees", what, optional=True) or Decimal(0),
            total=_required_decimal(record, "total", what),
            trades=_int(record, "trades", what),
        )


ZERO_PNL = PnlFigures(Decimal(0), Decimal(0), Decimal(0), Decimal(0))


@dataclass(frozen=True)
class PnlSummary:
    """One `pnl.summary` answer or `pnl` event."""

    currency: str
    day: str
    today: PnlFigures
    by_strategy: Mapping[str, PnlFigures] = field(default_factory=dict)

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> PnlSummary:
        """Parse `pnl.summary`."""
        what = "pnl.summary"
        by_strategy = _field(record, "by_strategy", what)
        if not isinstance(by_strategy, Mapping):
            raise SnapshotError(f"{what}: field 'by_strategy' must be an object")
        return cls(
            currency=_text(record, "currency", what),
            day=_text(record, "day", what, optional=True),
            today=PnlFigures.from_wire(_field(record, "today", what), f"{what}.today"),
            by_strategy={
                str(name): PnlFigures.from_wire(figures, f"{what}.by_strategy.{name}")
                for name, figures in by_strategy.items()
            },
        )


@dataclass(frozen=True)
class PnlPoint:
    """One sample of the intraday chart, on the engine's clock."""

    at: datetime
    total: Decimal
    equity: Decimal | None


@dataclass(frozen=True)
class PnlHistory:
    """One `pnl.history` answer: today's curve, oldest first."""

    currency: str
    day: str
    points: tuple[PnlPoint, ...]

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> PnlHistory:
        """Parse `pnl.history`; the points are put in time order, one per moment."""
        what = "pnl.history"
        points = _field(record, "points", what)
        if not isinstance(points, list):
            raise SnapshotError(f"{what}: field 'points' must be a list")
        by_time: dict[datetime, PnlPoint] = {}
        for index, point in enumerate(points):
            where = f"{what}.points[{index}]"
            at = parse_time(_field(point, "at", where), f"{where}.at")
            if at is None:
                raise SnapshotError(f"{where}: field 'at' is null")
            by_time[at] = PnlPoint(
                at=at,
                total=_required_decimal(point, "total", where),
                equity=_decimal(point, "equity", where, optional=True),
            )
        return cls(
            currency=_text(record, "currency", what),
            day=_text(record, "day", what, optional=True),
            points=tuple(by_time[at] for at in sorted(by_time)),
        )


@dataclass(frozen=True)
class AccountSummary:
    """One `account.summary` answer."""

    account_id: str
    currency: str
    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    session_start_equity: Decimal | None
    as_of: datetime | None

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> AccountSummary:
        """Parse `account.summary`."""
        what = "account.summary"
        return cls(
            account_id=_text(record, "account_id", what, optional=True),
            currency=_text(record, "currency", what),
            cash=_required_decimal(record, "cash", what),
            buying_power=_required_decimal(record, "buying_power", what),
            equity=_required_decimal(record, "equity", what),
            session_start_equity=_decimal(record, "session_start_equity", what, optional=True),
            as_of=_time(record, "as_of", what),
        )


# -- entries waiting for approval ------------------------------------------------------------


@dataclass(frozen=True)
class PendingEntryView:
    """One entry waiting for an operator (`entries.pending`); `id` is the client order id
    it will be sent under, and what `entries.approve` / `entries.reject` take."""

    id: str
    strategy: str
    underlying: str
    instrument: str
    direction: str
    tag: str
    trigger_price: Decimal | None
    reference_price: Decimal | None
    reason: str
    queued_at: datetime | None
    expires_at: datetime | None
    seconds_left: int
    """On the engine's clock, when the answer was made."""

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> PendingEntryView:
        """Parse one element of `entries.pending`."""
        what = f"pending entry {record.get('id', '?') if isinstance(record, Mapping) else '?'}"
        return cls(
            id=_text(record, "id", what),
            strategy=_text(record, "strategy", what, optional=True),
            underlying=_text(record, "underlying", what, optional=True),
            instrument=_text(record, "instrument", what),
            direction=_text(record, "direction", what, optional=True),
            tag=_text(record, "tag", what, optional=True) or "none",
            trigger_price=_decimal(record, "trigger_price", what, optional=True),
            reference_price=_decimal(record, "reference_price", what, optional=True),
            reason=_text(record, "reason", what, optional=True),
            queued_at=_time(record, "queued_at", what),
            expires_at=_time(record, "expires_at", what),
            seconds_left=max(0, _int(record, "seconds_left", what)),
        )


@dataclass(frozen=True)
class PendingEntries:
    """One `entries.pending` answer: whether entries wait for approval at all
    (TRADE_CONFIRMATION_REQUIRED), the price rule, and the entries waiting, oldest first."""

    required: bool
    max_move_bps: Decimal | None
    entries: tuple[PendingEntryView, ...]

    @classmethod
    @_wire_parser
    def from_wire(cls, record: Mapping[str, Any]) -> PendingEntries:
        """Parse `entries.pending`."""
        what = "entries.pending"
        entries = _field(record, "entries", what)
        if not isinstance(entries, list):
            raise SnapshotError(f"{what}: field 'entries' must be a list, got {entries!r}")
        return cls(
            required=_field(record, "required", what) is True,
            max_move_bps=_decimal(record, "max_move_bps", what, optional=True),
            entries=tuple(PendingEntryView.from_wire(entry) for entry in entries),
        )
