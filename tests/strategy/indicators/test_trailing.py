"""TrailingExtremes against per-symbol peak/trough tracking through arms and disarms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tbot.strategy.indicators import TrailingExtremes
from tests.strategy.indicators import random_tape

pytestmark = pytest.mark.filterwarnings("error")  # garbage must not even raise a warning


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_the_reference_through_random_arms_and_disarms(seed: int) -> None:
    tape = random_tape(seed, minutes=150, symbols=6)
    rng = np.random.default_rng(seed + 100)
    n = tape.symbols
    trailing = TrailingExtremes(n)
    armed = [False] * n
    peak = [math.nan] * n
    trough = [math.nan] * n
    for minute in range(tape.minutes):
        # Before the minute's bars: some columns armed (or re-armed) at a price, some disarmed.
        arming = rng.random(n) < 0.05
        disarming = ~arming & (rng.random(n) < 0.03)
        prices = np.round(rng.uniform(5.0, 300.0, n), 2)
        trailing.arm(arming, prices)
        trailing.disarm(disarming)
        for column in range(n):
            if arming[column]:
                armed[column], peak[column], trough[column] = True, prices[column], prices[column]
            elif disarming[column]:
                armed[column], peak[column], trough[column] = False, math.nan, math.nan
            if armed[column] and tape.present[minute, column]:
                peak[column] = max(peak[column], float(tape.high[minute, column]))
                trough[column] = min(trough[column], float(tape.low[minute, column]))
        trailing.update(tape.high[minute], tape.low[minute], tape.present[minute])
        np.testing.assert_array_equal(trailing.armed, armed)
        np.testing.assert_array_equal(trailing.peak, peak)
        np.testing.assert_array_equal(trailing.trough, trough)


def test_arm_with_a_scalar_and_follow_closes() -> None:
    trailing = TrailingExtremes(3)
    trailing.arm(np.array([True, True, False]), 10.0)
    everyone = np.ones(3, dtype=bool)
    for close in (10.5, 9.5, 10.2):
        prices = np.full(3, close)
        trailing.update(prices, prices, everyone)  # trail on closes: the close twice
    np.testing.assert_array_equal(trailing.peak, [10.5, 10.5, np.nan])
    np.testing.assert_array_equal(trailing.trough, [9.5, 9.5, np.nan])
    # Re-arming restarts from the new price.
    trailing.arm(np.array([True, False, False]), np.array([9.0, 99.0, 99.0]))
    np.testing.assert_array_equal(trailing.peak, [9.0, 10.5, np.nan])


def test_an_all_absent_minute_and_absent_columns_change_nothing() -> None:
    trailing = TrailingExtremes(4)
    trailing.arm(np.ones(4, dtype=bool), np.array([1.0, 2.0, 3.0, 4.0]))
    garbage = np.array([np.nan, np.inf, -np.inf, 1e300])
    trailing.update(garbage, garbage[::-1], np.zeros(4, dtype=bool))
    np.testing.assert_array_equal(trailing.peak, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(trailing.trough, [1.0, 2.0, 3.0, 4.0])
    trailing.update(np.array([5.0, np.inf, 5.0, 1e300]), np.array([0.5, -np.inf, 0.5, -1e300]),
                    np.array([True, False, True, False]))
    np.testing.assert_array_equal(trailing.peak, [5.0, 2.0, 5.0, 4.0])
    np.testing.assert_array_equal(trailing.trough, [0.5, 2.0, 0.5, 4.0])


def test_reset_disarms() -> None:
    trailing = TrailingExtremes(3)
    trailing.arm(np.ones(3, dtype=bool), 5.0)
    trailing.reset(np.array([False, True, False]))
    np.testing.assert_array_equal(trailing.armed, [True, False, True])
    np.testing.assert_array_equal(trailing.peak, [5.0, np.nan, 5.0])
    trailing.update(np.full(3, 6.0), np.full(3, 4.0), np.ones(3, dtype=bool))
    np.testing.assert_array_equal(trailing.peak, [6.0, np.nan, 6.0])
    trailing.reset()
    assert not trailing.armed.any()
    assert np.isnan(trailing.peak).all() and np.isnan(trailing.trough).all()
    with pytest.raises(ValueError, match="boolean mask"):
        trailing.arm(np.array([0, 1]), 1.0)
