"""Read-only reports over a ledger file: the trial balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from tbot.ledger.amounts import MONEY_PLACES, from_scaled
from tbot.ledger.chart import AccountType
from tbot.ledger.coa_file import load_chart
from tbot.ledger.database import open_reader_database
from tbot.ledger.timestamps import format_utc

NOT_IN_CHART = "(not in the chart of accounts)"


@dataclass(frozen=True)
class TrialBalanceLine:
    """One account in one currency. `balance` = debit - credit (positive: debit balance)."""

    code: str
    name: str
    type: AccountType | None
    currency: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass(frozen=True)
class CurrencyTotal:
    """Debit and credit totals of one currency over every account."""

    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def balanced(self) -> bool:
        """True when debits equal credits."""
        return self.debit == self.credit


@dataclass(frozen=True)
class TrialBalance:
    """Per account and currency totals as of the end of `as_of` (UTC), or of everything."""

    as_of: date | None
    lines: list[TrialBalanceLine]
    totals: list[CurrencyTotal]

    @property
    def balanced(self) -> bool:
        """True when every currency's debits equal its credits."""
        return all(total.balanced for total in self.totals)


def trial_balance(ledger_path: Path, coa_path: Path, as_of: date | None = None) -> TrialBalance:
    """The trial balance of the ledger at `ledger_path`, counting entries whose DTPOSTED is
    on or before the end of day `as_of` in UTC (every entry when `as_of` is None)."""
    chart = load_chart(coa_path)
    query = (
        "SELECT p.account_code, p.currency_code, "
        "SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), "
        "SUM(CASE WHEN p.amount < 0 THEN -p.amount ELSE 0 END) "
        "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
    )
    parameters: tuple[str, ...] = ()
    if as_of is not None:
        next_day = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
        query += "WHERE e.dtposted < ? "
        parameters = (format_utc(next_day),)
    query += "GROUP BY p.account_code, p.currency_code ORDER BY p.account_code, p.currency_code"
    database = open_reader_database(ledger_path)
    try:
        rows = database.connection().execute(query, parameters).fetchall()
    finally:
        database.close()
    lines = []
    totals: dict[str, tuple[int, int]] = {}
    for code, currency, debit, credit in rows:
        account = chart.get(code)
        lines.append(
            TrialBalanceLine(
                code=code,
                name=account.name if account else NOT_IN_CHART,
                type=account.type if account else None,
                currency=currency,
                debit=from_scaled(debit, MONEY_PLACES),
                credit=from_scaled(credit, MONEY_PLACES),
                balance=from_scaled(debit - credit, MONEY_PLACES),
            )
        )
        debits, credits = totals.get(currency, (0, 0))
        totals[currency] = (debits + debit, credits + credit)
    return TrialBalance(
        as_of=as_of,
        lines=lines,
        totals=[
            CurrencyTotal(currency, from_scaled(debit, MONEY_PLACES),
                          from_scaled(credit, MONEY_PLACES))
            for currency, (debit, credit) in sorted(totals.items())
        ],
    )
