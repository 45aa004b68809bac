"""Fault mode: each enabled fault fires once per simulated UTC day, the first time it can,
and leaves the broker's books (cash, positions, reports) as a real broker's would be."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.broker.models import BrokerFill, BrokerPosition, CashActivity, OrderSide
from tbot.broker.reports import FillReport
from tbot.broker.sim import SimBroker, SimFault
from tbot.clock import FrozenClock
from tests.broker.conftest import ACCOUNT_ID, LONG_AGO, START, BrokerOpener, Market, all_trades

MarketWith = Callable[..., Market]
AFTERNOON = START.replace(hour=14, minute=58)
"""Two minutes before the cash faults' time (15:00 UTC)."""


@pytest.fixture
def market_with(open_broker: BrokerOpener, clock: FrozenClock) -> MarketWith:
    """A market on a broker with the given faults enabled."""

    def build(*faults: SimFault) -> Market:
        return Market(open_broker(faults=frozenset(faults)), clock)

    return build


def _bought_ten(market: Market) -> list[BrokerFill]:
    """Price AAPL, buy 10, fill them next minute at 101.0202; the fills announced."""
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    return market.minute(("AAPL", "101", "101.5"))


def _activities(broker: SimBroker) -> list[CashActivity]:
    """Every cash activity after the initial funding."""
    return list(broker.fetch_cash_activity(LONG_AGO, page_size=1000).items[1:])


def _statuses(broker: SimBroker) -> dict[str, str]:
    """Fill id -> the status its raw report says now (``executed`` or ``pending``)."""
    reports = broker.fetch_fill_reports(LONG_AGO, page_size=1000).items
    assert all(isinstance(report, FillReport) for report in reports)
    return {
        report.broker_id: str(report.provenance.raw["status"])
        for report in reports
        if isinstance(report, FillReport)
    }


# -- fill faults --------------------------------------------------------------------------------


def test_phantom_fill_is_reported_and_booked_but_never_announced(
    market_with: MarketWith,
) -> None:
    market = market_with(SimFault.PHANTOM_FILL)

    announced = _bought_ten(market)

    broker = market.broker
    assert [fill.client_order_id for fill in announced] == ["c1"]
    reported = all_trades(broker)
    (phantom,) = [fill for fill in reported if fill.fill_id not in {f.fill_id for f in announced}]
    assert phantom.client_order_id.startswith("phantom-")
    assert (phantom.symbol, phantom.side, phantom.quantity) == ("AAPL", OrderSide.BUY, Decimal(1))
    assert phantom.price == Decimal("101.5203")  # the last price, 101.5, plus slippage
    assert [held.quantity for held in broker.positions()] == [Decimal(11)]
    assert broker.account().cash == (
        Decimal("100000") - Decimal("1010.202") - Decimal("0.05") - phantom.price - phantom.fee
    )
    assert any(order.order_id == phantom.order_id for order in broker.orders())
    ((fault, fired_at, detail),) = broker.faults_fired()
    assert (fault, fired_at) == ("phantom_fill", START + timedelta(minutes=2))
    assert phantom.fill_id in detail


def test_phantom_fill_fires_once_a_day(market_with: MarketWith) -> None:
    market = market_with(SimFault.PHANTOM_FILL)
    _bought_ten(market)
    market.buy("c2", "AAPL", "1")
    market.minute(("AAPL", "101"))
    assert len(market.broker.faults_fired()) == 1

    market.jump_to(START + timedelta(days=1))
    market.buy("c3", "AAPL", "1")
    market.minute(("AAPL", "101"))

    assert [fault for fault, _, _ in market.broker.faults_fired()] == ["phantom_fill"] * 2


