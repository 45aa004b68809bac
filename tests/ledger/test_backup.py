"""Pre-write backups: a set of one full snapshot plus an increment before each write,
kept per the retention policy."""

from __future__ import annotations

import sqlite3
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.ledger.backups import BackupPolicy, BackupSets, LedgerBackups, take_snapshot
from tbot.ledger.backups.restore import restore_set
from tbot.ledger.errors import DuplicateFitidError
from tbot.ledger.posting import TRAILING_BACKUP_ROWS, LedgerWriter
from tbot.ledger.verify import verify_ledger

from .backup_support import increment_files, increment_header, ledger_rows, newest_set
from .conftest import EntryFactory


def _set_names(paths: BotPaths) -> list[str]:
    return [str(path.relative_to(paths.backups_dir)) for path in
            BackupSets(paths).complete_sets()]


def test_the_first_write_on_a_home_without_a_set_starts_a_snapshot_in_the_background(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths
) -> None:
    assert BackupSets(ledger_paths).newest() is None
    writer.post(make_entry("FIT-1"), actor="engine")  # does not wait for the snapshot
    assert writer.wait_for_backups(timeout=30)
    assert _set_names(ledger_paths) == [
        "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T143000Z.set"]
    writer.post(make_entry("FIT-2"), actor="engine")
    restored = restore_set(newest_set(ledger_paths), ledger_paths.home / "restored")
    # The rows of FIT-1 are in the snapshot or in the increment taken before FIT-2.
    assert ledger_rows(restored.ledger_path)["ledger_entries"][0][1] == "FIT-1"


