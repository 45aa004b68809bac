"""Wilder's Average Directional Index (ADX) with +DI and −DI, per symbol."""

from __future__ import annotations

import operator

import numpy as np

from tbot.strategy.indicators._arrays import (
    TINY,
    BoolArray,
    FloatArray,
    IntArray,
    column_mask,
    read_only,
    universe_size,
)


class Adx:
    """Wilder's ADX(`period`) of each symbol, over that symbol's own present bars.

    The convention, counting a symbol's present bars since its reset as bar 1, 2, ...:

    - bar k ≥ 2, against the symbol's previous *present* bar (high₀, low₀, close₀):
      ``TR = max(high − low, |high − close₀|, |low − close₀|)``;
      ``up = high − high₀``, ``down = low₀ − low``;
      ``+DM = up`` if ``up > down`` and ``up > 0``, else 0;
      ``−DM = down`` if ``down > up`` and ``down > 0``, else 0.
      Bar 1 has no previous bar and yields none of them.
    - bars 2 .. period+1: the smoothed TR, +DM, −DM are the plain sums of those `period`
      values; from bar period+2 on, Wilder's smoothing ``S = S − S/period + x``.
    - from bar period+1 on: ``+DI = 100·S(+DM)/S(TR)`` and ``−DI = 100·S(−DM)/S(TR)`` (both
      0 when S(TR) is 0, i.e. no range at all), and
      ``DX = 100·|+DI − −DI| / (+DI + −DI)`` (0 when the sum is 0).
    - bar 2·period: the first ADX, the mean of the `period` DX values of bars
      period+1 .. 2·period; after it ``ADX = (ADX·(period − 1) + DX) / period``, computed
      as Wilder's running sum ``A = A − A/period + DX`` with ``ADX = A/period`` (the same
      value up to the last bit or two).

    So `plus_di`, `minus_di` and `dx` are NaN until a symbol's bar period+1 and `adx` until
    its bar 2·period (28 bars for ADX(14)). This is the layout of Stock.Indicators for .NET,
    whose published values the tests reproduce. Results are live views.
    """

    __slots__ = (
        "_a", "_adx_view", "_bars", "_bars_view", "_current", "_divisor", "_dx_total",
        "_dx_view", "_fresh", "_loses", "_minus_di_view", "_move", "_phase", "_plus_di_view",
        "_previous", "_result", "_shrink", "_smooth", "_thresholds", "_weight", "n", "period",
    )

    def __init__(self, n: int, period: int = 14) -> None:
        self.n = universe_size(n)
        self.period = operator.index(period)
        if self.period < 1:
            raise ValueError(f"period must be >= 1, got {self.period}")
        size, p = self.n, self.period
        self._bars: IntArray = np.zeros(size, dtype=np.int64)
        # Rows: high, low, close. `_current` holds each symbol's latest present bar, so the
        # arithmetic never sees an absent column's garbage; `_previous` the bar before it.
        self._current = np.zeros((3, size))
        self._previous = np.zeros((3, size))
        # Rows: TR, +DM, −DM of this bar, and their running sums / Wilder-smoothed values.
        self._move = np.zeros((3, size))
        self._smooth = np.zeros((3, size))
        self._shrink = np.zeros((3, size))
        self._loses = np.zeros((2, size), dtype=np.bool_)
        # Each symbol's phase, from its bar count before this bar: `_phase[i]` is
        # present & (bars >= _thresholds[i]), `_weight` the same as 0.0/1.0. Rows: 0 has a
        # previous bar; 1 Wilder's step on TR/DM (bar >= p+2); 2-4 DI and DX defined
        # (bar >= p+1); 5 ADX defined (bar >= 2p); 6 Wilder's step on the DX sum (bar > 2p).
        # Rows 2-5 line up with the result rows, so they are the mask that commits them.
        # The thresholds are spelled out per column: comparing against a broadcast column
        # of shape (7, 1) is several times slower than two contiguous operands.
        thresholds = np.array([1, p + 1, p, p, p, 2 * p - 1, 2 * p], dtype=np.int64)
        self._thresholds = np.repeat(thresholds.reshape(-1, 1), size, axis=1)
        self._phase = np.zeros((7, size), dtype=np.bool_)
        self._weight = np.zeros((7, size))
        self._dx_total = np.zeros(size)  # Σ DX, then Wilder's sum of DX: period · ADX
        # Rows: +DI, −DI, DX, ADX; `_fresh` this bar's, `_result` committed (NaN until due).
        self._fresh = np.zeros((4, size))
        self._result = np.full((4, size), np.nan)
        self._a = np.zeros(size)
        self._divisor = np.zeros(size)
        self._plus_di_view = read_only(self._result[0])
        self._minus_di_view = read_only(self._result[1])
        self._dx_view = read_only(self._result[2])
        self._adx_view = read_only(self._result[3])
        self._bars_view = read_only(self._bars)

    @property
    def adx(self) -> FloatArray:
        """ADX of each symbol, NaN before its bar 2·period (live view)."""
        return self._adx_view

    @property
    def plus_di(self) -> FloatArray:
        """+DI of each symbol, NaN before its bar period+1 (live view)."""
        return self._plus_di_view

    @property
    def minus_di(self) -> FloatArray:
        """−DI of each symbol, NaN before its bar period+1 (live view)."""
        return self._minus_di_view

    @property
    def dx(self) -> FloatArray:
        """DX of each symbol's latest bar, NaN before its bar period+1 (live view)."""
        return self._dx_view

    @property
    def bars(self) -> IntArray:
        """Present bars seen per symbol since its reset (live view)."""
        return self._bars_view

    def update(self, high: FloatArray, low: FloatArray, close: FloatArray,
               present: BoolArray) -> None:
        """Add one minute's bars; columns where `present` is False are left untouched."""
        p = self.period
        bars, current, previous = self._bars, self._current, self._previous
        move, smooth, shrink, a = self._move, self._smooth, self._shrink, self._a
        np.putmask(current[0], present, high)
        np.putmask(current[1], present, low)
        np.putmask(current[2], present, close)

        phase, weight = self._phase, self._weight
        np.greater_equal(bars, self._thresholds, out=phase)
        np.logical_and(phase, present, out=phase)
        np.copyto(weight, phase)

        high_now, low_now = current[0], current[1]
        high_before, low_before, close_before = previous
        # TR = max(high, close₀) − min(low, close₀): the same float as the max of the three
        # differences (each case is one of them, and rounding is monotonic), in 3 operations.
        tr, up, down = move
        np.maximum(high_now, close_before, out=tr)
        np.minimum(low_now, close_before, out=a)
        np.subtract(tr, a, out=tr)
        np.subtract(high_now, high_before, out=up)
        np.subtract(low_before, low_now, out=down)
        loses = self._loses
        np.less_equal(up, down, out=loses[0])
        np.less_equal(down, up, out=loses[1])
        np.maximum(move[1:], 0.0, out=move[1:])
        np.putmask(move[1:], loses, 0.0)  # the smaller move (both on a tie) counts 0
        np.multiply(move, weight[0], out=move)  # nothing without a previous bar

        # Seed: S += x. Then S = S − S/p + x. Absent columns: S − 0 + 0, bit for bit S.
        np.divide(smooth, p, out=shrink)
        np.multiply(shrink, weight[1], out=shrink)
        np.subtract(smooth, shrink, out=smooth)
        np.add(smooth, move, out=smooth)

        fresh, divisor = self._fresh, self._divisor
        di, dx = fresh[:2], fresh[2]
        np.maximum(smooth[0], TINY, out=divisor)  # S(TR) = 0 only with S(±DM) = 0: DI 0
        np.multiply(smooth[1:], 100.0, out=di)
        np.divide(di, divisor, out=di)
        np.subtract(di[0], di[1], out=dx)
        np.absolute(dx, out=dx)
        np.multiply(dx, 100.0, out=dx)
        np.add(di[0], di[1], out=divisor)
        np.maximum(divisor, TINY, out=divisor)  # a 0 sum means both DI 0: DX 0
        np.divide(dx, divisor, out=dx)

        # Σ DX over bars p+1 .. 2p (its mean is the first ADX), then A = A − A/p + DX.
        total = self._dx_total
        np.divide(total, p, out=a)
        np.multiply(a, weight[6], out=a)
        np.subtract(total, a, out=total)
        np.multiply(dx, weight[2], out=a)
        np.add(total, a, out=total)
        np.divide(total, p, out=fresh[3])
        np.putmask(self._result, phase[2:6], fresh)

        # Absent columns' `current` still holds their last bar, so copying every column is
        # right (and cheaper than a masked copy).
        np.copyto(previous, current)
        np.add(bars, present, out=bars)

    def reset(self, columns: BoolArray | None = None) -> None:
        """Forget the bars of `columns` (a boolean mask), or of every column."""
        mask = column_mask(columns, self.n)
        self._bars[mask] = 0
        self._smooth[:, mask] = 0.0
        self._dx_total[mask] = 0.0
        self._result[:, mask] = np.nan
