"""The reconciliation tables in the ledger file: created with new files, append-only in SQLite
itself, added to older files by the writer (audited, once), checked by verify, and written
with entries and reversals in one atomic `commit_batch`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.ledger.audit_chain import (
    GENESIS_HASH,
    audit_row_hash,
    canonical_details,
    recon_rows_text,
    recon_rows_text_sql,
    sha256_hex,
)
from tbot.ledger.backup import LedgerBackups
from tbot.ledger.batch import (
    BatchResult,
    ConvertedRow,
    EntryRef,
    LedgerBatch,
    ReversalDraft,
    RowRef,
    convert_row,
)
from tbot.ledger.coa_file import create_coa_file, read_coa_metadata, write_metadata
from tbot.ledger.database import bound, open_reader_database
from tbot.ledger.errors import (
    AlreadyReversedError,
    DuplicateFitidError,
    EntryNotFoundError,
    InvalidRowError,
    LedgerError,
    LedgerFileError,
)
from tbot.ledger.migration import find_recon_gaps
from tbot.ledger.models import LEDGER_MODELS, AuditRow, CoaMetadata, column_names
from tbot.ledger.new_file import build_new_file
from tbot.ledger.posting import BackupPolicy, LedgerWriter, create_ledger_file
from tbot.ledger.recon_models import (
    RECON_MODELS,
    RECON_SCHEMA_VERSION,
    RECON_TABLES,
    ReconciliationLog,
)
from tbot.ledger.schema import (
    APPEND_ONLY_TRIGGERS,
    CORE_APPEND_ONLY_TABLES,
    append_only_triggers,
    create_append_only_triggers,
    create_tables,
    insert_statement,
)
from tbot.ledger.timestamps import format_utc
from tbot.ledger.verify import VerifyReport, verify_ledger

from .conftest import EntryFactory, Snapshot

RECON_TRIGGERS = append_only_triggers(RECON_TABLES)
FINGERPRINT = "f" * 64


# -- helpers ------------------------------------------------------------------------------


def full_batch(now: datetime, *, tag: str = "1") -> LedgerBatch:
    """A batch with one row in every recon table (two log rows: a break and its
    resolution), the rows pointing at each other."""
    batch = LedgerBatch()
    batch.rows["sync_runs"] = [{
        "trigger": "manual", "window_start_utc": now, "window_end_utc": now,
        "started_at_utc": now, "ended_at_utc": now, "actor": "operator",
        "credential_fingerprint": FINGERPRINT, "outcome": "complete",
        "counts": {"ok": 1, "mismatch": 1}, "records_seen": 2, "records_refused": 0,
        "spans_not_read": [],
    }]
    batch.rows["broker_records"] = [{
        "sync_run_id": RowRef("sync_runs", 0), "kind": "fill", "broker_id": f"BRK-{tag}",
        "record_hash": sha256_hex(f"record {tag}"), "raw_payload": {"qty": "2", "id": tag},
        "json_metadata": {"page": 1}, "broker_local_time": "2026-03-02 09:30:00 EST",
        "occurred_at_utc": now, "final": True, "source": "fetch_fill_reports",
        "fetched_at_utc": now,
    }]
    batch.rows["reconciliation_log"] = [
        {
            "kind": "fill", "trade_id": f"BRK-{tag}", "status": "mismatch",
            "compare_fields": [{"field": "quantity", "ledger": "1", "broker": "2"}],
            "sync_run_id": RowRef("sync_runs", 0), "timestamp_utc": now,
            "record_hash": sha256_hex(f"record {tag}"),
            "broker_record_id": RowRef("broker_records", 0), "symbol": "AAPL",
            "broker_value": "2 AAPL", "ledger_value": "1 AAPL",
            "difference": {"quantity": Decimal(1)}, "detail": "the broker has one share more",
        },
        {
            "kind": "fill", "trade_id": f"BRK-{tag}", "status": "resolved",
            "compare_fields": [], "timestamp_utc": now, "detail": "kept the ledger",
            "resolves_id": RowRef("reconciliation_log", 0), "resolution_action": "keep-ledger",
            "actor": "operator", "reason": "the broker corrects it tomorrow",
            "posted_entry_ids": [],
        },
    ]
    batch.rows["position_checks"] = [{
        "checked_at_utc": now, "sync_run_id": RowRef("sync_runs", 0), "trigger": "manual",
        "symbol": "AAPL", "broker_quantity": Decimal(2), "broker_average_cost": Decimal("67.5"),
        "ledger_quantity": Decimal(1), "ledger_cost_basis": Decimal("67.00"),
        "engine_quantity": None, "explained_quantity": Decimal(1), "outcome": "quantity_mismatch",
        "divergence_reason": "one fill not booked yet",
    }]
    batch.rows["balance_assertions"] = [{
        "asserted_at_utc": now, "sync_run_id": RowRef("sync_runs", 0), "trigger": "manual",
        "currency_code": "USD", "account_code": "1030", "broker_cash": Decimal("1000.25"),
        "ledger_cash": Decimal("1000.00"), "in_transit": Decimal("0.25"),
        "difference": Decimal(0), "tolerance": Decimal("0.01"), "passed": True,
        "detail": "cash agrees",
    }]
    batch.rows["coa_mapping_versions"] = [{
        "version": int(tag), "action": "create", "active": True, "author": "tbot",
        "reason": "the shipped default rules", "created_at_utc": now,
        "content_hash": sha256_hex(f"rules {tag}"), "rule_count": 1,
    }]
    batch.rows["coa_mapping_rules"] = [{
        "version_id": RowRef("coa_mapping_versions", 0), "rule_key": "R1", "name": "Fees",
        "broker": "SIM", "activity_type": "FEE", "sign": "-", "amount_min": Decimal("0.01"),
        "debit_account": "5045", "credit_account": "1070", "enabled": True,
        "origin": "default",
    }]
    batch.rows["mapping_decisions"] = [{
        "broker": "SIM", "broker_id": f"ACT-{tag}", "record_hash": sha256_hex(f"act {tag}"),
        "layer": "operator", "action": "post", "rule_version": int(tag), "account": "5070",
        "debit_account": "5070", "credit_account": "1070", "amount": Decimal("-12.34"),
        "activity_type": "MISC", "description": "OPRA fee", "occurred_at_utc": now,
        "tokens": ["type=MISC", "sign=-"], "actor": "operator", "reason": "OPRA fee",
        "decided_at_utc": now,
    }]
    batch.rows["mapping_queue"] = [{
        "broker": "SIM", "broker_id": f"ACT-{tag}", "state": "mapped", "reason": "decided",
        "detail": "mapped to 5070", "activity_type": "MISC", "description": "OPRA fee",
        "amount": Decimal("-12.34"), "currency_code": "USD", "occurred_at_utc": now,
        "suggestions": [], "rule_version": int(tag),
        "decision_id": RowRef("mapping_decisions", 0), "created_at_utc": now,
    }]
    return batch


def commit(writer: LedgerWriter, batch: LedgerBatch, **details: object) -> BatchResult:
    """`commit_batch` with the test's usual audit fields."""
    return writer.commit_batch(batch, actor="operator", action="recon.sync", subject="sync",
                               details=details or {"run": "test"})


