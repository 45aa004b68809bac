"""Position sizing: the smallest of allocation, risk cap and buying power, rounded down."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.risk.sizing import SizeDecision, position_size

CAPITAL = Decimal("100000")
PLENTY = Decimal("1000000")

Size = Callable[..., SizeDecision]


@pytest.fixture
def size(template_bot: BotSettings) -> Size:
    """`size(price, trade_index=0, buying_power=PLENTY, capital=CAPITAL, **setting_updates)`."""

    def sized(
        price: str,
        *,
        trade_index: int = 0,
        buying_power: Decimal = PLENTY,
        capital: Decimal = CAPITAL,
        **updates: Any,
    ) -> SizeDecision:
        return position_size(
            capital=capital,
            bot=template_bot.model_copy(update=updates),
            trade_index=trade_index,
            price=Decimal(price),
            buying_power=buying_power,
        )

    return sized


def test_allocation_is_capital_times_total_allocation_times_the_trades_weight(size: Size) -> None:
    first, second = size("50", trade_index=0), size("50", trade_index=1)

    # 100000 x 0.02 x 0.4 = 800 and x 0.2 = 400; the risk cap is 100000 x 0.025 / 0.02.
    assert (first.allocation, second.allocation) == (Decimal(800), Decimal(400))
    assert first.risk_cap == Decimal(125000)
    assert (first.quantity, first.notional) == (Decimal(16), Decimal(800))
    assert (second.quantity, second.notional) == (Decimal(8), Decimal(400))
    assert first.approved and first.limited_by == "allocation"


def test_risk_cap_limits_the_value_to_the_loss_allowed_at_the_trailing_stop(size: Size) -> None:
    # 100000 x 0.0001 / 0.02 = 500: a 2% stop on 500 loses 10 = 0.01% of capital.
    decision = size("50", MAX_RISK_PER_TRADE=Decimal("0.0001"))
    assert (decision.risk_cap, decision.value, decision.quantity) == (
        Decimal(500),
        Decimal(500),
        Decimal(10),
    )
    assert decision.limited_by == "risk_cap"


def test_buying_power_limits_the_value(size: Size) -> None:
    decision = size("50", buying_power=Decimal("300"))
    assert (decision.value, decision.quantity, decision.limited_by) == (
        Decimal(300),
        Decimal(6),
        "buying_power",
    )


def test_fractional_quantities_round_down_to_nine_places(size: Size) -> None:
    decision = size("52")  # 800 / 52 = 15.384615384615...
    assert decision.quantity == Decimal("15.384615384")
    assert decision.notional == Decimal("15.384615384") * 52
    assert decision.notional <= decision.allocation


def test_whole_share_quantities_round_down(size: Size) -> None:
    decision = size("52", FRACTIONAL=False)
    assert (decision.quantity, decision.notional) == (Decimal(15), Decimal(780))


def test_a_price_above_the_value_buys_nothing_in_whole_shares(size: Size) -> None:
    decision = size("900", FRACTIONAL=False)
    assert not decision.approved
    assert decision.quantity == 0
    assert decision.reason.startswith(
        "quantity rounds to 0 (whole shares): allocation 800 at price 900"
    )


def test_the_same_price_buys_a_fraction_when_fractional(size: Size) -> None:
    decision = size("900")
    assert decision.approved
    assert decision.quantity == Decimal("0.888888888")


def test_no_buying_power_is_refused(size: Size) -> None:
    decision = size("50", buying_power=Decimal("-20"))
    assert not decision.approved
    assert (decision.buying_power, decision.limited_by) == (Decimal(0), "buying_power")


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"trade_index": 4}, "trade 5 has no weight: WEIGHTS has 4"),
        ({"trade_index": -1}, "trade 0 has no weight: WEIGHTS has 4"),
        ({"capital": Decimal(0)}, "no capital to size from (capital 0)"),
    ],
)
def test_sizing_without_the_numbers_it_needs_is_refused(
    size: Size, kwargs: dict[str, Any], reason: str
) -> None:
    decision = size("50", **kwargs)
    assert (decision.approved, decision.quantity, decision.reason) == (False, 0, reason)


def test_a_price_of_zero_is_refused(size: Size) -> None:
    decision = size("0")
    assert (decision.approved, decision.reason) == (False, "no usable price (price 0)")


def test_the_reason_shows_the_numbers_used(size: Size) -> None:
    assert size("50").reason == (
        "16 x 50 = 800, limited by allocation; allocation 800 "
        "(capital 100000 x 0.02 x weight 0.4), risk cap 125000, buying power 1000000"
    )


def test_amounts_stay_decimal(size: Size) -> None:
    decision = size("52")
    amounts = (decision.quantity, decision.notional, decision.allocation, decision.risk_cap)
    assert all(type(amount) is Decimal for amount in amounts)
