"""The simulated account: funding, cash, positions and average cost, equity, settings."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from tbot.broker.models import BrokerPosition, CashActivity
from tbot.broker.sim import SimBroker, SimBrokerSettings, SimFault
from tests.broker.conftest import ACCOUNT_ID, LONG_AGO, START, Market


def test_new_account_holds_its_starting_cash(broker: SimBroker) -> None:
    snapshot = broker.account()

    assert (snapshot.account_id, snapshot.currency) == (ACCOUNT_ID, "USD")
    assert snapshot.cash == snapshot.buying_power == snapshot.equity == Decimal("100000")
    assert snapshot.as_of == START
    assert broker.name == "SIM"


def test_initial_funding_is_a_cash_activity(broker: SimBroker) -> None:
    page = broker.fetch_cash_activity(LONG_AGO)

    assert page.items == (
        CashActivity(
            activity_id=f"{ACCOUNT_ID}-FUNDING",
            activity_type="CSD",
            amount=Decimal("100000"),
            occurred_at=START,
            description="Initial funding of the simulated account",
        ),
    )
    assert page.next_token is None


def test_positions_carry_volume_weighted_average_cost(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "101"))  # 101.0202
    market.buy("c2", "AAPL", "10")
    market.minute(("AAPL", "102", "102.5"))  # 102.0204

    assert broker.positions() == [
        BrokerPosition(
            symbol="AAPL",
            quantity=Decimal(20),
            average_cost=Decimal("101.5203"),
            market_price=Decimal("102.5"),
        )
    ]


def test_a_sale_keeps_the_average_cost(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "101"))
    market.sell("c2", "AAPL", "4")
    market.minute(("AAPL", "105"))

    (held,) = broker.positions()
    assert (held.quantity, held.average_cost) == (Decimal(6), Decimal("101.0202"))


def test_a_position_sold_out_disappears(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"), ("MSFT", "400"))
    market.buy("c1", "AAPL", "10")
    market.buy("c2", "MSFT", "1")
    market.minute(("AAPL", "101"), ("MSFT", "400"))
    market.sell("c3", "AAPL", "10")
    market.minute(("AAPL", "101"))

    assert [held.symbol for held in broker.positions()] == ["MSFT"]


def test_equity_is_cash_plus_holdings_at_the_last_price(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "101", "101.5"))

    snapshot = broker.account()

    cash = Decimal("100000") - Decimal("1010.202") - Decimal("0.05")
    assert snapshot.cash == cash
    assert snapshot.equity == cash + Decimal("1015.0")


def test_last_price_is_the_latest_close(market: Market, broker: SimBroker) -> None:
    assert broker.last_price("AAPL") is None

    market.minute(("AAPL", "100", "100.25"))

    assert broker.last_price("AAPL") == Decimal("100.25")


def test_settings_accept_fault_names_as_text(settings: SimBrokerSettings) -> None:
    named = replace(settings, faults=frozenset({"deposit", "drop_fill"}))

    assert named.faults == frozenset({SimFault.DEPOSIT, SimFault.DROP_FILL})
    assert all(isinstance(fault, SimFault) for fault in named.faults)


@pytest.mark.parametrize(
    "change",
    [
        {"starting_cash": 100000.0},
        {"starting_cash": Decimal(-1)},
        {"fee_per_share": Decimal("-0.01")},
        {"min_fee": Decimal("Infinity")},
        {"slippage_bps": Decimal(10000)},
        {"max_volume_participation": Decimal(0)},
        {"max_volume_participation": Decimal("1.5")},
        {"account_id": "SIM BOT"},
        {"currency": "usd"},
        {"faults": frozenset({"teleport"})},
    ],
    ids=[
        "float-cash", "negative-cash", "negative-fee", "infinite-min-fee", "all-slippage",
        "no-participation", "over-participation", "spaced-account", "lower-currency",
        "unknown-fault",
    ],
)
def test_invalid_settings_are_refused(
    settings: SimBrokerSettings, change: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        replace(settings, **change)
