"""Numeric building blocks of the generated market: seeded streams and whole-cent paths.

Everything here is deterministic across platforms: random numbers come from
`random.Random` seeded through SHA-256, and the arithmetic is IEEE additions,
multiplications, divisions and round-half-even (numpy's element-wise operations and
`multiply.accumulate` give the same bits as the equivalent Python loop). No libm `exp`,
`log` or `pow`, whose last bit may differ between platforms.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Bump when the model changes: old seeds then give new markets, on purpose and visibly.
MODEL_VERSION = "generated-feed-v1"

MIN_PRICE = 0.01  # a level never falls below one cent

_CENT = Decimal("0.01")


class CentPrices(dict[int, Decimal]):
    """Whole cents to exact two-place Decimal prices, made on first use (prices repeat
    a lot within a day, and making a Decimal costs more than looking one up)."""

    def __missing__(self, cents: int) -> Decimal:
        price = Decimal(cents) * _CENT
        self[cents] = price
        return price


def seeded_rng(*parts: object) -> random.Random:
    """A generator seeded from `parts` through SHA-256 (Python's `hash()` is salted)."""
    text = "|".join(str(part) for part in (MODEL_VERSION, *parts))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def unit_noise(rng: random.Random) -> float:
    """Roughly normal noise with mean 0 and variance 1 (sum of three uniforms)."""
    return (rng.random() + rng.random() + rng.random() - 1.5) * 2.0


def unit_noise_array(uniforms: FloatArray) -> FloatArray:
    """`unit_noise` of consecutive triples of `uniforms` (the same bits as the loop)."""
    return (uniforms[0::3] + uniforms[1::3] + uniforms[2::3] - 1.5) * 2.0


def levels(start: float, returns: Sequence[float] | FloatArray) -> FloatArray:
    """The level after each minute, compounding `returns` from `start` (floored at a cent)."""
    growth = np.empty(len(returns) + 1)
    growth[0] = start
    growth[1:] = 1.0 + np.asarray(returns, dtype=np.float64)
    path = np.multiply.accumulate(growth)[1:]
    if len(path) and path.min() < MIN_PRICE:
        return _floored_levels(start, returns)
    return path


def _floored_levels(start: float, returns: Sequence[float] | FloatArray) -> FloatArray:
    """`levels` the slow way, for the rare path that touches the one-cent floor."""
    out = np.empty(len(returns))
    level = start
    for index, change in enumerate(np.asarray(returns, dtype=np.float64).tolist()):
        level = max(level * (1 + change), MIN_PRICE)
        out[index] = level
    return out


def last_level(start: float, returns: Sequence[float] | FloatArray) -> float:
    """The level after the last minute of `returns` (the start when there are none)."""
    path = levels(start, returns)
    return float(path[-1]) if len(path) else start


def cents_path(
    first_open: float,
    returns: Sequence[float] | FloatArray,
    wick_up: FloatArray,
    wick_down: FloatArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(open, high, low, close) in whole cents per minute; each open is the last close.

    `wick_up`/`wick_down` are how far (as a fraction of the level) the high and low reach
    beyond the bar's body.
    """
    count = len(returns)
    path = levels(first_open, returns)
    close = np.maximum(np.rint(path * 100), 1).astype(np.int64)
    open_ = np.empty(count, dtype=np.int64)
    if count:
        open_[0] = max(1, round(first_open * 100))
        open_[1:] = close[:-1]
    up = np.rint(path * wick_up[:count] * 100).astype(np.int64)
    down = np.rint(path * wick_down[:count] * 100).astype(np.int64)
    high = np.maximum(open_, close) + up
    low = np.maximum(np.minimum(open_, close) - down, 1)
    return open_, high, low, close
