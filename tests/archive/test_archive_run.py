"""`tbot archive run`: what is due moves into the archive, sealed, listed and verifiable,
and a crash at any step loses nothing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tbot.admin.bot_home import BotHome
from tbot.archive import ArchiveError, ArchiveRunReport, run_archive
from tbot.archive import store as store_module
from tbot.archive.manifest import MANIFEST_NAME
from tbot.ledger.backups import BackupSets
from tests.archive.conftest import LATER, POLICY, ROTATED_LOG_LINES, TRADING_DAY, store_of
from tests.engine.engine_process import run_tbot


def test_a_run_seals_every_kind_of_due_material_and_moves_the_originals(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    counts = report.counts()
    assert {"log", "summary", "sync", "recon", "trades", "mapping-version",
            "ledger-set"} <= set(counts), counts
    assert counts["log"] == 2 and counts["ledger-set"] == 1
    # Moved: the rotated logs and the summary are gone from the hot folders.
    assert not (home.paths.logs_dir / "rotated").exists() or not any(
        (home.paths.logs_dir / "rotated").iterdir())
    assert not home.paths.daily_summary_file(TRADING_DAY).exists()
    # The older day's backup set was archived, marked, then pruned; the newer one stays.
    remaining = BackupSets(home.paths).complete_sets()
    assert [path.parent.name for path in remaining] == ["2026-11-21", remaining[-1].parent.name]
    assert remaining[-1].parent.name > "2026-11-21"  # the engine's own set, of today
    assert [path.parent.name for path in report.sets_pruned] == ["2026-11-20"]


def test_the_archive_is_encrypted_listed_with_digests_and_verifies(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    year_dir = home.paths.archive_year_dir(2026)
    manifest = json.loads((year_dir / MANIFEST_NAME).read_text())
    assert {entry["file"] for entry in manifest["files"]} == {e.file for e in report.sealed}
    for entry in manifest["files"]:
        path = year_dir / entry["file"]
        assert path.stat().st_size == entry["stored_bytes"]
        assert len(entry["stored_sha256"]) == len(entry["content_sha256"]) == 64
        assert entry["file"].startswith(entry["day"] + "__" + entry["kind"] + "__")
        assert entry["file"].endswith(f"__s{entry['schema_version']}e"
                                      f"{entry['export_version']}.tbarc")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert b"ENTRY AAPL" not in path.read_bytes()  # nothing readable without the key
    key = home.paths.archive_key_file
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    report_ = store_of(home).verify()
    assert report_.ok, report_.findings
    assert report_.files_checked == len(report.sealed)


def test_a_second_run_archives_nothing_twice(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, _ = archived_home
    again = run_archive(home.paths, archive_after_days=30, backup_policy=POLICY, now=LATER)
    assert again.sealed == []


def test_material_younger_than_archive_after_days_stays_hot(traded_home: BotHome) -> None:
    report = run_archive(traded_home.paths, archive_after_days=30, backup_policy=POLICY,
                         now=LATER.replace(year=2026, month=12, day=1))
    assert {entry.kind for entry in report.sealed} <= {"ledger-set"}
    assert traded_home.paths.daily_summary_file(TRADING_DAY).exists()
    assert (traded_home.paths.rotated_logs_dir(TRADING_DAY) / "open.001.log").exists()


def test_rows_added_to_an_exported_day_are_exported_again_as_a_new_part(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    synced_days = {entry.day for entry in report.sealed if entry.kind == "sync"}
    result = run_tbot("recon", "sync", "--home", home.paths.home)  # another sync_runs row
    assert result.returncode == 0, result.stdout + result.stderr
    again = run_archive(home.paths, archive_after_days=30, backup_policy=POLICY, now=LATER)
    parts = [entry for entry in again.sealed if entry.kind == "sync"]
    assert len(parts) == 1 and parts[0].day in synced_days
    assert parts[0].details["part"] == 2
    assert "__part2__" in parts[0].file


def test_a_crash_before_the_manifest_is_written_keeps_the_originals_and_a_rerun_finishes(
    traded_home: BotHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(store_module, "write_manifest", crash)
    with pytest.raises(OSError, match="power cut"):
        run_archive(traded_home.paths, archive_after_days=30, backup_policy=POLICY, now=LATER)
    rotated = traded_home.paths.rotated_logs_dir(TRADING_DAY) / "open.001.log"
    assert rotated.read_bytes() == ROTATED_LOG_LINES
    assert traded_home.paths.daily_summary_file(TRADING_DAY).exists()
    assert len(BackupSets(traded_home.paths).complete_sets()) == 3
    monkeypatch.undo()
    report = run_archive(traded_home.paths, archive_after_days=30, backup_policy=POLICY,
                         now=LATER)
    assert report.counts()["log"] == 2
    assert not rotated.exists()
    assert store_of(traded_home).verify().ok


def test_a_crash_after_listing_and_before_removing_is_finished_by_the_next_run(
    traded_home: BotHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotated = traded_home.paths.rotated_logs_dir(TRADING_DAY) / "open.001.log"
    original_unlink = Path.unlink

    def crash_on_log(self: Path, missing_ok: bool = False) -> None:
        if self == rotated:
            raise OSError("killed")
        original_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_on_log)
    with pytest.raises(OSError, match="killed"):
        run_archive(traded_home.paths, archive_after_days=30, backup_policy=POLICY, now=LATER)
    monkeypatch.undo()
    assert rotated.exists()
    report = run_archive(traded_home.paths, archive_after_days=30, backup_policy=POLICY,
                         now=LATER)
    assert report.sealed == [] or all(e.kind != "log" for e in report.sealed)
    assert not rotated.exists()
    assert store_of(traded_home).verify().ok


def test_a_missing_key_with_files_archived_is_an_error_not_a_new_key(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, _ = archived_home
    home.paths.archive_key_file.unlink()
    with pytest.raises(ArchiveError, match=r"archive key .* is missing"):
        run_archive(home.paths, archive_after_days=30, backup_policy=POLICY, now=LATER)
    assert not home.paths.archive_key_file.exists()
