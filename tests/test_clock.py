"""The clock: aware UTC only, frozen clocks move only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tbot.clock import FrozenClock, SwitchableClock, SystemClock, ensure_utc, utc_stamp


def test_system_clock_gives_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(minutes=5))
    assert clock.now() == datetime(2026, 11, 20, 14, 35, tzinfo=UTC)


def test_other_offsets_are_converted_to_utc() -> None:
    new_york = timezone(timedelta(hours=-5))
    clock = FrozenClock(datetime(2026, 11, 20, 9, 30, tzinfo=new_york))
    assert clock.now() == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert clock.now().tzinfo == UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2026, 11, 20, 14, 30))  # noqa: DTZ001 - the refusal is the point
    with pytest.raises(ValueError, match="naive"):
        FrozenClock(datetime(2026, 11, 20, 14, 30))  # noqa: DTZ001


def test_stamp_is_compact_sortable_utc() -> None:
    assert utc_stamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "20260102T030405Z"


def test_a_switchable_clock_follows_whichever_clock_it_is_given() -> None:
    first = FrozenClock(datetime(2026, 11, 20, 14, 25, tzinfo=UTC))
    second = FrozenClock(datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    clock = SwitchableClock(first)
    assert clock.now() == first.now()
    clock.target = second
    assert clock.now() == second.now()
