"""Strategy names → the factories that build them for one window.

The engine and the backtester build strategies only through here, so both get the same
wiring (universe, each strategy's own inverse-ETF pool, leverage lookup, and the market
sources a strategy reads besides bars: the VIX for `close`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.errors import TbotError
from tbot.market.vix import VixSource
from tbot.strategy.base import Strategy
from tbot.strategy.closing_momentum import ClosingMomentum
from tbot.strategy.opening_range import OpeningRangeBreakout
from tbot.strategy.vwap_reversion import VwapReversion
from tbot.strategy.window import StrategyWindow


@dataclass(frozen=True, slots=True)
class MarketSources:
    """What strategies read besides bars. No VIX source: the close strategy's gate
    blocks its entries and says so (it never passes on an unknown VIX)."""

    vix: VixSource | None = None


StrategyFactory = Callable[[BotSettings, StrategyWindow, Sequence[str], MarketSources],
                           Strategy]


class UnknownStrategyError(TbotError):
    """A strategy name with no implementation (yet)."""


def build_opening_range(bot: BotSettings, window: StrategyWindow, universe: Sequence[str],
                        sources: MarketSources) -> Strategy:
    """The `open` strategy with the market's `open` inverse-ETF pool."""
    # Imported here so the registry module loads without the market universe.
    from tbot.market.universe import ETF_POOLS, leverage_multiplier

    return OpeningRangeBreakout(
        bot, window, universe, ETF_POOLS["open"], leverage_of=leverage_multiplier
    )


def build_vwap_reversion(bot: BotSettings, window: StrategyWindow, universe: Sequence[str],
                         sources: MarketSources) -> Strategy:
    """The `mid` strategy with the `mid` inverse-ETF pool."""
    from tbot.market.universe import ETF_POOLS, leverage_multiplier

    return VwapReversion(bot, window, universe, ETF_POOLS["mid"],
                         leverage_of=leverage_multiplier)


def build_closing_momentum(bot: BotSettings, window: StrategyWindow, universe: Sequence[str],
                           sources: MarketSources) -> Strategy:
    """The `close` strategy with the `close` inverse-ETF pool and the VIX source."""
    from tbot.market.universe import ETF_POOLS, leverage_multiplier

    return ClosingMomentum(bot, window, universe, ETF_POOLS["close"], vix=sources.vix,
                           leverage_of=leverage_multiplier)


FACTORIES: Mapping[StrategyName, StrategyFactory] = {
    StrategyName.OPEN: build_opening_range,
    StrategyName.MID: build_vwap_reversion,
    StrategyName.CLOSE: build_closing_momentum,
}


def available_strategies() -> tuple[StrategyName, ...]:
    """The strategies that can be built, in StrategyName order."""
    return tuple(name for name in StrategyName if name in FACTORIES)


def build_strategy(
    name: StrategyName, bot: BotSettings, window: StrategyWindow, universe: Sequence[str],
    sources: MarketSources | None = None,
) -> Strategy:
    """Build strategy `name` for `window` over `universe`, reading `sources`;
    UnknownStrategyError if `name` has no implementation."""
    factory = FACTORIES.get(name)
    if factory is None:
        known = ", ".join(available_strategies())
        raise UnknownStrategyError(f"strategy {name!s} is not implemented yet (available: {known})")
    if window.strategy is not name:
        raise ValueError(f"a {window.strategy} window given to build strategy {name}")
    return factory(bot, window, universe, sources or MarketSources())
