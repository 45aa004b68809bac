"""The chart of accounts: immutable `Account` records and the `Chart` that answers about them.

`STANDARD_ACCOUNTS` is the seed chart "Chart of Accounts – Single-Broker TBot Architecture"
(v1.0.0, every code and name exactly as written there) plus, in v1.1.0, the four accounts
of the built-in simulated broker (1070 cash, 1115 equities, 4045 realized gains, 5045
fees), so simulated trading never borrows a real broker's accounts. An account's type and cash-flow
class come from its top node (1000 ... 9300). The 9100/9200/9300 trees are control/memo
accounts: they name reporting artefacts and flags, hold no money, and take no postings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class AccountType(StrEnum):
    """What kind of account; stored as its value in `coa_accounts.type`."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"
    CONTROL = "control"


class Side(StrEnum):
    """The side on which an account's balance normally sits."""

    DEBIT = "debit"
    CREDIT = "credit"


NORMAL_BALANCE: dict[AccountType, Side | None] = {
    AccountType.ASSET: Side.DEBIT,
    AccountType.EXPENSE: Side.DEBIT,
    AccountType.LIABILITY: Side.CREDIT,
    AccountType.EQUITY: Side.CREDIT,
    AccountType.INCOME: Side.CREDIT,
    AccountType.CONTROL: None,
}


@dataclass(frozen=True, slots=True)
class Account:
    """One account of the chart. `parent` is None for a top node."""

    code: str
    name: str
    parent: str | None
    type: AccountType
    cash_flow_class: str


