"""A strategy's window on one trading day and its phases.

A window starts at `START_TIME_<S>` and runs analysis (`<S>_ANALYSIS_TIME` minutes),
breakout (`<S>_BREAKOUT_TIME`) and monitoring (`<S>_MONITORING_TIME`). The scheduler builds
windows from the config and the exchange calendar (clipping them to an early close); the
strategy only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from tbot.clock import ensure_utc
from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName


class Phase(StrEnum):
    """Where a window is at one instant."""

    PENDING = "pending"
    ANALYSIS = "analysis"
    BREAKOUT = "breakout"
    MONITORING = "monitoring"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class StrategyWindow:
    """One strategy's phases on one day, as aware UTC instants (end-exclusive)."""

    strategy: StrategyName
    day: date
    start: datetime
    analysis_end: datetime
    breakout_end: datetime
    monitoring_end: datetime

    def __post_init__(self) -> None:
        for moment in (self.start, self.analysis_end, self.breakout_end, self.monitoring_end):
            ensure_utc(moment)
        if not self.start <= self.analysis_end <= self.breakout_end <= self.monitoring_end:
            raise ValueError(f"{self.strategy} window phases out of order on {self.day}")

    def phase_at(self, moment: datetime) -> Phase:
        """The phase in force at `moment`."""
        if moment < self.start:
            return Phase.PENDING
        if moment < self.analysis_end:
            return Phase.ANALYSIS
        if moment < self.breakout_end:
            return Phase.BREAKOUT
        if moment < self.monitoring_end:
            return Phase.MONITORING
        return Phase.DONE

    def phase_end(self, phase: Phase) -> datetime | None:
        """When `phase` ends (None for DONE, which never does)."""
        return {
            Phase.PENDING: self.start,
            Phase.ANALYSIS: self.analysis_end,
            Phase.BREAKOUT: self.breakout_end,
            Phase.MONITORING: self.monitoring_end,
        }.get(phase)

    def clipped_to(self, close: datetime) -> StrategyWindow:
        """This window cut off at `close` (an early close ends every phase by then)."""
        return StrategyWindow(
            strategy=self.strategy,
            day=self.day,
            start=min(self.start, close),
            analysis_end=min(self.analysis_end, close),
            breakout_end=min(self.breakout_end, close),
            monitoring_end=min(self.monitoring_end, close),
        )


def window_from_settings(bot: BotSettings, strategy: StrategyName, day: date) -> StrategyWindow:
    """The unclipped window of `strategy` on `day` from `.env_bot`'s START_TIME_* and
    *_ANALYSIS/BREAKOUT/MONITORING_TIME keys."""
    key = strategy.value.upper()
    start_time = getattr(bot, f"START_TIME_{key}")
    start = datetime.combine(day, start_time)
    analysis_end = start + timedelta(minutes=getattr(bot, f"{key}_ANALYSIS_TIME"))
    breakout_end = analysis_end + timedelta(minutes=getattr(bot, f"{key}_BREAKOUT_TIME"))
    monitoring_end = breakout_end + timedelta(minutes=getattr(bot, f"{key}_MONITORING_TIME"))
    return StrategyWindow(strategy, day, start, analysis_end, breakout_end, monitoring_end)
