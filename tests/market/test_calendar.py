"""The trading calendar: real XNYS holidays, early closes and DST, in aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tbot.errors import EXIT_BAD_INPUT, TbotError
from tbot.market.calendar import (
    CalendarError,
    CalendarRangeError,
    SessionHours,
    TradingCalendar,
)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_thanksgiving_is_closed(calendar: TradingCalendar) -> None:
    assert calendar.session(date(2026, 11, 26)) is None
    assert not calendar.is_session(date(2026, 11, 26))


def test_day_after_thanksgiving_closes_early_at_1300_new_york(
    calendar: TradingCalendar,
) -> None:
    assert calendar.session(date(2026, 11, 27)) == SessionHours(
        day=date(2026, 11, 27),
        open=utc(2026, 11, 27, 14, 30),
        close=utc(2026, 11, 27, 18, 0),
        early_close=True,
    )


def test_independence_day_observed_on_friday_july_3_2026_is_closed(
    calendar: TradingCalendar,
) -> None:
    # July 4 2026 is a Saturday; the exchange observes it on Friday the 3rd.
    assert calendar.session(date(2026, 7, 3)) is None


def test_christmas_eve_2026_closes_early(calendar: TradingCalendar) -> None:
    session = calendar.session(date(2026, 12, 24))
    assert session is not None
    assert session.early_close
    assert session.close == utc(2026, 12, 24, 18, 0)


def test_summer_session_opens_an_hour_earlier_in_utc_than_winter(
    calendar: TradingCalendar,
) -> None:
    summer = calendar.session(date(2026, 7, 15))
    winter = calendar.session(date(2026, 1, 15))
    assert summer is not None and winter is not None
    assert (summer.open, summer.close) == (utc(2026, 7, 15, 13, 30), utc(2026, 7, 15, 20, 0))
    assert (winter.open, winter.close) == (utc(2026, 1, 15, 14, 30), utc(2026, 1, 15, 21, 0))
    assert not summer.early_close and not winter.early_close


def test_session_times_are_aware_utc(calendar: TradingCalendar) -> None:
    session = calendar.session(date(2026, 11, 20))
    assert session is not None
    for moment in (session.open, session.close):
        assert moment.utcoffset() == timedelta(0)


def test_weekend_is_closed(calendar: TradingCalendar) -> None:
    assert not calendar.is_session(date(2026, 11, 21))
    assert not calendar.is_session(date(2026, 11, 22))


def test_previous_and_next_session_are_strict_and_skip_holidays(
    calendar: TradingCalendar,
) -> None:
    assert calendar.previous_session(date(2026, 11, 27)) == date(2026, 11, 25)
    assert calendar.next_session(date(2026, 11, 25)) == date(2026, 11, 27)
    assert calendar.previous_session(date(2026, 11, 25)) == date(2026, 11, 24)
    assert calendar.next_session(date(2026, 11, 27)) == date(2026, 11, 30)


def test_latest_session_on_or_before(calendar: TradingCalendar) -> None:
    assert calendar.latest_session_on_or_before(date(2026, 11, 25)) == date(2026, 11, 25)
    assert calendar.latest_session_on_or_before(date(2026, 11, 29)) == date(2026, 11, 27)
    assert calendar.latest_session_on_or_before(date(2026, 11, 26)) == date(2026, 11, 25)


def test_sessions_between_includes_both_ends_and_skips_closed_days(
    calendar: TradingCalendar,
) -> None:
    assert calendar.sessions_between(date(2026, 11, 24), date(2026, 11, 30)) == (
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    )


@pytest.mark.parametrize("day", [date(1990, 1, 2), date(2100, 1, 4)])
def test_days_outside_the_supported_range_raise_a_clear_error(
    calendar: TradingCalendar, day: date
) -> None:
    with pytest.raises(CalendarRangeError) as caught:
        calendar.session(day)
    assert isinstance(caught.value, TbotError)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert day.isoformat() in str(caught.value)
    assert "covers 2000-01-01 to 2035-12-31" in str(caught.value)


def test_range_errors_cover_every_query(calendar: TradingCalendar) -> None:
    far = date(2100, 1, 4)
    for query in (
        calendar.is_session,
        calendar.previous_session,
        calendar.next_session,
        calendar.latest_session_on_or_before,
    ):
        with pytest.raises(CalendarRangeError):
            query(far)


def test_a_datetime_is_refused_where_a_day_is_meant(calendar: TradingCalendar) -> None:
    with pytest.raises(TypeError, match="calendar day"):
        calendar.session(utc(2026, 11, 20, 23, 30))


def test_unknown_exchange_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match="unknown exchange calendar 'NOPE'"):
        TradingCalendar("NOPE").session(date(2026, 11, 20))


def test_sessions_are_cached_and_shared_by_every_calendar_of_the_exchange(
    calendar: TradingCalendar,
) -> None:
    day = date(2026, 11, 20)
    assert TradingCalendar().session(day) is calendar.session(day)
