"""Settings whose feature is not built yet, said plainly instead of silently ignored.

Every `.env_bot` key is validated, but some name features tbot does not have yet. A key
set to anything but its inert value is reported, one line per key, by
`tbot config validate` and at engine start. An entry may say `refuses_trading`: a key
whose missing feature would make trading unsafe stops the engine instead (none does today:
`TRADE_CONFIRMATION_REQUIRED=true` was one until the approval queue was built).

When a feature is built, its entry leaves `NOT_BUILT` in the same change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import BrokerName


@dataclass(frozen=True, slots=True)
class NotBuilt:
    """One setting with no effect yet. `acts(value, settings)` says whether the value
    asks for the missing feature (an inert value says nothing)."""

    key: str
    feature: str
    acts: Callable[[Any, BotSettings], bool]
    refuses_trading: bool = False


@dataclass(frozen=True, slots=True)
class UnbuiltSetting:
    """A key set to ask for a feature that is not built: what to tell the operator."""

    key: str
    value: str
    message: str
    refuses_trading: bool

    def __str__(self) -> str:
        return f"{self.key}={self.value}: {self.message}"


def _true(value: Any, _: BotSettings) -> bool:
    return bool(value)


def _false(value: Any, _: BotSettings) -> bool:
    return not value


def _always(_value: Any, _settings: BotSettings) -> bool:
    return True


NOT_BUILT: tuple[NotBuilt, ...] = (
    NotBuilt("REBALANCE_ENABLED", "automated rebalancing is not built yet (REBALANCE_THRESHOLD "
             "and REBALANCE_CHECK_INTERVAL have no effect either)", _true),
    NotBuilt("ENABLE_REBALANCE_NOTIFIER", "rebalance notifications are not built yet "
             "(REBALANCE_TRIGGER_PCT has no effect either)", _true),
    NotBuilt("FAILOVER_ENABLED", "failover broker routing is not built yet "
             "(FAILOVER_LOG_TAG has no effect either)", _true),
    NotBuilt("ENABLE_STRATEGY_OPTIMIZER", "the strategy optimizer is not built yet "
             "(OPTIMIZER_* have no effect either)", _true),
    NotBuilt("ENABLE_SLIPPAGE_MODEL", "the simulated broker's slippage model is not built yet "
             "(SLIPPAGE_MEAN_PCT, SLIPPAGE_STDDEV_PCT and SIMULATED_LATENCY_MS have no effect; "
             "it fills at the bar's prices)", _true),
    NotBuilt("LIQUIDITY_CHECK_ENABLED", "with BROKER_NAME=ALPACA the market guard reads no "
             "quotes yet: spreads are not checked (LIQUIDITY_SPREAD_THRESHOLD_BPS has no "
             "effect); the gap check and slippage do act",
             lambda value, bot: bool(value) and bot.BROKER_NAME is not BrokerName.SIM),
    NotBuilt("MIN_POSITION_QTY", "not applied yet: orders are sized by the risk settings and "
             "FRACTIONAL, and the broker refuses what is below its own minimum", _always),
    NotBuilt("SLEEP_TIME", "has no effect: the engine steps by market minutes", _always),
    NotBuilt("RBAC_ENABLED", "roles cannot be switched off: the control socket always "
             "enforces them", _false),
    NotBuilt("ENABLE_LOGGING", "logging cannot be switched off: the engine always logs",
             _false),
    NotBuilt("ENABLE_BSM_FILTER", "the Black-Scholes-Merton check is built but has nothing to "
             "judge until a strategy trades options (LongPut, with the IBKR adapter)", _true),
    NotBuilt("ENABLE_VIX_GATE", "with BROKER_NAME=ALPACA there is no VIX source yet: the close "
             "strategy's self-check fails and its window does not trade",
             lambda value, bot: bool(value) and bot.BROKER_NAME is BrokerName.ALPACA),
)


def unbuilt_settings(bot: BotSettings) -> list[UnbuiltSetting]:
    """The keys of `bot` that ask for a feature not built yet, in `NOT_BUILT` order."""
    found = []
    for entry in NOT_BUILT:
        value = getattr(bot, entry.key)
        if entry.acts(value, bot):
            text = str(value).lower() if isinstance(value, bool) else str(value)
            found.append(UnbuiltSetting(entry.key, text, entry.feature, entry.refuses_trading))
    return found
