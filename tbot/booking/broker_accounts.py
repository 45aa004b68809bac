"""Which accounts of the chart each broker books into.

The codes are the seed chart's (`tbot.ledger.chart`): every broker has its own cash,
equities, realized-gains and fees accounts, so two brokers' money never mixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tbot.config.setting_types import BrokerName

CAPITAL_FLOAT = "3010"
"""Capital Float Ledger: the equity account credited when the trading account is funded."""


@dataclass(frozen=True, slots=True)
class BrokerAccounts:
    """The four postable accounts one broker's fills touch."""

    cash: str
    equities: str
    realized_gains: str
    fees: str


_BY_BROKER: dict[BrokerName, BrokerAccounts] = {
    BrokerName.ALPACA: BrokerAccounts(cash="1030", equities="1111", realized_gains="4010",
                                      fees="5010"),
    BrokerName.IBKR: BrokerAccounts(cash="1040", equities="1112", realized_gains="4020",
                                    fees="5020"),
    BrokerName.SIM: BrokerAccounts(cash="1070", equities="1115", realized_gains="4045",
                                   fees="5045"),
}


def accounts_for(broker: BrokerName) -> BrokerAccounts:
    """The accounts of `broker`; a broker without accounts in the chart is a KeyError."""
    try:
        return _BY_BROKER[BrokerName(broker)]
    except (KeyError, ValueError):
        raise KeyError(f"no ledger accounts are defined for broker {broker!r}") from None