def test_dropped_fill_is_announced_but_missing_from_the_reports(
    market_with: MarketWith,
) -> None:
    market = market_with(SimFault.DROP_FILL)

    (dropped,) = _bought_ten(market)

    broker = market.broker
    assert all_trades(broker) == []
    assert [held.quantity for held in broker.positions()] == [Decimal(10)]
    assert broker.account().cash == Decimal("100000") - Decimal("1010.202") - Decimal("0.05")
    market.buy("c2", "AAPL", "1")
    (later,) = market.minute(("AAPL", "101"))
    assert all_trades(broker) == [later]
    ((fault, _, detail),) = broker.faults_fired()
    assert fault == "drop_fill" and dropped.fill_id in detail


def test_restated_fill_is_reported_and_booked_at_another_price(
    market_with: MarketWith,
) -> None:
    market = market_with(SimFault.RESTATE_PRICE)

    (announced,) = _bought_ten(market)

    broker = market.broker
    (reported,) = all_trades(broker)
    assert announced.price == Decimal("101.0202")
    assert reported.price == Decimal("101.0302")
    assert reported.fill_id == announced.fill_id
    assert broker.account().cash == Decimal("100000") - Decimal("1010.302") - Decimal("0.05")
    assert [fault for fault, _, _ in broker.faults_fired()] == ["restate_price"]


def test_drop_and_restate_take_the_days_first_two_fills(market_with: MarketWith) -> None:
    market = market_with(SimFault.DROP_FILL, SimFault.RESTATE_PRICE)
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "5")
    market.buy("c2", "AAPL", "5")

    first, second = market.minute(("AAPL", "101"))

    (reported,) = all_trades(market.broker)
    assert reported.fill_id == second.fill_id
    assert reported.price != second.price
    assert first.fill_id not in {fill.fill_id for fill in all_trades(market.broker)}


# -- cash faults --------------------------------------------------------------------------------


def test_dividend_is_paid_on_a_held_symbol_from_15_utc(market_with: MarketWith) -> None:
    market = market_with(SimFault.DIVIDEND)
    _bought_ten(market)
    cash = market.broker.account().cash
    market.jump_to(AFTERNOON)

    market.minute(("AAPL", "101"))  # delivered at 14:59
    assert _activities(market.broker) == []
    market.minute(("AAPL", "101"))  # delivered at 15:00

    (dividend,) = _activities(market.broker)
    assert (dividend.activity_type, dividend.symbol) == ("DIV", "AAPL")
    assert dividend.amount == Decimal("2.50")  # 10 shares at 0.25
    assert dividend.occurred_at == AFTERNOON + timedelta(minutes=2)
    assert market.broker.account().cash == cash + Decimal("2.50")


def test_dividend_without_holdings_goes_to_the_first_priced_symbol(
    market_with: MarketWith,
) -> None:
    market = market_with(SimFault.DIVIDEND)
    market.jump_to(AFTERNOON)
    market.minute(("MSFT", "400"), ("AAPL", "100"))
    market.minute(("MSFT", "400"))

    (dividend,) = _activities(market.broker)
    assert (dividend.symbol, dividend.amount) == ("AAPL", Decimal("10.00"))


def test_deposit_is_a_csd_activity(market_with: MarketWith) -> None:
    market = market_with(SimFault.DEPOSIT)
    market.jump_to(START.replace(hour=15))

    market.minute()

    (deposit,) = _activities(market.broker)
    assert (deposit.activity_type, deposit.amount) == ("CSD", Decimal("1000.00"))
    assert market.broker.account().cash == Decimal("101000.00")


def test_unknown_fee_is_an_activity_no_mapping_knows(market_with: MarketWith) -> None:
    market = market_with(SimFault.UNKNOWN_FEE)
    market.jump_to(START.replace(hour=15))

    market.minute()

    (fee,) = _activities(market.broker)
    assert (fee.activity_type, fee.amount) == ("MISCFEE", Decimal("-12.34"))
    assert market.broker.account().cash == Decimal("99987.66")


