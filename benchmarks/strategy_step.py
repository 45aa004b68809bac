"""The three strategies' columnar step alone over the generated market, against the old
per-bar opening-range breakout in the same run.

The market: `--symbols` generated stocks (plus the inverse ETFs of the strategies' pools)
over `--days` session days, 390 minutes each, from `GeneratedFeed`. It is turned into
arrays (and, for the per-bar strategy, into its `Bar` mappings) before any clock starts.
Timed: per day, building the open, mid and close strategies over the universe and
stepping each through every minute (the `MinuteFrame` of each minute is built inside the
timing, from rows of the day's arrays). No broker and no ledger: signals are counted,
not traded. The comparison runs the per-bar ORB of v0.7.0 (`per_bar_orb.py`) over the
same minutes.

Prints: minute bars a second for the step (target ≥ 1,000,000), the per-bar ORB's rate,
the ratio, the signals each produced, and whether the open strategy gave the very same
signals on the step as the per-bar code did.

Usage: python benchmarks/strategy_step.py [--symbols 500] [--days 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.per_bar_orb import OpeningRangeBreakout as PerBarOrb
from tbot.config.loader import parse_bot_text, template_text
from tbot.config.setting_types import StrategyName
from tbot.market.bars import Bar
from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import GeneratedFeed
from tbot.market.universe import ETF_POOLS, leverage_multiplier
from tbot.strategy.minute_frame import MinuteFrame, SymbolIndex
from tbot.strategy.registry import MarketSources, build_strategy
from tbot.strategy.window import window_from_settings

MINUTE = timedelta(minutes=1)
# Winter days: the template's START_TIME_OPEN=14:30 UTC is then the open itself.
FIRST_DAY = date(2026, 11, 2)


@dataclass
class Day:
    """One session as arrays (minutes × symbols) and as per-minute bar mappings."""

    day: date
    minutes: list[datetime]
    prices: np.ndarray
    """(5, minutes, symbols): open, high, low, close, volume; NaN where no bar."""
    present: np.ndarray
    bars: list[Mapping[str, Bar]]


def session_days(calendar: TradingCalendar, count: int) -> list[date]:
    days, day = [], FIRST_DAY
    while len(days) < count:
        if calendar.is_session(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def load_day(feed: GeneratedFeed, index: SymbolIndex, day: date) -> Day:
    by_symbol = feed.day_bars(day)
    starts = sorted({bar.start for bars in by_symbol.values() for bar in bars})
    row = {start: i for i, start in enumerate(starts)}
    prices = np.full((5, len(starts), len(index)), np.nan)
    present = np.zeros((len(starts), len(index)), dtype=np.bool_)
    per_minute: list[dict[str, Bar]] = [{} for _ in starts]
    for symbol, bars in by_symbol.items():
        column = index.position(symbol)
        if column is None:
            continue
        for bar in bars:
            i = row[bar.start]
            prices[:, i, column] = (float(bar.open), float(bar.high), float(bar.low),
                                    float(bar.close), float(bar.volume))
            present[i, column] = True
            per_minute[i][symbol] = bar
    return Day(day, starts, prices, present, per_minute)


def run_step(days: list[Day], index: SymbolIndex, universe: list[str], feed: GeneratedFeed
             ) -> tuple[float, Counter[str], list[object]]:
    bot = parse_bot_text(template_text(".env_bot"), "template")
    sources = MarketSources(vix=feed.vix() if hasattr(feed, "vix") else None)
    counts: Counter[str] = Counter()
    opening: list[object] = []
    started = time.perf_counter()
    for session in days:
        strategies = [
            build_strategy(name, bot, window_from_settings(bot, name, session.day), universe,
                           sources)
            for name in (StrategyName.OPEN, StrategyName.MID, StrategyName.CLOSE)
        ]
        o, h, lo, c, v = session.prices
        for i, start in enumerate(session.minutes):
            frame = MinuteFrame(index, start, start + MINUTE, open=o[i], high=h[i], low=lo[i],
                                close=c[i], volume=v[i], present=session.present[i])
            for strategy in strategies:
                for signal in strategy.step(frame):
                    counts[f"{strategy.name}:{type(signal).__name__}"] += 1
                    if strategy.name is StrategyName.OPEN:
                        opening.append(signal)
    return time.perf_counter() - started, counts, opening


def run_per_bar(days: list[Day], universe: list[str]
                ) -> tuple[float, Counter[str], list[object]]:
    bot = parse_bot_text(template_text(".env_bot"), "template")
    counts: Counter[str] = Counter()
    signals: list[object] = []
    started = time.perf_counter()
    for session in days:
        window = window_from_settings(bot, StrategyName.OPEN, session.day)
        strategy = PerBarOrb(bot, window, universe, ETF_POOLS["open"],
                             leverage_of=leverage_multiplier)
        for start, bars in zip(session.minutes, session.bars, strict=True):
            for signal in strategy.on_bars(bars, start + MINUTE):
                counts[f"open:{type(signal).__name__}"] += 1
                signals.append(signal)
    return time.perf_counter() - started, counts, signals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    universe = [f"S{i:04d}" for i in range(args.symbols)]
    etfs = sorted({etf for pool in ETF_POOLS.values() for etf in pool})
    calendar = TradingCalendar()
    feed = GeneratedFeed(args.seed, calendar, symbols=[*universe, *etfs])
    index = SymbolIndex([*universe, *etfs])
    started = time.perf_counter()
    days = [load_day(feed, index, day) for day in session_days(calendar, args.days)]
    bars = int(sum(day.present[:, : len(universe)].sum() for day in days))
    print(f"market: {args.symbols} symbols (+{len(etfs)} inverse ETFs) × {args.days} days, "
          f"{bars:,} minute bars of the universe (generated and laid out in "
          f"{time.perf_counter() - started:.1f} s)")
    step_seconds, step_counts, step_open = run_step(days, index, universe, feed)
    step_rate = bars / step_seconds
    print(f"columnar step, open + mid + close: {step_seconds:.2f} s, {step_rate:,.0f} minute "
          f"bars/s (target ≥ 1,000,000); signals {dict(sorted(step_counts.items()))}")
    orb_seconds, orb_counts, orb_open = run_per_bar(days, universe)
    orb_rate = bars / orb_seconds
    print(f"per-bar ORB alone (v0.7.0): {orb_seconds:.2f} s, {orb_rate:,.0f} minute bars/s; "
          f"signals {dict(sorted(orb_counts.items()))}")
    same = "identical" if step_open == orb_open else "DIFFERENT"
    print(f"the open strategy's signals on the step and per bar: {same} "
          f"({len(step_open)} and {len(orb_open)})")
    print(f"ratio: the three strategies' step runs {step_rate / orb_rate:.1f}× the per-bar "
          "ORB's rate (which runs one strategy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
