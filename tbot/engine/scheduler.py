"""The session scheduler: which strategy windows run on a day, and what is on at an instant.

A day trades when its weekday is in TRADING_DAYS and the exchange has a session. Its
windows come from `.env_bot` (START_TIME_<S> and the phase lengths) in STRATEGY_SEQUENCE
order, each clipped into the session's [open, close]; a window is skipped, with a reason a
person can read, when clipping leaves no breakout phase (or no analysis phase to measure
from), or when it overlaps a window that starts earlier. Everything is aware UTC; the day
of an instant is its UTC date (US sessions never straddle UTC midnight).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from tbot.clock import ensure_utc
from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName, Weekday
from tbot.errors import TbotError
from tbot.market.calendar import SessionHours, TradingCalendar
from tbot.strategy.window import Phase, StrategyWindow, window_from_settings

SEARCH_DAYS = 15
"""How many days `next_wake` and `default_sim_start` look ahead or back for a window."""

SIM_START_LEAD = timedelta(minutes=5)
"""How long before the first window a default simulation starts."""

_CACHED_PLANS = 64


class EngineState(StrEnum):
    """What the engine is doing. The scheduler derives the first four from the phase;
    HALTED and SHUTDOWN are set by the engine itself."""

    IDLE = "idle"
    ANALYZING = "analyzing"
    TRADING = "trading"
    MONITORING = "monitoring"
    HALTED = "halted"
    SHUTDOWN = "shutdown"


_STATE_OF_PHASE = {
    Phase.ANALYSIS: EngineState.ANALYZING,
    Phase.BREAKOUT: EngineState.TRADING,
    Phase.MONITORING: EngineState.MONITORING,
}


class ScheduleError(TbotError):
    """The configuration leaves nothing to schedule in the days searched."""


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One day's schedule.

    `session` is None when the market is closed. `windows` are in STRATEGY_SEQUENCE order
    (or the single STRATEGY_OVERRIDE), already clipped to the session. `skipped` says in
    words why anything configured does not run that day.
    """

    day: date
    session: SessionHours | None
    windows: tuple[StrategyWindow, ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScheduleSlot:
    """What is on at one instant.

    Inside a window: that window, its phase and the end of the phase (`next_change`).
    Between windows: the next window of the day with phase PENDING, or no window and no
    phase once the day's last window is over; `next_change` is then the next wake-up
    (None when nothing is scheduled in the days searched).
    """

    window: StrategyWindow | None
    phase: Phase | None
    engine_state: EngineState
    next_change: datetime | None


class SessionScheduler:
    """Builds day plans from `.env_bot` and the exchange calendar, and answers "what now?".

    STRATEGY_OVERRIDE, when set, runs only that strategy, even if its STRAT_<S>_ENABLED is
    false: an override is an explicit instruction for the day and would otherwise silently
    do nothing. Without an override, STRATEGY_SEQUENCE runs in order, minus the disabled
    strategies.
    """

    def __init__(self, bot: BotSettings, calendar: TradingCalendar) -> None:
        self._bot = bot
        self._calendar = calendar
        self._plans: OrderedDict[date, DayPlan] = OrderedDict()

    def strategies_enabled(self) -> tuple[StrategyName, ...]:
        """The strategies that run on a trading day, in order."""
        override = self._bot.STRATEGY_OVERRIDE
        if override is not None:
            return (override,)
        return tuple(s for s in self._bot.STRATEGY_SEQUENCE if self._enabled(s))

    def plan(self, day: date) -> DayPlan:
        """The schedule of `day` (cached)."""
        cached = self._plans.get(day)
        if cached is None:
            cached = self._build_plan(day)
            self._plans[day] = cached
            while len(self._plans) > _CACHED_PLANS:
                self._plans.popitem(last=False)
        return cached

    def slot_at(self, moment: datetime) -> ScheduleSlot:
        """The window and phase in force at `moment`, and when that changes."""
        moment = ensure_utc(moment)
        plan = self.plan(moment.date())
        for window in plan.windows:
            if window.start <= moment < window.monitoring_end:
                phase = window.phase_at(moment)
                return ScheduleSlot(
                    window=window,
                    phase=phase,
                    engine_state=_STATE_OF_PHASE.get(phase, EngineState.IDLE),
                    next_change=window.phase_end(phase),
                )
        upcoming = [window for window in plan.windows if window.start > moment]
        pending = min(upcoming, key=lambda window: window.start, default=None)
        try:
            next_change: datetime | None = self.next_wake(moment)
        except ScheduleError:
            next_change = None
        return ScheduleSlot(
            window=pending,
            phase=Phase.PENDING if pending is not None else None,
            engine_state=EngineState.IDLE,
            next_change=next_change,
        )

    def next_wake(self, moment: datetime) -> datetime:
        """The next instant after `moment` at which a phase begins or ends: a boundary
        later today, else the first window start of the next day that has windows.

        Raises `ScheduleError` when no window is found within `SEARCH_DAYS` days.
        """
        moment = ensure_utc(moment)
        today = moment.date()
        boundaries = [
            boundary
            for window in self.plan(today).windows
            for boundary in (
                window.start,
                window.analysis_end,
                window.breakout_end,
                window.monitoring_end,
            )
            if boundary > moment
        ]
        if boundaries:
            return min(boundaries)
        reasons: dict[str, None] = {}
        for offset in range(1, SEARCH_DAYS + 1):
            plan = self.plan(today + timedelta(days=offset))
            if plan.windows:
                return min(window.start for window in plan.windows)
            reasons.update(dict.fromkeys(plan.skipped))
        raise ScheduleError(
            f"no strategy window in the {SEARCH_DAYS} days after {today.isoformat()}; "
            f"every day was skipped: {'; '.join(reasons) or 'no strategy configured'}"
        )

    def default_sim_start(self, now: date | datetime) -> datetime:
        """Where a simulation starts when none is given: `SIM_START_LEAD` before the first
        window of the most recent trading day that has at least one window.

        With a datetime, "most recent" means the latest day whose first window starts at or
        before `now` (on a Monday morning before the open that is the previous Friday);
        with a bare date, any day up to and including it counts.
        """
        if isinstance(now, datetime):
            limit: datetime | None = ensure_utc(now)
            day = limit.date()
        else:
            limit, day = None, now
        for offset in range(SEARCH_DAYS + 1):
            plan = self.plan(day - timedelta(days=offset))
            if not plan.windows:
                continue
            first_start = min(window.start for window in plan.windows)
            if limit is None or first_start <= limit:
                return first_start - SIM_START_LEAD
        raise ScheduleError(
            f"no strategy window in the {SEARCH_DAYS} days up to {day.isoformat()} to start "
            "a simulation from; check TRADING_DAYS and the STRAT_*_ENABLED settings"
        )

    # -- building a plan -----------------------------------------------------------------

    def _enabled(self, strategy: StrategyName) -> bool:
        return bool(getattr(self._bot, f"STRAT_{strategy.value.upper()}_ENABLED"))

    def _build_plan(self, day: date) -> DayPlan:
        session = self._calendar.session(day)
        weekday = list(Weekday)[day.weekday()]
        day_reasons: list[str] = []
        if weekday not in self._bot.TRADING_DAYS:
            day_reasons.append(f"not a trading day ({weekday.value} not in TRADING_DAYS)")
        if session is None:
            closed = "market closed (weekend)" if day.weekday() >= 5 else "market holiday"
            day_reasons.append(closed)
        if session is None or day_reasons:
            return DayPlan(day, session, (), tuple(day_reasons))

        skipped = self._unscheduled_strategies()
        fitted: list[StrategyWindow] = []
        for strategy in self.strategies_enabled():
            window, problem = _fit_to_session(
                window_from_settings(self._bot, strategy, day), session
            )
            if window is None:
                skipped.append(f"{strategy.value} window {problem}")
            else:
                fitted.append(window)

        # The earlier-starting window keeps its slot; on a tie, the earlier in the sequence.
        kept: list[StrategyWindow] = []
        for window in sorted(fitted, key=lambda w: w.start):
            clash = next((k for k in kept if _overlap(k, window)), None)
            if clash is None:
                kept.append(window)
            else:
                skipped.append(
                    f"{window.strategy.value} window {_span(window)} overlaps the "
                    f"{clash.strategy.value} window {_span(clash)}"
                )
        windows = tuple(window for window in fitted if window in kept)
        return DayPlan(day, session, windows, tuple(skipped))

    def _unscheduled_strategies(self) -> list[str]:
        """Why each strategy that will not run is left out, in words."""
        bot = self._bot
        override = bot.STRATEGY_OVERRIDE
        if override is not None:
            return [
                f"{s.value} not run (STRATEGY_OVERRIDE={override.value})"
                for s in StrategyName
                if s is not override
            ]
        reasons = [
            f"{s.value} disabled (STRAT_{s.value.upper()}_ENABLED=false)"
            for s in bot.STRATEGY_SEQUENCE
            if not self._enabled(s)
        ]
        reasons.extend(
            f"{s.value} not in STRATEGY_SEQUENCE"
            for s in StrategyName
            if s not in bot.STRATEGY_SEQUENCE
        )
        return reasons


def _fit_to_session(
    window: StrategyWindow, session: SessionHours
) -> tuple[StrategyWindow | None, str]:
    """`window` clipped into the session, or None and why nothing useful is left."""
    opens, closes = session.open, session.close
    close_words = f"the {'early ' if session.early_close else ''}close {_hhmm(closes)} UTC"
    if window.start >= closes:
        return None, f"starts {_hhmm(window.start)} UTC, at or after {close_words}"
    if window.breakout_end <= opens:
        return None, (
            f"breakout phase ends {_hhmm(window.breakout_end)} UTC, "
            f"before the open {_hhmm(opens)} UTC"
        )

    def clip(moment: datetime) -> datetime:
        return min(max(moment, opens), closes)

    clipped = StrategyWindow(
        strategy=window.strategy,
        day=window.day,
        start=clip(window.start),
        analysis_end=clip(window.analysis_end),
        breakout_end=clip(window.breakout_end),
        monitoring_end=clip(window.monitoring_end),
    )
    if clipped.analysis_end <= clipped.start:
        # Without an analysis phase there is no range or reference to break out from.
        return None, (
            f"analysis phase ends {_hhmm(window.analysis_end)} UTC, by the open {_hhmm(opens)} UTC"
        )
    if clipped.breakout_end <= clipped.analysis_end:
        return None, (
            f"breakout phase starts {_hhmm(window.analysis_end)} UTC, at or after {close_words}"
        )
    return clipped, ""


def _overlap(first: StrategyWindow, second: StrategyWindow) -> bool:
    """Whether two windows share an instant (windows are end-exclusive)."""
    return first.start < second.monitoring_end and second.start < first.monitoring_end


def _span(window: StrategyWindow) -> str:
    return f"{_hhmm(window.start)}-{_hhmm(window.monitoring_end)} UTC"


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")
