"""The session's statistics and the daily summary file.

`SessionStats` is fed by the engine as the day goes (signals, entries, exits, rejections,
risk triggers) and `build_summary` turns it into one JSON-ready dict: per strategy and in
total, how many trades, how they went, and how long they were held. A ratio or average
with nothing to divide by is None (null in the file), never an error.

Rounding (half-even): ratios (win_rate, trades_vs_signals) to 4 places, average P&L to the
ledger's 6 money places, average holding time to 0.1 s. Sums and extremes stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from tbot.booking.trade_records import REPORT_FILE_MODE, TradeRecord, report_json_default
from tbot.clock import ensure_utc
from tbot.config.atomic_write import atomic_write_bytes
from tbot.config.paths import BotPaths
from tbot.ledger.amounts import MONEY_PLACES

RATIO_QUANTUM = Decimal("0.0001")
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
SECONDS_QUANTUM = Decimal("0.1")


@dataclass
class _Tally:
    """The raw counts and amounts of one strategy (or of all of them)."""

    signals: int = 0
    entries: int = 0
    rejections: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    risk_triggers: dict[str, int] = field(default_factory=dict)
    pnls: list[Decimal] = field(default_factory=list)
    holding_seconds: list[int] = field(default_factory=list)
    fees: Decimal = Decimal(0)
    ticker_pnl: dict[str, Decimal] = field(default_factory=dict)

    def add(self, other: _Tally) -> None:
        """Fold `other`'s numbers into this tally."""
        self.signals += other.signals
        self.entries += other.entries
        self.rejections += other.rejections
        _add_counts(self.rejection_reasons, other.rejection_reasons)
        _add_counts(self.risk_triggers, other.risk_triggers)
        self.pnls += other.pnls
        self.holding_seconds += other.holding_seconds
        self.fees += other.fees
        for ticker, pnl in other.ticker_pnl.items():
            self.ticker_pnl[ticker] = self.ticker_pnl.get(ticker, Decimal(0)) + pnl

    def summary(self) -> dict[str, Any]:
        """The figures of this tally, as the summary file shows them."""
        trades = len(self.pnls)
        realized = sum(self.pnls, Decimal(0))
        gains = [pnl for pnl in self.pnls if pnl > 0]
        losses = [pnl for pnl in self.pnls if pnl < 0]
        ranked = sorted(self.ticker_pnl.items(), key=lambda item: item[0])
        return {
            "signals": self.signals,
            "entries": self.entries,
            "total_trades": trades,
            "wins": len(gains),
            "losses": len(losses),
            "win_rate": _ratio(len(gains), trades),
            "realized_pnl": realized,
            "fees": self.fees,
            "average_pnl_per_trade": (
                (realized / trades).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN) if trades else None
            ),
            "max_gain": max(gains) if gains else None,
            "max_loss": min(losses) if losses else None,
            "trades_vs_signals": _ratio(trades, self.signals),
            "average_holding_seconds": (
                (Decimal(sum(self.holding_seconds)) / len(self.holding_seconds)).quantize(
                    SECONDS_QUANTUM, ROUND_HALF_EVEN)
                if self.holding_seconds else None
            ),
            # ties go to the alphabetically first ticker: max/min keep the first they meet
            "best_ticker": max(ranked, key=lambda item: item[1])[0] if ranked else None,
            "worst_ticker": min(ranked, key=lambda item: item[1])[0] if ranked else None,
            "ticker_pnl": dict(ranked),
            "rejections": self.rejections,
            "rejection_reasons": dict(sorted(self.rejection_reasons.items())),
            "risk_triggers": dict(sorted(self.risk_triggers.items())),
        }


@dataclass(frozen=True, slots=True)
class RiskTriggerEvent:
    """One time a risk rule fired ("daily loss limit", "kill switch"...)."""

    trigger: str
    strategy: str | None
    at: datetime | None
    detail: str


