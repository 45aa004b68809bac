"""The simulated broker account of a bot home: its settings, from `.env_bot`."""

from __future__ import annotations

from tbot.broker.sim.settings import SimBrokerSettings
from tbot.config.bot_settings import BotSettings


def sim_broker_settings(bot: BotSettings, bot_identity: str) -> SimBrokerSettings:
    """The simulated account of the bot `bot_identity` as `.env_bot` describes it."""
    return SimBrokerSettings(
        account_id=f"SIM-{bot_identity}",
        starting_cash=bot.SIM_STARTING_CASH,
        fee_per_share=bot.SIM_FEE_PER_SHARE,
        slippage_bps=bot.SIM_SLIPPAGE_BPS,
        max_volume_participation=bot.SIM_MAX_VOLUME_PARTICIPATION,
        faults=bot.SIM_FAULTS,
    )
