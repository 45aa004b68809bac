"""Per-symbol peak and trough since a position was armed, for trailing stops."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from tbot.strategy.indicators._arrays import (
    BoolArray,
    FloatArray,
    column_mask,
    read_only,
    universe_size,
)


class TrailingExtremes:
    """The highest high (`peak`, for longs) and lowest low (`trough`, for bearish or short
    positions) of each armed symbol since it was armed.

    `arm(mask, price)` starts (or restarts) tracking the masked columns at `price`;
    `update(high, low, present)` then raises `peak` with each present bar's high and lowers
    `trough` with its low; `disarm(mask)` stops it. Unarmed columns read NaN. To trail on
    closes instead of extremes, pass the close as both `high` and `low`. Results are live
    views.
    """

    __slots__ = ("_armed", "_armed_view", "_live", "_peak", "_peak_view", "_scratch",
                 "_trough", "_trough_view", "n")

    def __init__(self, n: int) -> None:
        self.n = universe_size(n)
        self._armed = np.zeros(self.n, dtype=np.bool_)
        self._peak = np.full(self.n, np.nan)
        self._trough = np.full(self.n, np.nan)
        self._live = np.zeros(self.n, dtype=np.bool_)
        self._scratch = np.zeros(self.n)
        self._armed_view = read_only(self._armed)
        self._peak_view = read_only(self._peak)
        self._trough_view = read_only(self._trough)

    @property
    def peak(self) -> FloatArray:
        """Highest price of each armed symbol since arming, NaN when unarmed (live view)."""
        return self._peak_view

    @property
    def trough(self) -> FloatArray:
        """Lowest price of each armed symbol since arming, NaN when unarmed (live view)."""
        return self._trough_view

    @property
    def armed(self) -> BoolArray:
        """Which columns are tracked (live view)."""
        return self._armed_view

    def arm(self, mask: BoolArray, price: ArrayLike) -> None:
        """Track the columns in `mask` from `price` (an (n,) array or a scalar): peak and
        trough both start there; an armed column restarts."""
        mask = column_mask(mask, self.n)
        np.copyto(self._peak, price, where=mask)
        np.copyto(self._trough, price, where=mask)
        np.logical_or(self._armed, mask, out=self._armed)

    def disarm(self, mask: BoolArray) -> None:
        """Stop tracking the columns in `mask`; they read NaN."""
        mask = column_mask(mask, self.n)
        self._armed[mask] = False
        self._peak[mask] = np.nan
        self._trough[mask] = np.nan

    def update(self, high: FloatArray, low: FloatArray, present: BoolArray) -> None:
        """Follow one minute's bars for the armed columns that have one."""
        live = self._live
        np.logical_and(present, self._armed, out=live)
        # Computed over every column, committed for the live ones only (an absent column's
        # garbage never reaches the state). fmax/fmin: a NaN start gives way to a bar.
        moved = self._scratch
        np.fmax(self._peak, high, out=moved)
        np.putmask(self._peak, live, moved)
        np.fmin(self._trough, low, out=moved)
        np.putmask(self._trough, live, moved)

    def reset(self, columns: BoolArray | None = None) -> None:
        """Disarm `columns` (a boolean mask), or every column."""
        self.disarm(column_mask(columns, self.n))
