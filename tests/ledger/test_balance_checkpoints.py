"""Balance checkpoints: sums read from the newest checkpoint plus the postings after it
equal sums over the whole ledger; a checkpoint that cannot be read, or lies past the
ledger's end, is not used."""

from __future__ import annotations

import logging
import sqlite3
from decimal import Decimal

import pytest

from tbot.config.paths import BotPaths
from tbot.ledger.balances import (
    BALANCES_ACTION,
    BALANCES_SUBJECT,
    PostingSums,
    account_sums,
    balance_checkpoint,
    balances_details,
)
from tbot.ledger.posting import LedgerWriter, PostingDraft
from tbot.reconcile.ledger_view import account_balance, ledger_positions

from .conftest import EntryFactory


def whole_sums(ledger: sqlite3.Connection, account: str) -> dict[str | None, PostingSums]:
    return {symbol: PostingSums(int(quantity), int(amount), last_moved)
            for symbol, quantity, amount, last_moved in ledger.execute(
                "SELECT symbol, SUM(COALESCE(quantity, 0)), SUM(amount), "
                "MAX(CASE WHEN quantity IS NOT NULL THEN entry_id END) FROM ledger_postings "
                "WHERE account_code = ? GROUP BY symbol", (account,))}


def buy(make_entry: EntryFactory, fitid: str, symbol: str, quantity: str, cost: str):
    return make_entry(fitid, postings=(
        PostingDraft("1111", Decimal(cost), quantity=Decimal(quantity), symbol=symbol),
        PostingDraft("1030", -Decimal(cost))))


def checkpoint(writer: LedgerWriter, paths: BotPaths) -> None:
    """What the engine's end of day writes."""
    with sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True) as ledger:
        ledger.execute("BEGIN")
        details = balances_details(balance_checkpoint(ledger))
    writer.record_event(BALANCES_ACTION, actor="engine", subject=BALANCES_SUBJECT,
                        details=details)


@pytest.fixture
def ledger(ledger_paths: BotPaths) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{ledger_paths.ledger_db}?mode=ro", uri=True)


def test_sums_from_checkpoints_and_the_postings_after_them_equal_whole_sums(
    writer: LedgerWriter, ledger_paths: BotPaths, make_entry: EntryFactory,
    ledger: sqlite3.Connection,
) -> None:
    writer.post(buy(make_entry, "B1", "AAPL", "3", "100.00"), actor="test")
    writer.post(buy(make_entry, "B2", "MSFT", "1.5", "601.37"), actor="test")
    checkpoint(writer, ledger_paths)
    writer.post(buy(make_entry, "B3", "AAPL", "2", "70.01"), actor="test")
    writer.post(make_entry("C1", "12.34", debit="1030", credit="1111"), actor="test")
    checkpoint(writer, ledger_paths)  # built on the first one
    writer.post(buy(make_entry, "B4", "NVDA", "0.001", "0.14"), actor="test")
    for account in ("1111", "1030"):
        assert account_sums(ledger, account) == whole_sums(ledger, account)
    assert ledger_positions(ledger, "1111")["AAPL"] == (Decimal(5), Decimal("170.01"))
    assert account_balance(ledger, "1030") == Decimal("-759.18")


def test_a_checkpoint_past_the_end_of_the_ledger_is_not_used(
    writer: LedgerWriter, make_entry: EntryFactory, ledger: sqlite3.Connection,
) -> None:
    """A ledger restored to an earlier point keeps no checkpoint from its future."""
    writer.post(buy(make_entry, "B1", "AAPL", "3", "100.00"), actor="test")
    writer.record_event(BALANCES_ACTION, actor="engine", subject=BALANCES_SUBJECT,
                        details={"through_entry_id": 50, "sums": []})
    assert account_sums(ledger, "1111") == whole_sums(ledger, "1111")


def test_a_checkpoint_that_cannot_be_read_is_not_used(
    writer: LedgerWriter, make_entry: EntryFactory, ledger: sqlite3.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer.post(buy(make_entry, "B1", "AAPL", "3", "100.00"), actor="test")
    writer.record_event(BALANCES_ACTION, actor="engine", subject=BALANCES_SUBJECT,
                        details={"through_entry_id": 1,
                                 "sums": [["1111", "AAPL", "3", 100000000]]})
    with caplog.at_level(logging.WARNING, logger="tbot.ledger.balances"):
        assert account_sums(ledger, "1111") == whole_sums(ledger, "1111")
    assert "cannot be read" in caplog.text


def test_what_a_checkpoint_says_stands_for_every_posting_up_to_it(
    writer: LedgerWriter, make_entry: EntryFactory, ledger: sqlite3.Connection,
) -> None:
    """Only the postings after it are summed (a checkpoint written by hand shows it)."""
    writer.post(buy(make_entry, "B1", "AAPL", "3", "100.00"), actor="test")
    writer.record_event(BALANCES_ACTION, actor="engine", subject=BALANCES_SUBJECT,
                        details={"through_entry_id": 1, "sums": [["1111", "AAPL", 7, 9, 1]]})
    writer.post(buy(make_entry, "B2", "AAPL", "1", "1.00"), actor="test")
    assert account_sums(ledger, "1111") == {"AAPL": PostingSums(7 + 10**9, 9 + 10**6, 2)}
