"""verify_ledger re-checks a whole file and names every problem it finds."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from tbot.config.paths import BotPaths
from tbot.ledger import verify as verify_module
from tbot.ledger.errors import LedgerFileError
from tbot.ledger.posting import LedgerWriter, PostingDraft, TradeDraft
from tbot.ledger.schema import APPEND_ONLY_TRIGGERS
from tbot.ledger.verify import VerifyReport, verify_ledger, whole_ledger_job
from tbot.ledger.verify_scan import ScanResult, open_scan_connection, run_scan

from .conftest import EntryFactory

Unguard = Callable[[], sqlite3.Connection]

_ENTRY_COLUMNS = (
    "id, fitid, dtposted, trntype, memo, source, audit_id, entity_code, jurisdiction_code, "
    "broker_code, bot_id, currency_code, is_manual, reverses_entry_id, created_at_utc"
)
_STAMP = "2026-03-02T14:30:00.000000Z"


def _verify(paths: BotPaths) -> VerifyReport:
    return verify_ledger(paths.ledger_db, paths.coa_db())


def _kinds(report: VerifyReport) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in report.problems:
        found.setdefault(problem.kind, []).append(problem.where)
    return found


def _insert_entry(connection: sqlite3.Connection, entry_id: int, fitid: str,
                  audit_id: int = 999) -> None:
    connection.execute(
        f"INSERT INTO ledger_entries ({_ENTRY_COLUMNS}) "
        "VALUES (?, ?, ?, 'BUY', 'direct', 'intruder', ?, 'ACME', 'US', 'ALP', 'B01', 'USD', "
        "0, NULL, ?)",
        (entry_id, fitid, _STAMP, audit_id, _STAMP),
    )


def _insert_posting(connection: sqlite3.Connection, posting_id: int, entry_id: int,
                    account: str, amount: int) -> None:
    connection.execute(
        "INSERT INTO ledger_postings (id, entry_id, account_code, amount, currency_code) "
        "VALUES (?, ?, ?, ?, 'USD')",
        (posting_id, entry_id, account, amount),
    )


@pytest.fixture
def busy_ledger(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft
) -> LedgerWriter:
    """A ledger with plain entries, a trade, a multi-currency entry, a reversal, an event."""
    writer.post_batch([make_entry(f"FIT-{n}", f"{n}.25") for n in range(1, 6)], actor="engine")
    writer.post(make_entry("FIT-TRADE", trade=buy_trade), actor="engine")
    writer.post(make_entry("FIT-FX", postings=(
        PostingDraft("1030", "-10", "USD"), PostingDraft("1040", "10", "USD"),
        PostingDraft("1040", "-13.7", "CAD"), PostingDraft("1050", "13.7", "CAD"),
    )), actor="engine")
    writer.reverse("FIT-2", new_fitid="FIT-2-REV", memo="wrong", actor="operator")
    writer.record_event("secrets.set", actor="operator", subject="smtp", details={"keys": 2})
    return writer


@pytest.mark.usefixtures("busy_ledger")
def test_clean_ledger_verifies_ok(ledger_paths: BotPaths) -> None:
    report = _verify(ledger_paths)
    assert report.problems == []
    assert report.ok
    assert (report.entries, report.postings, report.audit_rows) == (8, 18, 10)


def test_empty_ledger_verifies_ok(ledger_paths: BotPaths) -> None:
    report = _verify(ledger_paths)
    assert report.ok
    assert (report.entries, report.postings, report.audit_rows) == (0, 0, 1)


@pytest.mark.usefixtures("busy_ledger")
def test_unbalanced_entry_inserted_directly_is_named(
    ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    _insert_entry(tamper, 100, "FIT-SNEAKY")
    _insert_posting(tamper, 500, 100, "1111", 10_000_000)
    _insert_posting(tamper, 501, 100, "1030", -9_000_000)
    report = _verify(ledger_paths)
    unbalanced = [p for p in report.problems if p.kind == "unbalanced"]
    assert len(unbalanced) == 1
    assert "FIT-SNEAKY" in unbalanced[0].where
    assert "USD 1.00" in unbalanced[0].detail
    assert "entry FIT-SNEAKY (id 100)" in _kinds(report)["missing_audit_row"]


@pytest.mark.usefixtures("busy_ledger")
def test_every_unbalanced_entry_is_listed_not_only_the_first(
    ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    for entry_id, fitid in ((100, "FIT-BAD-1"), (101, "FIT-BAD-2")):
        _insert_entry(tamper, entry_id, fitid)
        _insert_posting(tamper, entry_id * 10, entry_id, "1111", 5)
        _insert_posting(tamper, entry_id * 10 + 1, entry_id, "1030", -4)
    wheres = _kinds(_verify(ledger_paths))["unbalanced"]
    assert wheres == ["entry FIT-BAD-1 (id 100)", "entry FIT-BAD-2 (id 101)"]


def test_audit_row_altered_behind_the_triggers_is_named(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, unguard: Unguard
) -> None:
    connection = unguard()
    connection.execute("UPDATE audit_trail SET actor = 'someone else' WHERE id = 3")
    found = _kinds(_verify(ledger_paths))
    assert found["audit_row_altered"] == ["audit row 3"]
    assert "audit_chain_break" not in found


def test_audit_row_rehashed_after_alteration_breaks_the_chain_at_the_next_row(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, unguard: Unguard
) -> None:
    connection = unguard()
    connection.execute("UPDATE audit_trail SET actor = 'x', row_hash = ? WHERE id = 3",
                       ("f" * 64,))
    found = _kinds(_verify(ledger_paths))
    assert found["audit_row_altered"] == ["audit row 3"]
    assert found["audit_chain_break"] == ["audit row 4"]


def test_deleted_audit_row_is_found(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, unguard: Unguard
) -> None:
    connection = unguard()
    connection.execute("DELETE FROM audit_trail WHERE id = 4")
    found = _kinds(_verify(ledger_paths))
    assert found["audit_chain_break"] == ["audit row 5"]
    assert found["missing_audit_row"] == ["entry FIT-3 (id 3)"]


def test_posting_amount_altered_behind_the_triggers_fails_the_entry_digest(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, unguard: Unguard
) -> None:
    connection = unguard()
    # Both legs move together, so the entry still balances: only the digest can tell.
    connection.execute("UPDATE ledger_postings SET amount = amount * 2 WHERE entry_id = 4")
    found = _kinds(_verify(ledger_paths))
    assert found == {"entry_digest_mismatch": ["entry FIT-4 (id 4)"],
                     "missing_trigger": found["missing_trigger"]}
    assert len(found["missing_trigger"]) == len(APPEND_ONLY_TRIGGERS)


def test_trade_row_altered_behind_the_triggers_fails_the_entry_digest(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, unguard: Unguard
) -> None:
    connection = unguard()
    connection.execute("UPDATE trades SET pnl = 5000000")
    assert _kinds(_verify(ledger_paths))["entry_digest_mismatch"] == ["entry FIT-TRADE (id 6)"]


def test_orphan_posting_is_named(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    _insert_posting(tamper, 900, 77, "1111", 1_000_000)
    _insert_posting(tamper, 901, 10_000, "1030", -1_000_000)
    found = _kinds(_verify(ledger_paths))
    assert found["orphan_posting"] == ["posting 900", "posting 901"]


def test_entry_with_a_single_posting_is_named(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    _insert_entry(tamper, 100, "FIT-LONELY")
    _insert_posting(tamper, 700, 100, "1111", 5)
    _insert_entry(tamper, 101, "FIT-EMPTY")
    found = _kinds(_verify(ledger_paths))
    assert found["single_posting"] == ["entry FIT-LONELY (id 100)"]
    assert found["unbalanced"] == ["entry FIT-LONELY (id 100)"]
    assert found["no_postings"] == ["entry FIT-EMPTY (id 101)"]


def test_orphan_trade_is_named(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    tamper.execute(
        "INSERT INTO trades (id, entry_id, fitid, dtposted, trntype, currency_code, "
        "entity_code, jurisdiction_code, broker_code, bot_id, strategy, symbol, side, size, "
        "entry_price, pnl, audit_reference, broker) VALUES (50, 4242, 'GHOST', ?, 'BUY', "
        "'USD', 'ACME', 'US', 'ALP', 'B01', 'open', 'X', 'long', 1, 1, 0, 1, 'sim')",
        (_STAMP,),
    )
    assert _kinds(_verify(ledger_paths))["orphan_trade"] == ["trade 50 (GHOST)"]


@pytest.mark.parametrize(
    ("account", "kind"),
    [("8888", "unknown_account"), ("1110", "non_leaf_account"), ("9330", "control_account")],
)
def test_postings_to_accounts_that_take_none_are_named(
    busy_ledger: LedgerWriter, ledger_paths: BotPaths, tamper: sqlite3.Connection,
    account: str, kind: str,
) -> None:
    _insert_entry(tamper, 100, "FIT-ACCT")
    _insert_posting(tamper, 800, 100, account, 5)
    _insert_posting(tamper, 801, 100, "1030", -5)
    assert _kinds(_verify(ledger_paths))[kind] == ["entry FIT-ACCT (id 100), posting 800"]


def test_missing_triggers_are_named(ledger_paths: BotPaths, unguard: Unguard) -> None:
    unguard()
    wheres = _kinds(_verify(ledger_paths))["missing_trigger"]
    assert "trigger ledger_postings_no_update" in wheres
    assert len(wheres) == len(APPEND_ONLY_TRIGGERS)


def test_trigger_replaced_by_a_harmless_one_is_named(
    ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    tamper.execute("DROP TRIGGER audit_trail_no_delete")
    tamper.execute("CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail "
                   "BEGIN SELECT 1; END")
    assert _kinds(_verify(ledger_paths))["altered_trigger"] == ["trigger audit_trail_no_delete"]


@pytest.mark.usefixtures("busy_ledger")
def test_helper_process_finds_the_same_problems(
    ledger_paths: BotPaths, unguard: Unguard, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = unguard()
    connection.execute("UPDATE audit_trail SET subject = 'moved' WHERE id = 2")
    connection.execute("UPDATE ledger_postings SET amount = amount + 1 WHERE entry_id = 8")
    alone = verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db(), parallel=False)
    monkeypatch.setattr(verify_module, "PARALLEL_FROM_ENTRIES", 1)
    shared = verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db())
    assert shared.problems == alone.problems
    assert (shared.entries, shared.postings, shared.audit_rows) == (
        alone.entries, alone.postings, alone.audit_rows)
    assert {p.kind for p in alone.problems} >= {"audit_row_altered", "unbalanced",
                                                "entry_digest_mismatch"}


@pytest.mark.usefixtures("busy_ledger")
def test_helper_process_protocol_round_trips_a_scan(
    ledger_paths: BotPaths, tamper: sqlite3.Connection
) -> None:
    _insert_entry(tamper, 100, "FIT-HELPER")
    _insert_posting(tamper, 600, 100, "1111", 3)
    _insert_posting(tamper, 601, 100, "1030", -2)
    connection = open_scan_connection(str(ledger_paths.ledger_db))
    try:
        job = whole_ledger_job(connection, ledger_paths.ledger_db)
        here = run_scan(connection, job)
    finally:
        connection.close()
    helper = subprocess.run(
        [sys.executable, "-m", "tbot.ledger.verify_scan"],
        input=json.dumps(asdict(job)).encode(), capture_output=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    there = ScanResult.from_json(helper.stdout)
    assert there == here
    assert {p.kind for p in there.entry_problems} == {"unbalanced", "missing_audit_row"}
    assert (there.entries, there.postings, there.audit_rows) == (9, 20, 10)


def test_a_file_that_is_not_a_ledger_is_refused(ledger_paths: BotPaths, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerFileError, match=r"junk\.db"):
        verify_ledger(junk, ledger_paths.coa_db())


def test_a_missing_ledger_file_is_refused(ledger_paths: BotPaths, tmp_path: Path) -> None:
    with pytest.raises(LedgerFileError, match="does not exist"):
        verify_ledger(tmp_path / "absent.db", ledger_paths.coa_db())


def test_a_sqlite_file_without_ledger_tables_lists_them(
    ledger_paths: BotPaths, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (text TEXT)").connection.close()
    report = _verify_file(other, ledger_paths)
    assert [p.where for p in report.problems] == [
        "table coa_metadata", "table audit_trail", "table ledger_entries",
        "table ledger_postings", "table trades"]


def _verify_file(ledger: Path, paths: BotPaths) -> VerifyReport:
    return verify_ledger(ledger, paths.coa_db())
