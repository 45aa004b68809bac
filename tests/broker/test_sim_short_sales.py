"""Short sales at the simulated broker: a sell of what is not held goes short if the shares
can be borrowed, positions go negative and cash rises by the proceeds, buys cover, and no
order ever crosses from long to short or back."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tbot.broker.models import BrokerPosition, OrderSide, OrderStatus
from tbot.broker.sim import SimBroker, SimBrokerSettings
from tbot.broker.sim.settings import DEFAULT_HARD_TO_BORROW
from tests.broker.conftest import BrokerOpener, Market, all_trades

D = Decimal
CASH = D("100000")


def short_ten_aapl(market: Market) -> None:
    """Sell 10 AAPL short at the next bar's open (100, less 2 bps), its close 101."""
    market.minute(("AAPL", "100"))
    order = market.sell("short-1", "AAPL", "10")
    assert order.status is OrderStatus.NEW, order.reject_reason
    (fill,) = market.minute(("AAPL", "100", "101"))
    assert (fill.side, fill.quantity, fill.price, fill.fee) == (
        OrderSide.SELL, D(10), D("99.98"), D("0.05"))


def test_a_short_sale_goes_negative_and_cash_rises_by_the_proceeds(
    market: Market, broker: SimBroker
) -> None:
    short_ten_aapl(market)

    assert broker.positions() == [
        BrokerPosition(symbol="AAPL", quantity=D(-10), average_cost=D("99.98"),
                       market_price=D(101))]
    account = broker.account()
    assert account.cash == CASH + D("999.80") - D("0.05")
    assert account.equity == account.cash - 10 * D(101)  # the short is owed at its mark
    # the proceeds stay as collateral and as much again of the account's cash is held
    assert account.buying_power == account.cash - 2 * 10 * D(101)
    assert [fill.side for fill in all_trades(broker)] == [OrderSide.SELL]


def test_adding_to_a_short_averages_its_price_and_covers_keep_it(
    market: Market, broker: SimBroker
) -> None:
    short_ten_aapl(market)
    market.sell("short-2", "AAPL", "10")
    market.minute(("AAPL", "110"))  # sold at 109.978
    (short,) = broker.positions()
    assert (short.quantity, short.average_cost) == (D(-20), D("104.979"))

    cash_before = broker.account().cash
    market.buy("cover-1", "AAPL", "15")
    (cover,) = market.minute(("AAPL", "102"))
    assert (cover.side, cover.price, cover.fee) == (OrderSide.BUY, D("102.0204"), D("0.08"))
    (short,) = broker.positions()
    assert (short.quantity, short.average_cost) == (D(-5), D("104.979"))
    assert broker.account().cash == cash_before - 15 * D("102.0204") - D("0.08")

    market.buy("cover-2", "AAPL", "5")
    market.minute(("AAPL", "102"))
    assert broker.positions() == []


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("SNAP", "hard to borrow: no SNAP shares are available to sell short"),
        ("SQQQ", "not shortable: SQQQ is an inverse ETF, which the broker does not lend"),
    ],
)
def test_a_short_sale_the_broker_cannot_borrow_is_refused_with_its_reason(
    market: Market, broker: SimBroker, symbol: str, reason: str
) -> None:
    market.minute((symbol, "10"))

    order = market.sell("short-1", symbol, "5")

    assert (order.status, order.reject_reason) == (OrderStatus.REJECTED, reason)
    assert market.minute((symbol, "10")) == []
    assert broker.positions() == []
    assert broker.account().cash == CASH


def test_the_hard_to_borrow_list_is_a_setting(
    open_broker: BrokerOpener, settings: SimBrokerSettings, market: Market
) -> None:
    assert frozenset({"SNAP", "SOFI"}) == DEFAULT_HARD_TO_BORROW
    market.broker.close()
    broker = open_broker(settings=replace(settings, hard_to_borrow=frozenset({"AAPL"})))
    market.broker = broker
    market.minute(("AAPL", "100"), ("SNAP", "9"))
    assert market.sell("a", "AAPL", "1").reject_reason == (
        "hard to borrow: no AAPL shares are available to sell short")
    assert market.sell("b", "SNAP", "1").status is OrderStatus.NEW
    with pytest.raises(ValueError, match="hard_to_borrow symbol 'snap'"):
        replace(settings, hard_to_borrow=frozenset({"snap"}))


def test_no_order_crosses_zero(market: Market, broker: SimBroker) -> None:
    short_ten_aapl(market)
    over = market.buy("over", "AAPL", "11")
    assert over.status is OrderStatus.REJECTED
    assert over.reject_reason == (
        "cannot buy more than is short: 11 AAPL asked, 10 left to cover; a cover never "
        "crosses into a long: cover, then buy")
    market.buy("cover", "AAPL", "6")  # open: only 4 are left to cover
    assert market.buy("more", "AAPL", "5").status is OrderStatus.REJECTED

    market.minute(("MSFT", "400"))
    market.buy("long", "MSFT", "2")
    # a short sale while a purchase is open could cross whichever filled first
    assert market.sell("short-msft", "MSFT", "1").reject_reason == (
        "a buy of 2 MSFT is still open: a short sale waits until it has filled or been "
        "canceled")
    market.minute(("MSFT", "400"), ("AAPL", "100"))
    assert market.sell("too-many", "MSFT", "3").reject_reason.startswith(
        "cash account: cannot sell more than held (3 MSFT asked, 2 held")


def test_a_short_sale_needs_buying_power(market: Market) -> None:
    market.minute(("AAPL", "100"))
    order = market.sell("big", "AAPL", "2000")
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason == (
        "short sale refused: insufficient buying power: needs 200050.00, has 100000.00")


def test_a_short_position_survives_a_restart_of_the_state_file(
    open_broker: BrokerOpener, market: Market
) -> None:
    short_ten_aapl(market)
    market.broker.close()

    reopened = open_broker()
    (short,) = reopened.positions()
    assert (short.symbol, short.quantity, short.average_cost) == ("AAPL", D(-10), D("99.98"))
    market.broker = reopened
    market.buy("cover", "AAPL", "10")
    market.minute(("AAPL", "100"))
    assert reopened.positions() == []


def test_a_fraction_of_a_share_is_never_sold_short(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    order = market.sell("frac", "AAPL", "2.5")
    assert order.reject_reason == "fractional shares cannot be sold short (2.5 AAPL asked)"
    assert broker.positions() == []
