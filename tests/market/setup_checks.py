"""Plain-loop readings of the mid and close setups, written apart from the generator's own
checks: what the strategies should see in the bars, computed from the bars alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal

from tbot.market.bars import Bar

MID_START, CLOSE_START = time(15, 30), time(19, 30)
VWAP_THRESHOLD, ADX_LIMIT, MID_STOP = 0.02, 25.0, 0.015
MOVE, RELATIVE_VOLUME = 0.01, 1.5


def index_at(bars: Sequence[Bar], at: time) -> int:
    """The index of the bar starting at `at` (UTC) in one symbol's day."""
    first = bars[0].start
    moment = datetime.combine(first.date(), at, tzinfo=first.tzinfo)
    return int((moment - first) / timedelta(minutes=1))


def floats(bars: Sequence[Bar]) -> tuple[list[float], list[float], list[float], list[float]]:
    """High, low, close and volume as floats."""
    return (
        [float(b.high) for b in bars],
        [float(b.low) for b in bars],
        [float(b.close) for b in bars],
        [float(b.volume) for b in bars],
    )


def vwap(bars: Sequence[Bar]) -> list[float]:
    """Session VWAP after each bar, on (high + low + close) / 3."""
    out, value, shares = [], 0.0, 0.0
    for bar in bars:
        typical = float((bar.high + bar.low + bar.close) / 3)
        value += typical * bar.volume
        shares += bar.volume
        out.append(value / shares)
    return out


def adx(bars: Sequence[Bar], period: int = 14) -> list[float]:
    """Wilder's ADX after each bar from the open (NaN until it exists)."""
    high, low, close, _ = floats(bars)
    out = [float("nan")] * len(bars)
    tr_sum = plus_sum = minus_sum = 0.0
    dxs: list[float] = []
    value = None
    for i in range(1, len(bars)):
        tr = max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        up, down = high[i] - high[i - 1], low[i - 1] - low[i]
        plus = up if up > max(down, 0) else 0.0
        minus = down if down > max(up, 0) else 0.0
        if i <= period:
            tr_sum, plus_sum, minus_sum = tr_sum + tr, plus_sum + plus, minus_sum + minus
            if i < period:
                continue
        else:
            tr_sum = tr_sum - tr_sum / period + tr
            plus_sum = plus_sum - plus_sum / period + plus
            minus_sum = minus_sum - minus_sum / period + minus
        plus_di, minus_di = 100 * plus_sum / tr_sum, 100 * minus_sum / tr_sum
        dx = 100 * abs(plus_di - minus_di) / (plus_di + minus_di) if plus_di + minus_di else 0.0
        if value is None:
            dxs.append(dx)
            if len(dxs) == period:
                value = sum(dxs) / period
                out[i] = value
        else:
            value = (value * (period - 1) + dx) / period
            out[i] = value
    return out


def bollinger(close: Sequence[float], i: int, period: int = 20) -> tuple[float, float]:
    """The 2-sigma band of the `period` closes up to and including bar `i`."""
    window = close[i - period + 1 : i + 1]
    mean = sum(window) / period
    sigma = (sum((x - mean) ** 2 for x in window) / period) ** 0.5
    return mean - 2 * sigma, mean + 2 * sigma


def mid_entries(bars: Sequence[Bar]) -> list[tuple[int, int]]:
    """(bar index, side) of the bars delivered during 15:45-15:55 that qualify: close at
    least 2% from the VWAP, ADX(14) under 25, close beyond the 2-sigma band on that side.
    Side -1: below the VWAP (a long reversion), +1: above."""
    _, _, close, _ = floats(bars)
    session_vwap, strength = vwap(bars), adx(bars)
    first = index_at(bars, MID_START) + 14  # the bar of 15:44, delivered at 15:45
    found = []
    for i in range(first, first + 10):
        deviation = close[i] / session_vwap[i] - 1
        lower, upper = bollinger(close, i)
        if not strength[i] < ADX_LIMIT or abs(deviation) < VWAP_THRESHOLD:
            continue
        if deviation < 0 and close[i] < lower:
            found.append((i, -1))
        elif deviation > 0 and close[i] > upper:
            found.append((i, 1))
    return found


def mid_outcome(bars: Sequence[Bar], entry: int, side: int) -> str:
    """'vwap' when, after entering at `entry`'s close, the close reaches the VWAP before a
    1.5% stop; 'stop' when the stop comes first; 'time' when neither by 16:25."""
    _, _, close, _ = floats(bars)
    session_vwap = vwap(bars)
    stop = close[entry] * (1 + side * MID_STOP)
    end = index_at(bars, time(16, 25))
    for i in range(entry + 1, end):
        if side * (close[i] - stop) >= 0:
            return "stop"
        if side * (close[i] - session_vwap[i]) <= 0:
            return "vwap"
    return "time"


def close_window(bars: Sequence[Bar]) -> tuple[int, int]:
    """The indexes of the 19:30 bar and of the last analysis bar (19:34)."""
    start = index_at(bars, CLOSE_START)
    return start, start + 4


def relative_volume(bars: Sequence[Bar]) -> float:
    """Average volume of 19:30-19:34 over the day's average minute before 19:30."""
    start, last = close_window(bars)
    day = sum(b.volume for b in bars[:start]) / start
    return sum(b.volume for b in bars[start : last + 1]) / 5 / day


def momentum_side(bars: Sequence[Bar]) -> int:
    """+1/-1 when, at 19:35, the day is up/down at least 1% from its first open to 19:30
    and the analysis minutes extend that (19:34's close beyond 19:30's open, the 19:34 bar
    itself too) on 1.5x the day's average minute volume; else 0."""
    start, last = close_window(bars)
    day_move = float(bars[start].open / bars[0].open) - 1
    late_move = float(bars[last].close / bars[start].open) - 1
    side = 1 if day_move > 0 else -1
    last_bar = float(bars[last].close - bars[last].open) * side
    if (
        abs(day_move) >= MOVE
        and late_move * side >= 0.002
        and last_bar > 0
        and relative_volume(bars) >= RELATIVE_VOLUME
    ):
        return side
    return 0


def reversal_side(bars: Sequence[Bar]) -> int:
    """+1/-1 when the price spiked up/down at least 1% from 19:30's open within the
    analysis minutes on 1.5x volume, the latest of them (19:34) turns back, and by the
    close of 19:37 at least half the spike is given back; else 0."""
    start, last = close_window(bars)
    late_open = bars[start].open
    high = max(bar.high for bar in bars[start : last + 1])
    low = min(bar.low for bar in bars[start : last + 1])
    side = 1 if high - late_open > late_open - low else -1
    extreme = high if side > 0 else low
    spike = abs(extreme / late_open - 1)
    turned = (bars[last].close - bars[last].open) * side < 0
    given_back = (extreme - bars[last + 3].close) * side / abs(extreme - late_open)
    if (
        spike >= Decimal(MOVE)
        and turned
        and given_back >= Decimal("0.5")
        and relative_volume(bars) >= RELATIVE_VOLUME
    ):
        return side
    return 0


def momentum_fade(bars: Sequence[Bar], side: int) -> float:
    """The worst move against `side` within ten minutes after the breakout phase, from the
    best close an entry in the breakout phase could have had (e.g. -0.025: 2.5% against)."""
    _, last = close_window(bars)
    entries = [float(bar.close) for bar in bars[last : last + 6]]
    best = max(entries) if side > 0 else min(entries)
    after = [float(bar.close) for bar in bars[last + 6 : last + 16]]
    return min(side * (close / best - 1) for close in after)
