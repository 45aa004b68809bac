"""Fixed engine records for console tests, snapshots and benchmarks: the shapes of a real
`tbot engine --sim` answer (docs/protocol.md), frozen at 2026-11-20 15:01Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

FROZEN_NOW = datetime(2026, 11, 20, 15, 1, 3, tzinfo=UTC)
BOT = "TBOT_US_SIM_BOT01"


def drawdown_record(phase: str = "armed") -> dict[str, Any]:
    """The drawdown guard's `guards.drawdown` block: armed 0.24% below its peak, or (any
    other phase) tripped at 20.56% with the close-all due at 15:01:10Z, 7 s after now."""
    if phase == "armed":
        return {"name": "drawdown", "phase": "armed", "equity": "100008.36",
                "peak": "100250.00", "drawdown_pct": "0.24", "max_drawdown_pct": "20",
                "min_equity": "100", "warning_seconds": 10, "trigger": None,
                "deadline": None, "reason": None, "checked_at": "2026-11-20T15:01:00Z"}
    return {"name": "drawdown", "phase": phase, "equity": "79640.00", "peak": "100250.00",
            "drawdown_pct": "20.56", "max_drawdown_pct": "20", "min_equity": "100",
            "warning_seconds": 10, "trigger": "max_drawdown",
            "deadline": "2026-11-20T15:01:10Z", "reason": DRAWDOWN_REASON,
            "checked_at": "2026-11-20T15:01:00Z"}


DRAWDOWN_REASON = ("drawdown guard: drawdown 20.56% from peak 100250.00 (equity 79640.00) "
                   "reached MAX_DRAWDOWN_PCT 20%")
"""The reason the guard gives its warning, its close-all and its halt."""


def market_record(*, flagged: bool = False) -> dict[str, Any]:
    """The market guard's `guards.market` block: calm, or (`flagged`) PFE gapped -7.9% in
    one check with its position left for review, and SNAP's spread wide."""
    flags = [
        {"symbol": "PFE", "kind": "gap", "at": "2026-11-20T14:58:00Z", "size": "-7.93",
         "detail": "PFE moved -7.93% in one check (PRICE_GAP_ALERT_PCT 5)"},
        {"symbol": "SNAP", "kind": "spread", "at": "2026-11-20T15:00:00Z", "size": "212.40",
         "detail": "SNAP spread 212.40 bps above LIQUIDITY_SPREAD_THRESHOLD_BPS 150"},
    ] if flagged else []
    return {"name": "market", "gap_pct": "5", "spread_bps": "150", "interval_seconds": 60,
            "flags": flags, "position_action": "review", "review": ["PFE"] if flagged else [],
            "slippage_flags": 0}


def pending_entry_record(symbol: str, reference: str, trigger: str, seconds_left: int, *,
                         direction: str = "long", underlying: str | None = None,
                         tag: str = "none") -> dict[str, Any]:
    """One `entries.pending` element of the open strategy, expiring `seconds_left` after
    FROZEN_NOW (the engine's clock in every fixture)."""
    expires = FROZEN_NOW + timedelta(seconds=seconds_left)
    under = underlying or symbol
    return {
        "id": f"open-20261120T1500-{symbol}-entry", "strategy": "open",
        "underlying": under, "instrument": symbol, "direction": direction, "tag": tag,
        "trigger_price": trigger, "reference_price": reference,
        "reason": f"{under} {trigger} > range high x 1.02",
        "queued_at": "2026-11-20T15:00:00Z",
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "seconds_left": seconds_left,
    }


def pending_records() -> list[dict[str, Any]]:
    """Two entries waiting: a long PFE (4m10s left) and a bearish SNAP bought as the
    inverse ETF SQQQ (45s left)."""
    return [
        pending_entry_record("PFE", "27.31", "27.31", 250),
        pending_entry_record("SQQQ", "11.42", "8.05", 45, direction="bearish",
                             underlying="SNAP", tag="InverseETF"),
    ]


def pending_answer(entries: list[dict[str, Any]] | None = None, *,
                   required: bool = True) -> dict[str, Any]:
    """An `entries.pending` answer (the two of `pending_records` unless `entries`)."""
    return {"required": required, "max_move_bps": "50",
            "entries": pending_records() if entries is None else entries}


APPROVAL_METHODS = (("entries.pending", "viewer", False), ("entries.approve", "operator", True),
                    ("entries.reject", "operator", True))


