"""The session's statistics and the daily summary file.

Every money figure of the summary, and every figure about round trips, is read from the
ledger: `SessionStats.build_summary` takes the day's `LedgerResults`
(`tbot.booking.ledger_results`). `SessionStats` keeps only what the ledger does not know,
fed by the engine as the day goes: signals, rejections and risk triggers. So the summary
agrees with the ledger and with the trade history to the micro-unit, after a restart too.

Money figures of each block (per strategy, totals; the file's ``money_definitions`` says the
same):

- ``realized_pnl``: NET. The sum of the day's round trips' PnL, each its realized gain less
  its exit fee and its share of the entry fees; the sum of the trade history's PnL for the
  day. ``average_pnl_per_trade``, ``max_gain``, ``max_loss``, wins, losses and
  ``ticker_pnl`` are of the same round-trip PnL.
- ``realized_gains``: gross, the realized-gains account's postings of the day.
- ``fees``: the fees account's postings of the day (every fill's fee, including the entries
  of positions still open).
- ``round_trip_fees``: the fees charged to the day's round trips.
- ``net_pnl``: ``realized_gains − fees``, the accounts' view.

``entries`` counts the day's entry fills in the ledger (live BUY trade rows, and SHORT
rows of short sales) and ``total_trades`` its round trips (live SELL trade rows, and COVER
rows that buy short sales back). Money on entries without a
strategy is in the top-level ``unattributed`` block (null when there is none) and in the
totals. A ratio or average with nothing to divide by is None (null in the file).

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

from tbot.booking.ledger_results import LedgerResults, StrategyResults
from tbot.booking.trade_records import REPORT_FILE_MODE, report_json_default
from tbot.clock import ensure_utc
from tbot.config.atomic_write import atomic_write_bytes
from tbot.config.paths import BotPaths
from tbot.ledger.amounts import MONEY_PLACES

RATIO_QUANTUM = Decimal("0.0001")
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
SECONDS_QUANTUM = Decimal("0.1")

MONEY_DEFINITIONS: dict[str, str] = {
    "source": "the ledger's entries of the day (UTC), read by tbot.booking.ledger_results",
    "realized_pnl": "net: the day's round trips' realized gains less their exit fees and "
                    "their share of the entry fees; equals the trade history's PnL of the day",
    "realized_gains": "gross: the realized-gains account's postings of the day",
    "fees": "the fees account's postings of the day, open positions' entry fees included",
    "round_trip_fees": "the fees charged to the day's round trips (exit fees and their "
                       "share of the entry fees)",
    "net_pnl": "realized_gains - fees",
}
"""What each money figure of the summary is (written into the file)."""


@dataclass
class _Counts:
    """What the ledger does not know about one strategy (or all of them)."""

    signals: int = 0
    rejections: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    risk_triggers: dict[str, int] = field(default_factory=dict)
    filter_blocks: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Counts) -> None:
        """Fold `other`'s counts into these."""
        self.signals += other.signals
        self.rejections += other.rejections
        _add_counts(self.rejection_reasons, other.rejection_reasons)
        _add_counts(self.risk_triggers, other.risk_triggers)
        _add_counts(self.filter_blocks, other.filter_blocks)


def _figures(counts: _Counts, results: StrategyResults) -> dict[str, Any]:
    """One block of the summary: `counts` from the session, everything else from the
    ledger's `results`."""
    trips = results.round_trips
    pnls = [trip.pnl for trip in trips]
    trades = len(trips)
    realized = results.round_trip_pnl
    gains = [pnl for pnl in pnls if pnl > 0]
    losses = [pnl for pnl in pnls if pnl < 0]
    ticker_pnl: dict[str, Decimal] = {}
    for trip in trips:
        ticker_pnl[trip.symbol] = ticker_pnl.get(trip.symbol, Decimal(0)) + trip.pnl
    ranked = sorted(ticker_pnl.items(), key=lambda item: item[0])
    holding = [trip.holding_seconds for trip in trips]
    return {
        "signals": counts.signals,
        "entries": len(results.entry_fills),
        "total_trades": trades,
        "wins": len(gains),
        "losses": len(losses),
        "win_rate": _ratio(len(gains), trades),
        "realized_pnl": realized,
        "fees": results.fees,
        "realized_gains": results.realized_gains,
        "round_trip_fees": results.round_trip_fees,
        "net_pnl": results.net,
        "average_pnl_per_trade": (
            (realized / trades).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN) if trades else None
        ),
        "max_gain": max(gains) if gains else None,
        "max_loss": min(losses) if losses else None,
        "trades_vs_signals": _ratio(trades, counts.signals),
        "average_holding_seconds": (
            (Decimal(sum(holding)) / len(holding)).quantize(SECONDS_QUANTUM, ROUND_HALF_EVEN)
            if holding else None
        ),
        # ties go to the alphabetically first ticker: max/min keep the first they meet
        "best_ticker": max(ranked, key=lambda item: item[1])[0] if ranked else None,
        "worst_ticker": min(ranked, key=lambda item: item[1])[0] if ranked else None,
        "ticker_pnl": dict(ranked),
        "rejections": counts.rejections,
        "rejection_reasons": dict(sorted(counts.rejection_reasons.items())),
        "risk_triggers": dict(sorted(counts.risk_triggers.items())),
        "filter_blocks": dict(sorted(counts.filter_blocks.items())),
    }


