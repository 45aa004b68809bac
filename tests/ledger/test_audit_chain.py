"""Canonical serialisations: the writer's hashes are what SQLite itself recomputes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tbot.config.paths import BotPaths
from tbot.ledger.audit_chain import (
    audit_text_sql,
    canonical_details,
    entry_details,
    entry_text_sql,
    row_text,
)
from tbot.ledger.posting import LedgerWriter, PostingDraft, TradeDraft

from .conftest import EntryFactory


@pytest.fixture
def auditor(ledger_paths: BotPaths) -> Iterator[sqlite3.Connection]:
    """A plain read-only connection, as an auditor's tool would open the ledger."""
    connection = sqlite3.connect(f"file:{ledger_paths.ledger_db}?mode=ro", uri=True)
    yield connection
    connection.close()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_sqlite_recomputes_every_entry_digest(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft,
    auditor: sqlite3.Connection,
) -> None:
    writer.post(make_entry("FIT-PLAIN", memo='quotes " and \\ and café ✓'), actor="engine")
    writer.post(make_entry("FIT-TRADE", trade=buy_trade, postings=(
        PostingDraft("1111", Decimal("100.5"), quantity=Decimal("1.5"), symbol="AAPL",
                     memo="𝄞 non-BMP"),
        PostingDraft("1030", Decimal("-100.5")),
    )), actor="engine")
    rows = auditor.execute(
        f"SELECT e.fitid, {entry_text_sql('e')}, a.details FROM ledger_entries e "
        "JOIN audit_trail a ON a.id = e.audit_id ORDER BY e.id"
    ).fetchall()
    assert [fitid for fitid, _, _ in rows] == ["FIT-PLAIN", "FIT-TRADE"]
    for _, text, details in rows:
        assert _sha(text) == json.loads(details)["entry_digest"]


def test_sqlite_recomputes_every_row_hash(
    writer: LedgerWriter, make_entry: EntryFactory, auditor: sqlite3.Connection
) -> None:
    writer.post(make_entry("FIT-1"), actor="engine")
    writer.record_event("secrets.set", actor="opérateur", subject="smtp", details={"n": 1})
    rows = auditor.execute(
        f"SELECT {audit_text_sql('a')}, a.row_hash, a.prev_hash FROM audit_trail a ORDER BY id"
    ).fetchall()
    assert len(rows) == 3
    previous = "0" * 64
    for text, row_hash, prev_hash in rows:
        assert _sha(text) == row_hash
        assert prev_hash == previous
        previous = row_hash


def test_row_text_is_what_sqlite_json_array_prints() -> None:
    values = (7, 'a "quoted" \\ value', None, -9223372036854775808, "ünïcode ✓ 𝄞")
    connection = sqlite3.connect(":memory:")
    from_sqlite = connection.execute("SELECT json_array(?, ?, ?, ?, ?)", values).fetchone()[0]
    connection.close()
    assert row_text(values) == from_sqlite


def test_row_text_refuses_a_value_that_is_not_a_stored_one() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        row_text((1, Decimal("1.5")))


def test_entry_details_is_canonical_details() -> None:
    digest = "ab" * 32
    assert entry_details(digest, 12, 'F"1') == canonical_details(
        {"fitid": 'F"1', "entry_id": 12, "entry_digest": digest})
    assert entry_details(digest, 12, "F2", "F1") == canonical_details(
        {"reverses_fitid": "F1", "fitid": "F2", "entry_id": 12, "entry_digest": digest})


def test_canonical_details_sorts_keys_and_writes_exact_values() -> None:
    text = canonical_details({
        "z": [1, "two", None, True],
        "amount": Decimal("0.000125"),
        "at": datetime(2026, 3, 2, 14, 30, tzinfo=UTC),
        "nested": {"b": 1, "a": "é"},
    })
    assert text == ('{"amount":"0.000125","at":"2026-03-02T14:30:00.000000Z",'
                    '"nested":{"a":"é","b":1},"z":[1,"two",null,true]}')


def test_canonical_details_refuses_float() -> None:
    with pytest.raises(TypeError, match="float"):
        canonical_details({"nested": {"ratio": 0.5}})


def test_canonical_details_refuses_objects_it_cannot_write_exactly() -> None:
    with pytest.raises(TypeError, match="set"):
        canonical_details({"keys": {"a", "b"}})
