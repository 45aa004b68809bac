"""Strategy names → the factories that build them for one window.

The engine and the backtester build strategies only through here, so both get the same
wiring (universe, inverse-ETF pool, leverage lookup). Adding `mid` or `close` is one entry in
`FACTORIES` pointing at that strategy's factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.errors import TbotError
from tbot.strategy.base import Strategy
from tbot.strategy.opening_range import OpeningRangeBreakout
from tbot.strategy.window import StrategyWindow

StrategyFactory = Callable[[BotSettings, StrategyWindow, Sequence[str]], Strategy]


class UnknownStrategyError(TbotError):
    """A strategy name with no implementation (yet)."""


def build_opening_range(
    bot: BotSettings, window: StrategyWindow, universe: Sequence[str]
) -> Strategy:
    """The `open` strategy with the market's `open` inverse-ETF pool."""
    # Imported here so the registry module loads without the market universe.
    from tbot.market.universe import ETF_POOLS, leverage_multiplier

    return OpeningRangeBreakout(
        bot, window, universe, ETF_POOLS["open"], leverage_of=leverage_multiplier
    )


FACTORIES: Mapping[StrategyName, StrategyFactory] = {
    StrategyName.OPEN: build_opening_range,
}


def available_strategies() -> tuple[StrategyName, ...]:
    """The strategies that can be built, in StrategyName order."""
    return tuple(name for name in StrategyName if name in FACTORIES)


def build_strategy(
    name: StrategyName, bot: BotSettings, window: StrategyWindow, universe: Sequence[str]
) -> Strategy:
    """Build strategy `name` for `window` over `universe`; UnknownStrategyError if `name`
    has no implementation."""
    factory = FACTORIES.get(name)
    if factory is None:
        known = ", ".join(available_strategies())
        raise UnknownStrategyError(f"strategy {name!s} is not implemented yet (available: {known})")
    if window.strategy is not name:
        raise ValueError(f"a {window.strategy} window given to build strategy {name}")
    return factory(bot, window, universe)
