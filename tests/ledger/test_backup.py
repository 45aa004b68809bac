"""An online backup before every write, kept per the retention policy."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.ledger.backup import BackupPolicy, LedgerBackups
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.verify import verify_ledger

from .conftest import EntryFactory


def _entry_count(database: Path) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0]
    finally:
        connection.close()


def _backups(paths: BotPaths) -> list[str]:
    return sorted(
        str(path.relative_to(paths.backups_dir)) for path in paths.backups_dir.rglob("*.db")
    )


def test_each_write_is_preceded_by_a_backup_of_the_ledger_before_it(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    writer.post(make_entry("FIT-1"), actor="engine")
    clock.advance(timedelta(seconds=1))
    writer.post_batch([make_entry("FIT-2"), make_entry("FIT-3")], actor="engine")
    clock.advance(timedelta(seconds=1))
    writer.record_event("home.init", actor="operator", subject="home", details={})
    assert _backups(ledger_paths) == [
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143000Z.db",
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143001Z.db",
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143002Z.db",
    ]
    counts = [_entry_count(ledger_paths.backups_dir / name) for name in _backups(ledger_paths)]
    assert counts == [0, 1, 3]


def test_backups_in_the_same_second_get_unique_names(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    for number in range(3):
        writer.post(make_entry(f"FIT-{number}"), actor="engine")
    assert _backups(ledger_paths) == [
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143000Z-1.db",
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143000Z-2.db",
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143000Z.db",
    ]
    newest = ledger_paths.backups_dir / _backups(ledger_paths)[1]
    assert _entry_count(newest) == 2  # "-2" is the third backup, taken before FIT-2


def test_backups_are_pruned_per_policy_across_days(
    ledger_paths: BotPaths, clock: FrozenClock, make_entry: EntryFactory
) -> None:
    policy = BackupPolicy(retention_days=2, keep_per_day=2)
    with LedgerWriter(ledger_paths, clock, policy) as writer:
        for day in range(3):
            clock.set(datetime(2026, 3, 2 + day, 15, 0, tzinfo=UTC))
            for minute in range(3):
                writer.post(make_entry(f"FIT-{day}-{minute}"), actor="engine")
                clock.advance(timedelta(minutes=1))
    assert _backups(ledger_paths) == [
        "2026-03-03/ACME_US_ALP_B01_BOT_ledger.20260303T150100Z.db",
        "2026-03-03/ACME_US_ALP_B01_BOT_ledger.20260303T150200Z.db",
        "2026-03-04/ACME_US_ALP_B01_BOT_ledger.20260304T150100Z.db",
        "2026-03-04/ACME_US_ALP_B01_BOT_ledger.20260304T150200Z.db",
    ]
    assert not (ledger_paths.backups_dir / "2026-03-02").exists()


def test_pruning_removes_what_a_reader_left_beside_a_backup(
    ledger_paths: BotPaths, clock: FrozenClock, make_entry: EntryFactory
) -> None:
    with LedgerWriter(ledger_paths, clock, BackupPolicy(1, 1)) as writer:
        writer.post(make_entry("FIT-1"), actor="engine")
        first_day = LedgerBackups(ledger_paths, BackupPolicy(1, 1)).existing()
        assert verify_ledger(first_day[0], ledger_paths.coa_db()).ok  # may leave -wal/-shm
        clock.advance(timedelta(days=1))
        writer.post(make_entry("FIT-2"), actor="engine")
    assert _backups(ledger_paths) == [
        "2026-03-03/ACME_US_ALP_B01_BOT_ledger.20260303T143000Z.db"]
    assert not first_day[0].parent.exists()


def test_pruning_leaves_files_it_does_not_own(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    foreign_day = ledger_paths.backups_dir / "2026-03-01"
    foreign_day.mkdir(parents=True)
    notes = foreign_day / "operator-notes.txt"
    notes.write_text("keep me")
    other_bot = ledger_paths.ledger_backup_dir(clock.now().date()) / (
        "OTHER_US_ALP_B02_BOT_ledger.20260302T120000Z.db")
    other_bot.parent.mkdir(parents=True)
    other_bot.write_bytes(b"another bot's backup")
    backups = LedgerBackups(ledger_paths, BackupPolicy(retention_days=1, keep_per_day=1))
    writer.post(make_entry("FIT-1"), actor="engine")
    writer.post(make_entry("FIT-2"), actor="engine")
    backups.prune()
    assert notes.read_text() == "keep me"
    assert other_bot.exists()
    assert len(backups.existing()) == 1


def test_a_backup_is_a_sound_ledger(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    writer.post_batch([make_entry(f"FIT-{n}") for n in range(5)], actor="engine")
    writer.post(make_entry("FIT-LAST"), actor="engine")
    latest = LedgerBackups(ledger_paths, BackupPolicy(1, 10)).existing()[-1]
    report = verify_ledger(latest, ledger_paths.coa_db())
    assert report.ok
    assert report.entries == 5


def test_writer_reports_the_time_spent_on_backups(
    writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    assert writer.backup_seconds == 0
    writer.post(make_entry("FIT-1"), actor="engine")
    first = writer.backup_seconds
    assert first > 0
    writer.post(make_entry("FIT-2"), actor="engine")
    assert writer.backup_seconds > first


@pytest.mark.parametrize(("days", "per_day"), [(0, 1), (1, 0), (-1, 5)])
def test_backup_policy_refuses_nonpositive_numbers(days: int, per_day: int) -> None:
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        BackupPolicy(retention_days=days, keep_per_day=per_day)
