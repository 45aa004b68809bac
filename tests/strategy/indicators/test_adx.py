"""Adx against a per-symbol transcription of Wilder's rules, and a published series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tbot.strategy.indicators import Adx
from tests.strategy.indicators import Tape, random_tape

pytestmark = pytest.mark.filterwarnings("error")  # garbage must not even raise a warning


class ReferenceAdx:
    """One symbol's ADX, written straight from the convention in `Adx`'s docstring."""

    def __init__(self, period: int) -> None:
        self.period = period
        self.previous: tuple[float, float, float] | None = None
        self.first_moves: list[tuple[float, float, float]] = []
        self.smoothed: tuple[float, float, float] | None = None
        self.first_dx: list[float] = []
        self.plus_di = self.minus_di = self.dx = self.adx = math.nan

    def update(self, high: float, low: float, close: float) -> None:
        p = self.period
        if self.previous is None:
            self.previous = (high, low, close)
            return
        high_before, low_before, close_before = self.previous
        self.previous = (high, low, close)
        tr = max(high - low, abs(high - close_before), abs(low - close_before))
        up, down = high - high_before, low_before - low
        plus_dm = up if up > down and up > 0 else 0.0
        minus_dm = down if down > up and down > 0 else 0.0
        if self.smoothed is None:
            self.first_moves.append((tr, plus_dm, minus_dm))
            if len(self.first_moves) < p:
                return
            s_tr = s_plus = s_minus = 0.0
            for a, b, c in self.first_moves:
                s_tr += a
                s_plus += b
                s_minus += c
        else:
            s_tr, s_plus, s_minus = self.smoothed
            s_tr = s_tr - s_tr / p + tr
            s_plus = s_plus - s_plus / p + plus_dm
            s_minus = s_minus - s_minus / p + minus_dm
        self.smoothed = (s_tr, s_plus, s_minus)
        if s_tr == 0:
            self.plus_di = self.minus_di = 0.0
        else:
            self.plus_di = 100.0 * s_plus / s_tr
            self.minus_di = 100.0 * s_minus / s_tr
        total = self.plus_di + self.minus_di
        self.dx = 0.0 if total == 0 else 100.0 * abs(self.plus_di - self.minus_di) / total
        if len(self.first_dx) < p:
            self.first_dx.append(self.dx)
            if len(self.first_dx) == p:
                mean = 0.0
                for value in self.first_dx:
                    mean += value
                self.adx = mean / p
        else:
            self.adx = (self.adx * (p - 1) + self.dx) / p


FIELDS = ("adx", "plus_di", "minus_di", "dx")


def reference_results(tape: Tape, period: int, start: int = 0) -> dict[str, np.ndarray]:
    expected = {name: np.full((tape.minutes, tape.symbols), np.nan) for name in FIELDS}
    for column in range(tape.symbols):
        reference = ReferenceAdx(period)
        for minute in range(start, tape.minutes):
            if tape.present[minute, column]:
                reference.update(float(tape.high[minute, column]),
                                 float(tape.low[minute, column]),
                                 float(tape.close[minute, column]))
            for name in FIELDS:
                expected[name][minute, column] = getattr(reference, name)
    return expected


def played(adx: Adx, tape: Tape, minutes: range) -> dict[str, np.ndarray]:
    out = {name: np.full((tape.minutes, tape.symbols), np.nan) for name in FIELDS}
    for minute in minutes:
        adx.update(tape.high[minute], tape.low[minute], tape.close[minute], tape.present[minute])
        for name in FIELDS:
            out[name][minute] = getattr(adx, name)
    return out


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                columns: slice | np.ndarray = slice(None), rows: slice = slice(None)) -> None:
    for name in FIELDS:
        np.testing.assert_allclose(got[name][rows][:, columns], expected[name][rows][:, columns],
                                   rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.parametrize(("seed", "period"), [(1, 14), (2, 14), (3, 5), (4, 2), (5, 1)])
def test_matches_the_reference_on_random_tapes(seed: int, period: int) -> None:
    tape = random_tape(seed, minutes=200, symbols=6, flat_minutes=40)
    adx = Adx(tape.symbols, period=period)
    got = played(adx, tape, range(tape.minutes))
    assert_same(got, reference_results(tape, period))
    assert np.isfinite(got["adx"][-1]).all()  # every symbol got past its warm-up
    np.testing.assert_array_equal(adx.bars, tape.present.sum(axis=0))


def test_adx_first_appears_at_the_symbols_bar_two_periods() -> None:
    period = 3
    adx = Adx(2, period=period)
    rng = np.random.default_rng(11)
    both = np.ones(2, dtype=bool)
    only_first = np.array([True, False])
    for bar in range(1, 2 * period + 1):
        for present in (both, only_first):  # column 1 sees half the minutes
            close = 50.0 + rng.normal(size=2)
            adx.update(close + 0.5, close - 0.5, close, present)
        column0_bars = 2 * bar
        assert np.isnan(adx.plus_di[0]) == (column0_bars < period + 1)
        assert np.isnan(adx.adx[0]) == (column0_bars < 2 * period)
        assert np.isnan(adx.plus_di[1]) == (bar < period + 1)
        assert np.isnan(adx.adx[1]) == (bar < 2 * period)
    assert not np.isnan(adx.adx).any()


def test_constant_prices_give_zero_di_and_dx() -> None:
    period = 4
    adx = Adx(2, period=period)
    present = np.ones(2, dtype=bool)
    # Column 0: no range at all (TR = 0); column 1: the same range every bar (DM = 0).
    high, low, close = np.array([10.0, 11.0]), np.array([10.0, 9.0]), np.array([10.0, 10.0])
    for _ in range(3 * period):
        adx.update(high, low, close, present)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(adx, name), [0.0, 0.0], err_msg=name)


def test_an_all_absent_minute_changes_nothing() -> None:
    tape = random_tape(8, minutes=80, symbols=4)
    plain, gapped = Adx(4, period=5), Adx(4, period=5)
    garbage = np.array([np.nan, np.inf, -np.inf, 1e300])
    nobody = np.zeros(4, dtype=bool)
    for minute in range(tape.minutes):
        args = (tape.high[minute], tape.low[minute], tape.close[minute], tape.present[minute])
        plain.update(*args)
        before = {name: getattr(gapped, name).copy() for name in FIELDS}
        gapped.update(garbage, garbage[::-1], garbage, nobody)
        for name, value in before.items():
            np.testing.assert_array_equal(getattr(gapped, name), value, err_msg=name)
        gapped.update(*args)
        for name in (*FIELDS, "bars"):
            np.testing.assert_array_equal(getattr(gapped, name), getattr(plain, name))


def test_reset_of_selected_columns_starts_them_again() -> None:
    tape = random_tape(9, minutes=160, symbols=5)
    adx = Adx(5, period=6)
    played(adx, tape, range(70))
    mask = np.array([False, True, False, True, True])
    adx.reset(mask)
    assert np.isnan(adx.adx[mask]).all()
    assert not adx.bars[mask].any()
    got = played(adx, tape, range(70, 160))
    rows = slice(70, None)
    assert_same(got, reference_results(tape, 6, start=70), mask, rows)
    assert_same(got, reference_results(tape, 6), ~mask, rows)


# SPY daily bars 2017-01-03 .. 2017-02-14 (high, low, close) and ADX(14) values rounded to 4
# places, both from the test suite of Stock.Indicators for .NET (DaveSkender/
# Stock.Indicators: tests/indicators/_testdata/quotes/default.csv and
# tests/indicators/a-d/Adx/Adx.StaticSeries.Tests.cs), whose ADX follows the same
# convention: first DI at bar 15 (index 14), first ADX at bar 28 (index 27).
SPY_2017 = (
    (213.35, 211.52, 212.8),
    (214.22, 213.15, 214.06),
    (214.06, 213.02, 213.89),
    (215.17, 213.42, 214.66),
    (214.53, 213.91, 213.95),
    (214.89, 213.52, 213.95),
    (214.55, 213.13, 214.55),
    (214.22, 212.53, 214.02),
    (214.84, 214.17, 214.51),
    (214.25, 213.33, 213.75),
    (214.27, 213.42, 214.22),
    (214.46, 212.96, 213.43),
    (214.75, 213.49, 214.21),
    (214.28, 212.83, 213.66),
    (215.48, 213.77, 215.03),
    (216.89, 215.89, 216.89),
    (217.02, 216.36, 216.66),
    (216.91, 216.12, 216.32),
    (215.59, 213.9, 214.98),
    (215.03, 213.82, 214.96),
    (215.96, 214.4, 215.05),
    (215.5, 214.29, 215.19),
    (216.87, 215.84, 216.67),
    (216.66, 215.92, 216.28),
    (216.97, 216.09, 216.29),
    (216.72, 215.7, 216.58),
    (218.19, 216.84, 217.86),
    (218.97, 217.88, 218.72),
    (220.19, 219.23, 219.91),
    (220.8, 219.33, 220.79),
)
SPY_EXPECTED = {  # bar index: (+DI, −DI, DX, ADX)
    14: (21.9669, 18.5462, 8.4433, None),
    19: (21.0361, 25.0124, 8.6351, None),
    27: (None, None, None, 15.9459),
    29: (37.9719, 14.1658, 45.6600, 19.7949),
}


def test_matches_a_published_adx_series() -> None:
    # Column 0 gets bar i at minute i; column 1 the same bars at every other minute, absent
    # (with garbage) in between: the absences must not change a single value.
    adx = Adx(2, period=14)
    bars = len(SPY_2017)
    first: dict[int, tuple[float, ...]] = {}
    second: dict[int, tuple[float, ...]] = {}
    for minute in range(2 * bars):
        present = np.array([minute < bars, minute % 2 == 0])
        index = np.array([min(minute, bars - 1), minute // 2])
        fields = np.array([SPY_2017[i] for i in index]).T
        fields[:, ~present] = np.nan
        adx.update(fields[0], fields[1], fields[2], present)
        results = (adx.plus_di, adx.minus_di, adx.dx, adx.adx)
        if present[0]:
            first[minute] = tuple(float(result[0]) for result in results)
        if present[1]:
            second[minute // 2] = tuple(float(result[1]) for result in results)
    np.testing.assert_array_equal([first[i] for i in range(bars)],
                                  [second[i] for i in range(bars)])
    assert math.isnan(first[13][0])
    assert math.isnan(first[26][3])
    for index, expected in SPY_EXPECTED.items():
        for got, value in zip(first[index], expected, strict=True):
            if value is not None:
                assert got == pytest.approx(value, abs=5e-5), (index, expected)


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="period"):
        Adx(3, period=0)
    with pytest.raises(ValueError, match="boolean mask"):
        Adx(3).reset(np.array([True, False]))
