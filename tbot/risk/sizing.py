"""How many shares one entry buys (or sells short: a short sale is sized the same way).

The position's value is the smallest of three amounts:

- the allocation: ``capital × TOTAL_ALLOCATION × WEIGHTS[trade_index]`` (the session's
  share of the account, split over its trades by weight);
- the risk cap: the loss at the trailing stop must not exceed
  ``capital × MAX_RISK_PER_TRADE``, so the value may be at most
  ``capital × MAX_RISK_PER_TRADE / stop fraction``;
- the buying power the broker reports.

The quantity is value / price rounded down: to whole shares, or to 9 decimal places (the
ledger's share precision) with FRACTIONAL=true. A short sale is always whole shares:
brokers do not lend fractions of a share to sell short. Rounding down never spends more
than the smallest limit. A quantity of zero is a refusal, with the numbers that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from tbot.config.bot_settings import BotSettings
from tbot.strategy.opening_range import TRAILING_STOP

WHOLE_SHARE = Decimal(1)
FRACTIONAL_SHARE = Decimal("0.000000001")


@dataclass(frozen=True, slots=True)
class SizeDecision:
    """The size of one entry and every number behind it, for the log.

    `limited_by` names the smallest limit (``allocation``, ``risk_cap`` or
    ``buying_power``); `approved` is False when the quantity is zero and `reason` says why.
    """

    approved: bool
    quantity: Decimal
    notional: Decimal
    price: Decimal
    allocation: Decimal
    risk_cap: Decimal
    buying_power: Decimal
    value: Decimal
    limited_by: str
    reason: str


def position_size(
    *,
    capital: Decimal,
    bot: BotSettings,
    trade_index: int,
    price: Decimal,
    buying_power: Decimal,
    stop_fraction: Decimal = TRAILING_STOP,
    whole_shares: bool = False,
) -> SizeDecision:
    """Size trade number `trade_index` (0-based within the strategy session) at `price`;
    `whole_shares` rounds to whole shares even with FRACTIONAL=true (a short sale)."""
    weights = bot.WEIGHTS
    zero = Decimal(0)
    if not 0 <= trade_index < len(weights):
        reason = f"trade {trade_index + 1} has no weight: WEIGHTS has {len(weights)}"
        return _refused(price, buying_power, reason)
    if capital <= 0:
        return _refused(price, buying_power, f"no capital to size from (capital {capital})")
    if price <= 0:
        return _refused(price, buying_power, f"no usable price (price {price})")

    allocation = capital * bot.TOTAL_ALLOCATION * weights[trade_index]
    risk_cap = capital * bot.MAX_RISK_PER_TRADE / stop_fraction
    available = max(buying_power, zero)
    limits = {"allocation": allocation, "risk_cap": risk_cap, "buying_power": available}
    limited_by = min(limits, key=lambda name: limits[name])
    value = limits[limited_by]
    fractional = bot.FRACTIONAL and not whole_shares
    step = FRACTIONAL_SHARE if fractional else WHOLE_SHARE
    quantity = (value / price).quantize(step, rounding=ROUND_DOWN)
    notional = quantity * price
    shares = "fractional shares" if fractional else "whole shares"
    numbers = (
        f"allocation {_shown(allocation)} (capital {_shown(capital)} x "
        f"{bot.TOTAL_ALLOCATION} x weight {weights[trade_index]}), "
        f"risk cap {_shown(risk_cap)}, buying power {_shown(available)}"
    )
    if quantity <= 0:
        reason = (
            f"quantity rounds to 0 ({shares}): {limited_by} {_shown(value)} "
            f"at price {_shown(price)}; {numbers}"
        )
    else:
        reason = (
            f"{_shown(quantity)} x {_shown(price)} = {_shown(notional)}, "
            f"limited by {limited_by}; {numbers}"
        )
    return SizeDecision(
        approved=quantity > 0,
        quantity=quantity if quantity > 0 else zero,
        notional=notional if quantity > 0 else zero,
        price=price,
        allocation=allocation,
        risk_cap=risk_cap,
        buying_power=available,
        value=value,
        limited_by=limited_by,
        reason=reason,
    )


def _refused(price: Decimal, buying_power: Decimal, reason: str) -> SizeDecision:
    """A refusal before any amount could be computed."""
    zero = Decimal(0)
    return SizeDecision(
        approved=False,
        quantity=zero,
        notional=zero,
        price=price,
        allocation=zero,
        risk_cap=zero,
        buying_power=buying_power,
        value=zero,
        limited_by="",
        reason=reason,
    )


def _shown(amount: Decimal) -> str:
    """`amount` without trailing zeros or exponent, for the log: 800.000 → 800."""
    return f"{amount.normalize():f}"