class Chart:
    """A validated tree of accounts: lookups, leaves, and which accounts take postings.

    An account takes postings when it is a leaf (no children) and not a control account.
    """

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._accounts: dict[str, Account] = {}
        for account in accounts:
            if account.code in self._accounts:
                raise ValueError(f"account {account.code} appears twice in the chart")
            self._accounts[account.code] = account
        self._children: dict[str, list[Account]] = {code: [] for code in self._accounts}
        for account in self._accounts.values():
            if account.parent is None:
                continue
            if account.parent not in self._accounts:
                raise ValueError(f"account {account.code}'s parent {account.parent} is missing")
            self._children[account.parent].append(account)
        self._postable = frozenset(
            code
            for code, account in self._accounts.items()
            if not self._children[code] and account.type is not AccountType.CONTROL
        )

    def __contains__(self, code: object) -> bool:
        return code in self._accounts

    def __getitem__(self, code: str) -> Account:
        return self._accounts[code]

    def __iter__(self) -> Iterator[Account]:
        return iter(self._accounts.values())

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, code: str) -> Account | None:
        """The account with `code`, or None."""
        return self._accounts.get(code)

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Every account, in chart order."""
        return tuple(self._accounts.values())

    def children(self, code: str) -> tuple[Account, ...]:
        """The direct children of `code` (KeyError if unknown)."""
        return tuple(self._children[code])

    def is_leaf(self, code: str) -> bool:
        """True when `code` has no children (KeyError if unknown)."""
        return not self._children[code]

    def is_postable(self, code: str) -> bool:
        """True when entries may post to `code`: a known, non-control leaf."""
        return code in self._postable

    def postable_codes(self) -> frozenset[str]:
        """Every code that takes postings (the writer caches this set)."""
        return self._postable

    def normal_balance(self, code: str) -> Side | None:
        """Debit for assets/expenses, credit for liabilities/equity/income, None for control."""
        return NORMAL_BALANCE[self._accounts[code].type]

    def refusal_reason(self, code: str) -> str | None:
        """Why `code` takes no postings ("unknown", "control account", "parent account"),
        or None when it does."""
        account = self._accounts.get(code)
        if account is None:
            return "unknown"
        if account.type is AccountType.CONTROL:
            return "control account: memo/control accounts hold no money"
        if self._children[code]:
            return "parent account: post to one of its sub-accounts"
        return None


# Top nodes: (code, name, type, cash-flow class as bracketed in the seed).
_TOP_NODES: tuple[tuple[str, str, AccountType, str], ...] = (
    ("1000", "Bank and Cash Accounts", AccountType.ASSET, "Cash & Equivalents"),
    ("1100", "Assets", AccountType.ASSET, "Investing Activities"),
    ("2000", "Liabilities", AccountType.LIABILITY, "Operating Activities"),
    ("3000", "Equity", AccountType.EQUITY, "Financing Activities"),
    ("4000", "Income", AccountType.INCOME, "Operating Activities"),
    ("5000", "Expenses", AccountType.EXPENSE, "Operating Activities"),
    ("9100", "Exports", AccountType.CONTROL, "Control & Reporting"),
    ("9200", "Logging / Execution References", AccountType.CONTROL, "Control"),
    ("9300", "System Integrity", AccountType.CONTROL, "Control"),
)

# Every other account: (code, name, parent), in the seed's order.
_SUB_ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ('1010', 'Float Injection – From RIGD Group', '1000'),
    ('1020', 'Float Returned – To RIGD Group', '1000'),
    ('1030', 'Alpaca – Cash', '1000'),
    ('1040', 'IBKR – Cash', '1000'),
    ('1050', 'Tradier – Cash', '1000'),
    ('1060', 'Robinhood – Cash', '1000'),
    ('1070', 'Simulated Broker – Cash', '1000'),
    ('1110', 'Brokerage Accounts – Equities', '1100'),
    ('1111', 'Alpaca – Equities', '1110'),
    ('1112', 'IBKR – Equities', '1110'),
    ('1113', 'Tradier – Equities', '1110'),
    ('1114', 'Robinhood – Equities', '1110'),
    ('1115', 'Simulated Broker – Equities', '1110'),
    ('1120', 'Tax Reserve (Brokerage)', '1100'),
    ('1130', 'Payroll Reserve (Brokerage)', '1100'),
    ('2010', 'Broker Payables (Accrued Fees)', '2000'),
    ('2020', 'Market Data Payables (Accrued Subscriptions)', '2000'),
    ('3010', 'Capital Float Ledger', '3000'),
    ('3020', 'Daily Float Allocation History', '3000'),
    ('3030', 'Opening Balance', '3000'),
    ('3040', 'Accumulated Profit', '3000'),
    ('4010', 'Realized Gains – Alpaca', '4000'),
    ('4020', 'Realized Gains – IBKR', '4000'),
    ('4030', 'Realized Gains – Tradier', '4000'),
    ('4040', 'Realized Gains – Robinhood', '4000'),
    ('4045', 'Realized Gains – Simulated Broker', '4000'),
    ('4050', 'Qualified Dividends', '4000'),
    ('4060', 'Short-Term Capital Gains', '4000'),
    ('4070', 'Long-Term Capital Gains', '4000'),
    ('4080', 'Holdings Allocation Rebalancing Gain/Loss', '4000'),
    ('4090', 'Float/Tax/Payroll Reserve Transfers', '4000'),
    ('5010', 'Broker Fees – Alpaca', '5000'),
    ('5020', 'Broker Fees – IBKR', '5000'),
    ('5030', 'Broker Fees – Tradier', '5000'),
    ('5040', 'Broker Fees – Robinhood', '5000'),
    ('5045', 'Broker Fees – Simulated Broker', '5000'),
    ('5050', 'Slippage / Execution Losses', '5000'),
    ('5060', 'API Timeout Penalties', '5000'),
    ('5070', 'Bot Infrastructure Costs', '5000'),
    ('5080', 'Tax Payments (Realized/Withheld)', '5000'),
    ('5090', 'Payroll Disbursements (Owner/Operator)', '5000'),
    ('9110', 'Daily P&L Export – Manager.io Format', '9100'),
    ('9120', 'CSV/JSON Trade Log Export', '9100'),
    ('9130', 'SQLite Ledger Backup', '9100'),
    ('9140', 'Broker Confirm Archive (PDFs)', '9100'),
    ('9150', 'End-of-Day Snapshot (Holdings + Cash)', '9100'),
    ('9160', 'Holdings Rebalance Audit Log Export', '9100'),
    ('9210', 'Trade UUID', '9200'),
    ('9220', 'Broker Confirm #', '9200'),
    ('9230', 'Strategy Tag', '9200'),
    ('9240', 'Source Method Tag', '9200'),
    ('9250', 'EOD Synced Flag', '9200'),
    ('9260', 'Reconciliation Passed Flag', '9200'),
    ('9310', 'Failures & Rejected Orders', '9300'),
    ('9320', 'Manual Overrides', '9300'),
    ('9330', 'Ledger Lock Flag (YES/NO)', '9300'),
    ('9340', 'Ledger Status: ACTIVE / DECOMMISSIONED', '9300'),
    ('9350', 'Final Entry Timestamp', '9300'),
    ('9360', 'Debug / Strategy Tags', '9300'),
)


def _build_standard_accounts() -> tuple[Account, ...]:
    top = {code: (kind, cash_flow) for code, _, kind, cash_flow in _TOP_NODES}
    parents = {code: parent for code, _, parent in _SUB_ACCOUNTS}

    def top_node(code: str) -> str:
        while code in parents:
            code = parents[code]
        return code

    accounts = [Account(code, name, None, kind, cash_flow) for code, name, kind, cash_flow
                in _TOP_NODES]
    for code, name, parent in _SUB_ACCOUNTS:
        kind, cash_flow = top[top_node(code)]
        accounts.append(Account(code, name, parent, kind, cash_flow))
    return tuple(sorted(accounts, key=lambda account: account.code))


STANDARD_ACCOUNTS: tuple[Account, ...] = _build_standard_accounts()
"""The chart v1.1.0, ordered by code (so parents come before their children)."""

STANDARD_CHART = Chart(STANDARD_ACCOUNTS)