def rows_of(ledger: Path, table: str) -> list[tuple[object, ...]]:
    """Every row of `table`, by id, in column order."""
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()
    finally:
        connection.close()


def audit_rows(ledger: Path) -> list[tuple[object, ...]]:
    """Every audit row, by id."""
    return rows_of(ledger, "audit_trail")


def schema_of(ledger: Path) -> list[tuple[object, ...]]:
    """Every schema object of the file."""
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        connection.close()


def kinds(report: VerifyReport) -> dict[str, list[str]]:
    """Problem kind -> where, in report order."""
    found: dict[str, list[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.kind, []).append(problem.where)
    return found


def create_pre_recon_ledger_file(paths: BotPaths, clock: FrozenClock) -> None:
    """A ledger file as `create_ledger_file` made them before the reconciliation tables:
    the models of models.py and their eight triggers only."""
    metadata = read_coa_metadata(paths.coa_db())
    details = canonical_details({"bot_identity": paths.identity.bot_identity,
                                 "coa_version": metadata.coa_version,
                                 "currency_code": metadata.currency_code})
    first = (1, format_utc(clock.now()), "tbot", "ledger.create", paths.ledger_db.name,
             details, GENESIS_HASH)

    def build(database: SqliteDatabase) -> None:
        create_tables(database, LEDGER_MODELS)
        create_append_only_triggers(database, CORE_APPEND_ONLY_TABLES)
        with bound(database, (CoaMetadata,)):
            write_metadata(metadata)
        database.execute_sql(insert_statement(AuditRow), (*first, audit_row_hash(first)))

    build_new_file(paths.ledger_db, "ledger file", wal=True, build=build)


@pytest.fixture
def old_paths(paths: BotPaths, identity: BotIdentity, clock: FrozenClock) -> BotPaths:
    """A bot home whose ledger file predates the reconciliation tables."""
    create_coa_file(paths.coa_db(), identity, clock)
    create_pre_recon_ledger_file(paths, clock)
    return paths


@pytest.fixture
def recon_ledger(writer: LedgerWriter, clock: FrozenClock) -> BatchResult:
    """A ledger with a row in every recon table, written by one batch."""
    return commit(writer, full_batch(clock.now()))


@pytest.fixture
def tamper_fk(ledger_paths: BotPaths) -> Iterator[sqlite3.Connection]:
    """An intruder's connection with foreign keys off (SQLite's default)."""
    connection = sqlite3.connect(ledger_paths.ledger_db, isolation_level=None)
    yield connection
    connection.close()


# -- the tables on a new file -------------------------------------------------------------


def test_a_new_file_has_every_recon_table_index_and_trigger(ledger_paths: BotPaths) -> None:
    objects = {(kind, name): table for kind, name, table, _ in schema_of(ledger_paths.ledger_db)}
    for table in RECON_TABLES:
        assert ("table", table) in objects
    for name in APPEND_ONLY_TRIGGERS:
        assert ("trigger", name) in objects
    assert objects[("index", "broker_records_kind_broker_id_record_hash")] == "broker_records"
    assert objects[("index", "reconciliation_log_kind_trade_id")] == "reconciliation_log"
    assert objects[("index", "reconciliation_log_status")] == "reconciliation_log"
    assert objects[("index", "position_checks_symbol_id")] == "position_checks"
    assert objects[("index", "balance_assertions_currency_code_id")] == "balance_assertions"
    connection = sqlite3.connect(ledger_paths.ledger_db)
    try:
        assert find_recon_gaps(connection, ledger_paths.ledger_db).empty
    finally:
        connection.close()


@pytest.mark.parametrize("model", RECON_MODELS, ids=lambda model: model._meta.table_name)
def test_every_recon_table_ends_with_a_not_null_schema_version(
    model: type, ledger_paths: BotPaths
) -> None:
    connection = sqlite3.connect(ledger_paths.ledger_db)
    try:
        columns = connection.execute(f"PRAGMA table_info({model._meta.table_name})").fetchall()
    finally:
        connection.close()
    assert [column[1] for column in columns] == list(column_names(model))
    _, name, kind, notnull, _, _ = columns[-1]
    assert (name, kind, notnull) == ("schema_version", "INTEGER", 1)


@pytest.mark.usefixtures("recon_ledger")
@pytest.mark.parametrize("table", RECON_TABLES)
def test_update_of_a_recon_table_through_plain_sqlite_is_aborted(
    table: str, tamper: sqlite3.Connection, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(sqlite3.IntegrityError, match=f"{table} is append-only"):
        tamper.execute(f"UPDATE {table} SET schema_version = 2")
    assert snapshot(ledger_paths.ledger_db) == before


@pytest.mark.usefixtures("recon_ledger")
@pytest.mark.parametrize("table", RECON_TABLES)
def test_delete_from_a_recon_table_through_plain_sqlite_is_aborted(
    table: str, tamper: sqlite3.Connection, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(sqlite3.IntegrityError, match=f"{table} is append-only"):
        tamper.execute(f"DELETE FROM {table}")
    assert snapshot(ledger_paths.ledger_db) == before


# -- migrating an older file --------------------------------------------------------------


def test_opening_an_old_file_adds_the_tables_once_and_audits_it(
    old_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    ledger = old_paths.ledger_db
    assert not any(name in RECON_TABLES for _, name, _, _ in schema_of(ledger))
    with LedgerWriter(old_paths, clock, policy):
        pass
    names = {name for _, name, _, _ in schema_of(ledger)}
    assert set(RECON_TABLES) <= names and set(APPEND_ONLY_TRIGGERS) <= names
    trail = audit_rows(ledger)
    assert len(trail) == 2
    _, _, actor, action, subject, details, prev_hash, _ = trail[1]
    assert (actor, action, subject) == ("tbot", "ledger.migrate", ledger.name)
    assert prev_hash == trail[0][-1]
    assert json.loads(details) == {
        "indexes": [], "schema_version": RECON_SCHEMA_VERSION, "tables": list(RECON_TABLES),
        "triggers": list(RECON_TRIGGERS),
    }
    assert len(LedgerBackups(old_paths, policy).existing()) == 1  # taken before migrating
    schema = schema_of(ledger)
    with LedgerWriter(old_paths, clock, policy):  # up to date: nothing changes
        pass
    assert schema_of(ledger) == schema
    assert audit_rows(ledger) == trail
    assert len(LedgerBackups(old_paths, policy).existing()) == 1
    assert verify_ledger(ledger, old_paths.coa_db()).ok


def test_a_migrated_file_takes_batches(
    old_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    with LedgerWriter(old_paths, clock, policy) as writer:
        written = commit(writer, full_batch(clock.now()))
    assert written.row_ids["reconciliation_log"] == [1, 2]
    assert verify_ledger(old_paths.ledger_db, old_paths.coa_db()).ok


def test_only_the_missing_trigger_and_index_are_added(
    ledger_paths: BotPaths, tamper: sqlite3.Connection, clock: FrozenClock, policy: BackupPolicy
) -> None:
    tamper.execute("DROP TRIGGER broker_records_no_delete")
    tamper.execute("DROP INDEX reconciliation_log_status")
    with LedgerWriter(ledger_paths, clock, policy):
        pass
    names = {name for _, name, _, _ in schema_of(ledger_paths.ledger_db)}
    assert {"broker_records_no_delete", "reconciliation_log_status"} <= names
    details = json.loads(audit_rows(ledger_paths.ledger_db)[-1][5])
    assert details == {"indexes": ["reconciliation_log_status"], "schema_version": 1,
                       "tables": [], "triggers": ["broker_records_no_delete"]}


def test_readers_never_migrate(old_paths: BotPaths) -> None:
    schema = schema_of(old_paths.ledger_db)
    verify_ledger(old_paths.ledger_db, old_paths.coa_db())
    assert schema_of(old_paths.ledger_db) == schema


def test_a_recon_table_of_another_shape_is_refused_and_left_alone(
    old_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    connection = sqlite3.connect(old_paths.ledger_db, isolation_level=None)
    connection.execute("CREATE TABLE sync_runs (id INTEGER PRIMARY KEY, started TEXT)")
    connection.close()
    schema, trail = schema_of(old_paths.ledger_db), audit_rows(old_paths.ledger_db)
    for _ in range(2):  # refused each time: the lock is released, nothing half-done
        with pytest.raises(LedgerFileError, match=r"table sync_runs does not have the shape"):
            LedgerWriter(old_paths, clock, policy).open()
    assert schema_of(old_paths.ledger_db) == schema
    assert audit_rows(old_paths.ledger_db) == trail


def test_a_recon_column_declared_differently_is_refused(
    old_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    # Same column names as the model, but `final` without its CHECK and as TEXT.
    columns = ", ".join(
        f'"{name}" TEXT' if name == "final" else f'"{name}"'
        for name in column_names(RECON_MODELS[1])
    )
    connection = sqlite3.connect(old_paths.ledger_db, isolation_level=None)
    connection.execute(f"CREATE TABLE broker_records ({columns})")
    connection.close()
    with pytest.raises(LedgerFileError, match="broker_records"):
        LedgerWriter(old_paths, clock, policy).open()


# -- verify -------------------------------------------------------------------------------


def test_verify_names_the_missing_recon_tables_and_how_to_add_them(old_paths: BotPaths) -> None:
    report = verify_ledger(old_paths.ledger_db, old_paths.coa_db())
    missing = [problem for problem in report.problems if problem.kind == "missing_table"]
    assert [problem.where for problem in missing] == [f"table {t}" for t in RECON_TABLES]
    assert all("predates reconciliation" in problem.detail
               and "any `tbot` command that writes" in problem.detail for problem in missing)
    assert len(report.problems) == len(RECON_TABLES)  # their triggers are not listed too


@pytest.mark.usefixtures("recon_ledger")
def test_a_clean_ledger_with_recon_rows_verifies_ok(ledger_paths: BotPaths) -> None:
    report = verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db())
    assert report.problems == []


@pytest.mark.usefixtures("recon_ledger")
def test_verify_names_a_dropped_recon_trigger(
    ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    tamper.execute("DROP TRIGGER reconciliation_log_no_update")
    found = kinds(verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()))
    assert found == {"missing_trigger": ["trigger reconciliation_log_no_update"]}


def _log_row(connection: sqlite3.Connection, row_id: int, **values: object) -> None:
    row: dict[str, object] = {
        "id": row_id, "kind": "fill", "trade_id": "X", "status": "mismatch",
        "compare_fields": "[]", "timestamp_utc": "2026-03-02T14:30:00.000000Z",
        "detail": "inserted directly", "schema_version": 1,
    }
    row.update(values)
    marks = ", ".join("?" for _ in row)
    connection.execute(f"INSERT INTO reconciliation_log ({', '.join(row)}) VALUES ({marks})",
                       tuple(row.values()))


@pytest.mark.usefixtures("recon_ledger")
def test_verify_names_orphan_references(
    ledger_paths: BotPaths, tamper_fk: sqlite3.Connection
) -> None:
    _log_row(tamper_fk, 50, entry_id=999)
    _log_row(tamper_fk, 51, sync_run_id=77, broker_record_id=88)
    _log_row(tamper_fk, 52, status="resolved", resolves_id=4040, resolution_action="keep-ledger",
             actor="x", reason="y")
    _log_row(tamper_fk, 53, posted_entry_ids="[1234]")
    report = verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db())
    orphans = [(p.where, p.detail) for p in report.problems
               if p.kind == "orphan_reconciliation_log"]
    assert orphans == [
        ("reconciliation_log row 51", "its sync_run_id 77 names no sync run"),
        ("reconciliation_log row 51", "its broker_record_id 88 names no broker record"),
        ("reconciliation_log row 50", "its entry_id 999 names no ledger entry"),
        ("reconciliation_log row 52", "its resolves_id 4040 names no reconciliation log row"),
        ("reconciliation_log row 53",
         "its posted_entry_ids names entry id 1234, which does not exist"),
    ]
    # Rows written behind the writer's back are not in any batch's audit row either.
    assert kinds(report)["unaudited_recon_row"] == [
        f"reconciliation_log row {n}" for n in (50, 51, 52, 53)]


@pytest.mark.usefixtures("recon_ledger")
def test_verify_names_an_orphan_broker_record(
    ledger_paths: BotPaths, tamper_fk: sqlite3.Connection
) -> None:
    tamper_fk.execute(
        "INSERT INTO broker_records (id, sync_run_id, kind, broker_id, record_hash, raw_payload, "
        "json_metadata, final, source, fetched_at_utc, schema_version) "
        "VALUES (9, 404, 'cash', '', ?, '{}', '{}', 0, 'x', '2026-03-02T14:30:00.000000Z', 1)",
        (FINGERPRINT,),
    )
    found = kinds(verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()))
    assert found["orphan_broker_record"] == ["broker_records row 9"]


@pytest.mark.usefixtures("recon_ledger")
def test_verify_names_a_resolution_of_a_row_that_is_no_break(
    ledger_paths: BotPaths, tamper_fk: sqlite3.Connection
) -> None:
    _log_row(tamper_fk, 60, status="ok")
    _log_row(tamper_fk, 61, status="resolved", resolves_id=60, resolution_action="keep-ledger",
             actor="x", reason="y")
    _log_row(tamper_fk, 62, status="resolved", resolves_id=2, resolution_action="keep-ledger",
             actor="x", reason="resolving a resolution")
    report = verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db())
    assert kinds(report)["resolution_of_non_break"] == [
        "reconciliation_log row 61", "reconciliation_log row 62"]


@pytest.mark.usefixtures("recon_ledger")
def test_verify_names_malformed_posted_entry_ids(
    ledger_paths: BotPaths, tamper_fk: sqlite3.Connection
) -> None:
    _log_row(tamper_fk, 70, posted_entry_ids='["one"]')
    found = kinds(verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()))
    assert found["malformed_posted_entry_ids"] == ["reconciliation_log row 70"]


def test_a_recon_row_edited_behind_the_triggers_fails_its_batch_digest(
    recon_ledger: BatchResult, ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    tamper.execute("DROP TRIGGER balance_assertions_no_update")
    tamper.execute("UPDATE balance_assertions SET passed = 0")
    found = kinds(verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()))
    assert found == {"missing_trigger": ["trigger balance_assertions_no_update"],
                     "recon_digest_mismatch": [f"audit row {recon_ledger.audit_id}"]}


def test_a_recon_row_deleted_behind_the_triggers_fails_its_batch_digest(
    recon_ledger: BatchResult, ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    tamper.execute("DROP TRIGGER position_checks_no_delete")
    tamper.execute("DELETE FROM position_checks")
    found = kinds(verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()))
    assert found["recon_digest_mismatch"] == [f"audit row {recon_ledger.audit_id}"]


# -- commit_batch -------------------------------------------------------------------------


def test_a_batch_writes_entries_reversals_and_rows_with_their_references(
    writer: LedgerWriter, make_entry: EntryFactory, clock: FrozenClock, ledger_paths: BotPaths
) -> None:
    writer.post(make_entry("FIT-OLD", "10.00"), actor="engine")
    batch = full_batch(clock.now())
    batch.entries = [
        ReversalDraft("FIT-OLD", "FIT-OLD-REV", "booked twice", clock.now()),
        make_entry("FIT-NEW", "12.50"),
    ]
    resolution = batch.rows["reconciliation_log"][1]
    resolution["posted_entry_ids"] = [EntryRef(0), EntryRef(1)]
    resolution["resolution_action"] = "accept-broker"
    batch.rows["reconciliation_log"][0]["entry_id"] = EntryRef(1)
    written = commit(writer, batch, run="manual sync")

    assert [(e.entry_id, e.fitid) for e in written.entries] == [(2, "FIT-OLD-REV"), (3, "FIT-NEW")]
    assert written.row_ids == {"sync_runs": [1], "broker_records": [1],
                               "reconciliation_log": [1, 2], "position_checks": [1],
                               "balance_assertions": [1], "coa_mapping_versions": [1],
                               "coa_mapping_rules": [1], "mapping_decisions": [1],
                               "mapping_queue": [1]}
    ledger = ledger_paths.ledger_db
    entries = rows_of(ledger, "ledger_entries")
    assert [(row[1], row[12], row[13]) for row in entries] == [
        ("FIT-OLD", 0, None), ("FIT-OLD-REV", 1, 1), ("FIT-NEW", 0, None)]
    reader = open_reader_database(ledger)
    try:
        with bound(reader, RECON_MODELS):
            first, second = ReconciliationLog.select().order_by(ReconciliationLog.id)
            assert (first.sync_run_id, first.broker_record_id, first.entry_id) == (1, 1, 3)
            assert second.resolves_id == 1 and second.posted_entry_ids == [2, 3]
            assert first.compare_fields == [{"broker": "2", "field": "quantity", "ledger": "1"}]
    finally:
        reader.close()

    trail = audit_rows(ledger)
    assert [(row[2], row[3], row[4]) for row in trail[2:]] == [
        ("operator", "entry.reverse", "FIT-OLD-REV"), ("operator", "entry.post", "FIT-NEW"),
        ("operator", "recon.sync", "sync")]
    assert json.loads(trail[2][5])["reverses_fitid"] == "FIT-OLD"
    assert trail[-1][0] == written.audit_id
    details = json.loads(trail[-1][5])
    assert details["run"] == "manual sync"
    assert details["entry_ids"] == [2, 3]
    assert details["row_ids"] == {table: ids for table, ids in written.row_ids.items()}
    assert verify_ledger(ledger, ledger_paths.coa_db()).ok


def test_the_batch_digest_matches_the_rows_in_python_and_in_sql(
    recon_ledger: BatchResult, ledger_paths: BotPaths
) -> None:
    ledger = ledger_paths.ledger_db
    rows = {table: [list(row) for row in rows_of(ledger, table)]
            for table in sorted(recon_ledger.row_ids)}
    details = json.loads(audit_rows(ledger)[-1][5])
    assert details["recon_digest"] == sha256_hex(recon_rows_text(rows))
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        for sql in (recon_rows_text_sql("?"), recon_rows_text_sql("?").replace('"', "")):
            (text,) = connection.execute(sql, (recon_ledger.audit_id,)).fetchone()
            assert sha256_hex(text) == details["recon_digest"]
    finally:
        connection.close()


def test_stored_values_are_scaled_canonical_and_versioned(
    recon_ledger: BatchResult, ledger_paths: BotPaths
) -> None:
    ledger = ledger_paths.ledger_db
    (run,) = rows_of(ledger, "sync_runs")
    assert run[9] == '{"mismatch":1,"ok":1}'  # keys sorted, compact
    assert run[-1] == RECON_SCHEMA_VERSION
    (record,) = rows_of(ledger, "broker_records")
    assert record[5] == '{"id":"1","qty":"2"}' and record[9] == 1
    (check,) = rows_of(ledger, "position_checks")
    assert check[6:9] == (67_500_000_000, 1_000_000_000, 67_000_000)  # price 9, qty 9, money 6
    (balance,) = rows_of(ledger, "balance_assertions")
    assert balance[6] == 1_000_250_000 and balance[11] == 1
    log = rows_of(ledger, "reconciliation_log")
    assert log[0][13] == '{"quantity":"1"}'


def test_a_bad_row_in_the_middle_leaves_nothing_written(
    writer: LedgerWriter, make_entry: EntryFactory, clock: FrozenClock,
    ledger_paths: BotPaths, snapshot: Snapshot,
) -> None:
    writer.post(make_entry("FIT-OLD"), actor="engine")
    before = snapshot(ledger_paths.ledger_db)
    batch = full_batch(clock.now())
    batch.entries = [make_entry("FIT-A"), ReversalDraft("FIT-OLD", "FIT-OLD-R", "x", clock.now())]
    batch.rows["reconciliation_log"].insert(1, {  # passes Python, fails SQLite's CHECK
        "kind": "fill", "trade_id": "T", "status": "resolved", "compare_fields": [],
        "timestamp_utc": clock.now(), "detail": "a resolution without actor or reason",
        "resolves_id": RowRef("reconciliation_log", 0), "resolution_action": "keep-ledger",
    })
    with pytest.raises(InvalidRowError, match=r"reconciliation_log\[1\].*CHECK constraint"):
        commit(writer, batch)
    assert snapshot(ledger_paths.ledger_db) == before
    # The writer carries on: the same batch without the bad row goes through.
    del batch.rows["reconciliation_log"][1]
    commit(writer, batch)
    assert [row[1] for row in rows_of(ledger_paths.ledger_db, "ledger_entries")] == [
        "FIT-OLD", "FIT-A", "FIT-OLD-R"]


def test_a_duplicate_broker_record_rolls_back_the_whole_batch(
    recon_ledger: BatchResult, writer: LedgerWriter, make_entry: EntryFactory,
    clock: FrozenClock, ledger_paths: BotPaths, snapshot: Snapshot,
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    batch = full_batch(clock.now())  # the same broker record again: UNIQUE refuses it
    batch.entries = [make_entry("FIT-B")]
    with pytest.raises(InvalidRowError, match=r"broker_records\[0\].*UNIQUE"):
        commit(writer, batch)
    assert snapshot(ledger_paths.ledger_db) == before


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("sync_runs", {"colour": "blue"}, r"sync_runs\[0\] refused: unknown column\(s\) colour"),
        ("sync_runs", {"id": 5}, "id is assigned by the writer"),
        ("sync_runs", {"counts": None}, "counts: a value is required"),
        ("sync_runs", {"counts": {"ok": 1.5}}, "counts: float 1.5 refused"),
        ("sync_runs", {"counts": '{"ok": 1}'}, "counts: JSON text must be canonical"),
        ("sync_runs", {"counts": [1]}, "counts: list given where a JSON object is required"),
        ("sync_runs", {"records_seen": "2"}, "records_seen: str '2' given where an int"),
        ("sync_runs", {"started_at_utc": datetime(2026, 3, 2)}, "started_at_utc: "),  # noqa: DTZ001
        ("sync_runs", {"schema_version": 2}, "writes version 1 rows, not 2"),
        ("broker_records", {"final": "yes"}, r"final: str 'yes' given where a bool"),
        ("broker_records", {"sync_run_id": RowRef("position_checks", 0)},
         "points at sync_runs rows"),
        ("position_checks", {"ledger_quantity": Decimal("0.0000000001")},
         "ledger_quantity: .*more than 9 decimal places"),
        ("reconciliation_log", {"entry_id": EntryRef(3)}, "names no entry of this batch"),
        ("reconciliation_log", {"resolves_id": RowRef("reconciliation_log", 1)},
         "is not an earlier row of the batch"),
        ("reconciliation_log", {"posted_entry_ids": [EntryRef(1)]}, "names no entry"),
        ("reconciliation_log", {"detail": RowRef("sync_runs", 0)},
         "only goes in a foreign-key column"),
    ],
)
def test_rows_that_cannot_be_stored_are_refused_before_anything_is_written(
    writer: LedgerWriter, make_entry: EntryFactory, clock: FrozenClock, ledger_paths: BotPaths,
    policy: BackupPolicy, snapshot: Snapshot, table: str, change: dict[str, object], message: str,
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    batch = full_batch(clock.now())
    batch.entries = [make_entry("FIT-C")]
    batch.rows[table][0].update(change)
    with pytest.raises(InvalidRowError, match=message):
        commit(writer, batch)
    assert snapshot(ledger_paths.ledger_db) == before
    assert LedgerBackups(ledger_paths, policy).existing() == []  # refused before the backup


def test_an_unknown_table_is_refused(writer: LedgerWriter, clock: FrozenClock) -> None:
    batch = full_batch(clock.now())
    batch.rows["trades"] = [{"symbol": "AAPL"}]
    with pytest.raises(LedgerError, match=r"unknown table.*trades"):
        commit(writer, batch)


def test_the_writers_detail_keys_are_refused_in_the_callers_details(
    writer: LedgerWriter, clock: FrozenClock
) -> None:
    with pytest.raises(LedgerError, match="recon_digest"):
        writer.commit_batch(full_batch(clock.now()), actor="op", action="recon.sync",
                            subject="s", details={"recon_digest": "mine"})


@pytest.mark.parametrize("action", ["entry.post", "entry.reverse", "ledger.migrate"])
def test_the_writers_own_actions_are_refused_as_a_batchs_action(
    writer: LedgerWriter, clock: FrozenClock, action: str
) -> None:
    with pytest.raises(LedgerError, match="the writer's own"):
        writer.commit_batch(full_batch(clock.now()), actor="op", action=action, subject="s",
                            details={})


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        (lambda make, now: [ReversalDraft("NOPE", "NOPE-R", "x", now)], EntryNotFoundError),
        (lambda make, now: [ReversalDraft("FIT-R", "FIT-R-2", "again", now)],
         AlreadyReversedError),
        (lambda make, now: [ReversalDraft("FIT-X", "FIT-X-1", "x", now),
                            ReversalDraft("FIT-X", "FIT-X-2", "x", now)], AlreadyReversedError),
        (lambda make, now: [make("FIT-X")], DuplicateFitidError),
        (lambda make, now: [make("FIT-D"), make("FIT-D")], DuplicateFitidError),
    ],
    ids=["missing", "already-reversed", "twice-in-batch", "fitid-in-ledger", "fitid-twice"],
)
def test_entries_refused_as_post_batch_and_reverse_refuse_them(
    writer: LedgerWriter, make_entry: EntryFactory, clock: FrozenClock,
    ledger_paths: BotPaths, snapshot: Snapshot, entries: object, error: type[Exception],
) -> None:
    writer.post(make_entry("FIT-R"), actor="engine")
    writer.post(make_entry("FIT-X"), actor="engine")
    writer.reverse("FIT-R", new_fitid="FIT-R-1", memo="first", actor="operator")
    before = snapshot(ledger_paths.ledger_db)
    batch = full_batch(clock.now())
    batch.entries = entries(make_entry, clock.now())  # type: ignore[operator]
    with pytest.raises(error):
        commit(writer, batch)
    assert snapshot(ledger_paths.ledger_db) == before


