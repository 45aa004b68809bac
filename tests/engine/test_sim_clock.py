"""The simulated clock: accelerated, forward-only, driven by an injected monotonic time."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tbot.clock import FrozenClock
from tbot.engine.sim_clock import SimClock, seconds_until

START = datetime(2026, 11, 20, 14, 25, tzinfo=UTC)


class HandMovedTime:
    """A monotonic time source that moves only when a test says so."""

    def __init__(self) -> None:
        self.reading = 1000.0

    def __call__(self) -> float:
        return self.reading

    def advance(self, seconds: float) -> None:
        self.reading += seconds


@pytest.fixture
def real_time() -> HandMovedTime:
    return HandMovedTime()


def test_time_runs_speed_times_faster_than_real_time(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=60.0, monotonic=real_time)
    assert clock.now() == START
    real_time.advance(1.5)
    assert clock.now() == START + timedelta(seconds=90)
    assert clock.speed == 60.0


def test_now_is_aware_utc_even_when_started_with_another_offset(
    real_time: HandMovedTime,
) -> None:
    clock = SimClock(datetime.fromisoformat("2026-11-20T09:25:00-05:00"), 1.0, real_time)
    assert clock.now() == START
    assert clock.now().utcoffset() == timedelta(0)


def test_a_naive_start_is_refused(real_time: HandMovedTime) -> None:
    with pytest.raises(ValueError, match="naive"):
        SimClock(datetime(2026, 11, 20, 14, 25), 1.0, real_time)  # noqa: DTZ001


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan])
def test_speed_must_be_above_zero(real_time: HandMovedTime, speed: float) -> None:
    with pytest.raises(ValueError, match="above 0"):
        SimClock(START, speed, real_time)


def test_jump_skips_forward_and_time_runs_on_from_there(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=10.0, monotonic=real_time)
    real_time.advance(6)
    monday = datetime(2026, 11, 23, 14, 25, tzinfo=UTC)
    clock.jump_to(monday)
    assert clock.now() == monday
    real_time.advance(3)
    assert clock.now() == monday + timedelta(seconds=30)


def test_jump_to_the_current_instant_is_allowed(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=2.0, monotonic=real_time)
    clock.jump_to(START)
    assert clock.now() == START


def test_jump_backwards_is_refused(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=1.0, monotonic=real_time)
    real_time.advance(60)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.jump_to(START + timedelta(seconds=30))
    assert clock.now() == START + timedelta(seconds=60)


def test_real_seconds_until_divides_by_the_speed(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=60.0, monotonic=real_time)
    assert clock.real_seconds_until(START + timedelta(minutes=5)) == 5.0
    real_time.advance(2)
    assert clock.real_seconds_until(START + timedelta(minutes=5)) == 3.0


def test_real_seconds_until_a_past_instant_is_zero(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=60.0, monotonic=real_time)
    assert clock.real_seconds_until(START - timedelta(hours=1)) == 0.0


def test_seconds_until_asks_a_sim_clock_and_treats_other_clocks_as_real_time(
    real_time: HandMovedTime,
) -> None:
    later = START + timedelta(minutes=2)
    assert seconds_until(SimClock(START, 120.0, real_time), later) == 1.0
    assert seconds_until(FrozenClock(START), later) == 120.0
    assert seconds_until(FrozenClock(later), START) == 0.0


def test_a_held_clock_stands_still_until_released_then_runs_from_there(
    real_time: HandMovedTime,
) -> None:
    clock = SimClock(START, speed=3000.0, monotonic=real_time, held=True)
    real_time.advance(2.0)  # a slow start-up: 100 market minutes at this speed
    assert clock.held and clock.now() == START
    assert clock.real_seconds_until(START + timedelta(minutes=5)) == pytest.approx(0.1)
    clock.release()
    assert not clock.held and clock.now() == START
    real_time.advance(1.0)
    assert clock.now() == START + timedelta(seconds=3000)
    clock.release()  # a running clock: nothing changes
    assert clock.now() == START + timedelta(seconds=3000)


def test_a_held_clock_jumps_forward_and_still_stands(real_time: HandMovedTime) -> None:
    clock = SimClock(START, speed=60.0, monotonic=real_time, held=True)
    clock.jump_to(START + timedelta(hours=1))
    real_time.advance(5.0)
    assert clock.now() == START + timedelta(hours=1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.jump_to(START)
