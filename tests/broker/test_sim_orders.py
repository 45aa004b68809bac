"""Orders at the simulated broker: when and how they fill, why they are rejected, idempotent
submission, cancellation and the session's order list."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.broker.errors import UnknownOrderError
from tbot.broker.models import OrderRequest, OrderSide, OrderStatus
from tbot.broker.sim import SimBroker
from tbot.clock import FrozenClock
from tbot.market.bars import Bar
from tests.broker.conftest import START, Market, make_bar, order_of

# -- filling ------------------------------------------------------------------------------------


def test_order_fills_at_the_next_bar_open_with_slippage_and_fee(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "10")
    assert order.status is OrderStatus.NEW and order.filled_quantity == 0

    fills = market.minute(("AAPL", "101", "101.5"))

    assert len(fills) == 1
    fill = fills[0]
    assert (fill.order_id, fill.client_order_id, fill.symbol, fill.side) == (
        order.order_id, "c1", "AAPL", OrderSide.BUY,
    )
    assert fill.quantity == Decimal(10)
    assert fill.price == Decimal("101.0202")  # 101 * 1.0002
    assert fill.fee == Decimal("0.05")
    assert fill.filled_at == START + timedelta(minutes=2)
    filled = order_of(broker, order.order_id)
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_quantity == Decimal(10)
    assert filled.average_price == Decimal("101.0202")
    assert filled.updated_at == START + timedelta(minutes=2)
    assert broker.account().cash == Decimal("100000") - Decimal("1010.202") - Decimal("0.05")


def test_order_waits_for_a_bar_of_its_own_symbol(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "10")

    assert market.minute(("MSFT", "400")) == []
    assert order_of(broker, order.order_id).status is OrderStatus.NEW

    fills = market.minute(("AAPL", "99"))
    assert [fill.price for fill in fills] == [Decimal("99.0198")]


def test_sell_fills_below_the_open(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "101"))
    cash_after_buy = broker.account().cash

    market.sell("c2", "AAPL", "10")
    (fill,) = market.minute(("AAPL", "102"))

    assert fill.side is OrderSide.SELL
    assert (fill.price, fill.fee) == (Decimal("101.9796"), Decimal("0.05"))  # 102 * 0.9998
    assert broker.account().cash == cash_after_buy + Decimal("1019.796") - Decimal("0.05")


def test_partial_fills_over_several_bars(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100", "100", 50))
    order = market.buy("c1", "AAPL", "12")

    first = market.minute(("AAPL", "100", "100", 50))  # 10% of 50 = 5 shares a bar
    assert [fill.quantity for fill in first] == [Decimal(5)]
    partial = order_of(broker, order.order_id)
    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert partial.filled_quantity == Decimal(5)

    second = market.minute(("AAPL", "101", "101", 50))
    third = market.minute(("AAPL", "102", "102", 50))

    assert [fill.quantity for fill in second + third] == [Decimal(5), Decimal(2)]
    fill_ids = [fill.fill_id for fill in first + second + third]
    assert fill_ids == [f"SIM-TBOT_US_SIM_BOT01-F{n:06d}" for n in (1, 2, 3)]
    assert [fill.fee for fill in first + second + third] == [
        Decimal("0.03"), Decimal("0.03"), Decimal("0.01"),
    ]
    done = order_of(broker, order.order_id)
    assert done.status is OrderStatus.FILLED
    assert done.filled_quantity == Decimal(12)
    # (5 * 100.02 + 5 * 101.0202 + 2 * 102.0204) / 12 = 1209.2418 / 12
    assert done.average_price == Decimal("100.770150")


def test_orders_in_one_symbol_share_a_bars_volume_oldest_first(market: Market) -> None:
    market.minute(("AAPL", "100"))
    first = market.buy("c1", "AAPL", "3")
    second = market.buy("c2", "AAPL", "4")

    fills = market.minute(("AAPL", "100", "100", 50))

    assert [(fill.order_id, fill.quantity) for fill in fills] == [
        (first.order_id, Decimal(3)), (second.order_id, Decimal(2)),
    ]


def test_fractional_order_fills_to_nine_places(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "0.5")

    first = market.minute(("AAPL", "100", "100", 3))  # capacity 0.3 shares
    second = market.minute(("AAPL", "100", "100", 3))

    assert [fill.quantity for fill in first + second] == [Decimal("0.3"), Decimal("0.2")]
    assert order_of(broker, order.order_id).status is OrderStatus.FILLED


def test_whole_share_order_waits_while_bars_are_too_thin(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "10")

    assert market.minute(("AAPL", "100", "100", 5)) == []  # capacity 0.5 share
    assert order_of(broker, order.order_id).status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("key", "bar"),
    [
        ("AAPL", make_bar("MSFT", START, "400")),
        ("AAPL", make_bar("AAPL", START, "0")),
        ("AAPL", make_bar("AAPL", START, "100", volume=-1)),
    ],
    ids=["wrong-symbol", "zero-price", "negative-volume"],
)
def test_malformed_bars_are_refused_and_change_nothing(
    broker: SimBroker, key: str, bar: Bar
) -> None:
    with pytest.raises(ValueError):
        broker.on_bars({key: bar}, START + timedelta(minutes=1))

    assert broker.last_price("AAPL") is None
    assert broker.sim_time is None


# -- rejections ---------------------------------------------------------------------------------


def test_buy_without_a_market_price_is_rejected_and_kept(
    market: Market, broker: SimBroker
) -> None:
    order = market.buy("c1", "AAPL", "1")

    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == "no market price for AAPL yet"
    assert broker.orders() == [order]
    assert broker.orders(open_only=True) == []


def test_buy_beyond_buying_power_is_rejected(market: Market) -> None:
    market.minute(("AAPL", "100"))

    order = market.buy("c1", "AAPL", "1000")

    assert order.status is OrderStatus.REJECTED
    # 1000 * 100.02 + 5.00 fee
    assert order.reject_reason == "insufficient buying power: needs 100025.00, has 100000.00"


def test_open_buys_reserve_buying_power(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    assert market.buy("c1", "AAPL", "500").status is OrderStatus.NEW  # reserves 50012.50

    assert broker.account().buying_power == Decimal("49987.50")
    second = market.buy("c2", "AAPL", "500")
    assert second.status is OrderStatus.REJECTED
    assert second.reject_reason == "insufficient buying power: needs 50012.50, has 49987.50"


def test_canceling_a_buy_releases_its_reservation(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    first = market.buy("c1", "AAPL", "500")

    broker.cancel(first.order_id)

    assert market.buy("c2", "AAPL", "500").status is OrderStatus.NEW


def test_selling_more_than_held_is_rejected(market: Market) -> None:
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "100"))

    order = market.sell("c2", "AAPL", "11")

    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason is not None
    assert order.reject_reason.startswith("cash account: cannot sell more than held")


def test_selling_a_symbol_not_held_is_rejected_when_it_cannot_be_borrowed(
    market: Market,
) -> None:
    # Selling what is not held is a short sale (tests/broker/test_sim_short_sales.py):
    # refused for a symbol the broker cannot borrow.
    market.minute(("SNAP", "9"))

    order = market.sell("c1", "SNAP", "1")

    assert order.status is OrderStatus.REJECTED


def test_open_sells_count_against_the_holding(market: Market) -> None:
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "100"))
    assert market.sell("c2", "AAPL", "6").status is OrderStatus.NEW

    assert market.sell("c3", "AAPL", "5").status is OrderStatus.REJECTED
    assert market.sell("c4", "AAPL", "4").status is OrderStatus.NEW


@pytest.mark.parametrize(
    ("symbol", "side", "quantity", "client_order_id"),
    [
        ("AAPL", OrderSide.BUY, Decimal(0), "c1"),
        ("AAPL", OrderSide.BUY, Decimal(-1), "c1"),
        ("AAPL", OrderSide.BUY, Decimal("1.0000000001"), "c1"),
        ("AAPL", OrderSide.BUY, Decimal("NaN"), "c1"),
        ("AAPL", OrderSide.BUY, 1.5, "c1"),
        ("aapl", OrderSide.BUY, Decimal(1), "c1"),
        ("", OrderSide.BUY, Decimal(1), "c1"),
        (" AAPL", OrderSide.BUY, Decimal(1), "c1"),
        ("AAPL", "buy", Decimal(1), "c1"),
        ("AAPL", OrderSide.BUY, Decimal(1), ""),
    ],
    ids=[
        "zero", "negative", "ten-places", "nan", "float", "lower-case", "empty-symbol",
        "padded-symbol", "side-as-text", "empty-client-id",
    ],
)
def test_malformed_requests_raise_and_store_nothing(
    market: Market, broker: SimBroker, symbol: str, side: OrderSide, quantity: Decimal,
    client_order_id: str,
) -> None:
    market.minute(("AAPL", "100"))

    with pytest.raises(ValueError):
        broker.submit(OrderRequest(client_order_id, symbol, side, quantity))

    assert broker.orders() == []


def test_nine_decimal_places_are_accepted(market: Market) -> None:
    market.minute(("AAPL", "100"))

    assert market.buy("c1", "AAPL", "0.123456789").status is OrderStatus.NEW


# -- idempotent submission ----------------------------------------------------------------------


def test_resubmitting_a_client_order_id_returns_the_existing_order(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    first = market.buy("c1", "AAPL", "10")

    again = market.buy("c1", "AAPL", "99")

    assert again == first
    assert len(broker.orders()) == 1


def test_resubmitting_after_the_fill_returns_the_order_without_a_new_fill(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    first = market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "100"))

    again = market.buy("c1", "AAPL", "10")

    assert again.order_id == first.order_id and again.status is OrderStatus.FILLED
    assert market.minute(("AAPL", "100")) == []


def test_resubmitting_a_rejected_order_returns_the_rejection(market: Market) -> None:
    rejected = market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "100"))

    assert market.buy("c1", "AAPL", "10") == rejected


# -- cancellation -------------------------------------------------------------------------------


def test_cancel_of_an_open_order_stops_it_filling(
    market: Market, broker: SimBroker, clock: FrozenClock
) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "10")
    clock.advance(timedelta(seconds=5))

    canceled = broker.cancel(order.order_id)

    assert canceled.status is OrderStatus.CANCELED
    assert canceled.updated_at == clock.now()
    assert market.minute(("AAPL", "100")) == []
    assert broker.positions() == []


def test_cancel_keeps_the_filled_part(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "12")
    market.minute(("AAPL", "100", "100", 50))

    canceled = broker.cancel(order.order_id)

    assert (canceled.status, canceled.filled_quantity) == (OrderStatus.CANCELED, Decimal(5))
    assert market.minute(("AAPL", "100", "100", 50)) == []
    assert [held.quantity for held in broker.positions()] == [Decimal(5)]


def test_cancel_of_a_final_order_returns_it_unchanged(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "100"))
    filled = order_of(broker, order.order_id)

    assert broker.cancel(order.order_id) == filled


def test_cancel_of_an_unknown_order_raises(broker: SimBroker) -> None:
    with pytest.raises(UnknownOrderError, match="NOPE"):
        broker.cancel("NOPE")


# -- listing ------------------------------------------------------------------------------------


def test_orders_lists_open_orders_and_the_days_others(
    market: Market, broker: SimBroker, clock: FrozenClock
) -> None:
    market.minute(("AAPL", "100"), ("MSFT", "400"))
    yesterdays_filled = market.buy("c1", "AAPL", "1")
    yesterdays_open = market.buy("c2", "MSFT", "1")
    market.minute(("AAPL", "100"))
    market.jump_to(START + timedelta(days=1))
    todays = market.buy("c3", "AAPL", "1")

    listed = [order.order_id for order in broker.orders()]
    open_only = [order.order_id for order in broker.orders(open_only=True)]

    assert yesterdays_filled.order_id not in listed
    assert listed == [yesterdays_open.order_id, todays.order_id]
    assert open_only == [yesterdays_open.order_id, todays.order_id]


def test_concurrent_submits_get_distinct_orders(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))

    def submit_many(thread: int) -> None:
        for n in range(20):
            market.buy(f"t{thread}-{n}", "AAPL", "1")

    threads = [threading.Thread(target=submit_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    order_ids = [order.order_id for order in broker.orders()]
    assert order_ids == [f"SIM-TBOT_US_SIM_BOT01-O{n:06d}" for n in range(1, 161)]


def test_a_limit_order_is_refused_rather_than_filled_at_market(broker: SimBroker) -> None:
    with pytest.raises(ValueError, match="market orders only"):
        broker.submit(OrderRequest("open-20261120T1431-AAPL-entry", "AAPL", OrderSide.BUY,
                                   Decimal(1), limit_price=Decimal("10")))
    assert broker.orders() == []