def test_a_batch_of_entries_only_still_gets_its_audit_row(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    written = commit(writer, LedgerBatch(entries=[make_entry("FIT-ONLY")]))
    assert written.row_ids == {}
    details = json.loads(audit_rows(ledger_paths.ledger_db)[-1][5])
    assert details["entry_ids"] == [1] and details["row_ids"] == {}
    assert details["recon_digest"] == sha256_hex("{}")
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok


def test_rows_may_point_at_rows_of_earlier_batches(
    recon_ledger: BatchResult, writer: LedgerWriter, clock: FrozenClock, ledger_paths: BotPaths
) -> None:
    batch = LedgerBatch(rows={"reconciliation_log": [{
        "kind": "fill", "trade_id": "BRK-1", "status": "ok", "compare_fields": [],
        "sync_run_id": recon_ledger.row_ids["sync_runs"][0], "timestamp_utc": clock.now(),
        "broker_record_id": recon_ledger.row_ids["broker_records"][0], "detail": "agrees now",
    }]})
    assert commit(writer, batch).row_ids == {"reconciliation_log": [3]}
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok


def test_a_reference_to_no_existing_row_rolls_back(
    writer: LedgerWriter, clock: FrozenClock, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    batch = LedgerBatch(rows={"position_checks": [full_batch(clock.now()).rows[
        "position_checks"][0] | {"sync_run_id": 41}]})
    with pytest.raises(InvalidRowError, match="FOREIGN KEY"):
        commit(writer, batch)
    assert snapshot(ledger_paths.ledger_db) == before


# -- rows converted ahead of their batch --------------------------------------------------


def converted(batch: LedgerBatch, *, later: tuple[str, ...] = ()) -> LedgerBatch:
    """`batch` with every row converted ahead (`convert_row`), the `later` columns held
    back and then set to the values the rows had."""
    rows: dict[str, list[dict[str, object] | ConvertedRow]] = {}
    for table, table_rows in batch.rows.items():
        rows[table] = []
        for row in table_rows:
            assert isinstance(row, dict)
            held = [column for column in later if column in row]
            early = convert_row(table, {k: v for k, v in row.items() if k not in held},
                                later=held)
            for column in held:
                early.set(column, row[column])
            rows[table].append(early)
    return LedgerBatch(entries=batch.entries, rows=rows)


def test_rows_converted_ahead_are_stored_exactly_as_plain_rows(
    writer: LedgerWriter, clock: FrozenClock, ledger_paths: BotPaths, tmp_path: Path,
    identity: BotIdentity, policy: BackupPolicy, make_entry: EntryFactory,
) -> None:
    plain_batch = full_batch(clock.now())
    plain_batch.entries = [make_entry("FIT-P")]
    plain_batch.rows["reconciliation_log"][0]["entry_id"] = EntryRef(0)
    commit(writer, plain_batch)
    other = BotPaths(tmp_path / "other", identity)
    create_coa_file(other.coa_db(), identity, clock)
    create_ledger_file(other, clock)
    with LedgerWriter(other, clock, policy) as second:
        early_batch = full_batch(clock.now())
        early_batch.entries = [make_entry("FIT-P")]
        early_batch.rows["reconciliation_log"][0]["entry_id"] = EntryRef(0)
        commit(second, converted(early_batch, later=("timestamp_utc", "fetched_at_utc")))
    for table in RECON_TABLES:
        assert rows_of(other.ledger_db, table) == rows_of(ledger_paths.ledger_db, table), table
    assert audit_rows(other.ledger_db)[-1][5] == audit_rows(ledger_paths.ledger_db)[-1][5]


def test_a_value_that_cannot_be_stored_is_refused_when_the_row_is_converted(
    clock: FrozenClock,
) -> None:
    (record,) = full_batch(clock.now()).rows["broker_records"]
    assert isinstance(record, dict)
    with pytest.raises(InvalidRowError, match=r"broker_records\[-1\].*final: str 'yes'"):
        convert_row("broker_records", {**record, "final": "yes"})
    with pytest.raises(InvalidRowError, match="unknown column"):
        convert_row("broker_records", {"colour": "blue"})
    with pytest.raises(LedgerError, match="unknown table 'trades'"):
        convert_row("trades", {})


def test_only_foreign_keys_and_later_columns_can_be_set_after_conversion(
    clock: FrozenClock,
) -> None:
    log_row = full_batch(clock.now()).rows["reconciliation_log"][0]
    assert isinstance(log_row, dict)
    row = convert_row("reconciliation_log", log_row, later=("timestamp_utc",))
    row.set("timestamp_utc", clock.now())
    row.set("broker_record_id", RowRef("broker_records", 0))
    with pytest.raises(LedgerError, match="detail was converted already"):
        row.set("detail", "y")
    with pytest.raises(LedgerError, match="no column 'colour'"):
        row.set("colour", "blue")
    with pytest.raises(LedgerError, match="no column"):
        convert_row("reconciliation_log", {}, later=("colour",))


def test_a_converted_rows_references_are_checked_with_its_batch(
    writer: LedgerWriter, clock: FrozenClock, ledger_paths: BotPaths, snapshot: Snapshot,
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    batch = converted(full_batch(clock.now()))
    log_row = batch.rows["reconciliation_log"][0]
    assert isinstance(log_row, ConvertedRow)
    log_row.set("broker_record_id", RowRef("broker_records", 7))
    with pytest.raises(InvalidRowError, match=r"reconciliation_log\[0\].*names no row"):
        commit(writer, batch)
    batch = converted(full_batch(clock.now()))
    batch.rows["broker_records"].append(batch.rows["sync_runs"][0])
    with pytest.raises(InvalidRowError, match=r"broker_records\[1\].*converted row of sync_runs"):
        commit(writer, batch)
    assert snapshot(ledger_paths.ledger_db) == before