def test_each_write_is_preceded_by_an_increment_of_what_was_committed_before_it(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    writer.post(make_entry("FIT-1"), actor="engine")  # nothing since the snapshot
    assert writer.backups.last_increment is None
    clock.advance(timedelta(seconds=1))
    writer.post_batch([make_entry("FIT-2"), make_entry("FIT-3")], actor="engine")
    clock.advance(timedelta(seconds=1))
    writer.record_event("home.init", actor="operator", subject="home", details={})
    first, second = increment_files(newest_set(ledger_paths))
    assert (first.name, second.name) == ("inc-00000001.jsonl.gz", "inc-00000002.jsonl.gz")
    one, two = increment_header(first), increment_header(second)
    assert one["marks_before"]["ledger_entries"] == 0
    assert one["marks_after"]["ledger_entries"] == 1  # FIT-1, committed before FIT-2
    assert one["head_after"]["audit_id"] == 2
    assert two["marks_after"]["ledger_entries"] == 3
    assert two["head_before"] == one["head_after"]
    assert (one["taken_at_utc"], two["taken_at_utc"]) == (
        "2026-03-02T14:30:01.000000Z", "2026-03-02T14:30:02.000000Z")


def test_a_write_is_committed_only_once_its_pre_write_backup_is_durable(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    """The rows go in while the backup finishes, but nobody sees them (nor would a
    restart) before the increment is on disk; the increment holds only what came before."""
    take_snapshot(ledger_paths, clock.now())
    writer.post(make_entry("FIT-1"), actor="engine")
    reader = sqlite3.connect(f"file:{ledger_paths.ledger_db}?mode=ro", uri=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        with BackupSets(ledger_paths).locked():  # the pre-write backup of FIT-2 waits here
            second = pool.submit(writer.post, make_entry("FIT-2"), actor="engine")
            time.sleep(0.3)
            assert not second.done()
            assert reader.execute("SELECT fitid FROM ledger_entries").fetchall() == [("FIT-1",)]
            assert increment_files(newest_set(ledger_paths)) == []
        posted = second.result(timeout=30)
    assert reader.execute("SELECT id FROM ledger_entries WHERE fitid = 'FIT-2'").fetchone() == (
        posted.entry_id,)
    reader.close()
    (increment,) = increment_files(newest_set(ledger_paths))
    assert increment_header(increment)["marks_after"]["ledger_entries"] == 1  # FIT-1 only


def test_an_increment_costs_what_was_written_not_what_the_ledger_holds(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    writer.post_batch([make_entry(f"BULK-{n}") for n in range(2000)], actor="engine")
    writer.wait_for_backups(timeout=30)
    take_snapshot(ledger_paths, clock.now())
    writer.post(make_entry("FIT-1"), actor="engine")
    writer.post(make_entry("FIT-2"), actor="engine")
    increment = writer.backups.last_increment
    assert increment is not None
    assert increment_header(increment)["rows"] == 4  # an entry, 2 postings, its audit row
    assert increment.stat().st_size < 2000


def test_a_large_write_is_backed_up_right_after_it_not_before_the_next(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    writer.post_batch([make_entry(f"BULK-{n}") for n in range(TRAILING_BACKUP_ROWS)],
                      actor="engine")
    writer.wait_for_backups(timeout=30)
    set_dir = newest_set(ledger_paths)
    deadline = time.monotonic() + 30
    # Nothing was written since the snapshot before it: its only increment comes after it.
    while not increment_files(set_dir):
        assert time.monotonic() < deadline, "the large write was not backed up after it"
        time.sleep(0.05)
    (after,) = increment_files(set_dir)
    assert increment_header(after)["rows"] >= 3 * TRAILING_BACKUP_ROWS  # entries, postings...
    writer.post(make_entry("FIT-1"), actor="engine")  # finds the bulk backed up already
    assert increment_files(set_dir) == [after]


def test_a_truncated_last_increment_is_noticed_by_the_next_writer_from_its_header(
    ledger_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy,
    make_entry: EntryFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    take_snapshot(ledger_paths, clock.now())
    with LedgerWriter(ledger_paths, clock, policy) as writer:
        writer.post(make_entry("FIT-1"), actor="engine")
        writer.post(make_entry("FIT-2"), actor="engine")
    damaged_set = newest_set(ledger_paths)
    (last,) = increment_files(damaged_set)
    last.write_bytes(last.read_bytes()[:-20])  # the disk lost its end
    clock.advance(timedelta(seconds=1))
    with LedgerWriter(ledger_paths, clock, policy) as writer:
        writer.post(make_entry("FIT-3"), actor="engine")
        writer.wait_for_backups(timeout=30)
    assert "ALERT ledger backup" in caplog.text and "inc-00000001" in caplog.text
    assert newest_set(ledger_paths) != damaged_set  # a new set took over


def test_nothing_written_since_the_last_backup_means_no_new_increment(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    writer.post(make_entry("FIT-1"), actor="engine")
    with pytest.raises(DuplicateFitidError):
        writer.post(make_entry("FIT-1"), actor="engine")  # its increment holds FIT-1
    writer.post(make_entry("FIT-2"), actor="engine")  # nothing new since that one
    assert writer.backups.last_increment is None
    assert len(increment_files(newest_set(ledger_paths))) == 1


def test_a_table_that_is_not_append_only_is_carried_whole(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock,
    tamper: sqlite3.Connection,
) -> None:
    take_snapshot(ledger_paths, clock.now())
    tamper.execute("UPDATE coa_metadata SET coa_version = 'v9.9.9'")  # no trigger guards it
    writer.post(make_entry("FIT-1"), actor="engine")
    writer.post(make_entry("FIT-2"), actor="engine")
    restored = restore_set(newest_set(ledger_paths), ledger_paths.home / "restored")
    rows = ledger_rows(restored.ledger_path)
    assert rows["coa_metadata"] == ledger_rows(ledger_paths.ledger_db)["coa_metadata"]
    assert rows["coa_metadata"][0][3] == "v9.9.9"


def test_a_new_snapshot_starts_a_new_set_and_increments_follow_it(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    writer.post(make_entry("FIT-1"), actor="engine")
    clock.advance(timedelta(hours=1))
    take_snapshot(ledger_paths, clock.now())  # as `tbot ledger backup` would, meanwhile
    writer.post(make_entry("FIT-2"), actor="engine")
    writer.post(make_entry("FIT-3"), actor="engine")
    first, second = BackupSets(ledger_paths).complete_sets()
    assert increment_files(first) == []
    assert [increment_header(p)["set"] for p in increment_files(second)] == [second.name]
    restored = restore_set(second, ledger_paths.home / "restored")
    assert [row[1] for row in ledger_rows(restored.ledger_path)["ledger_entries"]] == [
        "FIT-1", "FIT-2"]


def test_sets_are_pruned_per_policy_across_days_and_the_newest_is_kept(
    ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    policy = BackupPolicy(retention_days=2, keep_per_day=2)
    for day in range(3):
        for minute in range(3):
            clock.set(datetime(2026, 3, 2 + day, 15, minute, tzinfo=UTC))
            take_snapshot(ledger_paths, clock.now(), policy)
    kept = [
        "2026-03-03/ACME_US_ALP_B01_BOT_ledger.20260303T150100Z.set",
        "2026-03-03/ACME_US_ALP_B01_BOT_ledger.20260303T150200Z.set",
        "2026-03-04/ACME_US_ALP_B01_BOT_ledger.20260304T150100Z.set",
        "2026-03-04/ACME_US_ALP_B01_BOT_ledger.20260304T150200Z.set",
    ]
    # The aged-out day's newest set waits for the cold archive; its earlier sets go.
    waiting = "2026-03-02/ACME_US_ALP_B01_BOT_ledger.20260302T150200Z.set"
    assert _set_names(ledger_paths) == [waiting, *kept]
    sets = BackupSets(ledger_paths)
    assert sets.archive_bound(policy) == [ledger_paths.backups_dir / waiting]
    sets.mark_archived(ledger_paths.backups_dir / waiting, "the-archive-file.tbarc")
    with sets.locked():
        assert sets.prune(policy) == [ledger_paths.backups_dir / waiting]
    assert _set_names(ledger_paths) == kept
    assert not (ledger_paths.backups_dir / "2026-03-02").exists()


def test_pruning_leaves_files_it_does_not_own_and_ages_out_old_single_file_backups(
    ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    foreign_day = ledger_paths.backups_dir / "2026-03-01"
    foreign_day.mkdir(parents=True)
    notes = foreign_day / "operator-notes.txt"
    notes.write_text("keep me")
    old_style = foreign_day / "ACME_US_ALP_B01_BOT_ledger.20260301T120000Z.db"
    old_style.write_bytes(b"a backup of an older version")
    other_bot = ledger_paths.ledger_backup_dir(clock.now().date()) / (
        "OTHER_US_ALP_B02_BOT_ledger.20260302T120000Z.set")
    other_bot.mkdir(parents=True)
    policy = BackupPolicy(retention_days=1, keep_per_day=1)
    take_snapshot(ledger_paths, clock.now(), policy)
    clock.advance(timedelta(seconds=1))
    take_snapshot(ledger_paths, clock.now(), policy)
    assert notes.read_text() == "keep me"
    assert other_bot.exists()
    assert not old_style.exists()
    assert len(BackupSets(ledger_paths).complete_sets()) == 1


def test_backup_files_are_0640_and_their_folders_0750(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    writer.post(make_entry("FIT-1"), actor="engine")
    writer.post(make_entry("FIT-2"), actor="engine")
    set_dir = newest_set(ledger_paths)
    files = [path for path in set_dir.iterdir()]
    assert len(files) == 4  # snapshot, chart, manifest, one increment
    assert {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o640}
    assert stat.S_IMODE(set_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE(set_dir.parent.stat().st_mode) == 0o750
    assert {path.stat().st_gid for path in files} == {ledger_paths.home.stat().st_gid}


def test_a_snapshot_is_a_sound_ledger(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    writer.post_batch([make_entry(f"FIT-{n}") for n in range(5)], actor="engine")
    writer.wait_for_backups(timeout=30)
    result = take_snapshot(ledger_paths, clock.now())
    report = verify_ledger(result.set_dir / "snapshot.db", result.set_dir / "coa.db")
    assert report.ok
    assert report.entries == 5
    assert result.manifest.state.marks["ledger_entries"] == 5


def test_writer_reports_the_time_spent_on_backups(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    assert writer.backup_seconds == 0
    writer.post(make_entry("FIT-1"), actor="engine")
    first = writer.backup_seconds
    assert first > 0
    writer.post(make_entry("FIT-2"), actor="engine")
    assert writer.backup_seconds > first


def test_the_old_import_path_still_gives_the_backups(ledger_paths: BotPaths) -> None:
    from tbot.ledger.backup import BackupPolicy as OldPolicy
    from tbot.ledger.backup import LedgerBackups as OldBackups

    assert (OldPolicy, OldBackups) == (BackupPolicy, LedgerBackups)
    assert OldBackups(ledger_paths, OldPolicy(1, 1)).existing() == []


@pytest.mark.parametrize(("days", "per_day"), [(0, 1), (1, 0), (-1, 5)])
def test_backup_policy_refuses_nonpositive_numbers(days: int, per_day: int) -> None:
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        BackupPolicy(retention_days=days, keep_per_day=per_day)