def with_approval_methods(discover: dict[str, Any]) -> dict[str, Any]:
    """`discover` plus the approval queue's three methods, allowed by the caller's role."""
    rank = {"viewer": 0, "auditor": 1, "operator": 2, "admin": 3}
    role = discover["role"]
    discover["methods"] = [*discover["methods"], *(
        {"name": name, "summary": name, "min_role": minimum, "changes_state": changes,
         "allowed": rank[role] >= rank[minimum], "params": []}
        for name, minimum, changes in APPROVAL_METHODS)]
    return discover


def status_record(
    *, trading_state: str = "active", engine_state: str = "monitoring", reason: str = "started",
    drawdown: dict[str, Any] | None = None, market: dict[str, Any] | None = None,
    approvals: dict[str, Any] | None = None, defense: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An `engine.status` answer in the open window's monitoring phase (the drawdown guard
    armed unless `drawdown` says otherwise). `market` (`guards.market`) and `approvals`
    are left out unless given, as an engine older than them answers."""
    guards: dict[str, Any] = {"drawdown": drawdown if drawdown is not None
                              else drawdown_record()}
    if market is not None:
        guards["market"] = market
    if defense is not None:
        guards["defense"] = defense
    extra = {"approvals": approvals} if approvals is not None else {}
    return {
        "bot": BOT,
        "version": "v0.3.0",
        "pid": 4242,
        "uptime_seconds": 38.0,
        "engine_state": engine_state,
        "trading_state": {
            "state": trading_state,
            "reason": reason,
            "since": "2026-11-20T14:25:00Z",
        },
        "clock": {"now": "2026-11-20T15:01:03Z", "mode": "sim", "speed": 60.0},
        "strategy": {
            "active": "open",
            "phase": "monitoring",
            "phase_ends": "2026-11-20T15:30:00Z",
            "next_change": "2026-11-20T15:30:00Z",
            "window": {
                "start": "2026-11-20T14:30:00Z",
                "analysis_end": "2026-11-20T14:50:00Z",
                "breakout_end": "2026-11-20T15:00:00Z",
                "monitoring_end": "2026-11-20T15:30:00Z",
            },
            "enabled": {"open": True, "mid": True, "close": False},
        },
        "broker": {
            "name": "SIM",
            "healthy": True,
            "last_ok": "2026-11-20T15:01:00Z",
            "last_error": None,
        },
        "counters": {
            "signals": 3,
            "orders": 4,
            "fills": 3,
            "rejections": 0,
            "errors": 0,
            "retries": 0,
        },
        "guards": guards,
        "config": {"loaded_at": "2026-11-20T14:25:00Z", "changed_on_disk": False},
        "subscribers": 1,
        **extra,
    }


def position_record(
    symbol: str,
    quantity: str,
    average_cost: str,
    last: str,
    unrealized: str,
    pct: str,
    opened_at: str,
    age: int,
) -> dict[str, Any]:
    """One `positions.list` element."""
    return {
        "symbol": symbol,
        "quantity": quantity,
        "average_cost": average_cost,
        "last_price": last,
        "market_value": str(round(float(quantity) * float(last), 2)),
        "unrealized_pnl": unrealized,
        "unrealized_pnl_pct": pct,
        "strategy": "open",
        "side": "long",
        "tag": "none",
        "opened_at": opened_at,
        "age_seconds": age,
    }


def positions_records() -> list[dict[str, Any]]:
    """Three long positions of the open strategy."""
    return [
        position_record(
            "CSCO",
            "6.019563581",
            "66.4633",
            "68.54",
            "12.500828",
            "3.12",
            "2026-11-20T14:56:00Z",
            303,
        ),
        position_record(
            "F", "32.310177705", "12.3825", "12.54", "5.088853", "1.27", "2026-11-20T14:55:00Z", 363
        ),
        position_record(
            "INTC",
            "21.917808219",
            "36.5073",
            "36.10",
            "-8.926603",
            "-1.12",
            "2026-11-20T14:53:00Z",
            483,
        ),
    ]


def order_record(
    number: int,
    symbol: str,
    side: str,
    quantity: str,
    filled: str,
    price: str | None,
    status: str,
    submitted: str,
) -> dict[str, Any]:
    """One `orders.list` element."""
    return {
        "order_id": f"SIM-{BOT}-O{number:06d}",
        "client_order_id": f"open-20261120-{symbol}-{'entry' if side == 'buy' else 'exit'}",
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "filled_quantity": filled,
        "average_price": price,
        "status": status,
        "strategy": "open",
        "submitted_at": submitted,
        "updated_at": submitted,
        "reject_reason": None,
    }


def orders_records() -> list[dict[str, Any]]:
    """Three filled entries and one working exit."""
    return [
        order_record(
            1,
            "INTC",
            "buy",
            "21.917808219",
            "21.917808219",
            "36.507300",
            "filled",
            "2026-11-20T14:52:00Z",
        ),
        order_record(
            2,
            "F",
            "buy",
            "32.310177705",
            "32.310177705",
            "12.382500",
            "filled",
            "2026-11-20T14:54:00Z",
        ),
        order_record(
            3,
            "CSCO",
            "buy",
            "6.019563581",
            "6.019563581",
            "66.463300",
            "filled",
            "2026-11-20T14:55:00Z",
        ),
        order_record(4, "F", "sell", "32.310177705", "0", None, "new", "2026-11-20T15:00:00Z"),
    ]


def pnl_record() -> dict[str, Any]:
    """A `pnl.summary` answer."""
    figures = {"realized": "0", "unrealized": "8.663078", "fees": "0.300000", "total": "8.363078"}
    return {
        "currency": "USD",
        "day": "2026-11-20",
        "today": figures,
        "by_strategy": {"open": {**figures, "trades": 0}},
    }


PNL_PATH = ("-0.30", "-2.45", "-4.10", "-1.75", "1.20", "3.05", "6.40", "8.363078")
"""Total PnL from the first fill (14:53Z) to 15:00Z; flat at zero before it."""


def pnl_history_record() -> dict[str, Any]:
    """A `pnl.history` answer: 14:31Z to 15:00Z, ending at `pnl_record`'s total."""
    flat = ["0"] * (30 - len(PNL_PATH))
    points = []
    for number, total in enumerate([*flat, *PNL_PATH]):
        at = datetime(2026, 11, 20, 14, 31, tzinfo=UTC) + timedelta(minutes=number)
        equity = str(100_000 + Decimal(total))
        points.append({"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "total": total,
                       "equity": equity})
    return {"currency": "USD", "day": "2026-11-20", "points": points}


