"""The registry builds strategies by name, wired to the market's inverse-ETF pools."""

from __future__ import annotations

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.market.universe import ETF_POOLS
from tbot.strategy.opening_range import OpeningRangeBreakout
from tbot.strategy.registry import UnknownStrategyError, available_strategies, build_strategy
from tbot.strategy.window import StrategyWindow, window_from_settings

from .conftest import DAY


def test_open_is_built_over_the_open_pool(
    template_bot: BotSettings, window: StrategyWindow
) -> None:
    strategy = build_strategy(StrategyName.OPEN, template_bot, window, ["F", "BAC"])

    assert isinstance(strategy, OpeningRangeBreakout)
    assert strategy.window is window
    assert strategy.watched_symbols() == ("F", "BAC", *ETF_POOLS["open"])
    assert strategy.self_check() == []


def test_only_open_is_available_for_now() -> None:
    assert available_strategies() == (StrategyName.OPEN,)


def test_a_strategy_without_implementation_is_a_clear_error(template_bot: BotSettings) -> None:
    mid_window = window_from_settings(template_bot, StrategyName.MID, DAY)
    with pytest.raises(UnknownStrategyError, match="strategy mid is not implemented yet"):
        build_strategy(StrategyName.MID, template_bot, mid_window, ["F"])


def test_a_window_of_another_strategy_is_refused(template_bot: BotSettings) -> None:
    mid_window = window_from_settings(template_bot, StrategyName.MID, DAY)
    with pytest.raises(ValueError, match="a mid window given to build strategy open"):
        build_strategy(StrategyName.OPEN, template_bot, mid_window, ["F"])
