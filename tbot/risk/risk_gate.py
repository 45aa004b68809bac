"""The one gate every order passes: entries and exits are approved or refused here.

Entry checks run in a fixed order, and the first refusal wins: trading state, the
strategy's enabled flag, what a short sale may be, session limits, then sizing. A short
sale (tag ``ShortSell``) is sized and limited like a purchase: its notional takes the same
allocation, risk cap and buying power, and it is one open position; only its quantity is
whole shares (no broker lends a fraction of a share).

The gate decides only; the engine records an approved entry in `SessionLimits` when it
sends the order, and on a daily-loss breach halts the state machine, flattens and writes
the audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tbot.config.bot_settings import BotSettings
from tbot.market.universe import is_inverse_etf
from tbot.risk.limits import SessionLimits
from tbot.risk.sizing import SizeDecision, position_size
from tbot.risk.trading_state import TradingStateMachine
from tbot.strategy.signals import TAG_SHORT_SELL, Direction, EntrySignal, ExitSignal


@dataclass(frozen=True, slots=True)
class Approved:
    """Go ahead. An entry carries its size; an exit carries neither (the engine sells all
    that the strategy holds)."""

    quantity: Decimal | None
    sizing: SizeDecision | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """Do not send; `reason` is for the strategy log and the console."""

    reason: str


GateDecision = Approved | Refused


class RiskGate:
    """Approves or refuses orders against the trading state, limits and sizing."""

    def __init__(self, bot: BotSettings, state: TradingStateMachine, limits: SessionLimits) -> None:
        self._bot = bot
        self.state = state
        self.limits = limits

    def check_entry(
        self,
        signal: EntrySignal,
        *,
        capital: Decimal,
        buying_power: Decimal,
        trade_index: int,
        strategy_enabled: bool,
    ) -> GateDecision:
        """Approve `signal` with a size, or refuse it with the first reason found."""
        if not self.state.allows_entry():
            return Refused(f"trading {self.state.state}: {self.state.reason}")
        if not strategy_enabled:
            key = f"STRAT_{signal.strategy.value.upper()}_ENABLED"
            return Refused(f"strategy {signal.strategy} is disabled ({key}=false)")
        refusal = short_sale_refusal(signal) if signal.tag == TAG_SHORT_SELL else None
        if refusal is None:
            refusal = self.limits.check_entry(signal.strategy, signal.underlying,
                                              signal.instrument)
        if refusal is not None:
            return Refused(refusal)
        sizing = position_size(
            capital=capital,
            bot=self._bot,
            trade_index=trade_index,
            price=signal.reference_price,
            buying_power=buying_power,
            whole_shares=signal.tag == TAG_SHORT_SELL,
        )
        if not sizing.approved:
            return Refused(f"sizing: {sizing.reason}")
        return Approved(sizing.quantity, sizing)

    def check_exit(self, signal: ExitSignal) -> GateDecision:
        """Approve an exit unless the bot is halted and the exit is not the halt's own
        flattening."""
        if self.state.allows_exit(signal.reason):
            return Approved(None)
        return Refused(
            f"trading {self.state.state} by {self.state.reason}: "
            f"{signal.reason} exits wait for risk.reset"
        )

    def daily_loss_breached(self, *, pnl_today: Decimal, capital: Decimal) -> bool:
        """True when today's PnL is at or below −capital × DAILY_LOSS_LIMIT (reaching the
        limit exactly counts as breaching it)."""
        return pnl_today <= -(capital * self._bot.DAILY_LOSS_LIMIT)


def short_sale_refusal(signal: EntrySignal) -> str | None:
    """Why a ``ShortSell`` entry cannot be a short sale, or None: it must be bearish, sell
    the stock itself (not an inverse ETF, which is bought for a bearish view, never sold
    short) and carry no leverage."""
    instrument = signal.instrument
    if signal.direction is not Direction.BEARISH:
        return f"a short sale of {instrument} must be bearish, not {signal.direction}"
    if instrument != signal.underlying:
        return (f"a short sale sells the stock itself: {instrument} is not the "
                f"underlying {signal.underlying}")
    if is_inverse_etf(instrument):
        return f"{instrument} is an inverse ETF: it is bought for a bearish view, never sold short"
    if signal.leverage_multiplier != 1:
        return f"a short sale of {instrument} has leverage 1, not {signal.leverage_multiplier}"
    return None
