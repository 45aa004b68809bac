"""Restoring a ledger from a backup set: equal to the live ledger, stopped at --as-of, and
refused, naming the file, when the set is not whole and in order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.ledger.backups import BackupSetError, IncrementDamaged, restore_ledger, take_snapshot
from tbot.ledger.backups.restore import restore_set
from tbot.ledger.posting import LedgerWriter, TradeDraft

from .backup_support import (
    increment_files,
    ledger_rows,
    newest_set,
    rewrite_header,
    schema_of,
)
from .conftest import EntryFactory


@pytest.fixture
def backed_up(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock,
    buy_trade: TradeDraft,
) -> LedgerWriter:
    """A set: a snapshot after FIT-0, then five writes a second apart (four increments)."""
    writer.post(make_entry("FIT-0"), actor="engine")
    writer.wait_for_backups(timeout=30)
    take_snapshot(ledger_paths, clock.now())
    for number in range(1, 6):
        clock.advance(timedelta(seconds=1))
        trade = buy_trade if number == 3 else None
        writer.post(make_entry(f"FIT-{number}", Decimal(number), trade=trade), actor="engine")
    return writer


def _fitids(ledger: Path) -> list[str]:
    return [row[1] for row in ledger_rows(ledger)["ledger_entries"]]


@pytest.mark.usefixtures("backed_up")
def test_restore_rebuilds_the_live_ledger_up_to_its_last_backup_and_verifies_it(
    writer: LedgerWriter, ledger_paths: BotPaths, make_entry: EntryFactory, tmp_path: Path
) -> None:
    writer.post(make_entry("FIT-6"), actor="engine")  # its increment holds FIT-5
    live = ledger_rows(ledger_paths.ledger_db)
    result, report = restore_ledger(ledger_paths, tmp_path / "restored")
    assert report.ok and report.entries == 6
    assert result.increments_applied == 5
    restored = ledger_rows(result.ledger_path)
    for table, rows in restored.items():
        expected = live[table][: len(rows)]
        assert rows == expected, table
    assert len(live["ledger_entries"]) - len(restored["ledger_entries"]) == 1  # FIT-6
    assert restored["trades"] == live["trades"]
    assert schema_of(result.ledger_path) == schema_of(ledger_paths.ledger_db)
    assert ledger_rows(result.coa_path) == ledger_rows(ledger_paths.coa_db())


@pytest.mark.usefixtures("backed_up")
def test_restore_as_of_stops_at_the_last_backup_taken_by_then(
    ledger_paths: BotPaths, clock: FrozenClock, tmp_path: Path
) -> None:
    # Increments were taken at +2 s (holding FIT-1) ... +5 s (holding FIT-4).
    as_of = clock.now() - timedelta(seconds=2, microseconds=1)
    result, report = restore_ledger(ledger_paths, tmp_path / "restored", as_of)
    assert report.ok
    assert result.increments_applied == 1
    assert _fitids(result.ledger_path) == ["FIT-0", "FIT-1"]
    assert result.backed_up_at_utc == "2026-03-02T14:30:02.000000Z"


def test_restore_as_of_picks_the_newest_set_started_by_then(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock,
    tmp_path: Path,
) -> None:
    take_snapshot(ledger_paths, clock.now())
    start = clock.now()
    writer.post(make_entry("FIT-1"), actor="engine")
    clock.advance(timedelta(hours=1))
    take_snapshot(ledger_paths, clock.now())
    result, _ = restore_ledger(ledger_paths, tmp_path / "first", start + timedelta(minutes=1))
    assert _fitids(result.ledger_path) == []
    with pytest.raises(BackupSetError, match="no backup set was started on or before"):
        restore_ledger(ledger_paths, tmp_path / "none", start - timedelta(days=1))


@pytest.mark.usefixtures("backed_up")
def test_restore_refuses_a_set_with_an_increment_missing_in_the_middle_naming_it(
    ledger_paths: BotPaths, tmp_path: Path
) -> None:
    increment_files(newest_set(ledger_paths))[1].unlink()
    with pytest.raises(BackupSetError, match=r"increment inc-00000002\.jsonl\.gz .* is missing"):
        restore_ledger(ledger_paths, tmp_path / "restored")
    assert not any((tmp_path / "restored").iterdir())  # nothing left behind


@pytest.mark.usefixtures("backed_up")
def test_restore_refuses_a_truncated_increment_naming_it(
    ledger_paths: BotPaths, tmp_path: Path
) -> None:
    second = increment_files(newest_set(ledger_paths))[1]
    second.write_bytes(second.read_bytes()[:-20])
    with pytest.raises(IncrementDamaged, match=r"increment inc-00000002\.jsonl\.gz .* damaged"):
        restore_ledger(ledger_paths, tmp_path / "restored")


@pytest.mark.usefixtures("backed_up")
def test_restore_refuses_an_increment_whose_chain_head_does_not_follow_the_previous_one(
    ledger_paths: BotPaths, tmp_path: Path
) -> None:
    third = increment_files(newest_set(ledger_paths))[2]
    rewrite_header(third, head_before={"audit_id": 3, "row_hash": "f" * 64})
    with pytest.raises(BackupSetError,
                       match=r"increment inc-00000003\.jsonl\.gz .* does not follow"):
        restore_ledger(ledger_paths, tmp_path / "restored")


@pytest.mark.usefixtures("backed_up")
def test_restore_refuses_an_increment_whose_rows_do_not_reach_the_head_it_claims(
    ledger_paths: BotPaths, tmp_path: Path
) -> None:
    first, second = increment_files(newest_set(ledger_paths))[:2]
    rewrite_header(first, head_after={"audit_id": 99, "row_hash": "e" * 64})
    rewrite_header(second, head_before={"audit_id": 99, "row_hash": "e" * 64})
    with pytest.raises(BackupSetError, match=r"after applying increment inc-00000001"):
        restore_ledger(ledger_paths, tmp_path / "restored")


@pytest.mark.usefixtures("backed_up")
def test_restore_refuses_a_damaged_snapshot(ledger_paths: BotPaths, tmp_path: Path) -> None:
    snapshot = newest_set(ledger_paths) / "snapshot.db"
    data = bytearray(snapshot.read_bytes())
    data[5000] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    with pytest.raises(BackupSetError, match=r"snapshot\.db .* does not match"):
        restore_ledger(ledger_paths, tmp_path / "restored")


@pytest.mark.usefixtures("backed_up")
def test_restore_never_overwrites_a_ledger(ledger_paths: BotPaths) -> None:
    before = ledger_paths.ledger_db.read_bytes()
    with pytest.raises(BackupSetError, match="already exists"):
        restore_set(newest_set(ledger_paths), ledger_paths.ledgers_dir)
    assert ledger_paths.ledger_db.read_bytes() == before


def test_restore_refuses_a_home_without_a_set(ledger_paths: BotPaths, tmp_path: Path) -> None:
    with pytest.raises(BackupSetError, match="no complete backup set"):
        restore_ledger(ledger_paths, tmp_path / "restored")
