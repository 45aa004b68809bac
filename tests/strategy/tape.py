"""A hand-made market for strategy tests: minute bars built from lists of closes, played
into a strategy minute by minute the way the engine delivers them (at each minute's end)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from tbot.market.bars import Bar
from tbot.strategy.base import Strategy
from tbot.strategy.signals import Signal

MINUTE = timedelta(minutes=1)
DEFAULT_VOLUME = 10_000


def series(
    symbol: str,
    closes: Iterable[str | int | Decimal],
    *,
    start: datetime,
    volume: int = DEFAULT_VOLUME,
) -> list[Bar]:
    """One bar per close, one minute apart from `start`; open = high = low = close, so the
    range is the range of the closes."""
    bars = []
    for offset, close in enumerate(closes):
        price = Decimal(str(close))
        bars.append(Bar(symbol, start + offset * MINUTE, price, price, price, price, volume))
    return bars


def play(strategy: Strategy, *bar_lists: list[Bar]) -> list[Signal]:
    """Deliver every bar at the end of its minute, minutes in order; all signals, in order."""
    by_minute: dict[datetime, dict[str, Bar]] = defaultdict(dict)
    for bars in bar_lists:
        for bar in bars:
            by_minute[bar.start][bar.symbol] = bar
    signals: list[Signal] = []
    for start in sorted(by_minute):
        signals.extend(strategy.on_bars(by_minute[start], start + MINUTE))
    return signals


def deliver(strategy: Strategy, at: datetime, **closes: str) -> list[Signal]:
    """One minute of bars (symbol=close) delivered at `at`, for the minute before it."""
    bars = {
        symbol: series(symbol, [close], start=at - MINUTE)[0] for symbol, close in closes.items()
    }
    return strategy.on_bars(bars, at)
