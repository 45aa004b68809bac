"""Bollinger bands per symbol over the symbol's own last `length` closes."""

from __future__ import annotations

import operator

import numpy as np

from tbot.strategy.indicators._arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    column_mask,
    read_only,
    universe_size,
)


class Bollinger:
    """Bollinger(`length`, `width`) of each symbol: the mean of its last `length` closes
    (its own present bars) ± `width` population standard deviations (ddof = 0, Bollinger's
    definition). `middle`, `upper`, `lower` and `std` are NaN until a symbol has `length`
    closes since its reset.

    The closes sit in a ring buffer of shape (length, n) with a write position per symbol.
    Mean and variance are recomputed from the whole buffer on each update rather than kept
    as running sums of x and x²: those cancel (a 0.05 standard deviation on a 100 price
    leaves ~7 of the 16 digits of the variance) and drift with every add and remove, and at
    length 20 the full pass is a handful of vectorised operations over 20 × n floats.
    Each column is first shifted by its latest close d = x − close: the latest close lies
    within σ·√(length − 1) of the mean (Samuelson's inequality), so the one-pass
    ``E[d²] − E[d]²`` is off by at most ~3·length ulps of the variance, and a constant
    window gives exactly std 0 and bands equal to the mean. The cost is O(length · n) per
    update. Results are live views.
    """

    __slots__ = (
        "_bars", "_bars_view", "_columns", "_due", "_flat", "_fresh", "_lower_view",
        "_middle_view", "_moments", "_position", "_powers", "_result", "_ring", "_slot",
        "_std_view", "_upper_view", "_values", "length", "n", "width",
    )

    def __init__(self, n: int, length: int = 20, width: float = 2.0) -> None:
        self.n = universe_size(n)
        self.length = operator.index(length)
        if self.length < 1:
            raise ValueError(f"length must be >= 1, got {self.length}")
        self.width = float(width)
        if not self.width >= 0.0:
            raise ValueError(f"width must be >= 0, got {width}")
        size = self.n
        self._ring = np.zeros((self.length, size))
        self._flat = self._ring.reshape(-1)  # a view: slot s of column c is s·n + c
        self._columns = np.arange(size, dtype=np.intp)
        self._position = np.zeros(size, dtype=np.intp)  # each column's next slot
        self._bars: IntArray = np.zeros(size, dtype=np.int64)
        self._slot = np.zeros(size, dtype=np.intp)
        self._values = np.zeros(size)
        # The deviations from the latest close and their squares, summed in one reduction.
        self._powers = np.zeros((2, self.length, size))
        self._moments = np.zeros((2, size))
        # Rows: middle, std, upper, lower; `_fresh` this minute's, `_result` committed where
        # `_due` (a full window and a bar this minute).
        self._fresh = np.zeros((4, size))
        self._result = np.full((4, size), np.nan)
        self._due = np.zeros((4, size), dtype=np.bool_)
        self._middle_view = read_only(self._result[0])
        self._std_view = read_only(self._result[1])
        self._upper_view = read_only(self._result[2])
        self._lower_view = read_only(self._result[3])
        self._bars_view = read_only(self._bars)

    @property
    def middle(self) -> FloatArray:
        """Mean of each symbol's last `length` closes, NaN until it has them (live view)."""
        return self._middle_view

    @property
    def upper(self) -> FloatArray:
        """``middle + width · std`` (live view)."""
        return self._upper_view

    @property
    def lower(self) -> FloatArray:
        """``middle − width · std`` (live view)."""
        return self._lower_view

    @property
    def std(self) -> FloatArray:
        """Population standard deviation of the window (live view)."""
        return self._std_view

    @property
    def bars(self) -> IntArray:
        """Closes seen per symbol since its reset (the window is full from `length`; live
        view)."""
        return self._bars_view

    def update(self, close: FloatArray, present: BoolArray) -> None:
        """Add one minute's closes; columns where `present` is False are left untouched."""
        length = self.length
        slot, values = self._slot, self._values
        # Write every column at its own slot: present columns their close, absent ones the
        # value already there (a gather then a scatter, no per-symbol loop).
        np.multiply(self._position, self.n, out=slot)
        np.add(slot, self._columns, out=slot)
        self._flat.take(slot, out=values)
        np.putmask(values, present, close)
        self._flat[slot] = values
        np.add(self._position, present, out=self._position)
        np.remainder(self._position, length, out=self._position)
        np.add(self._bars, present, out=self._bars)

        # Deviations from the latest close (`values`, inside the window for present columns).
        powers, moments = self._powers, self._moments
        np.subtract(self._ring, values, out=powers[0])
        np.multiply(powers[0], powers[0], out=powers[1])
        np.add.reduce(powers, axis=1, out=moments)
        np.divide(moments, length, out=moments)  # mean deviation, mean squared deviation
        mean, std, upper, lower = self._fresh
        np.multiply(moments[0], moments[0], out=std)
        np.subtract(moments[1], std, out=std)
        np.maximum(std, 0.0, out=std)  # the variance; rounding may leave a hair below 0
        np.sqrt(std, out=std)
        np.add(moments[0], values, out=mean)
        np.multiply(std, self.width, out=lower)
        np.add(mean, lower, out=upper)
        np.subtract(mean, lower, out=lower)
        due = self._due
        np.greater_equal(self._bars, length, out=due)
        np.logical_and(due, present, out=due)
        np.putmask(self._result, due, self._fresh)

    def reset(self, columns: BoolArray | None = None) -> None:
        """Empty the windows of `columns` (a boolean mask), or of every column."""
        mask = column_mask(columns, self.n)
        self._position[mask] = 0
        self._bars[mask] = 0
        self._result[:, mask] = np.nan
