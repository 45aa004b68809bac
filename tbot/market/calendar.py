"""The exchange's trading calendar: which days it opens, and from when to when (in UTC).

Holidays and early closes come from the `exchange_calendars` package (XNYS by default),
never from a hand-kept list. Building that calendar costs about a second (pandas import and
schedule computation), so it is built lazily once per process per exchange and its schedule
is copied into plain Python dates and datetimes; every query after that is a dict lookup or
a bisect, with no pandas on the hot path.
"""

from __future__ import annotations

import bisect
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime

from tbot.errors import TbotError

# A fixed range rather than the package's default (which moves with the wall clock), so the
# same date is in range or not on every machine and every day. Dates far ahead follow the
# package's holiday rules; one-off closures are only known once the package ships them.
FIRST_SUPPORTED_DAY = date(2000, 1, 1)
LAST_SUPPORTED_DAY = date(2035, 12, 31)


class CalendarError(TbotError):
    """The trading calendar cannot answer (unknown exchange, or a day it does not cover)."""


class CalendarRangeError(CalendarError):
    """A day outside the range the calendar covers."""


@dataclass(frozen=True, slots=True)
class SessionHours:
    """One trading session. `open` and `close` are aware UTC; `close` is exclusive."""

    day: date
    open: datetime
    close: datetime
    early_close: bool


@dataclass(frozen=True, slots=True)
class _Schedule:
    """An exchange's sessions as plain Python values, built once per process."""

    exchange: str
    days: tuple[date, ...]  # sorted
    hours: dict[date, SessionHours]
    first_day: date
    last_day: date


_schedules: dict[str, _Schedule] = {}
_schedules_lock = threading.Lock()


def _schedule_of(exchange: str) -> _Schedule:
    """The process-wide schedule of `exchange`, built on first use."""
    with _schedules_lock:
        schedule = _schedules.get(exchange)
        if schedule is None:
            schedule = _build_schedule(exchange)
            _schedules[exchange] = schedule
        return schedule


def _build_schedule(exchange: str) -> _Schedule:
    # Imported here: pandas and exchange_calendars take most of a second to import, and
    # many tbot commands never need a calendar.
    import exchange_calendars
    from exchange_calendars.errors import InvalidCalendarName

    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.x reads `Series.values` of tz-aware columns, which
            # pandas 3 deprecates; the values it gets are still right (UTC nanoseconds).
            warnings.simplefilter("ignore", DeprecationWarning)
            calendar = exchange_calendars.get_calendar(
                exchange,
                start=FIRST_SUPPORTED_DAY.isoformat(),
                end=LAST_SUPPORTED_DAY.isoformat(),
            )
    except InvalidCalendarName:
        raise CalendarError(
            f"unknown exchange calendar {exchange!r}; expected a code such as XNYS"
        ) from None
    early_days = {stamp.date() for stamp in calendar.early_closes}
    hours: dict[date, SessionHours] = {}
    for session, opens_at, closes_at in zip(
        calendar.sessions, calendar.opens, calendar.closes, strict=True
    ):
        day = session.date()
        hours[day] = SessionHours(
            day=day,
            open=opens_at.to_pydatetime().astimezone(UTC),
            close=closes_at.to_pydatetime().astimezone(UTC),
            early_close=day in early_days,
        )
    return _Schedule(
        exchange=exchange,
        days=tuple(sorted(hours)),
        hours=hours,
        first_day=FIRST_SUPPORTED_DAY,
        last_day=LAST_SUPPORTED_DAY,
    )


class TradingCalendar:
    """The sessions of one exchange (XNYS: the New York Stock Exchange) in UTC.

    Construction is cheap; the underlying calendar is built on the first query and shared
    by every `TradingCalendar` of the same exchange in the process. Days outside
    `FIRST_SUPPORTED_DAY`..`LAST_SUPPORTED_DAY` raise `CalendarRangeError`.
    """

    def __init__(self, exchange: str = "XNYS") -> None:
        self._exchange = exchange

    @property
    def exchange(self) -> str:
        """The exchange code, e.g. ``XNYS``."""
        return self._exchange

    def session(self, day: date) -> SessionHours | None:
        """The session on `day`, or None when the exchange is closed that day."""
        schedule = self._checked(day)
        return schedule.hours.get(day)

    def is_session(self, day: date) -> bool:
        """True when the exchange trades on `day`."""
        return self.session(day) is not None

    def previous_session(self, day: date) -> date:
        """The last session day strictly before `day`."""
        schedule = self._checked(day)
        index = bisect.bisect_left(schedule.days, day) - 1
        if index < 0:
            raise self._range_error(day, "no session before it")
        return schedule.days[index]

    def next_session(self, day: date) -> date:
        """The first session day strictly after `day`."""
        schedule = self._checked(day)
        index = bisect.bisect_right(schedule.days, day)
        if index >= len(schedule.days):
            raise self._range_error(day, "no session after it")
        return schedule.days[index]

    def latest_session_on_or_before(self, day: date) -> date:
        """`day` itself when it is a session, else the last session before it."""
        return day if self.is_session(day) else self.previous_session(day)

    def sessions_between(self, first: date, last: date) -> tuple[date, ...]:
        """Every session day from `first` to `last`, both included, in order."""
        schedule = self._checked(first)
        self._checked(last)
        low = bisect.bisect_left(schedule.days, first)
        high = bisect.bisect_right(schedule.days, last)
        return schedule.days[low:high]

    def _checked(self, day: date) -> _Schedule:
        # A datetime is a date too; letting one through would silently drop its time and
        # offset, which is how off-by-one-day bugs are made.
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"a calendar day (datetime.date) is required, got {day!r}")
        schedule = _schedule_of(self._exchange)
        if not schedule.first_day <= day <= schedule.last_day:
            raise self._range_error(day, "outside the supported range")
        return schedule

    def _range_error(self, day: date, why: str) -> CalendarRangeError:
        return CalendarRangeError(
            f"{self._exchange} calendar cannot answer for {day.isoformat()} ({why}); "
            f"it covers {FIRST_SUPPORTED_DAY.isoformat()} to {LAST_SUPPORTED_DAY.isoformat()}"
        )