class SessionStats:
    """Accumulates one session's statistics, per strategy. `strategies` listed up front
    appear in the summary even when they did nothing; others appear once recorded."""

    def __init__(self, strategies: Iterable[str] = ()) -> None:
        self._tallies: dict[str, _Tally] = {name: _Tally() for name in strategies}
        self._risk_events: list[RiskTriggerEvent] = []

    def record_signal(self, strategy: str) -> None:
        """A strategy emitted an entry signal."""
        self._tally(strategy).signals += 1

    def record_entry(self, strategy: str, *, fee: Decimal = Decimal(0)) -> None:
        """An entry filled (its `fee` counts toward the strategy's fees)."""
        tally = self._tally(strategy)
        tally.entries += 1
        tally.fees += _decimal("fee", fee)

    def record_exit(self, record: TradeRecord, *, fee: Decimal = Decimal(0)) -> None:
        """A round trip completed: its P&L, ticker and holding time (and the exit `fee`)."""
        tally = self._tally(record.strategy_name)
        tally.pnls.append(record.PnL)
        tally.holding_seconds.append(record.holding_seconds)
        tally.fees += _decimal("fee", fee)
        tally.ticker_pnl[record.ticker] = (
            tally.ticker_pnl.get(record.ticker, Decimal(0)) + record.PnL
        )

    def record_rejection(self, strategy: str, reason: str = "unspecified") -> None:
        """An order of `strategy` was refused (by the risk gate or the broker)."""
        tally = self._tally(strategy)
        tally.rejections += 1
        tally.rejection_reasons[reason] = tally.rejection_reasons.get(reason, 0) + 1

    def record_risk_trigger(self, trigger: str, *, strategy: str | None = None,
                            at: datetime | None = None, detail: str = "") -> None:
        """A risk rule fired; `strategy` None when it concerns the whole bot."""
        if strategy is not None:
            tally = self._tally(strategy)
            tally.risk_triggers[trigger] = tally.risk_triggers.get(trigger, 0) + 1
        self._risk_events.append(
            RiskTriggerEvent(trigger, strategy, None if at is None else ensure_utc(at), detail)
        )

    def build_summary(
        self,
        day: date,
        bot_identity: str,
        broker: str,
        started_at: datetime,
        ended_at: datetime,
        counters: Mapping[str, object],
    ) -> dict[str, Any]:
        """The daily summary: per-strategy and total figures, risk triggers, and the
        engine's `counters` as given. Values stay Decimal/date/datetime (see
        `write_daily_summary` for the file form)."""
        total = _Tally()
        for tally in self._tallies.values():
            total.add(tally)
        return {
            "day": day,
            "bot_identity": bot_identity,
            "broker": str(broker),
            "started_at": ensure_utc(started_at),
            "ended_at": ensure_utc(ended_at),
            "strategies": {name: tally.summary() for name, tally in self._tallies.items()},
            "totals": total.summary(),
            "risk_triggers": [
                {"trigger": event.trigger, "strategy": event.strategy, "at": event.at,
                 "detail": event.detail}
                for event in self._risk_events
            ],
            "counters": dict(counters),
        }

    def _tally(self, strategy: str) -> _Tally:
        if not strategy:
            raise ValueError("a strategy name is required")
        return self._tallies.setdefault(strategy, _Tally())


def write_daily_summary(paths: BotPaths, day: date, summary: Mapping[str, Any]) -> Path:
    """Write `summary` to `paths.daily_summary_file(day)` atomically, as JSON with Decimals
    and times as text; returns the file's path. A rerun of the day replaces the file."""
    path = paths.daily_summary_file(day)
    text = json.dumps(summary, indent=2, ensure_ascii=False, default=report_json_default)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"), mode=REPORT_FILE_MODE)
    return path


def _ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / whole).quantize(RATIO_QUANTUM, ROUND_HALF_EVEN)


def _decimal(label: str, value: Decimal) -> Decimal:
    if type(value) is not Decimal or not value.is_finite():
        raise TypeError(f"{label} must be a finite Decimal, not {value!r}")
    return value


def _add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count
