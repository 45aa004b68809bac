"""`AlpacaBarFeed`: today's minute bars from Alpaca as a live `BarFeed`.

Bars come from two places into one store of today's session (`DayBars`: a bar per minute
and symbol, the first kept, so a minute reads the same every time it is asked):

- history (REST), read by `backfill`: at `start` from the session open up to the last
  minute surely published, and after every stream connection from where the last backfill
  or the newest bar left off (or from a range that failed before) up to now: a stream drop
  loses nothing that history has;
- the stream (`BarStream`, its own thread), as Alpaca publishes each minute's bars a few
  seconds after the minute ends (`publish_lag`).

The engine asks `minute(m)` once m is over (and again for earlier minutes when it warms a
strategy up after a restart). A subscribed symbol without a bar in a minute of today's
session that ended at least `publish_lag` ago is a *gap*: counted once, logged once per
minute at INFO on ``tbot.market.alpaca``, never filled with an invented bar. With the IEX
feed gaps are routine for thinly traded symbols (IEX sees a few percent of the volume).

Threads: the engine's calls `start`, `minute`, `health`, `close` (`start` and `backfill`
block on REST: keep them off the event loop); the stream's thread adds bars and connection
events; a background thread runs the backfill after each connection. Everything shared is
behind locks, so `health()` may be asked from anywhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any

from tbot.broker.alpaca.bar_history import BarHistory
from tbot.broker.alpaca.bar_records import read_stream_bar
from tbot.broker.alpaca.bar_stream import BarStream
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.data_client import DataClient, feed_name
from tbot.broker.alpaca.day_bars import DayBars
from tbot.broker.alpaca.request_budget import RequestBudget
from tbot.broker.alpaca.stream_status import StreamStatus
from tbot.broker.errors import BrokerError, MalformedBrokerRecordError
from tbot.clock import Clock, ensure_utc
from tbot.market.bars import Bar
from tbot.market.calendar import CalendarError, SessionHours, TradingCalendar
from tbot.market.feed_health import FeedHealth

log = logging.getLogger("tbot.market.alpaca")

MINUTE = timedelta(minutes=1)
_EMPTY: Mapping[str, Bar] = MappingProxyType({})


class AlpacaBarFeed:
    """Live minute bars of `symbols` (see the module docstring).

    `budget` is the bot's one Alpaca request budget (shared with the trading adapter);
    `timeout_seconds` bounds every REST request and the websocket handshake;
    `stale_seconds` is how long the session may go without a bar, or the stream stay
    disconnected, before `health()` says so. `backfill_attempts`/`backfill_backoff_seconds`
    shape the REST retries and `reconnect_backoff_seconds` the stream's (min, max) backoff.
    """

    def __init__(self, credentials: AlpacaCredentials, symbols: Sequence[str], clock: Clock,
                 calendar: TradingCalendar, *, budget: RequestBudget, timeout_seconds: float,
                 stale_seconds: float, publish_lag: timedelta = timedelta(seconds=3),
                 backfill_attempts: int = 4, backfill_backoff_seconds: float = 1.0,
                 reconnect_backoff_seconds: tuple[float, float] = (1.0, 30.0)) -> None:
        chosen = tuple(sorted({str(symbol) for symbol in symbols}))
        if not chosen:
            raise ValueError("a bar feed needs at least one symbol")
        self.publish_lag = publish_lag
        """How long after a minute ends its bars are expected: ask `minute()` no sooner."""
        self.feed_name = feed_name(credentials)
        self.stale_seconds = float(stale_seconds)
        self.timeout_seconds = float(timeout_seconds)
        self._clock = clock
        self._calendar = calendar
        self._bars = DayBars(chosen, calendar)
        self._stopping = threading.Event()
        self._client = DataClient(credentials, budget=budget, timeout_seconds=timeout_seconds)
        self._history = BarHistory(self._client, attempts=backfill_attempts,
                                   backoff_seconds=backfill_backoff_seconds,
                                   stop=self._stopping)
        self._status = StreamStatus(clock, on_bar=self._take_stream_bar,
                                    on_connected=self._schedule_backfill)
        self._stream = BarStream(credentials, chosen, self._status,
                                 open_timeout_seconds=self.timeout_seconds,
                                 reconnect_backoff_seconds=reconnect_backoff_seconds)
        self._backfill_lock = threading.Lock()  # one backfill at a time
        self._lock = threading.Lock()
        # -- guarded by _lock --
        self._backfill_thread: threading.Thread | None = None
        self._backfill_again = False
        self._covered_day: date | None = None
        self._covered_until: datetime | None = None
        """Every minute of `_covered_day` before this was read from history."""
        self._pending_from: datetime | None = None
        """The start of a range whose backfill failed."""
        self._backfill_error: str | None = None
        self._backfilled_minutes = 0
        self._started_at: datetime | None = None
        self._closed = False

    # -- BarFeed -----------------------------------------------------------------------------
    @property
    def symbols(self) -> Sequence[str]:
        """The subscribed symbols, sorted."""
        return self._bars.symbols

    def has_day(self, day: date) -> bool:
        """True for today (by the clock) when it is a session: a live feed has no other."""
        return day == self._clock.now().date() and self._calendar.is_session(day)

    def minute(self, at: datetime) -> Mapping[str, Bar]:
        """The bars of the minute starting at `at` (stream or history), by symbol; records
        the subscribed symbols without one as gaps once the minute is due (see the module
        docstring)."""
        at = ensure_utc(at)
        if at.second or at.microsecond:
            raise ValueError(f"bars start on whole minutes; got {at.isoformat()}")
        now = self._clock.now()
        bars, missing = self._bars.minute(at, now, due=now >= at + MINUTE + self.publish_lag)
        if missing:
            log.info("no bar for the minute %s UTC: %s (%d of %d symbols)",
                     at.strftime("%Y-%m-%d %H:%M"), ", ".join(missing), len(missing),
                     len(self._bars.symbols))
        return MappingProxyType(bars) if bars else _EMPTY

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Backfill today's session so far from history, then start the stream. Blocking
        (REST requests with retries): call it off the event loop. Outside a session day
        nothing is backfilled."""
        now = self._clock.now()
        with self._lock:
            if self._closed or self._started_at is not None:
                raise RuntimeError("an AlpacaBarFeed starts once (and not after close)")
            self._started_at = now
        self._status.starting(now)
        log.info("starting %s for %d symbol(s)", self.feed_name, len(self._bars.symbols))
        self.backfill()
        self._stream.start_thread()

    def close(self) -> None:
        """Stop the stream (bounded wait) and any backfill, release the sessions.
        Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            backfilling = self._backfill_thread
        self._status.closing()
        self._stopping.set()
        if not self._stream.shutdown(max(self.timeout_seconds, 1.0)):
            log.warning("the bar stream's thread did not stop in time; left behind (daemon)")
        if backfilling is not None:
            backfilling.join(self.timeout_seconds + 1.0)
        self._client.close()

    def backfill(self) -> int:
        """Read the minutes today's store may lack from history: from the session open the
        first time in a day, else from where the last backfill or the newest bar left off
        (or an earlier range that failed), up to the last minute surely published. Returns
        the minutes that gained bars. A failure is logged and reported by `health()`, never
        raised. Blocking; safe from any thread (one backfill runs at a time)."""
        with self._backfill_lock:
            now = self._clock.now()
            session = self._session(now.date())
            if session is None or self._stopping.is_set():
                return 0
            # Only minutes whose bars are surely published count as read (`publish_lag`).
            end = min((now - self.publish_lag).replace(second=0, microsecond=0), session.close)
            last_bar_at = self._bars.status(now)[0]
            with self._lock:
                start = self._range_start(session, last_bar_at)
                if start >= end:  # nothing to read (e.g. before the open): nothing missing
                    if self._covered_day != session.day:
                        self._covered_day, self._covered_until = session.day, start
                    return 0
            try:
                bars = self._history.bars(self._bars.symbols, start, end)
            except BrokerError as error:
                problem = (f"could not read the minute bars {start:%H:%M}-{end:%H:%M} UTC from "
                           f"Alpaca's history: {error.message}")
                with self._lock:
                    self._backfill_error = problem
                    self._pending_from = min(self._pending_from or start, start)
                log.error("%s; they stay missing until a reconnect or the next backfill",
                          problem)
                return 0
            minutes = {bar.start for bar in bars if self._bars.add(bar, now)}
            with self._lock:
                self._backfilled_minutes += len(minutes)
                self._covered_day, self._covered_until = session.day, end
                self._pending_from = self._backfill_error = None
        log.info("backfilled %d minute(s) from history (%s-%s UTC, %d bars)", len(minutes),
                 f"{start:%H:%M}", f"{end:%H:%M}", len(bars))
        return len(minutes)

    def health(self) -> FeedHealth:
        """How the feed is doing now (thread-safe; see `FeedHealth`)."""
        now = self._clock.now()
        last_bar_at, last_arrival, gaps = self._bars.status(now)
        with self._lock:
            reason = self._problem(now, last_arrival)
            backfilled = self._backfilled_minutes
        return FeedHealth(
            feed=self.feed_name, healthy=reason is None, reason=reason,
            connected=self._status.is_connected, last_bar_at=last_bar_at, gaps_today=gaps,
            reconnects=self._status.reconnects, backfilled_minutes=backfilled)

    # -- internals -------------------------------------------------------------------------------
    def _problem(self, now: datetime, last_arrival: datetime | None) -> str | None:
        """Why the feed is unhealthy, or None (lock held)."""
        if self._closed:
            return "the feed is closed"
        if self._started_at is None:
            return "the feed is not started"
        session = self._session(now.date())
        in_session = session is not None and session.open <= now < session.close
        stream = self._status.problem(now, self.stale_seconds, in_session=in_session)
        if stream is not None:
            return stream
        if in_session and session is not None:
            first_due = session.open + MINUTE + self.publish_lag
            quiet_since = max(t for t in (last_arrival, self._started_at, first_due)
                              if t is not None)
            quiet = (now - quiet_since).total_seconds()
            if quiet > self.stale_seconds:
                return f"no bar has arrived for {quiet:.0f} s of the session"
        return self._backfill_error

    def _range_start(self, session: SessionHours, last_bar_at: datetime | None) -> datetime:
        """Where the next backfill starts (lock held)."""
        if self._covered_day != session.day or self._covered_until is None:
            start = session.open
        else:
            # Before `_covered_until` history was read whole; the newest bar's minute may
            # have arrived for some symbols only (a drop mid-frame), so it is read again.
            start = self._covered_until
            if last_bar_at is not None:
                start = max(start, last_bar_at)
        if self._pending_from is not None:
            start = min(start, self._pending_from)
        return max(start, session.open)

    def _session(self, day: date) -> SessionHours | None:
        try:
            return self._calendar.session(day)
        except CalendarError:
            return None

    def _take_stream_bar(self, record: Any) -> None:
        """One raw bar from the stream (its thread): kept, or skipped and logged."""
        try:
            bar = read_stream_bar(record)
        except MalformedBrokerRecordError as error:
            log.warning("skipped a malformed stream bar: %s", error.message)
            return
        self._bars.add(bar, self._clock.now())

    def _schedule_backfill(self) -> None:
        """Backfill on a background thread after a connection (the first too: it covers
        the minutes that ended between the start's backfill and the subscription). One at a
        time; asked while one runs, it runs once more."""
        with self._lock:
            if self._closed:
                return
            running = self._backfill_thread
            if running is not None and running.is_alive():
                self._backfill_again = True
                return
            thread = threading.Thread(target=self._backfill_in_background,
                                      name="alpaca-backfill", daemon=True)
            self._backfill_thread = thread
        thread.start()

    def _backfill_in_background(self) -> None:
        while True:
            try:
                self.backfill()
            except Exception:  # a bug must not end silently on a daemon thread
                log.exception("the backfill failed")
            with self._lock:
                if not self._backfill_again or self._closed:
                    return
                self._backfill_again = False
