"""OpeningRange against per-symbol max/min/count/sum, and its freeze."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tbot.strategy.indicators import OpeningRange
from tests.strategy.indicators import Tape, random_tape

pytestmark = pytest.mark.filterwarnings("error")  # garbage must not even raise a warning

FIELDS = ("high", "low", "bars", "volume")


def reference_results(tape: Tape, until: int, start: int = 0) -> dict[str, np.ndarray]:
    """Each symbol's range over minutes start .. until-1, read after every minute."""
    expected = {name: np.full((tape.minutes, tape.symbols), np.nan) for name in FIELDS}
    for column in range(tape.symbols):
        high, low, bars, volume = math.nan, math.nan, 0, 0.0
        for minute in range(start, tape.minutes):
            if minute < until and tape.present[minute, column]:
                bar_high = float(tape.high[minute, column])
                bar_low = float(tape.low[minute, column])
                high = bar_high if bars == 0 else max(high, bar_high)
                low = bar_low if bars == 0 else min(low, bar_low)
                bars += 1
                volume += float(tape.volume[minute, column])
            for name, value in zip(FIELDS, (high, low, bars, volume), strict=True):
                expected[name][minute, column] = value
    return expected


def played(ranges: OpeningRange, tape: Tape, minutes: range, *,
           freeze_at: int | None = None) -> dict[str, np.ndarray]:
    out = {name: np.full((tape.minutes, tape.symbols), np.nan) for name in FIELDS}
    for minute in minutes:
        if minute == freeze_at:
            ranges.freeze()
        ranges.update(tape.high[minute], tape.low[minute], tape.present[minute],
                      tape.volume[minute])
        for name in FIELDS:
            out[name][minute] = getattr(ranges, name)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_the_reference_and_stops_at_freeze(seed: int) -> None:
    tape = random_tape(seed, minutes=90, symbols=6)
    ranges = OpeningRange(tape.symbols)
    got = played(ranges, tape, range(tape.minutes), freeze_at=30)
    assert ranges.frozen
    expected = reference_results(tape, until=30)
    for name in FIELDS:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)
    assert np.isnan(got["high"][0][~tape.present[0]]).all()


def test_volume_is_optional() -> None:
    ranges = OpeningRange(2)
    ranges.update(np.array([5.0, 7.0]), np.array([4.0, 6.0]), np.array([True, True]))
    np.testing.assert_array_equal(ranges.high, [5.0, 7.0])
    np.testing.assert_array_equal(ranges.volume, [0.0, 0.0])
    np.testing.assert_array_equal(ranges.bars, [1, 1])


def test_an_all_absent_minute_changes_nothing() -> None:
    tape = random_tape(4, minutes=40, symbols=4)
    ranges = OpeningRange(4)
    garbage = np.array([np.nan, np.inf, -np.inf, 1e300])
    for minute in range(tape.minutes):
        ranges.update(tape.high[minute], tape.low[minute], tape.present[minute],
                      tape.volume[minute])
        before = [getattr(ranges, name).copy() for name in FIELDS]
        ranges.update(garbage, garbage[::-1], np.zeros(4, dtype=bool), garbage)
        for name, value in zip(FIELDS, before, strict=True):
            np.testing.assert_array_equal(getattr(ranges, name), value, err_msg=name)


def test_reset_of_selected_columns_and_of_the_session() -> None:
    tape = random_tape(5, minutes=60, symbols=5)
    ranges = OpeningRange(5)
    played(ranges, tape, range(20))
    mask = np.array([False, True, True, False, False])
    ranges.reset(mask)
    got = played(ranges, tape, range(20, 60), freeze_at=40)
    fresh = reference_results(tape, until=40, start=20)
    whole = reference_results(tape, until=40)
    for name in FIELDS:
        np.testing.assert_allclose(got[name][20:, mask], fresh[name][20:, mask], rtol=1e-12)
        np.testing.assert_allclose(got[name][20:, ~mask], whole[name][20:, ~mask], rtol=1e-12)
    # A column reset while frozen stays empty; a full reset starts a new session.
    ranges.reset(np.array([True, False, False, False, False]))
    ranges.update(np.full(5, 1e6), np.full(5, -1e6), np.ones(5, dtype=bool))
    assert ranges.frozen
    assert math.isnan(ranges.high[0])
    ranges.reset()
    assert not ranges.frozen
    assert np.isnan(ranges.high).all() and not ranges.bars.any()
    ranges.update(np.full(5, 3.0), np.full(5, 2.0), np.ones(5, dtype=bool))
    np.testing.assert_array_equal(ranges.low, 2.0)
