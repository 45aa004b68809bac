"""The mid-session and end-of-day setups the generated market writes into some symbols.

Two windows of the template's strategies get something to trade (times in UTC, as the
template's START_TIME_* settings are):

- **mid** (from `MID_WINDOW_START`, 15:30): a range-bound stock chops around its session
  VWAP, then flushes 2.6-3.3% away from it inside the breakout phase (15:45-15:55), 85-95%
  of that in a single bar. The flush leaves the close beyond the 2-sigma Bollinger(20)
  band while ADX(14) is still low: the chop before it kept the directional movement
  balanced, and ADX lags. After a few minutes' pause the price either reverts past the
  VWAP within the monitoring phase (`MidSetup.reverts`), or extends another 2.2-3% first,
  through a 1.5% stop.
- **close** (from `CLOSE_WINDOW_START`, 19:30): a momentum continuation (by 19:30 the stock
  is 1.4-2% from its first open, and it extends that by 0.55-0.85% during 19:30-19:35 on
  2.5-4x the day's average minute volume; afterwards it keeps going, or falls back 2.6-3.3%
  within five minutes, through a 2% stop), or a spike that reverses (1.4-2.2% within
  19:30-19:33 on heavy volume; the 19:34 bar turns back, 60-70% of the spike is given back
  by the close of 19:36 and 75-95% within ten minutes more).

Each setup is checked on the whole-cent bars it produces, with margins beyond the
template's thresholds, with the strategies' own indicators (`tbot.strategy.indicators`:
the very VWAP, ADX and Bollinger band the mid strategy reads); when a draw does not
pass, it is planted again with other noise (at most `MAX_ATTEMPTS` times), so the setups
the regime announces are in the bars.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from enum import StrEnum

import numpy as np

from tbot.market.generated_paths import (
    FloatArray,
    IntArray,
    cents_path,
    last_level,
    levels,
    unit_noise,
)
from tbot.strategy.indicators import Adx, Bollinger, SessionVwap

MID_WINDOW_START = time(15, 30)
"""When the mid window starts (UTC): the template's START_TIME_MID."""
MID_ANALYSIS_MINUTES = 15
MID_BREAKOUT_MINUTES = 10
MID_MONITORING_MINUTES = 30
ADX_PERIOD = 14
BOLLINGER_PERIOD = 20
BOLLINGER_WIDTH = 2.0

CLOSE_WINDOW_START = time(19, 30)
"""When the close window starts (UTC): the template's START_TIME_CLOSE."""
CLOSE_ANALYSIS_MINUTES = 5
CLOSE_BREAKOUT_MINUTES = 5
CLOSE_WINDOW_MINUTES = 30  # a close setup needs the session to last this long after 19:30

MAX_ATTEMPTS = 6

# The planted setups are checked with margins beyond the template's thresholds, so a
# slightly different indicator implementation still sees them.
_CHECK_DEVIATION = 0.022  # STRAT_MID_VWAP_THRESHOLD=0.02
_CHECK_ADX = 21.0  # MID_ADX_MAX=25
_CHECK_STOP = 0.016  # STRAT_MID_STOP_LOSS=0.015
_CHECK_DAY_MOVE = 0.012  # STRAT_CLOSE_MIN_DAY_MOVE=0.01
_CHECK_EXTENSION = 0.005  # STRAT_CLOSE_MIN_LATE_MOVE=0.002
_CHECK_SPIKE = 0.012  # STRAT_CLOSE_SPIKE_MOVE=0.01
_CHECK_RELATIVE_VOLUME = 2.0  # STRAT_CLOSE_MIN_RELATIVE_VOLUME=1.5
_CHECK_CLOSE_STOP = 0.022  # STRAT_CLOSE_STOP_LOSS=0.02, which a fading momentum goes through
_CHECK_GIVEN_BACK = 0.55  # STRAT_CLOSE_FADE_RETRACE=0.5, by the close of 19:36

