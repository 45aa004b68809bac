"""Readers open read-only: they see what the writer committed and never get in its way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from peewee import OperationalError, SqliteDatabase

from tbot.config.paths import BotPaths
from tbot.ledger.database import bound, open_reader_database
from tbot.ledger.models import LEDGER_MODELS, LedgerEntry
from tbot.ledger.posting import LedgerWriter

from .conftest import EntryFactory


@pytest.fixture
def reader(ledger_paths: BotPaths) -> Iterator[SqliteDatabase]:
    """A read-only Peewee database on the ledger, opened before any write."""
    database = open_reader_database(ledger_paths.ledger_db)
    yield database
    database.close()


def test_reader_sees_committed_entries_while_the_writer_stays_open(
    reader: SqliteDatabase, writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    with bound(reader, LEDGER_MODELS):
        assert LedgerEntry.select().count() == 0
        writer.post(make_entry("FIT-1"), actor="engine")
        assert [entry.fitid for entry in LedgerEntry.select()] == ["FIT-1"]
        writer.post_batch([make_entry("FIT-2"), make_entry("FIT-3")], actor="engine")
        assert LedgerEntry.select().count() == 3


def test_open_read_transaction_does_not_block_the_writer(
    reader: SqliteDatabase, writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    writer.post(make_entry("FIT-1"), actor="engine")
    with bound(reader, LEDGER_MODELS), reader.atomic():
        assert LedgerEntry.select().count() == 1
        writer.post(make_entry("FIT-2"), actor="engine")  # does not wait for the reader
        assert LedgerEntry.select().count() == 1  # the reader's snapshot is stable
    with bound(reader, LEDGER_MODELS):
        assert LedgerEntry.select().count() == 2


def test_reader_cannot_write(reader: SqliteDatabase) -> None:
    with pytest.raises(OperationalError, match="attempt to write a readonly database"):
        reader.execute_sql("INSERT INTO coa_metadata VALUES ('USD', 'X', 'Y', 'v', 'a', 'b')")
