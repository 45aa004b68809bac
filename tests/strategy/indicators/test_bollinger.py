"""Bollinger against `statistics` over each symbol's own last closes."""

from __future__ import annotations

import math
import statistics
from collections import deque

import numpy as np
import pytest

from tbot.strategy.indicators import Bollinger
from tests.strategy.indicators import Tape, random_tape

pytestmark = pytest.mark.filterwarnings("error")  # garbage must not even raise a warning

FIELDS = ("middle", "upper", "lower", "std")


def reference_results(tape: Tape, length: int, width: float,
                      start: int = 0) -> dict[str, np.ndarray]:
    expected = {name: np.full((tape.minutes, tape.symbols), np.nan) for name in FIELDS}
    for column in range(tape.symbols):
        window: deque[float] = deque(maxlen=length)
        values = dict.fromkeys(FIELDS, math.nan)
        for minute in range(start, tape.minutes):
            if tape.present[minute, column]:
                window.append(float(tape.close[minute, column]))
                if len(window) == length:
                    mean = statistics.fmean(window)
                    std = statistics.pstdev(window)  # exact up to the final rounding
                    values = {"middle": mean, "upper": mean + width * std,
                              "lower": mean - width * std, "std": std}
            for name in FIELDS:
                expected[name][minute, column] = values[name]
    return expected


def played(bands: Bollinger, tape: Tape, minutes: range) -> dict[str, np.ndarray]:
    out = {name: np.full((tape.minutes, tape.symbols), np.nan) for name in FIELDS}
    for minute in minutes:
        bands.update(tape.close[minute], tape.present[minute])
        for name in FIELDS:
            out[name][minute] = getattr(bands, name)
    return out


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                columns: slice | np.ndarray = slice(None), rows: slice = slice(None)) -> None:
    for name in FIELDS:
        # std near 0 is compared absolutely: the reference's mean is rounded, ours exact.
        np.testing.assert_allclose(got[name][rows][:, columns], expected[name][rows][:, columns],
                                   rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.parametrize(("seed", "length", "width"),
                         [(1, 20, 2.0), (2, 20, 2.0), (3, 5, 1.5), (4, 1, 2.0), (5, 3, 0.0)])
def test_matches_the_reference_on_random_tapes(seed: int, length: int, width: float) -> None:
    tape = random_tape(seed, minutes=150, symbols=6, flat_minutes=50)
    bands = Bollinger(tape.symbols, length=length, width=width)
    got = played(bands, tape, range(tape.minutes))
    assert_same(got, reference_results(tape, length, width))
    np.testing.assert_array_equal(bands.bars, tape.present.sum(axis=0))


def test_bands_appear_with_the_symbols_own_nth_close() -> None:
    bands = Bollinger(2, length=4)
    only_first = np.array([True, False])
    for close in range(1, 4):
        bands.update(np.array([float(close), np.nan]), only_first)
        assert np.isnan(bands.middle).all()
    bands.update(np.array([4.0, np.nan]), only_first)
    assert bands.middle[0] == 2.5
    assert bands.std[0] == pytest.approx(math.sqrt(1.25), rel=1e-15)
    assert np.isnan(bands.middle[1])


def test_constant_prices_give_bands_equal_to_the_mean() -> None:
    bands = Bollinger(3, length=20)
    prices = np.array([100.37, 0.1234, 4321.99])  # not exactly representable
    for _ in range(45):
        bands.update(prices, np.ones(3, dtype=bool))
    np.testing.assert_array_equal(bands.std, 0.0)
    for name in ("middle", "upper", "lower"):
        np.testing.assert_array_equal(getattr(bands, name), prices, err_msg=name)


def test_an_all_absent_minute_changes_nothing() -> None:
    tape = random_tape(8, minutes=80, symbols=4)
    plain, gapped = Bollinger(4, length=6), Bollinger(4, length=6)
    garbage = np.array([np.nan, np.inf, -np.inf, 1e300])
    nobody = np.zeros(4, dtype=bool)
    for minute in range(tape.minutes):
        plain.update(tape.close[minute], tape.present[minute])
        before = {name: getattr(gapped, name).copy() for name in FIELDS}
        gapped.update(garbage, nobody)
        for name, value in before.items():
            np.testing.assert_array_equal(getattr(gapped, name), value, err_msg=name)
        gapped.update(tape.close[minute], tape.present[minute])
        for name in (*FIELDS, "bars"):
            np.testing.assert_array_equal(getattr(gapped, name), getattr(plain, name))


def test_reset_of_selected_columns_empties_their_windows() -> None:
    tape = random_tape(9, minutes=120, symbols=5)
    bands = Bollinger(5, length=7)
    played(bands, tape, range(50))
    mask = np.array([True, False, False, True, False])
    bands.reset(mask)
    assert np.isnan(bands.middle[mask]).all()
    assert not bands.bars[mask].any()
    got = played(bands, tape, range(50, 120))
    rows = slice(50, None)
    assert_same(got, reference_results(tape, 7, 2.0, start=50), mask, rows)
    assert_same(got, reference_results(tape, 7, 2.0), ~mask, rows)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="length"):
        Bollinger(3, length=0)
    with pytest.raises(ValueError, match="width"):
        Bollinger(3, width=-1.0)
    with pytest.raises(ValueError, match="width"):
        Bollinger(3, width=math.nan)