_CALM_EARLIEST = 35  # minutes after the open: the opening range and its breakout are left alone
_CALM_MINUTES = 45
_CHOP = 0.003  # per-minute size of the range-bound chop before a mid flush
_CHOP_PULL = 0.5  # how strongly the chop is pulled back to its centre each minute
_CENTRE_SLIDE_MINUTES = 10
_OVERSHOOT = 0.004  # a reversion goes this far past the VWAP, so it surely touches it
_SETTLE_MINUTES = 15
_MOMENTUM_FADE_MINUTES = 5
_QUICK_FADE_MINUTES = 2  # after the turn, a reversing spike gives back most of itself
_SLOW_FADE_MINUTES = 8
_QUIET_NOISE = 0.0003  # what is left of a stock's own noise while a setup drives it

_MID_VOLUME = {"flush": 3.0, "second": 2.2, "hold": 1.6, "revert": 1.4, "fail": 2.5}


class MoveDirection(StrEnum):
    """Which way a planned move goes."""

    UP = "up"
    DOWN = "down"


def _sign(direction: MoveDirection) -> float:
    return 1.0 if direction is MoveDirection.UP else -1.0


@dataclass(frozen=True, slots=True)
class MidSetup:
    """A VWAP excursion in the mid window, for the mean-reversion strategy.

    `direction` is where the price goes from the VWAP: DOWN puts it below (a long
    reversion), UP above. The flush starts `flush_minute` minutes after the window start
    (15..17: 15:45-15:47 UTC), takes the price `deviation_bps` from the VWAP in two bars,
    `first_share_pct` percent of that in the first. After `hold_minutes` the price
    either reverts past the VWAP within `revert_minutes` (`reverts`), or extends another
    `failure_bps` away from it (through a 1.5% stop).
    """

    direction: MoveDirection
    reverts: bool
    deviation_bps: int
    flush_minute: int
    first_share_pct: int
    hold_minutes: int
    revert_minutes: int
    failure_bps: int


class CloseKind(StrEnum):
    """What a close-window setup looks like."""

    MOMENTUM = "momentum"
    REVERSAL = "reversal"


@dataclass(frozen=True, slots=True)
class CloseSetup:
    """An end-of-day setup in the close window.

    MOMENTUM: by 19:30 UTC the stock is `day_move_bps` from its first open in
    `direction` (the way the day drifts toward the next session's level, when it clearly
    does); during 19:30-19:35 it extends `thrust_bps` further, then `follow_bps`
    more in the breakout phase; afterwards it keeps going (`continues`) or fades
    `fade_bps` back within five minutes (through the close strategy's 2% stop).
    REVERSAL: during 19:30-19:34 the stock spikes `thrust_bps` in `direction`; the bar of
    19:34 turns back `turn_pct` percent of the spike, the next two bars give back more
    (`quick_pct` percent in all, past the half the fade rule waits for), and the fade goes
    on to `retrace_pct` percent.
    Either way the analysis minutes trade `volume_ratio_pct` percent of the day's average
    minute volume so far.
    """

    kind: CloseKind
    direction: MoveDirection
    day_move_bps: int
    thrust_bps: int
    follow_bps: int
    continues: bool
    fade_bps: int
    turn_pct: int
    quick_pct: int
    retrace_pct: int
    volume_ratio_pct: int


def draw_mid_setup(rng: random.Random, *, reverts: bool) -> MidSetup:
    """A mid setup with plausible sizes and timing; below VWAP two times in three."""
    return MidSetup(
        direction=MoveDirection.DOWN if rng.random() < 2 / 3 else MoveDirection.UP,
        reverts=reverts,
        deviation_bps=rng.randint(260, 330),
        flush_minute=rng.randint(15, 17),
        first_share_pct=rng.randint(85, 95),
        hold_minutes=rng.randint(3, 5),
        revert_minutes=rng.randint(8, 14),
        failure_bps=rng.randint(220, 300),
    )


