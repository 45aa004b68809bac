"""Session VWAP per symbol: Σ(typical · volume) / Σ volume since the session start."""

from __future__ import annotations

import numpy as np

from tbot.strategy.indicators._arrays import (
    TINY,
    BoolArray,
    FloatArray,
    column_mask,
    read_only,
    universe_size,
)


class SessionVwap:
    """The volume-weighted average price of each symbol since the last `reset()`.

    Each present bar adds ``typical · volume`` and ``volume``, with
    ``typical = (high + low + close) / 3``. `value` is NaN while a symbol's summed volume is
    0 (no bar yet, or only zero-volume bars): a zero-volume bar adds nothing and never
    divides by zero. Call `reset()` at each session start.
    """

    __slots__ = ("_bar", "_price_volume", "_scratch", "_traded", "_value", "_value_view",
                 "_volume", "_volume_view", "n")

    def __init__(self, n: int) -> None:
        self.n = universe_size(n)
        self._price_volume = np.zeros(self.n)
        self._volume = np.zeros(self.n)
        self._value = np.full(self.n, np.nan)
        self._bar = np.zeros((4, self.n))  # high, low, close, volume of the latest bars
        self._scratch = np.zeros(self.n)
        self._traded = np.empty(self.n, dtype=np.bool_)
        self._value_view = read_only(self._value)
        self._volume_view = read_only(self._volume)

    @property
    def value(self) -> FloatArray:
        """The session VWAP of each symbol, NaN before its first traded volume (live view)."""
        return self._value_view

    @property
    def volume(self) -> FloatArray:
        """The session's summed volume of each symbol (live view)."""
        return self._volume_view

    def update(self, high: FloatArray, low: FloatArray, close: FloatArray,
               volume: FloatArray, present: BoolArray) -> None:
        """Add one minute's bars; columns where `present` is False are left untouched."""
        high_now, low_now, close_now, volume_now = self._bar
        # Copy the present columns into clean buffers (absent ones keep their last bar), so
        # no absent column's garbage (NaN, inf) reaches the arithmetic below.
        np.putmask(high_now, present, high)
        np.putmask(low_now, present, low)
        np.putmask(close_now, present, close)
        volume_now.fill(0.0)
        np.putmask(volume_now, present, volume)
        weighted = self._scratch
        np.add(high_now, low_now, out=weighted)
        np.add(weighted, close_now, out=weighted)
        np.divide(weighted, 3.0, out=weighted)
        np.multiply(weighted, volume_now, out=weighted)
        np.add(self._price_volume, weighted, out=self._price_volume)
        np.add(self._volume, volume_now, out=self._volume)
        # Only a bar with volume moves the VWAP (and then Σ volume > 0).
        traded = self._traded
        np.greater(volume_now, 0.0, out=traded)
        np.maximum(self._volume, TINY, out=weighted)  # a 0 there is never read: no 0/0
        np.divide(self._price_volume, weighted, out=weighted)
        np.putmask(self._value, traded, weighted)

    def reset(self, columns: BoolArray | None = None) -> None:
        """Start a new session for `columns` (a boolean mask), or for every column."""
        mask = column_mask(columns, self.n)
        self._price_volume[mask] = 0.0
        self._volume[mask] = 0.0
        self._value[mask] = np.nan