def test_cash_faults_fire_once_a_day(market_with: MarketWith) -> None:
    market = market_with(SimFault.DEPOSIT, SimFault.UNKNOWN_FEE)
    market.jump_to(START.replace(hour=15))
    market.minute()
    market.minute()
    assert len(_activities(market.broker)) == 2

    market.jump_to(START.replace(hour=15) + timedelta(days=1))
    market.minute()

    assert [a.activity_type for a in _activities(market.broker)] == [
        "CSD", "MISCFEE", "CSD", "MISCFEE",
    ]


def test_fired_faults_do_not_fire_again_after_a_restart(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    first = Market(open_broker(faults=frozenset({SimFault.DEPOSIT})), clock)
    first.jump_to(START.replace(hour=15))
    first.minute()
    first.broker.close()

    resumed = Market(open_broker(faults=frozenset({SimFault.DEPOSIT})), clock)
    resumed.minute()

    assert len(_activities(resumed.broker)) == 1
    assert len(resumed.broker.faults_fired()) == 1


def test_no_fault_fires_unless_enabled(market: Market, broker: SimBroker) -> None:
    announced = _bought_ten(market)
    market.jump_to(START.replace(hour=15))
    market.minute(("AAPL", "101"))

    assert all_trades(broker) == announced
    assert _activities(broker) == []
    assert broker.faults_fired() == []


# -- pending fill -------------------------------------------------------------------------------


def test_pending_fill_is_reported_pending_for_30_minutes(
    market_with: MarketWith, clock: FrozenClock
) -> None:
    market = market_with(SimFault.PENDING_FILL)

    (fill,) = _bought_ten(market)

    broker = market.broker
    assert _statuses(broker) == {fill.fill_id: "pending"}
    assert all_trades(broker) == [fill]  # the plain trade report is unchanged
    ((fault, fired_at, detail),) = broker.faults_fired()
    assert (fault, fired_at) == ("pending_fill", fill.filled_at)
    assert fill.fill_id in detail and fill.order_id in detail
    market.jump_to(fill.filled_at + timedelta(minutes=29))
    market.minute(("AAPL", "101"))
    assert _statuses(broker) == {fill.fill_id: "executed"}


def test_pending_fill_takes_the_first_fill_after_drop_and_restate(
    market_with: MarketWith,
) -> None:
    market = market_with(SimFault.DROP_FILL, SimFault.RESTATE_PRICE, SimFault.PENDING_FILL)
    market.minute(("AAPL", "100"))
    for number in range(4):
        market.buy(f"c{number}", "AAPL", "5")

    dropped, restated, pending, plain = market.minute(("AAPL", "101"))

    assert _statuses(market.broker) == {
        restated.fill_id: "executed", pending.fill_id: "pending", plain.fill_id: "executed",
    }
    assert [fault for fault, _, _ in market.broker.faults_fired()] == [
        "drop_fill", "restate_price", "pending_fill",
    ]
    assert dropped.fill_id not in _statuses(market.broker)


def test_pending_fill_fires_once_a_day(market_with: MarketWith) -> None:
    market = market_with(SimFault.PENDING_FILL)
    (first,) = _bought_ten(market)
    market.buy("c2", "AAPL", "1")
    (second,) = market.minute(("AAPL", "101"))

    market.jump_to(START + timedelta(days=1))
    market.buy("c3", "AAPL", "1")
    (next_day,) = market.minute(("AAPL", "101"))

    assert _statuses(market.broker) == {
        first.fill_id: "executed", second.fill_id: "executed", next_day.fill_id: "pending",
    }
    assert [fault for fault, _, _ in market.broker.faults_fired()] == ["pending_fill"] * 2


# -- silent faults: cash drift, unknown position -----------------------------------------------


def test_cash_drift_moves_cash_with_no_cash_activity(market_with: MarketWith) -> None:
    market = market_with(SimFault.CASH_DRIFT)
    market.jump_to(AFTERNOON)
    market.minute(("AAPL", "100"))  # delivered at 14:59
    assert market.broker.account().cash == Decimal("100000")

    market.minute(("AAPL", "100"))  # delivered at 15:00

    broker = market.broker
    assert broker.account().cash == Decimal("99999.63")
    assert _activities(broker) == []
    assert len(broker.fetch_cash_reports(LONG_AGO).items) == 1  # the funding only
    ((fault, fired_at, detail),) = broker.faults_fired()
    assert (fault, fired_at) == ("cash_drift", AFTERNOON + timedelta(minutes=2))
    assert ACCOUNT_ID in detail and "99999.63" in detail


def test_cash_drift_fires_once_a_day(market_with: MarketWith) -> None:
    market = market_with(SimFault.CASH_DRIFT)
    market.jump_to(START.replace(hour=15))
    market.minute()
    market.minute()
    assert market.broker.account().cash == Decimal("99999.63")

    market.jump_to(START.replace(hour=15) + timedelta(days=1))
    market.minute()

    assert market.broker.account().cash == Decimal("99999.26")
    assert [fault for fault, _, _ in market.broker.faults_fired()] == ["cash_drift"] * 2
    assert _activities(market.broker) == []


def test_unknown_position_appears_without_a_fill_or_cash(market_with: MarketWith) -> None:
    market = market_with(SimFault.UNKNOWN_POSITION)
    announced = _bought_ten(market)
    market.jump_to(AFTERNOON)
    market.minute(("MSFT", "400", "401"), ("AAPL", "101"), ("NVDA", "900"))
    broker = market.broker
    cash = broker.account().cash

    market.minute(("AAPL", "101"))  # 15:00: MSFT is the first priced symbol not held

    assert broker.positions() == [
        BrokerPosition("AAPL", Decimal(10), Decimal("101.0202"), Decimal("101")),
        BrokerPosition("MSFT", Decimal(5), Decimal("401"), Decimal("401")),
    ]
    assert all_trades(broker) == announced
    assert broker.account().cash == cash
    assert _activities(broker) == []
    ((fault, fired_at, detail),) = broker.faults_fired()
    assert (fault, fired_at) == ("unknown_position", AFTERNOON + timedelta(minutes=2))
    assert "MSFT" in detail and ACCOUNT_ID in detail


def test_unknown_position_waits_for_a_priced_symbol_not_held(market_with: MarketWith) -> None:
    market = market_with(SimFault.UNKNOWN_POSITION)
    _bought_ten(market)
    market.jump_to(START.replace(hour=15))
    market.minute(("AAPL", "101"))  # AAPL is held and the only priced symbol: wait
    assert market.broker.faults_fired() == []

    market.minute(("AAPL", "101"), ("MSFT", "400"))

    assert [held.symbol for held in market.broker.positions()] == ["AAPL", "MSFT"]
    assert [fault for fault, _, _ in market.broker.faults_fired()] == ["unknown_position"]


def test_unknown_position_fires_once_a_day(market_with: MarketWith) -> None:
    market = market_with(SimFault.UNKNOWN_POSITION)
    market.jump_to(START.replace(hour=15))
    market.minute(("MSFT", "400"), ("AAPL", "100"))
    market.minute(("MSFT", "400"), ("AAPL", "100"))
    assert [(held.symbol, held.quantity) for held in market.broker.positions()] == [
        ("AAPL", Decimal(5)),
    ]

    market.jump_to(START.replace(hour=15) + timedelta(days=1))
    market.minute(("MSFT", "410"), ("AAPL", "100"))
    market.minute(("MSFT", "410"), ("AAPL", "100"))

    assert [
        (held.symbol, held.quantity, held.average_cost) for held in market.broker.positions()
    ] == [("AAPL", Decimal(5), Decimal(100)), ("MSFT", Decimal(5), Decimal(410))]
    assert [fault for fault, _, _ in market.broker.faults_fired()] == ["unknown_position"] * 2
    assert all_trades(market.broker) == []
    assert market.broker.account().cash == Decimal("100000")