def account_record() -> dict[str, Any]:
    """An `account.summary` answer."""
    return {
        "account_id": f"SIM-{BOT}",
        "currency": "USD",
        "cash": "98399.379164",
        "buying_power": "98399.379164",
        "equity": "100008.363078",
        "session_start_equity": "100000",
        "as_of": "2026-11-20T15:01:00Z",
    }


def discover_record(role: str = "admin") -> dict[str, Any]:
    """An `rpc.discover` answer for a caller of `role`."""
    rank = {"viewer": 0, "auditor": 1, "operator": 2, "admin": 3}
    methods = [
        ("engine.status", "viewer", False),
        ("positions.list", "viewer", False),
        ("orders.list", "viewer", False),
        ("pnl.summary", "viewer", False),
        ("pnl.history", "viewer", False),
        ("account.summary", "viewer", False),
        ("events.subscribe", "viewer", False),
        ("events.unsubscribe", "viewer", False),
        ("ledger.verify", "auditor", False),
        ("trading.pause", "operator", True),
        ("trading.resume", "operator", True),
        ("strategy.enable", "operator", True),
        ("strategy.disable", "operator", True),
        ("risk.kill", "operator", True),
        ("config.reload", "operator", True),
        ("risk.reset", "admin", True),
        ("engine.shutdown", "admin", True),
    ]
    return {
        "caller": "operator1(uid=1001)",
        "role": role,
        "methods": [
            {
                "name": name,
                "summary": name,
                "min_role": minimum,
                "changes_state": changes,
                "allowed": rank[role] >= rank[minimum],
                "params": [],
            }
            for name, minimum, changes in methods
        ],
        "topics": [],
    }


def fill_event(
    number: int, symbol: str, side: str, quantity: str, price: str, at: str
) -> dict[str, Any]:
    """The data of one `fills` event."""
    return {
        "fill_id": f"SIM-F{number:06d}",
        "order_id": f"SIM-{BOT}-O{number:06d}",
        "client_order_id": f"open-{symbol}",
        "symbol": symbol,
        "side": side,
        "quantity": quantity,
        "price": price,
        "fee": "0.10",
        "strategy": "open",
        "filled_at": at,
        "entry_fitid": f"SIM-F{number:06d}",
    }
