"""Today's minute bars, from wherever they came, and the gaps found in them.

One bar per (minute, symbol), the first one kept: a minute reads the same every time it is
asked, whichever of the stream and the history delivered it first. Only bars of today's
session are kept (by the calendar; `roll` forgets earlier days). A gap is a subscribed
symbol without a bar in a minute that was due when asked; each is recorded once.
Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date, datetime

from tbot.market.bars import Bar
from tbot.market.calendar import CalendarError, TradingCalendar


class DayBars:
    """The bars of `symbols` for today's session (see the module docstring)."""

    def __init__(self, symbols: Sequence[str], calendar: TradingCalendar) -> None:
        self.symbols = tuple(symbols)
        self._calendar = calendar
        self._lock = threading.Lock()
        self._day: date | None = None
        self._bars: dict[datetime, dict[str, Bar]] = {}
        self._gaps: set[tuple[datetime, str]] = set()
        self._last_bar_at: datetime | None = None
        self._last_arrival: datetime | None = None

    def in_session(self, minute: datetime) -> bool:
        """True when `minute` starts inside its day's session."""
        try:
            session = self._calendar.session(minute.date())
        except CalendarError:
            return False
        return session is not None and session.open <= minute < session.close

    def add(self, bar: Bar, now: datetime) -> bool:
        """Keep `bar` (arrived at `now`) if it is today's, in the session, subscribed, and
        the first for its minute and symbol. True when kept."""
        if bar.symbol not in self.symbols or not self.in_session(bar.start):
            return False
        with self._lock:
            self._roll(now.date())
            if bar.start.date() != self._day:
                return False
            minute = self._bars.setdefault(bar.start, {})
            if bar.symbol in minute:
                return False
            minute[bar.symbol] = bar
            if self._last_bar_at is None or bar.start > self._last_bar_at:
                self._last_bar_at = bar.start
            self._last_arrival = now
            return True

    def minute(self, at: datetime, now: datetime, *, due: bool) -> tuple[dict[str, Bar],
                                                                         list[str]]:
        """The bars of minute `at` by symbol, and (when the minute is `due` and today's)
        the symbols newly recorded as gaps."""
        with self._lock:
            self._roll(now.date())
            bars = dict(self._bars.get(at, {}))
            missing: list[str] = []
            if due and at.date() == self._day and self.in_session(at):
                missing = [s for s in self.symbols if s not in bars and (at, s) not in self._gaps]
                self._gaps.update((at, s) for s in missing)
            return bars, missing

    def status(self, now: datetime) -> tuple[datetime | None, datetime | None, int]:
        """(newest minute with a bar, when a bar last arrived, gaps today)."""
        with self._lock:
            self._roll(now.date())
            return self._last_bar_at, self._last_arrival, len(self._gaps)

    def _roll(self, today: date) -> None:
        """Forget earlier days' bars and gaps when the day changes (lock held)."""
        if self._day == today:
            return
        self._day = today
        self._bars = {m: bars for m, bars in self._bars.items() if m.date() >= today}
        self._gaps = {(m, s) for m, s in self._gaps if m.date() >= today}
        if self._last_bar_at is not None and self._last_bar_at.date() < today:
            self._last_bar_at = None