def draw_close_setup(
    rng: random.Random, kind: CloseKind, direction: MoveDirection | None = None
) -> CloseSetup:
    """A close setup of `kind` (in `direction`, or a drawn one)."""
    drawn = MoveDirection.UP if rng.random() < 0.5 else MoveDirection.DOWN
    momentum = kind is CloseKind.MOMENTUM
    return CloseSetup(
        kind=kind,
        direction=direction or drawn,
        day_move_bps=rng.randint(140, 200) if momentum else 0,
        thrust_bps=rng.randint(55, 85) if momentum else rng.randint(140, 220),
        follow_bps=rng.randint(25, 45) if momentum else 0,
        continues=rng.random() < 0.65 if momentum else False,
        fade_bps=rng.randint(260, 330) if momentum else 0,
        turn_pct=0 if momentum else rng.randint(25, 35),
        quick_pct=0 if momentum else rng.randint(60, 70),
        retrace_pct=0 if momentum else rng.randint(75, 95),
        volume_ratio_pct=rng.randint(250, 400),
    )


@dataclass(slots=True)
class SymbolPath:
    """One symbol's day while it is being built: per-minute returns and volumes (floats).

    `noise` is the symbol's unit noise per minute (a setup scales it to its own needs).
    `base_volume` is each minute's volume before any setup; a setup multiplies it by
    `volume_factor`.
    """

    first_open: float
    returns: list[float]
    noise: list[float]
    wick_up: FloatArray
    wick_down: FloatArray
    base_volume: FloatArray
    volume_factor: list[float]

    def volumes(self) -> IntArray:
        """Whole-share volumes as the bars will carry them."""
        factor = np.asarray(self.volume_factor, dtype=np.float64)
        return (self.base_volume * factor).astype(np.int64)

    def cents(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """(open, high, low, close) in cents as the bars will carry them."""
        return cents_path(self.first_open, self.returns, self.wick_up, self.wick_down)


# -- planting -------------------------------------------------------------------------------

Planter = Callable[[SymbolPath, random.Random, int], None]
Checker = Callable[[SymbolPath], bool]


def plant(
    path: SymbolPath, planter: Planter, checker: Checker, rng_for: Callable[[int], random.Random]
) -> SymbolPath:
    """Plant a setup into a copy of `path`, again with fresh noise while `checker` refuses
    it (at most `MAX_ATTEMPTS` times); returns the last attempt either way."""
    attempt_path = path
    for attempt in range(MAX_ATTEMPTS):
        noise = path.noise
        if attempt:
            fresh = rng_for(attempt)
            noise = [unit_noise(fresh) for _ in path.noise]
        attempt_path = SymbolPath(
            path.first_open,
            list(path.returns),
            noise,
            path.wick_up,
            path.wick_down,
            path.base_volume,
            list(path.volume_factor),
        )
        planter(attempt_path, rng_for(attempt + MAX_ATTEMPTS), attempt)
        if checker(attempt_path):
            return attempt_path
    return attempt_path


def plant_mid(setup: MidSetup, window: int, target_close: float) -> Planter:
    """A planter of `setup`; `window` is the minute index of 15:30 UTC, and the rest of the
    day is steered back to `target_close` once the setup is over."""

    def planter(draft: SymbolPath, rng: random.Random, attempt: int) -> None:
        _shape_mid(draft, setup, window, attempt, rng)
        end = window + MID_ANALYSIS_MINUTES + MID_BREAKOUT_MINUTES + MID_MONITORING_MINUTES
        steer_to(draft, target_close, min(end + 5, len(draft.returns)))

    return planter


def _shape_mid(
    path: SymbolPath, setup: MidSetup, window: int, attempt: int, rng: random.Random
) -> None:
    sign = _sign(setup.direction)
    r, noise, factor = path.returns, path.noise, path.volume_factor
    flush = window + setup.flush_minute
    calm_start = max(_CALM_EARLIEST, flush - _CALM_MINUTES - 10 * attempt)
    chop = _CHOP * (1 + 0.15 * attempt) * (0.85 + 0.3 * rng.random())
    level = last_level(path.first_open, r[:calm_start])
    value, shares = _vwap_sums(path, calm_start)
    volume = path.base_volume

    def step(m: int, change: float, surge: float = 1.0) -> None:
        # One minute of the setup: its return, its volume, and the running VWAP sums.
        nonlocal level, value, shares
        r[m] = change
        factor[m] = surge
        level *= 1 + change
        traded = float(volume[m]) * surge
        value += level * traded
        shares += traded

    # Range-bound: chop around a centre that slides from here to the VWAP.
    start_level = level
    for m in range(calm_start, flush):
        slide = min(1.0, (m - calm_start + 1) / _CENTRE_SLIDE_MINUTES)
        centre = start_level + (value / shares - start_level) * slide
        step(m, chop * noise[m] - _CHOP_PULL * (level / centre - 1))
    # The flush: one or two bars to `deviation_bps` from the VWAP.
    target = value / shares * (1 + sign * setup.deviation_bps / 10_000)
    total = target / level - 1
    first = total * setup.first_share_pct / 100
    step(flush, first, _MID_VOLUME["flush"])
    step(flush + 1, (1 + total) / (1 + first) - 1, _MID_VOLUME["second"])
    m = flush + 2
    for _ in range(setup.hold_minutes):
        step(m, 0.35 * chop * noise[m] - 0.5 * (level / target - 1), _MID_VOLUME["hold"])
        m += 1
    if setup.reverts:
        # Back past the VWAP, a little beyond it, so the touch is unmistakable.
        goal = value / shares * (1 - sign * _OVERSHOOT)
        per_minute = (goal / level - 1) / setup.revert_minutes
        for _ in range(setup.revert_minutes):
            step(m, per_minute + 0.2 * chop * noise[m], _MID_VOLUME["revert"])
            m += 1
    else:
        goal = level * (1 + sign * setup.failure_bps / 10_000)
        for share in (0.4, 0.35, 0.25):
            step(m, sign * setup.failure_bps / 10_000 * share, _MID_VOLUME["fail"])
            m += 1
    for settle in range(m, min(m + _SETTLE_MINUTES, len(r))):
        step(settle, 0.5 * chop * noise[settle] - _CHOP_PULL * (level / goal - 1))


def _vwap_sums(path: SymbolPath, end: int) -> tuple[float, float]:
    """Price x volume and volume of minutes [0, end), on closes (an estimate of the VWAP)."""
    if end <= 0:
        return path.first_open, 1.0
    closes = levels(path.first_open, path.returns[:end])
    traded = path.base_volume[:end] * np.asarray(path.volume_factor[:end])
    return float(np.dot(closes, traded)), float(traded.sum())


def check_mid(path: SymbolPath, setup: MidSetup, window: int) -> bool:
    """Whether the bars carry `setup`: some bar of the breakout phase is an entry (VWAP
    deviation, low ADX, close beyond the band), and from every such entry the price
    reverts to the VWAP before a 1.5% stop (or, for a failing setup, the reverse)."""
    entries, bars = mid_entries(path, setup.direction, window)
    if not entries:
        return False
    _, high, low, close, vwap = bars
    sign = _sign(setup.direction)
    end = min(window + MID_ANALYSIS_MINUTES + MID_BREAKOUT_MINUTES + MID_MONITORING_MINUTES,
              len(close))
    for entry in entries:
        stop = close[entry] * (1 + sign * _CHECK_STOP)
        stopped = touched = None
        for i in range(entry + 1, end):
            # Strict either way: a reversion must not even wick through the stop, nor a
            # failure's bar reach the VWAP; the other event counts on the close.
            if setup.reverts:
                far, near = (low[i] if sign < 0 else high[i]), close[i]
            else:
                far, near = close[i], (high[i] if sign < 0 else low[i])
            if stopped is None and sign * (far - stop) >= 0:
                stopped = i
            if touched is None and sign * (near - vwap[i]) <= 0:
                touched = i
        if setup.reverts and (touched is None or (stopped is not None and stopped <= touched)):
            return False
        if not setup.reverts and (stopped is None or (touched is not None and touched <= stopped)):
            return False
    return True


def mid_entries(
    path: SymbolPath, direction: MoveDirection, window: int
) -> tuple[list[int], tuple[list[float], list[float], list[float], list[float], list[float]]]:
    """The bars of the breakout phase that are entries (with margins), and the bars (open,
    high, low, close, VWAP in cents as floats) they were judged on."""
    open_, high, low, close = (part.astype(np.float64).tolist() for part in path.cents())
    volume = path.volumes().astype(np.float64).tolist()
    first = window + MID_ANALYSIS_MINUTES - 1  # the bar delivered at 15:45
    last = min(first + MID_BREAKOUT_MINUTES, len(close))
    # The strategy's own indicators, one column, bar by bar.
    present = np.ones(1, dtype=np.bool_)
    vwap_of, adx_of = SessionVwap(1), Adx(1, period=ADX_PERIOD)
    bands_of = Bollinger(1, length=BOLLINGER_PERIOD, width=BOLLINGER_WIDTH)
    vwap: list[float] = []
    sign = _sign(direction)
    entries = []
    for i in range(len(close)):
        h, lo, c = np.array([high[i]]), np.array([low[i]]), np.array([close[i]])
        vwap_of.update(h, lo, c, np.array([volume[i]]), present)
        session = float(vwap_of.value[0])
        vwap.append(close[i] if np.isnan(session) else session)
        if i >= last:
            continue
        adx_of.update(h, lo, c, present)
        bands_of.update(c, present)
        if i < first:
            continue
        value = float(adx_of.adx[0])
        if np.isnan(value) or value >= _CHECK_ADX:
            continue
        if sign * (close[i] / vwap[i] - 1) < _CHECK_DEVIATION:
            continue
        lower, upper = float(bands_of.lower[0]), float(bands_of.upper[0])
        if (close[i] < lower) if sign < 0 else (close[i] > upper):
            entries.append(i)
    return entries, (open_, high, low, close, vwap)


def plant_close(setup: CloseSetup, window: int, target_close: float) -> Planter:
    """A planter of `setup`; `window` is the minute index of 19:30 UTC. Once
    the close strategy's monitoring is over, what is left of the session drifts toward
    `target_close` (in a winter session there is an hour of it; in summer none)."""

    def planter(draft: SymbolPath, rng: random.Random, attempt: int) -> None:
        if setup.kind is CloseKind.MOMENTUM:
            _shape_momentum(draft, setup, window, attempt)
        else:
            _shape_reversal(draft, setup, window, attempt)
        steer_to(draft, target_close, window + CLOSE_WINDOW_MINUTES + 5)

    return planter


def _analysis_surge(path: SymbolPath, setup: CloseSetup, window: int) -> float:
    """The volume factor that gives the analysis minutes their planned relative volume."""
    day = float(path.base_volume[:window].mean())
    analysis = float(path.base_volume[window : window + CLOSE_ANALYSIS_MINUTES].mean())
    return max(1.0, setup.volume_ratio_pct / 100 * day / analysis)


def _shape_momentum(path: SymbolPath, setup: CloseSetup, window: int, attempt: int) -> None:
    sign = _sign(setup.direction)
    r, factor = path.returns, path.volume_factor
    boost = 1 + 0.2 * attempt
    # The afternoon trends so the day's move reaches `day_move_bps` by 19:30.
    ramp = 60
    have = sign * (last_level(path.first_open, r[:window]) / path.first_open - 1)
    need = setup.day_move_bps / 10_000 * boost - have
    if need > 0:
        for m in range(window - ramp, window):
            r[m] += sign * need / ramp
    surge = _analysis_surge(path, setup, window)
    quiet = _QUIET_NOISE
    for k in range(CLOSE_ANALYSIS_MINUTES):
        m = window + k
        r[m] = sign * setup.thrust_bps / 10_000 * boost / CLOSE_ANALYSIS_MINUTES
        r[m] += quiet * path.noise[m]
        factor[m] = surge * (0.9 + 0.05 * k)
    for k in range(CLOSE_BREAKOUT_MINUTES):
        m = window + CLOSE_ANALYSIS_MINUTES + k
        r[m] = sign * setup.follow_bps / 10_000 / CLOSE_BREAKOUT_MINUTES + quiet * path.noise[m]
        factor[m] = 0.7 * surge
    after = window + CLOSE_ANALYSIS_MINUTES + CLOSE_BREAKOUT_MINUTES
    if setup.continues:
        grind = 15
        for m in range(after, min(after + grind, len(r))):
            r[m] += sign * setup.follow_bps / 10_000 / grind
            factor[m] = 1.3
    else:
        for m in range(after + 1, min(after + 1 + _MOMENTUM_FADE_MINUTES, len(r))):
            r[m] = -sign * setup.fade_bps / 10_000 / _MOMENTUM_FADE_MINUTES
            r[m] += quiet * path.noise[m]
            factor[m] = 0.5 * surge


def _shape_reversal(path: SymbolPath, setup: CloseSetup, window: int, attempt: int) -> None:
    sign = _sign(setup.direction)
    r, factor = path.returns, path.volume_factor
    spike = setup.thrust_bps / 10_000 * (1 + 0.2 * attempt)
    surge = _analysis_surge(path, setup, window)
    quiet = _QUIET_NOISE
    level = 1.0  # relative to the 19:29 close (the analysis phase's first open)
    for k, share in enumerate((0.2, 0.35, 0.3, 0.15)):
        m = window + k
        r[m] = sign * spike * share + quiet * path.noise[m]
        factor[m] = surge * (1.1 if k < 3 else 0.9)
        level *= 1 + r[m]
    turn = window + CLOSE_ANALYSIS_MINUTES - 1  # the last bar of the analysis phase
    # Give-backs as fractions of the spike, bar by bar: the turn, a quick fade, a slow one.
    steps = [setup.turn_pct / 100]
    quick = (setup.quick_pct - setup.turn_pct) / 100 / _QUICK_FADE_MINUTES
    steps += [quick] * _QUICK_FADE_MINUTES
    slow = (setup.retrace_pct - setup.quick_pct) / 100 / _SLOW_FADE_MINUTES
    steps += [slow] * _SLOW_FADE_MINUTES
    given = 0.0
    for k, step in enumerate(steps):
        m = turn + k
        if m >= len(r):
            break
        given += step
        target = 1 + sign * spike * (1 - given)
        r[m] = target / level - 1 + (quiet * path.noise[m] if k else 0.0)
        level *= 1 + r[m]
        factor[m] = max(1.0, surge * (0.9 - 0.06 * k))


def check_close(path: SymbolPath, setup: CloseSetup, window: int) -> bool:
    """Whether the bars carry `setup` as the close strategy reads it in its breakout phase
    (with margins): the day's move and the late one, or the spike and how much of it is
    given back; the volume; then the continuation, or the fade through a 2% stop."""
    open_, high, low, close = (part.astype(np.float64).tolist() for part in path.cents())
    volume = path.volumes().astype(np.float64).tolist()
    sign = _sign(setup.direction)
    last = window + CLOSE_ANALYSIS_MINUTES - 1
    after = last + CLOSE_BREAKOUT_MINUTES + 1  # the first bar after the breakout phase
    if after + _MOMENTUM_FADE_MINUTES >= len(close):
        return False
    day_average = sum(volume[:window]) / window
    analysis = volume[window : last + 1]
    if sum(analysis) / len(analysis) < _CHECK_RELATIVE_VOLUME * day_average:
        return False
    late_open = open_[window]
    if setup.kind is CloseKind.MOMENTUM:
        entries = close[last:after]
        if not (
            sign * (late_open / open_[0] - 1) >= _CHECK_DAY_MOVE
            and sign * (close[last] / late_open - 1) >= _CHECK_EXTENSION
            and sign * (close[last] - open_[last]) > 0
            and sign * (close[after - 1] - close[last]) > 0
        ):
            return False
        best = max(entries) if sign > 0 else min(entries)
        worst = close[after : after + _MOMENTUM_FADE_MINUTES + 3]
        faded = min(sign * (c / best - 1) for c in worst)
        return faded > -_CHECK_STOP if setup.continues else faded <= -_CHECK_CLOSE_STOP
    extreme = max(high[window : last + 1]) if sign > 0 else min(low[window : last + 1])
    rise = sign * (extreme - late_open)
    given_back = sign * (extreme - close[last + 2]) / rise if rise > 0 else 0.0
    return (
        rise / late_open >= _CHECK_SPIKE
        and sign * (close[last] - open_[last]) < 0
        and given_back >= _CHECK_GIVEN_BACK
    )


def steer_to(path: SymbolPath, target: float, start: int) -> None:
    """Drift minutes [start, end) evenly so the day closes at `target`."""
    r = path.returns
    if start >= len(r):
        return
    close = last_level(path.first_open, r)
    step = (target / close - 1) / (len(r) - start)
    for m in range(start, len(r)):
        r[m] += step
