"""The opening range: each symbol's high, low, bar count and volume while accumulating."""

from __future__ import annotations

import numpy as np

from tbot.strategy.indicators._arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    column_mask,
    read_only,
    universe_size,
)


class OpeningRange:
    """High and low of each symbol's present bars until `freeze()` (the analysis phase).

    `high` and `low` are NaN for a symbol with no bar yet, `bars` counts its present bars
    and `volume` sums their volume (0 with none; only when `update` is given volumes).
    After `freeze()` updates are ignored, so the caller may keep feeding every minute.
    Results are live views.
    """

    __slots__ = ("_bars", "_bars_view", "_frozen", "_high", "_high_view", "_low", "_low_view",
                 "_scratch", "_volume", "_volume_view", "n")

    def __init__(self, n: int) -> None:
        self.n = universe_size(n)
        self._frozen = False
        self._high = np.full(self.n, np.nan)
        self._low = np.full(self.n, np.nan)
        self._bars: IntArray = np.zeros(self.n, dtype=np.int64)
        self._volume = np.zeros(self.n)
        self._scratch = np.zeros(self.n)
        self._high_view = read_only(self._high)
        self._low_view = read_only(self._low)
        self._bars_view = read_only(self._bars)
        self._volume_view = read_only(self._volume)

    @property
    def high(self) -> FloatArray:
        """Highest high of each symbol's range bars, NaN with none (live view)."""
        return self._high_view

    @property
    def low(self) -> FloatArray:
        """Lowest low of each symbol's range bars, NaN with none (live view)."""
        return self._low_view

    @property
    def bars(self) -> IntArray:
        """Present bars in each symbol's range (live view)."""
        return self._bars_view

    @property
    def volume(self) -> FloatArray:
        """Summed volume of each symbol's range bars (live view)."""
        return self._volume_view

    @property
    def frozen(self) -> bool:
        """True once `freeze()` was called (until a full `reset()`)."""
        return self._frozen

    def update(self, high: FloatArray, low: FloatArray, present: BoolArray,
               volume: FloatArray | None = None) -> None:
        """Widen the ranges with one minute's bars (nothing once frozen); columns where
        `present` is False are left untouched."""
        if self._frozen:
            return
        # Computed over every column, committed for the present ones only (an absent
        # column's garbage never reaches the state). fmax/fmin take the bar's value over
        # the NaN of an empty range.
        widened = self._scratch
        np.fmax(self._high, high, out=widened)
        np.putmask(self._high, present, widened)
        np.fmin(self._low, low, out=widened)
        np.putmask(self._low, present, widened)
        np.add(self._bars, present, out=self._bars)
        if volume is not None:
            np.add(self._volume, volume, out=widened)
            np.putmask(self._volume, present, widened)

    def freeze(self) -> None:
        """Stop accumulating: the ranges keep their current values."""
        self._frozen = True

    def reset(self, columns: BoolArray | None = None) -> None:
        """Empty the ranges of `columns` (a boolean mask); with no mask, every range, and
        accumulating starts again (a new session). A column reset while frozen stays empty
        until the next full reset."""
        mask = column_mask(columns, self.n)
        if columns is None:
            self._frozen = False
        self._high[mask] = np.nan
        self._low[mask] = np.nan
        self._bars[mask] = 0
        self._volume[mask] = 0.0
