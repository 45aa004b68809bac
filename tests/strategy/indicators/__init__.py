"""Tests of `tbot.strategy.indicators`: each indicator against a plain per-symbol reference
on random tapes, plus edge cases. `random_tape` builds the tapes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

GARBAGE = (np.nan, np.inf, -np.inf, 1e300, -7.0)
"""What an absent minute's inputs may hold: indicators must never read them."""


@dataclass(frozen=True)
class Tape:
    """Minute bars of several symbols, arrays of shape (minutes, symbols); where `present` is
    False every field holds garbage."""

    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    present: NDArray[np.bool_]

    @property
    def minutes(self) -> int:
        return self.close.shape[0]

    @property
    def symbols(self) -> int:
        return self.close.shape[1]


def random_tape(seed: int, minutes: int, symbols: int, *, absent: float = 0.2,
                flat_minutes: int = 0) -> Tape:
    """A seeded random walk per symbol on a cent grid (so equal highs, lows and moves
    happen), ~`absent` of the minutes missing at random, minute 3 missing for every symbol,
    symbol 0 missing for a long stretch, ~10% zero-volume bars; the first `flat_minutes`
    bars of the last symbol are all one price."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([-0.03, -0.02, -0.01, 0.0, 0.0, 0.01, 0.02, 0.03], (minutes, symbols))
    base = rng.uniform(5.0, 300.0, symbols)
    close = np.round(base + np.cumsum(steps, axis=0), 2)
    opening = np.round(close - rng.choice([-0.02, -0.01, 0.0, 0.01, 0.02], close.shape), 2)
    high = np.round(np.maximum(opening, close) + rng.choice([0.0, 0.01, 0.05], close.shape), 2)
    low = np.round(np.minimum(opening, close) - rng.choice([0.0, 0.01, 0.05], close.shape), 2)
    volume = rng.integers(1, 5_000, close.shape).astype(np.float64)
    volume[rng.random(close.shape) < 0.1] = 0.0
    if flat_minutes:
        for field in (high, low, close):
            field[:flat_minutes, -1] = 42.17
    present = rng.random(close.shape) >= absent
    if minutes > 3:
        present[3] = False
    present[minutes // 4: minutes // 2, 0] = False
    garbage = rng.choice(np.array(GARBAGE), (4, *close.shape))
    fields = [np.where(present, field, junk)
              for field, junk in zip((high, low, close, volume), garbage, strict=True)]
    return Tape(*fields, present=present)
