"""A market day that crashes mid-session, written as a bar file the engine replays.

The day is the generated market's own (same seed, same symbols, same opening hours) until
`crash_at`; from there every price falls, linearly over `over_minutes`, to `1 - drop` of
what it would have been, and stays down for the rest of the day. Written in the replay
format (`tbot.market.replay_feed`), it runs through the ordinary `tbot engine --sim
--bars FILE` path: the drawdown guard's tests and benchmark use it, and so can anyone who
wants to watch the guard act.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from tbot.clock import ensure_utc, utc_text
from tbot.market.bars import Bar
from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import GeneratedFeed
from tbot.market.replay_feed import HEADER

PRICE_PLACES = Decimal("0.0001")
MINUTE = timedelta(minutes=1)


def crash_factor(start: datetime, crash_at: datetime, drop: Decimal,
                 over_minutes: int) -> Decimal:
    """The multiplier of the bar opening at `start`: 1 before the crash, then down by
    `drop / over_minutes` a minute until `1 - drop`."""
    if not Decimal(0) < drop < Decimal(1):
        raise ValueError(f"a crash drops prices by a fraction between 0 and 1, not {drop}")
    if start < crash_at:
        return Decimal(1)
    minutes = int((start - crash_at) / MINUTE) + 1
    return Decimal(1) - drop * min(Decimal(minutes) / Decimal(max(over_minutes, 1)), Decimal(1))


def crash_bars(day_bars: Mapping[str, Sequence[Bar]], crash_at: datetime, drop: Decimal,
               over_minutes: int) -> list[Bar]:
    """`day_bars` with every price from `crash_at` on scaled by `crash_factor` (a positive
    factor keeps each bar's low ≤ open, close ≤ high)."""
    crash_at = ensure_utc(crash_at)
    out: list[Bar] = []
    for symbol in sorted(day_bars):
        for bar in day_bars[symbol]:
            factor = crash_factor(bar.start, crash_at, drop, over_minutes)
            if factor == 1:
                out.append(bar)
                continue

            def scaled(price: Decimal, factor: Decimal = factor) -> Decimal:
                return max((price * factor).quantize(PRICE_PLACES, ROUND_HALF_EVEN),
                           PRICE_PLACES)

            out.append(Bar(bar.symbol, bar.start, scaled(bar.open), scaled(bar.high),
                           scaled(bar.low), scaled(bar.close), bar.volume))
    out.sort(key=lambda bar: (bar.start, bar.symbol))
    return out


def write_bar_file(path: Path, bars: Iterable[Bar]) -> Path:
    """`bars` as a replay bar file (header `timestamp,symbol,open,high,low,close,volume`)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for bar in bars:
            writer.writerow([utc_text(bar.start), bar.symbol, f"{bar.open:f}", f"{bar.high:f}",
                             f"{bar.low:f}", f"{bar.close:f}", bar.volume])
    return path


def write_crash_day(path: Path, seed: int, crash_at: datetime, drop: Decimal,
                    over_minutes: int = 5) -> Path:
    """The generated market's day of `crash_at` (seed `seed`), crashing at `crash_at` by
    `drop` over `over_minutes`, written to `path` as a replay bar file."""
    feed = GeneratedFeed(seed, TradingCalendar())
    day_bars = feed.day_bars(ensure_utc(crash_at).date())
    if not day_bars:
        raise ValueError(f"{crash_at.date()} is not a trading day: there is nothing to crash")
    return write_bar_file(path, crash_bars(day_bars, crash_at, drop, over_minutes))
