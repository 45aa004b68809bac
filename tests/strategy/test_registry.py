"""The registry builds strategies by name, wired to the market's inverse-ETF pools."""

from __future__ import annotations

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.market.universe import ETF_POOLS
from tbot.strategy.closing_momentum import ClosingMomentum
from tbot.strategy.opening_range import OpeningRangeBreakout
from tbot.strategy.registry import available_strategies, build_strategy
from tbot.strategy.vwap_reversion import VwapReversion
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


def test_all_three_strategies_are_available() -> None:
    assert available_strategies() == (StrategyName.OPEN, StrategyName.MID, StrategyName.CLOSE)


@pytest.mark.parametrize(("name", "kind"), [(StrategyName.MID, VwapReversion),
                                            (StrategyName.CLOSE, ClosingMomentum)])
def test_mid_and_close_are_built_over_their_own_pools(
    template_bot: BotSettings, name: StrategyName, kind: type
) -> None:
    built = window_from_settings(template_bot, name, DAY)
    strategy = build_strategy(name, template_bot, built, ["F", "BAC"])
    assert isinstance(strategy, kind)
    assert strategy.watched_symbols() == ("F", "BAC", *ETF_POOLS[name.value])


def test_close_without_a_vix_source_says_so_in_its_self_check(template_bot: BotSettings) -> None:
    built = window_from_settings(template_bot, StrategyName.CLOSE, DAY)
    without = build_strategy(StrategyName.CLOSE, template_bot, built, ["F"])
    assert any("no VIX source" in problem for problem in without.self_check())


def test_a_window_of_another_strategy_is_refused(template_bot: BotSettings) -> None:
    mid_window = window_from_settings(template_bot, StrategyName.MID, DAY)
    with pytest.raises(ValueError, match="a mid window given to build strategy open"):
        build_strategy(StrategyName.OPEN, template_bot, mid_window, ["F"])
