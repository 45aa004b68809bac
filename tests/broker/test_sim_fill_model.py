"""The fill model's arithmetic: slippage, fees, how much of a bar an order may take."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tbot.broker.models import OrderSide
from tbot.broker.sim.execution import FillModel, exact_arithmetic, weighted_average


@pytest.fixture
def model() -> FillModel:
    """Half a cent a share, a dollar minimum, 2 bps of slippage, 10% of volume."""
    return FillModel(
        fee_per_share=Decimal("0.005"),
        min_fee=Decimal("1.00"),
        slippage_bps=Decimal("2"),
        max_volume_participation=Decimal("0.1"),
    )


def test_buys_pay_slippage_above_the_reference_rounded_to_four_places(model: FillModel) -> None:
    # 10.12345 * 1.0002 = 10.12547469
    assert model.execution_price(Decimal("10.12345"), OrderSide.BUY) == Decimal("10.1255")


def test_sells_receive_slippage_below_the_reference(model: FillModel) -> None:
    # 10.12345 * 0.9998 = 10.12142531
    assert model.execution_price(Decimal("10.12345"), OrderSide.SELL) == Decimal("10.1214")


def test_fee_is_at_least_the_minimum(model: FillModel) -> None:
    assert model.fee(Decimal(10)) == Decimal("1.00")
    assert model.fee(Decimal(1000)) == Decimal("5.00")


def test_fee_rounds_half_up_to_the_cent() -> None:
    no_minimum = FillModel(Decimal("0.005"), Decimal(0), Decimal(0), Decimal("0.1"))
    assert no_minimum.fee(Decimal(3)) == Decimal("0.02")  # 0.015
    assert no_minimum.fee(Decimal(1)) == Decimal("0.01")  # 0.005


def test_estimated_buy_cost_is_slipped_notional_plus_fee(model: FillModel) -> None:
    assert model.estimated_buy_cost(Decimal(1000), Decimal(100)) == Decimal("100025.00")


def test_whole_share_orders_fill_whole_shares_of_the_capacity(model: FillModel) -> None:
    capacity = model.bar_capacity(79)  # 7.9 shares
    assert model.fill_quantity(Decimal(100), Decimal(100), capacity) == Decimal(7)
    assert model.fill_quantity(Decimal(100), Decimal(3), capacity) == Decimal(3)


def test_fractional_orders_take_the_capacity_to_nine_places(model: FillModel) -> None:
    capacity = model.bar_capacity(3)  # 0.3 shares
    assert model.fill_quantity(Decimal("0.5"), Decimal("0.5"), capacity) == Decimal("0.3")
    dust = Decimal("0.0000000009")
    assert model.fill_quantity(Decimal("0.5"), Decimal("0.5"), dust) == Decimal(0)


def test_a_bar_without_volume_fills_nothing(model: FillModel) -> None:
    assert model.fill_quantity(Decimal(10), Decimal(10), model.bar_capacity(0)) == Decimal(0)


def test_weighted_average_keeps_six_places() -> None:
    average = weighted_average(Decimal(1), Decimal("100.0001"), Decimal(2), Decimal("100.0002"))
    assert average == Decimal("100.000167")  # 300.0005 / 3, half up


def test_exact_arithmetic_keeps_every_digit_of_large_products() -> None:
    # 30 significant digits: the default 28-digit context would round the last two away.
    quantity = Decimal("123456789.123456789")
    price = Decimal("98765432.1234")
    with exact_arithmetic():
        product = quantity * price
    assert product == Decimal("12193263126345678.8767524157626")
