"""The session scheduler: day plans from `.env_bot` and the XNYS calendar, slots, wake-ups."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from tbot.config.loader import parse_bot_text, template_text
from tbot.config.setting_types import StrategyName
from tbot.engine.scheduler import (
    SIM_START_LEAD,
    DayPlan,
    EngineState,
    ScheduleError,
    SessionScheduler,
)
from tbot.market.calendar import TradingCalendar
from tbot.strategy.window import Phase

OPEN, MID, CLOSE = StrategyName.OPEN, StrategyName.MID, StrategyName.CLOSE
FRIDAY = date(2026, 11, 20)
SATURDAY = date(2026, 11, 21)
MONDAY = date(2026, 11, 23)
THANKSGIVING = date(2026, 11, 26)
EARLY_CLOSE = date(2026, 11, 27)
SUMMER_DAY = date(2026, 7, 15)

MakeScheduler = Callable[..., SessionScheduler]


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar()


@pytest.fixture
def scheduler_with(calendar: TradingCalendar) -> MakeScheduler:
    """A scheduler over the shipped template with some `.env_bot` keys rewritten (as text,
    so the values go through the real validation)."""

    def build(**values: str) -> SessionScheduler:
        text = template_text(".env_bot")
        for key, value in values.items():
            text, count = re.subn(rf"(?m)^{key}=.*$", f"{key}={value}", text)
            assert count == 1, key
        return SessionScheduler(parse_bot_text(text, "test"), calendar)

    return build


@pytest.fixture
def scheduler(scheduler_with: MakeScheduler) -> SessionScheduler:
    return scheduler_with()


def spans(plan: DayPlan) -> list[tuple[StrategyName, str, str, str, str]]:
    """Each window as (strategy, start, analysis end, breakout end, monitoring end)."""
    return [
        (
            window.strategy,
            *(
                moment.strftime("%H:%M")
                for moment in (
                    window.start,
                    window.analysis_end,
                    window.breakout_end,
                    window.monitoring_end,
                )
            ),
        )
        for window in plan.windows
    ]


# -- day plans -----------------------------------------------------------------------------


def test_template_on_a_winter_day_runs_open_mid_and_close(scheduler: SessionScheduler) -> None:
    plan = scheduler.plan(FRIDAY)
    assert plan.session is not None and plan.session.open == utc(FRIDAY, 14, 30)
    assert spans(plan) == [
        (OPEN, "14:30", "14:50", "15:00", "15:30"),
        (MID, "15:30", "15:45", "15:55", "16:25"),
        (CLOSE, "19:30", "19:35", "19:40", "20:05"),
    ]
    assert plan.skipped == ()
    assert all(window.day == FRIDAY for window in plan.windows)


def test_thanksgiving_has_no_windows(scheduler: SessionScheduler) -> None:
    plan = scheduler.plan(THANKSGIVING)
    assert plan.session is None
    assert plan.windows == ()
    assert plan.skipped == ("market holiday",)


def test_the_early_close_skips_the_close_window(scheduler: SessionScheduler) -> None:
    plan = scheduler.plan(EARLY_CLOSE)
    assert [window.strategy for window in plan.windows] == [OPEN, MID]
    assert plan.skipped == ("close window starts 19:30 UTC, at or after the early close 18:00 UTC",)


def test_a_saturday_is_not_a_trading_day(scheduler: SessionScheduler) -> None:
    plan = scheduler.plan(SATURDAY)
    assert plan.windows == ()
    assert plan.skipped == (
        "not a trading day (sat not in TRADING_DAYS)",
        "market closed (weekend)",
    )


def test_trading_days_without_friday_skip_an_open_friday(
    scheduler_with: MakeScheduler,
) -> None:
    plan = scheduler_with(TRADING_DAYS="mon,tue,wed,thu").plan(FRIDAY)
    assert plan.session is not None
    assert plan.windows == ()
    assert plan.skipped == ("not a trading day (fri not in TRADING_DAYS)",)


def test_a_disabled_strategy_is_left_out_with_its_reason(scheduler_with: MakeScheduler) -> None:
    scheduler = scheduler_with(STRAT_MID_ENABLED="false")
    plan = scheduler.plan(FRIDAY)
    assert [window.strategy for window in plan.windows] == [OPEN, CLOSE]
    assert plan.skipped == ("mid disabled (STRAT_MID_ENABLED=false)",)
    assert scheduler.strategies_enabled() == (OPEN, CLOSE)


def test_the_override_runs_only_its_strategy_even_when_disabled(
    scheduler_with: MakeScheduler,
) -> None:
    scheduler = scheduler_with(STRATEGY_OVERRIDE="mid", STRAT_MID_ENABLED="false")
    plan = scheduler.plan(FRIDAY)
    assert scheduler.strategies_enabled() == (MID,)
    assert [window.strategy for window in plan.windows] == [MID]
    assert plan.skipped == (
        "open not run (STRATEGY_OVERRIDE=mid)",
        "close not run (STRATEGY_OVERRIDE=mid)",
    )


def test_windows_follow_the_strategy_sequence_order(scheduler_with: MakeScheduler) -> None:
    scheduler = scheduler_with(STRATEGY_SEQUENCE="close,open")
    plan = scheduler.plan(FRIDAY)
    assert scheduler.strategies_enabled() == (CLOSE, OPEN)
    assert [window.strategy for window in plan.windows] == [CLOSE, OPEN]
    assert plan.skipped == ("mid not in STRATEGY_SEQUENCE",)


def test_a_summer_close_window_is_clipped_to_the_close(scheduler: SessionScheduler) -> None:
    plan = scheduler.plan(SUMMER_DAY)
    assert spans(plan)[-1] == (CLOSE, "19:30", "19:35", "19:40", "20:00")


def test_a_window_starting_before_the_open_is_clipped_to_it(
    scheduler_with: MakeScheduler,
) -> None:
    plan = scheduler_with(START_TIME_OPEN="14:20").plan(FRIDAY)
    assert spans(plan)[0] == (OPEN, "14:30", "14:40", "14:50", "15:20")


def test_a_window_whose_breakout_ends_before_the_open_is_skipped(
    scheduler_with: MakeScheduler,
) -> None:
    plan = scheduler_with(START_TIME_OPEN="13:00").plan(FRIDAY)
    assert [window.strategy for window in plan.windows] == [MID, CLOSE]
    assert plan.skipped == ("open window breakout phase ends 13:30 UTC, before the open 14:30 UTC",)


def test_a_window_with_no_analysis_left_after_the_open_is_skipped(
    scheduler_with: MakeScheduler,
) -> None:
    plan = scheduler_with(START_TIME_OPEN="14:05").plan(FRIDAY)
    assert [window.strategy for window in plan.windows] == [MID, CLOSE]
    assert plan.skipped == ("open window analysis phase ends 14:25 UTC, by the open 14:30 UTC",)


def test_a_window_whose_breakout_would_start_after_the_close_is_skipped(
    scheduler_with: MakeScheduler,
) -> None:
    plan = scheduler_with(START_TIME_CLOSE="17:56").plan(EARLY_CLOSE)
    assert plan.skipped == (
        "close window breakout phase starts 18:01 UTC, at or after the early close 18:00 UTC",
    )


def test_an_overlapping_later_window_is_skipped(scheduler_with: MakeScheduler) -> None:
    plan = scheduler_with(START_TIME_MID="15:00").plan(FRIDAY)
    assert [window.strategy for window in plan.windows] == [OPEN, CLOSE]
    assert plan.skipped == ("mid window 15:00-15:55 UTC overlaps the open window 14:30-15:30 UTC",)


def test_overlap_keeps_the_earlier_window_whatever_the_sequence(
    scheduler_with: MakeScheduler,
) -> None:
    plan = scheduler_with(STRATEGY_SEQUENCE="mid,open,close", START_TIME_MID="14:40").plan(FRIDAY)
    assert [window.strategy for window in plan.windows] == [OPEN, CLOSE]
    assert plan.skipped == ("mid window 14:40-15:35 UTC overlaps the open window 14:30-15:30 UTC",)


def test_plans_are_cached(scheduler: SessionScheduler) -> None:
    assert scheduler.plan(FRIDAY) is scheduler.plan(FRIDAY)


# -- slots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "strategy", "phase", "state", "change"),
    [
        (14, 30, OPEN, Phase.ANALYSIS, EngineState.ANALYZING, (14, 50)),
        (14, 49, OPEN, Phase.ANALYSIS, EngineState.ANALYZING, (14, 50)),
        (14, 50, OPEN, Phase.BREAKOUT, EngineState.TRADING, (15, 0)),
        (15, 10, OPEN, Phase.MONITORING, EngineState.MONITORING, (15, 30)),
        (15, 30, MID, Phase.ANALYSIS, EngineState.ANALYZING, (15, 45)),
        (19, 45, CLOSE, Phase.MONITORING, EngineState.MONITORING, (20, 5)),
    ],
)
def test_slot_inside_a_window_gives_its_phase_state_and_phase_end(
    scheduler: SessionScheduler,
    hour: int,
    minute: int,
    strategy: StrategyName,
    phase: Phase,
    state: EngineState,
    change: tuple[int, int],
) -> None:
    slot = scheduler.slot_at(utc(FRIDAY, hour, minute))
    assert slot.window is not None and slot.window.strategy is strategy
    assert (slot.phase, slot.engine_state) == (phase, state)
    assert slot.next_change == utc(FRIDAY, *change)


def test_slot_between_windows_is_idle_with_the_next_window_pending(
    scheduler: SessionScheduler,
) -> None:
    slot = scheduler.slot_at(utc(FRIDAY, 17, 0))
    assert slot.window is not None and slot.window.strategy is CLOSE
    assert (slot.phase, slot.engine_state) == (Phase.PENDING, EngineState.IDLE)
    assert slot.next_change == utc(FRIDAY, 19, 30)


def test_slot_after_the_last_window_points_at_the_next_trading_day(
    scheduler: SessionScheduler,
) -> None:
    slot = scheduler.slot_at(utc(FRIDAY, 20, 5))
    assert (slot.window, slot.phase, slot.engine_state) == (None, None, EngineState.IDLE)
    assert slot.next_change == utc(MONDAY, 14, 30)


def test_slot_with_nothing_ever_scheduled_has_no_next_change(
    scheduler_with: MakeScheduler,
) -> None:
    slot = scheduler_with(TRADING_DAYS="sat,sun").slot_at(utc(FRIDAY, 15, 0))
    assert (slot.window, slot.engine_state, slot.next_change) == (None, EngineState.IDLE, None)


def test_slot_refuses_naive_times(scheduler: SessionScheduler) -> None:
    with pytest.raises(ValueError, match="naive"):
        scheduler.slot_at(datetime(2026, 11, 20, 15, 0))  # noqa: DTZ001 - the point


# -- wake-ups ------------------------------------------------------------------------------


def test_next_wake_is_the_next_phase_boundary_today(scheduler: SessionScheduler) -> None:
    assert scheduler.next_wake(utc(FRIDAY, 14, 35)) == utc(FRIDAY, 14, 50)
    assert scheduler.next_wake(utc(FRIDAY, 14, 50)) == utc(FRIDAY, 15, 0)
    assert scheduler.next_wake(utc(FRIDAY, 3, 0)) == utc(FRIDAY, 14, 30)


def test_next_wake_crosses_the_weekend(scheduler: SessionScheduler) -> None:
    assert scheduler.next_wake(utc(FRIDAY, 20, 5)) == utc(MONDAY, 14, 30)
    assert scheduler.next_wake(utc(SATURDAY, 12, 0)) == utc(MONDAY, 14, 30)


def test_next_wake_crosses_thanksgiving(scheduler: SessionScheduler) -> None:
    assert scheduler.next_wake(utc(date(2026, 11, 25), 21, 0)) == utc(EARLY_CLOSE, 14, 30)


def test_next_wake_with_nothing_to_run_is_a_clear_error(scheduler_with: MakeScheduler) -> None:
    scheduler = scheduler_with(TRADING_DAYS="sat,sun")
    with pytest.raises(ScheduleError, match="no strategy window in the 15 days after"):
        scheduler.next_wake(utc(FRIDAY, 21, 0))


# -- default simulation start --------------------------------------------------------------


def test_default_sim_start_on_monday_morning_replays_friday(scheduler: SessionScheduler) -> None:
    assert scheduler.default_sim_start(utc(MONDAY, 9, 0)) == utc(FRIDAY, 14, 25)


def test_default_sim_start_once_todays_first_window_has_begun_is_today(
    scheduler: SessionScheduler,
) -> None:
    assert scheduler.default_sim_start(utc(MONDAY, 14, 30)) == utc(MONDAY, 14, 25)
    assert scheduler.default_sim_start(utc(MONDAY, 22, 0)) == utc(MONDAY, 14, 25)


def test_default_sim_start_skips_weekends_and_holidays(scheduler: SessionScheduler) -> None:
    assert scheduler.default_sim_start(utc(date(2026, 11, 22), 12, 0)) == utc(FRIDAY, 14, 25)
    thanksgiving_eve = date(2026, 11, 25)
    assert scheduler.default_sim_start(utc(EARLY_CLOSE, 10, 0)) == utc(thanksgiving_eve, 14, 25)


def test_default_sim_start_with_a_bare_date_counts_that_whole_day(
    scheduler: SessionScheduler,
) -> None:
    assert scheduler.default_sim_start(MONDAY) == utc(MONDAY, 14, 30) - SIM_START_LEAD


def test_default_sim_start_with_nothing_to_run_is_a_clear_error(
    scheduler_with: MakeScheduler,
) -> None:
    scheduler = scheduler_with(TRADING_DAYS="sat")
    with pytest.raises(ScheduleError, match="to start a simulation from"):
        scheduler.default_sim_start(utc(MONDAY, 9, 0))


def test_strategies_enabled_follows_the_template(scheduler: SessionScheduler) -> None:
    assert scheduler.strategies_enabled() == (OPEN, MID, CLOSE)
