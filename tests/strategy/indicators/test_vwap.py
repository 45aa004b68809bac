"""SessionVwap against a per-symbol running sum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tbot.strategy.indicators import SessionVwap
from tests.strategy.indicators import Tape, random_tape

pytestmark = pytest.mark.filterwarnings("error")  # garbage must not even raise a warning


class ReferenceVwap:
    """One symbol's session VWAP, the plain way."""

    def __init__(self) -> None:
        self.price_volume = 0.0
        self.volume = 0.0

    def update(self, high: float, low: float, close: float, volume: float) -> None:
        typical = (high + low + close) / 3.0
        self.price_volume += typical * volume
        self.volume += volume

    @property
    def value(self) -> float:
        return self.price_volume / self.volume if self.volume > 0 else math.nan


def reference_values(tape: Tape, start: int = 0) -> np.ndarray:
    """The reference VWAP after each minute from `start` on, one symbol at a time."""
    expected = np.full((tape.minutes, tape.symbols), np.nan)
    for column in range(tape.symbols):
        reference = ReferenceVwap()
        for minute in range(start, tape.minutes):
            if tape.present[minute, column]:
                reference.update(float(tape.high[minute, column]), float(tape.low[minute, column]),
                                 float(tape.close[minute, column]),
                                 float(tape.volume[minute, column]))
            expected[minute, column] = reference.value
    return expected


def played(vwap: SessionVwap, tape: Tape, minutes: range) -> np.ndarray:
    out = np.full((tape.minutes, tape.symbols), np.nan)
    for minute in minutes:
        vwap.update(tape.high[minute], tape.low[minute], tape.close[minute],
                    tape.volume[minute], tape.present[minute])
        out[minute] = vwap.value
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_the_reference_on_random_tapes(seed: int) -> None:
    tape = random_tape(seed, minutes=240, symbols=7)
    got = played(SessionVwap(tape.symbols), tape, range(tape.minutes))
    np.testing.assert_allclose(got, reference_values(tape), rtol=1e-12)
    assert np.isnan(got[0][~tape.present[0]]).all()


def test_zero_volume_bars_add_nothing() -> None:
    vwap = SessionVwap(3)
    present = np.array([True, True, False])
    vwap.update(np.array([11.0, 21.0, np.nan]), np.array([9.0, 19.0, np.nan]),
                np.array([10.0, 20.0, np.nan]), np.array([0.0, 100.0, np.nan]), present)
    np.testing.assert_array_equal(vwap.value, [np.nan, 20.0, np.nan])
    np.testing.assert_array_equal(vwap.volume, [0.0, 100.0, 0.0])
    # A zero-volume bar far from the VWAP moves nothing.
    vwap.update(np.array([50.0, 99.0, 1.0]), np.array([50.0, 97.0, 1.0]),
                np.array([50.0, 98.0, 1.0]), np.array([0.0, 0.0, 0.0]),
                np.ones(3, dtype=bool))
    np.testing.assert_array_equal(vwap.value, [np.nan, 20.0, np.nan])
    vwap.update(np.array([12.0, 30.0, 1.0]), np.array([12.0, 30.0, 1.0]),
                np.array([12.0, 30.0, 1.0]), np.array([10.0, 100.0, 0.0]),
                np.ones(3, dtype=bool))
    np.testing.assert_allclose(vwap.value, [12.0, 25.0, np.nan], rtol=1e-15)


def test_an_all_absent_minute_changes_nothing() -> None:
    tape = random_tape(5, minutes=60, symbols=4)
    plain = SessionVwap(4)
    gapped = SessionVwap(4)
    garbage = np.array([np.nan, np.inf, -np.inf, 1e300])
    nobody = np.zeros(4, dtype=bool)
    for minute in range(tape.minutes):
        args = (tape.high[minute], tape.low[minute], tape.close[minute], tape.volume[minute],
                tape.present[minute])
        plain.update(*args)
        gapped.update(*args)
        before = gapped.value.copy()
        gapped.update(garbage, garbage[::-1], garbage, garbage, nobody)
        np.testing.assert_array_equal(gapped.value, before)
        np.testing.assert_array_equal(gapped.value, plain.value)


def test_reset_of_selected_columns_starts_their_session_again() -> None:
    tape = random_tape(7, minutes=120, symbols=5)
    vwap = SessionVwap(5)
    played(vwap, tape, range(60))
    mask = np.array([True, False, True, False, False])
    vwap.reset(mask)
    got = played(vwap, tape, range(60, 120))
    fresh = reference_values(tape, start=60)
    whole = reference_values(tape)
    np.testing.assert_allclose(got[60:, mask], fresh[60:, mask], rtol=1e-12)
    np.testing.assert_allclose(got[60:, ~mask], whole[60:, ~mask], rtol=1e-12)
    vwap.reset()
    assert np.isnan(vwap.value).all()
    assert not vwap.volume.any()


def test_results_are_read_only_live_views() -> None:
    vwap = SessionVwap(2)
    value = vwap.value
    with pytest.raises(ValueError):
        value[0] = 1.0
    vwap.update(np.full(2, 2.0), np.full(2, 2.0), np.full(2, 2.0), np.full(2, 5.0),
                np.ones(2, dtype=bool))
    np.testing.assert_array_equal(value, [2.0, 2.0])


def test_a_bad_mask_is_refused() -> None:
    vwap = SessionVwap(3)
    with pytest.raises(ValueError, match="boolean mask"):
        vwap.reset(np.array([0, 2]))
    with pytest.raises(ValueError, match="boolean mask"):
        vwap.reset(np.ones(4, dtype=bool))
    with pytest.raises(ValueError):
        SessionVwap(-1)
