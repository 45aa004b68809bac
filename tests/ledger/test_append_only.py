"""Append-only is enforced by SQLite itself: any tool that opens the file hits the triggers.

(The reconciliation tables are covered the same way in test_recon_tables.)"""

from __future__ import annotations

import sqlite3

import pytest

from tbot.config.paths import BotPaths
from tbot.ledger.posting import LedgerWriter, TradeDraft
from tbot.ledger.recon_models import RECON_TABLES
from tbot.ledger.schema import APPEND_ONLY_TABLES, CORE_APPEND_ONLY_TABLES

from .conftest import EntryFactory, Snapshot


@pytest.fixture
def posted_ledger(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft
) -> LedgerWriter:
    """A ledger with a row in every append-only table."""
    writer.post(make_entry("FIT-1", trade=buy_trade), actor="engine")
    return writer


def test_every_append_only_table_is_covered() -> None:
    assert set(CORE_APPEND_ONLY_TABLES) == {"ledger_entries", "ledger_postings", "trades",
                                            "audit_trail"}
    assert (*CORE_APPEND_ONLY_TABLES, *RECON_TABLES) == APPEND_ONLY_TABLES


@pytest.mark.usefixtures("posted_ledger")
@pytest.mark.parametrize("table", CORE_APPEND_ONLY_TABLES)
def test_update_through_plain_sqlite_is_aborted(
    table: str, tamper: sqlite3.Connection, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(sqlite3.IntegrityError, match=f"{table} is append-only"):
        tamper.execute(f"UPDATE {table} SET id = id + 1000")
    assert snapshot(ledger_paths.ledger_db) == before


@pytest.mark.usefixtures("posted_ledger")
@pytest.mark.parametrize("table", CORE_APPEND_ONLY_TABLES)
def test_delete_through_plain_sqlite_is_aborted(
    table: str, tamper: sqlite3.Connection, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(sqlite3.IntegrityError, match=f"{table} is append-only"):
        tamper.execute(f"DELETE FROM {table}")
    assert snapshot(ledger_paths.ledger_db) == before
