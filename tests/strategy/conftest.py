"""Fixtures for strategy tests: settings from the shipped template, the `open` window of a
fixed Friday (14:30 start, breakout from 14:50, monitoring from 15:00, end 15:30), and a
factory for the opening-range strategy over a small universe and inverse pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.loader import parse_bot_text, template_text
from tbot.config.setting_types import StrategyName
from tbot.strategy.opening_range import OpeningRangeBreakout
from tbot.strategy.window import StrategyWindow, window_from_settings

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
ANALYSIS_END = START + timedelta(minutes=20)
BREAKOUT_END = ANALYSIS_END + timedelta(minutes=10)
MONITORING_END = BREAKOUT_END + timedelta(minutes=30)

UNIVERSE = ("AAPL", "MSFT", "F")
POOL = ("SH", "PSQ", "SQQQ")
LEVERAGE = {"SH": -1, "PSQ": -1, "SQQQ": -3}  # negative: inverse, as the universe has it

MakeStrategy = Callable[..., OpeningRangeBreakout]


@pytest.fixture(scope="session")
def template_bot() -> BotSettings:
    """`.env_bot.template` as settings (parsed once)."""
    return parse_bot_text(template_text(".env_bot"), "template")


@pytest.fixture
def window(template_bot: BotSettings) -> StrategyWindow:
    """The template's `open` window on DAY."""
    built = window_from_settings(template_bot, StrategyName.OPEN, DAY)
    assert (built.start, built.analysis_end) == (START, ANALYSIS_END)
    assert (built.breakout_end, built.monitoring_end) == (BREAKOUT_END, MONITORING_END)
    return built


@pytest.fixture
def make_strategy(template_bot: BotSettings, window: StrategyWindow) -> MakeStrategy:
    """`make_strategy(KEY=value, ..., universe=..., pool=..., window=...)`: the strategy
    over the template settings with those keys changed."""

    def make(
        *,
        universe: Sequence[str] = UNIVERSE,
        pool: Sequence[str] = POOL,
        window: StrategyWindow = window,
        **updates: Any,
    ) -> OpeningRangeBreakout:
        bot = template_bot.model_copy(update=updates)
        return OpeningRangeBreakout(bot, window, universe, pool, leverage_of=LEVERAGE.__getitem__)

    return make