@dataclass(frozen=True, slots=True)
class RiskTriggerEvent:
    """One time a risk rule fired ("daily loss limit", "kill switch"...)."""

    trigger: str
    strategy: str | None
    at: datetime | None
    detail: str


class SessionStats:
    """Accumulates what one session's ledger does not hold, per strategy: signals,
    rejections, filter blocks and risk triggers. `strategies` listed up front appear in the
    summary even when they did nothing; others appear once recorded or once the ledger has
    their money."""

    def __init__(self, strategies: Iterable[str] = ()) -> None:
        self._counts: dict[str, _Counts] = {name: _Counts() for name in strategies}
        self._risk_events: list[RiskTriggerEvent] = []

    def record_signal(self, strategy: str) -> None:
        """A strategy emitted an entry signal."""
        self._tally(strategy).signals += 1

    def record_rejection(self, strategy: str, reason: str = "unspecified") -> None:
        """An order of `strategy` was refused (by the risk gate or the broker)."""
        counts = self._tally(strategy)
        counts.rejections += 1
        counts.rejection_reasons[reason] = counts.rejection_reasons.get(reason, 0) + 1

    def record_block(self, strategy: str, reason: str) -> None:
        """A filter kept `strategy` from an entry (`reason`: the filter's code, e.g.
        ``adx_trend``, ``vix``, ``fundamentals``); the words are in the strategy's log."""
        counts = self._tally(strategy)
        counts.filter_blocks[reason] = counts.filter_blocks.get(reason, 0) + 1

    def record_risk_trigger(self, trigger: str, *, strategy: str | None = None,
                            at: datetime | None = None, detail: str = "") -> None:
        """A risk rule fired; `strategy` None when it concerns the whole bot."""
        if strategy is not None:
            counts = self._tally(strategy)
            counts.risk_triggers[trigger] = counts.risk_triggers.get(trigger, 0) + 1
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
        *,
        results: LedgerResults,
    ) -> dict[str, Any]:
        """The daily summary: per-strategy and total figures (money and round trips from
        the ledger's `results` of the day), risk triggers, and the engine's `counters` as
        given. Values stay Decimal/date/datetime (see `write_daily_summary` for the file
        form)."""
        names = list(self._counts)
        names += [name for name in results.by_strategy if name not in self._counts]
        total = _Counts()
        for counts in self._counts.values():
            total.add(counts)
        unattributed = results.unattributed
        return {
            "day": day,
            "bot_identity": bot_identity,
            "broker": str(broker),
            "started_at": ensure_utc(started_at),
            "ended_at": ensure_utc(ended_at),
            "money_source": "ledger",
            "money_definitions": dict(MONEY_DEFINITIONS),
            "strategies": {
                name: _figures(self._counts.get(name, _Counts()),
                               results.by_strategy.get(name, StrategyResults()))
                for name in names
            },
            "totals": _figures(total, results.total),
            "unattributed": (
                {"realized_gains": unattributed.realized_gains, "fees": unattributed.fees,
                 "net_pnl": unattributed.net}
                if unattributed.realized_gains or unattributed.fees else None
            ),
            "risk_triggers": [
                {"trigger": event.trigger, "strategy": event.strategy, "at": event.at,
                 "detail": event.detail}
                for event in self._risk_events
            ],
            "counters": dict(counters),
        }

    def _tally(self, strategy: str) -> _Counts:
        if not strategy:
            raise ValueError("a strategy name is required")
        return self._counts.setdefault(strategy, _Counts())


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


def _add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, count in counts.items():
        into[key] = into.get(key, 0) + count
