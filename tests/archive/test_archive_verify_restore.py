"""`verify` names every damaged, missing or stray file and tells a wrong key apart;
`restore` gives back exactly what was archived and never overwrites."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tbot.admin.bot_home import BotHome
from tbot.archive import ArchiveError, ArchiveRunReport
from tbot.archive.manifest import ArchivedFile
from tbot.ledger.backups.backup_set import MANIFEST_FILE, SNAPSHOT_FILE
from tests.archive.conftest import ROTATED_LOG_LINES, store_of


def entry_of(report: ArchiveRunReport, kind: str) -> ArchivedFile:
    return next(entry for entry in report.sealed if entry.kind == kind)


def test_verify_names_an_altered_file(archived_home: tuple[BotHome, ArchiveRunReport]
                                      ) -> None:
    home, report = archived_home
    altered = entry_of(report, "trades")
    path = home.paths.archive_year_dir(2026) / altered.file
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    result = store_of(home).verify()
    assert [(f.file, f.problem) for f in result.findings] == [
        (altered.file, "altered after writing: its SHA-256 differs from the manifest's")]


def test_verify_names_a_missing_a_stray_and_an_unfinished_file(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    year_dir = home.paths.archive_year_dir(2026)
    missing = entry_of(report, "summary")
    (year_dir / missing.file).unlink()
    (year_dir / "dropped-here.tbarc").write_bytes(b"?")
    (year_dir / "2026-11-20__log__x__s1e1.tbarc.partial").write_bytes(b"?")
    problems = {f.file: f.problem for f in store_of(home).verify().findings}
    assert problems[missing.file] == "listed in the manifest but missing"
    assert problems["dropped-here.tbarc"] == "not listed in the manifest"
    assert "unfinished write" in problems["2026-11-20__log__x__s1e1.tbarc.partial"]


def test_a_wrong_archive_key_is_named_as_such_for_every_file(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    key_file = home.paths.archive_key_file
    key_file.write_bytes(Fernet.generate_key() + b"\n")
    result = store_of(home).verify()
    assert len(result.findings) == len(report.sealed)
    assert all("the wrong archive key" in f.problem for f in result.findings)


def test_a_restored_log_is_byte_for_byte_the_original(
    archived_home: tuple[BotHome, ArchiveRunReport], tmp_path: Path
) -> None:
    home, report = archived_home
    log = next(e for e in report.sealed if e.kind == "log" and "open.001" in e.file)
    (written,) = store_of(home).restore(log.file, tmp_path / "out")
    assert written == tmp_path / "out" / "open.001.log"
    assert written.read_bytes() == ROTATED_LOG_LINES


def test_a_restored_export_is_json_lines_with_its_versions_and_rows(
    archived_home: tuple[BotHome, ArchiveRunReport], tmp_path: Path
) -> None:
    home, report = archived_home
    trades = entry_of(report, "trades")
    (written,) = store_of(home).restore(trades.file, tmp_path)
    header, *rows = [json.loads(line) for line in written.read_text().splitlines()]
    assert header["format"] == "tbot-archive-export" and header["kind"] == "trades"
    assert header["schema_version"] == trades.schema_version
    assert header["export_version"] == trades.export_version
    assert len(rows) == trades.details["rows"] > 0
    assert {row["table"] for row in rows} == {"trades"}
    assert all(row["row"]["dtposted"].startswith(trades.day) for row in rows)


def test_a_restored_backup_set_is_the_set_as_it_was(
    archived_home: tuple[BotHome, ArchiveRunReport], tmp_path: Path
) -> None:
    home, report = archived_home
    archived_set = entry_of(report, "ledger-set")
    (set_dir,) = store_of(home).restore(archived_set.file, tmp_path)
    manifest = json.loads((set_dir / MANIFEST_FILE).read_text())
    snapshot = set_dir / SNAPSHOT_FILE
    assert hashlib.sha256(snapshot.read_bytes()).hexdigest() == manifest["snapshot_sha256"]
    with sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_restore_never_overwrites_and_refuses_an_unknown_file(
    archived_home: tuple[BotHome, ArchiveRunReport], tmp_path: Path
) -> None:
    home, report = archived_home
    store = store_of(home)
    log = entry_of(report, "log")
    store.restore(log.file, tmp_path)
    with pytest.raises(ArchiveError, match="already exists"):
        store.restore(log.file, tmp_path)
    with pytest.raises(ArchiveError, match="not listed"):
        store.restore("2020-01-01__log__nothing__s1e1.tbarc", tmp_path)
