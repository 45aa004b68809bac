"""Each broker books into its own postable accounts of the standard chart."""

from __future__ import annotations

import pytest

from tbot.booking.broker_accounts import CAPITAL_FLOAT, BrokerAccounts, accounts_for
from tbot.config.setting_types import BrokerName
from tbot.ledger.chart import STANDARD_CHART, AccountType


@pytest.mark.parametrize(
    ("broker", "expected", "name_part"),
    [
        (BrokerName.ALPACA, BrokerAccounts("1030", "1111", "4010", "5010"), "Alpaca"),
        (BrokerName.IBKR, BrokerAccounts("1040", "1112", "4020", "5020"), "IBKR"),
        (BrokerName.SIM, BrokerAccounts("1070", "1115", "4045", "5045"), "Simulated Broker"),
    ],
)
def test_a_broker_has_its_own_cash_equities_gains_and_fees_accounts(
    broker: BrokerName, expected: BrokerAccounts, name_part: str
) -> None:
    accounts = accounts_for(broker)
    assert accounts == expected
    codes = (accounts.cash, accounts.equities, accounts.realized_gains, accounts.fees)
    types = (AccountType.ASSET, AccountType.ASSET, AccountType.INCOME, AccountType.EXPENSE)
    for code, account_type in zip(codes, types, strict=True):
        assert STANDARD_CHART.is_postable(code)
        assert STANDARD_CHART[code].type is account_type
        assert name_part in STANDARD_CHART[code].name


def test_funding_credits_the_capital_float_ledger() -> None:
    assert STANDARD_CHART[CAPITAL_FLOAT].name == "Capital Float Ledger"
    assert STANDARD_CHART.is_postable(CAPITAL_FLOAT)


def test_brokers_are_found_by_their_setting_text() -> None:
    assert accounts_for("SIM") == accounts_for(BrokerName.SIM)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="TRADIER"):
        accounts_for("TRADIER")  # type: ignore[arg-type]
