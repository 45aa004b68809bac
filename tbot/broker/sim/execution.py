"""The simulated broker's fill model: prices with slippage, fees, and how much of an order a
minute bar can absorb.

Pure arithmetic on `Decimal`, no state and no I/O, so the rules can be read (and tested) in
one place. Run it inside `exact_arithmetic()`: a fractional quantity times a price has more
significant digits than the default 28-digit context keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from tbot.broker.models import OrderSide

CENT = Decimal("0.01")
PRICE_STEP = Decimal("0.0001")
"""Fill prices are rounded (half up) to four decimals, as US equity venues quote them."""
QUANTITY_STEP = Decimal("0.000000001")
"""Fractional share quantities carry at most nine decimals."""
AVERAGE_STEP = Decimal("0.000001")
"""Volume-weighted averages (order average price, position average cost) keep six decimals."""
BASIS_POINTS_PER_UNIT = Decimal(10000)
EXACT_PRECISION = 60
"""Significant digits for money arithmetic: far above anything a 9-decimal quantity times a
4-decimal price can produce, so sums and products never round silently."""


@contextmanager
def exact_arithmetic() -> Iterator[None]:
    """A decimal context wide enough that products and sums of money stay exact."""
    with localcontext() as context:
        context.prec = EXACT_PRECISION
        yield


def is_whole(quantity: Decimal) -> bool:
    """True when `quantity` is a whole number of shares."""
    return quantity == quantity.to_integral_value()


def has_at_most_nine_places(quantity: Decimal) -> bool:
    """True when `quantity` needs no more than nine decimals (trailing zeros don't count)."""
    return quantity == quantity.quantize(QUANTITY_STEP, rounding=ROUND_DOWN)


def weighted_average(
    held: Decimal, held_average: Decimal | None, added: Decimal, added_price: Decimal
) -> Decimal:
    """The volume-weighted average after adding `added` at `added_price` to `held` at
    `held_average`, rounded half up to six decimals."""
    total = held + added
    cost = held * (held_average or Decimal(0)) + added * added_price
    return (cost / total).quantize(AVERAGE_STEP, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class FillModel:
    """How a market order turns into executions against minute bars.

    - price: the bar's open moved against the trader by `slippage_bps` (buys pay more,
      sells receive less), rounded half up to four decimals;
    - fee: `fee_per_share` per share, at least `min_fee`, rounded half up to the cent, per
      execution;
    - size: at most `max_volume_participation` of a bar's volume per symbol per bar, whole
      shares for whole-share orders, nine decimals for fractional ones.
    """

    fee_per_share: Decimal
    min_fee: Decimal
    slippage_bps: Decimal
    max_volume_participation: Decimal

    def execution_price(self, reference: Decimal, side: OrderSide) -> Decimal:
        """The price an order on `side` gets when the market is at `reference`."""
        slip = self.slippage_bps / BASIS_POINTS_PER_UNIT
        factor = Decimal(1) + slip if side is OrderSide.BUY else Decimal(1) - slip
        return (reference * factor).quantize(PRICE_STEP, rounding=ROUND_HALF_UP)

    def fee(self, quantity: Decimal) -> Decimal:
        """The commission on one execution of `quantity` shares."""
        raw = max(self.min_fee, quantity * self.fee_per_share)
        return raw.quantize(CENT, rounding=ROUND_HALF_UP)

    def estimated_buy_cost(self, quantity: Decimal, market_price: Decimal) -> Decimal:
        """What buying `quantity` would take from cash if it filled at `market_price` now:
        the buying-power check at submit and the reservation of open buy orders."""
        return quantity * self.execution_price(market_price, OrderSide.BUY) + self.fee(quantity)

    def bar_capacity(self, volume: int) -> Decimal:
        """The shares of one symbol that one bar of `volume` can fill, all orders together."""
        return Decimal(volume) * self.max_volume_participation

    def fill_quantity(self, ordered: Decimal, remaining: Decimal, capacity: Decimal) -> Decimal:
        """How much of an order for `ordered` shares, `remaining` still open, fills from a
        bar with `capacity` shares left. Whole-share orders fill whole shares only, so their
        remainder stays whole; fractional orders take the capacity down to nine decimals."""
        step = Decimal(1) if is_whole(ordered) else QUANTITY_STEP
        allowed = capacity.quantize(step, rounding=ROUND_DOWN) if capacity > 0 else Decimal(0)
        return min(remaining, allowed)
