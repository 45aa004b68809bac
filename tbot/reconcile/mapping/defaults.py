"""The shipped rule set (version 1 of every bot's mapping): the cash activity a bot meets
every week, per broker code, onto the seed chart (`tbot.ledger.chart`).

Fills are not here: the engine books them. Each default names its sign, so a record that
moves cash the other way (a negative dividend, a fee rebate the rule does not expect) is
not booked by a guess but queued. Interest *earned* has no account in the seed chart (4000
has no interest income): it queues for the bookkeeper's first decision, and learning takes
it from there. Defaults are ordinary rules (`origin` ``default``): editable, disable-able,
and every decision they make is recorded as the default layer's.
"""

from __future__ import annotations

from tbot.booking.broker_accounts import CAPITAL_FLOAT, accounts_for
from tbot.config.setting_types import BrokerName
from tbot.reconcile.mapping.rules import Rule, RuleSet

QUALIFIED_DIVIDENDS = "4050"
SHORT_TERM_GAINS = "4060"
LONG_TERM_GAINS = "4070"
TAX_PAYMENTS = "5080"

# (activity type, sign, counter account or "fees", name) per broker family. "+" books
# Dr cash / Cr counter; "-" books Dr counter / Cr cash.
_ALPACA_CODES: tuple[tuple[str, str, str, str], ...] = (
    ("CSD", "+", CAPITAL_FLOAT, "Cash deposit: capital float in"),
    ("CSW", "-", CAPITAL_FLOAT, "Cash withdrawal: capital float out"),
    ("JNLC", "+", CAPITAL_FLOAT, "Cash journal in: capital float"),
    ("JNLC", "-", CAPITAL_FLOAT, "Cash journal out: capital float"),
    ("DIV", "+", QUALIFIED_DIVIDENDS, "Dividend"),
    ("DIVTXEX", "+", QUALIFIED_DIVIDENDS, "Tax-exempt dividend"),
    ("DIVCGS", "+", SHORT_TERM_GAINS, "Short-term capital gain distribution"),
    ("DIVCGL", "+", LONG_TERM_GAINS, "Long-term capital gain distribution"),
    ("DIVNRA", "-", TAX_PAYMENTS, "Dividend tax withheld (non-resident)"),
    ("DIVFT", "-", TAX_PAYMENTS, "Foreign tax withheld on a dividend"),
    ("FEE", "-", "fees", "Regulatory and broker fees"),
    ("FEE", "+", "fees", "Fee rebate"),
    ("CFEE", "-", "fees", "Crypto fee"),
    ("PTC", "-", "fees", "Pass-through charge"),
    ("INT", "-", "fees", "Interest charged"),
)
_IBKR_CODES: tuple[tuple[str, str, str, str], ...] = (
    ("Deposits/Withdrawals", "+", CAPITAL_FLOAT, "Deposit: capital float in"),
    ("Deposits/Withdrawals", "-", CAPITAL_FLOAT, "Withdrawal: capital float out"),
    ("Dividends", "+", QUALIFIED_DIVIDENDS, "Dividend"),
    ("Payment In Lieu Of Dividends", "+", QUALIFIED_DIVIDENDS, "Payment in lieu of dividend"),
    ("Withholding Tax", "-", TAX_PAYMENTS, "Tax withheld"),
    ("Broker Interest Paid", "-", "fees", "Interest charged"),
    ("Other Fees", "-", "fees", "Fees"),
    ("Commission Adjustments", "-", "fees", "Commission adjustment"),
    ("Commission Adjustments", "+", "fees", "Commission refund"),
)
_CODES: dict[BrokerName, tuple[tuple[str, str, str, str], ...]] = {
    # The simulated broker reports in Alpaca's vocabulary.
    BrokerName.SIM: _ALPACA_CODES,
    BrokerName.ALPACA: _ALPACA_CODES,
    BrokerName.IBKR: _IBKR_CODES,
}
DEFAULT_VERSION_REASON = "the shipped default rules"


def default_rules() -> RuleSet:
    """Version 1: every broker's defaults, numbered R1... in a stable order."""
    rules: list[Rule] = []
    for broker in (BrokerName.SIM, BrokerName.ALPACA, BrokerName.IBKR):
        accounts = accounts_for(broker)
        for activity_type, sign, counter, name in _CODES[broker]:
            other = accounts.fees if counter == "fees" else counter
            debit, credit = (accounts.cash, other) if sign == "+" else (other, accounts.cash)
            rules.append(Rule(
                id=f"R{len(rules) + 1}", name=name, broker=broker.value,
                activity_type=activity_type, sign=sign, debit=debit, credit=credit,
                origin="default",
            ))
    return RuleSet(rules)
