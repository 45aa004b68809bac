"""The trial balance: per account and currency, debits equal credits in a sound ledger."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal

from tbot.config.paths import BotPaths
from tbot.ledger.chart import AccountType
from tbot.ledger.posting import LedgerWriter, PostingDraft
from tbot.ledger.reports import NOT_IN_CHART, CurrencyTotal, trial_balance

from .conftest import EntryFactory


def _day(day: int) -> datetime:
    return datetime(2026, 3, day, 20, 0, tzinfo=UTC)


def test_trial_balance_totals_balance_per_account_and_currency(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    writer.post_batch(
        [
            make_entry("FIT-FLOAT", "1000", debit="1030", credit="3010"),
            make_entry("FIT-BUY", "600", debit="1111", credit="1030"),
            make_entry("FIT-FEE", "0.000125", debit="5010", credit="1030"),
        ],
        actor="engine",
    )
    balance = trial_balance(ledger_paths.ledger_db, ledger_paths.coa_db())
    lines = {line.code: line for line in balance.lines}
    assert set(lines) == {"1030", "1111", "3010", "5010"}
    cash = lines["1030"]
    assert (cash.name, cash.type, cash.currency) == ("Alpaca – Cash", AccountType.ASSET, "USD")
    assert (cash.debit, cash.credit) == (Decimal("1000"), Decimal("600.000125"))
    assert cash.balance == Decimal("399.999875")
    assert lines["3010"].balance == Decimal("-1000")
    assert balance.totals == [CurrencyTotal("USD", Decimal("1600.000125"),
                                            Decimal("1600.000125"))]
    assert balance.balanced


def test_as_of_excludes_entries_posted_after_that_day(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    writer.post_batch(
        [
            make_entry("FIT-MON", "10", dtposted=_day(2)),
            make_entry("FIT-MON-LATE", "1", dtposted=datetime(2026, 3, 2, 23, 59, 59, 999999,
                                                               tzinfo=UTC)),
            make_entry("FIT-TUE", "100", dtposted=datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),
        ],
        actor="engine",
    )
    monday = trial_balance(ledger_paths.ledger_db, ledger_paths.coa_db(), as_of=date(2026, 3, 2))
    assert monday.as_of == date(2026, 3, 2)
    assert monday.totals == [CurrencyTotal("USD", Decimal(11), Decimal(11))]
    everything = trial_balance(ledger_paths.ledger_db, ledger_paths.coa_db())
    assert everything.totals == [CurrencyTotal("USD", Decimal(111), Decimal(111))]
    before = trial_balance(ledger_paths.ledger_db, ledger_paths.coa_db(), as_of=date(2026, 3, 1))
    assert (before.lines, before.totals) == ([], [])


def test_each_currency_has_its_own_totals(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    writer.post(make_entry("FIT-FX", postings=(
        PostingDraft("1030", Decimal("-100"), "USD"), PostingDraft("1040", Decimal("100"), "USD"),
        PostingDraft("1040", Decimal("-137.25"), "CAD"),
        PostingDraft("1050", Decimal("137.25"), "CAD"),
    )), actor="engine")
    balance = trial_balance(ledger_paths.ledger_db, ledger_paths.coa_db())
    assert balance.totals == [
        CurrencyTotal("CAD", Decimal("137.25"), Decimal("137.25")),
        CurrencyTotal("USD", Decimal("100"), Decimal("100")),
    ]
    assert [(line.code, line.currency) for line in balance.lines] == [
        ("1030", "USD"), ("1040", "CAD"), ("1040", "USD"), ("1050", "CAD")]


def test_a_tampered_ledger_shows_as_unbalanced_with_unknown_accounts_named(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths,
    tamper: sqlite3.Connection,
) -> None:
    writer.post(make_entry("FIT-1", "5"), actor="engine")
    tamper.execute(
        "INSERT INTO ledger_entries (id, fitid, dtposted, trntype, memo, source, audit_id, "
        "entity_code, jurisdiction_code, broker_code, bot_id, currency_code, is_manual, "
        "created_at_utc) VALUES (9, 'X', '2026-03-02T00:00:00.000000Z', 'BUY', '', 'x', 1, "
        "'ACME', 'US', 'ALP', 'B01', 'USD', 0, '2026-03-02T00:00:00.000000Z')"
    )
    tamper.execute("INSERT INTO ledger_postings (entry_id, account_code, amount, currency_code) "
                   "VALUES (9, '7777', 3000000, 'USD')")
    balance = trial_balance(ledger_paths.ledger_db, ledger_paths.coa_db())
    unknown = next(line for line in balance.lines if line.code == "7777")
    assert (unknown.name, unknown.type) == (NOT_IN_CHART, None)
    assert not balance.balanced
