"""`tbot archive run`: move what has aged out of the hot folders into the archive.

What moves, and when (`ARCHIVE_AFTER_DAYS` = A, `LEDGER_BACKUP_RETENTION_DAYS` = R):

- `log`: a rotated log file of `logs/rotated/{day}/`, day older than A; the file is
  removed.
- `summary`: a daily summary of `summaries/`, day older than A; the file is removed.
- `sync`, `recon`, `trades`, `mapping-decisions`: that day's ledger rows (`exports`), day
  older than A; the rows stay in the ledger.
- `mapping-version`: one mapping version and its rules, made more than A days ago; it
  stays in the ledger.
- `ledger-set`: the newest backup set of a day folder that retention (R day folders)
  drops; the set is marked archived, then pruned.

Order of work, so that a crash anywhere loses nothing: seal the file, list it in its year's
manifest (atomically), and only then remove or mark the original. A re-run after a crash
finds sealed-and-listed material and only finishes removing it; sealed-but-unlisted files
are sealed again. The run holds the archive's lock, and a backup set is sealed from a
folder nobody writes any more (retention never ages out the newest set).
"""

from __future__ import annotations

import contextlib
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from tbot.archive.exports import (
    DAILY_EXPORTS,
    EXPORT_VERSION,
    DailyExport,
    day_counts,
    mapping_versions,
    write_daily_export,
    write_mapping_version,
)
from tbot.archive.manifest import ArchivedFile, year_folders
from tbot.archive.sealed_file import PARTIAL_SUFFIX
from tbot.archive.store import ArchiveStore, Material
from tbot.config.paths import BotPaths
from tbot.ledger.backups import BackupPolicy, BackupSets
from tbot.ledger.backups.backup_set import MANIFEST_VERSION as SET_MANIFEST_VERSION
from tbot.ledger.database import open_reader_connection
from tbot.ledger.mapping_models import MAPPING_SCHEMA_VERSION

LOG_SCHEMA_VERSION = 1
"""Log lines as `tbot.booking.strategy_logs` and the engine write them."""
SUMMARY_SCHEMA_VERSION = 1
"""The daily summary JSON of `tbot.booking.daily_summary`."""
_SUMMARY_DAY = re.compile(r"_daily_summary_(\d{4}-\d{2}-\d{2})\.json$")


@dataclass
class ArchiveRunReport:
    """What a run sealed, by kind, and what it removed or marked."""

    sealed: list[ArchivedFile] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    sets_pruned: list[Path] = field(default_factory=list)
    cutoff: date | None = None

    def counts(self) -> dict[str, int]:
        """Files sealed per kind."""
        counts: dict[str, int] = {}
        for entry in self.sealed:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        return counts


def _copy_file(source: Path) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        with source.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
    return write


def _tar_folder(folder: Path) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        # A stream tar ("w|"): written in order, never seeked, so it can be sealed as made.
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as bundle:
            bundle.add(folder, arcname=folder.name, recursive=False)
            for path in sorted(folder.iterdir()):
                if path.name.endswith(PARTIAL_SUFFIX):
                    continue
                bundle.add(path, arcname=f"{folder.name}/{path.name}")
    return write


class ArchiveRun:
    """One archive run over one bot home (see the module doc)."""

    def __init__(self, paths: BotPaths, store: ArchiveStore, *, archive_after_days: int,
                 backup_policy: BackupPolicy, today: date) -> None:
        self.paths = paths
        self.store = store
        self.cutoff = today - timedelta(days=archive_after_days)
        self.backup_policy = backup_policy
        self._remove: dict[str, Path] = {}
        self._mark: dict[str, Path] = {}

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.paths.home))

    # -- what is due --------------------------------------------------------------------
    def rotated_logs(self) -> list[Material]:
        """Rotated log files of days before the cutoff."""
        root = self.paths.logs_dir / "rotated"
        found: list[Material] = []
        if not root.is_dir():
            return found
        for folder in sorted(root.iterdir()):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue
            if not folder.is_dir() or day >= self.cutoff:
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file() or path.name.startswith("."):
                    continue
                material = Material("log", day, path.name, self._relative(path),
                                    LOG_SCHEMA_VERSION, EXPORT_VERSION, _copy_file(path))
                self._remove[material.file_name] = path
                found.append(material)
        return found

    def summaries(self) -> list[Material]:
        """Daily summaries of days before the cutoff."""
        found: list[Material] = []
        folder = self.paths.summaries_dir
        if not folder.is_dir():
            return found
        for path in sorted(folder.iterdir()):
            match = _SUMMARY_DAY.search(path.name)
            if not match or not path.is_file():
                continue
            day = date.fromisoformat(match.group(1))
            if day >= self.cutoff:
                continue
            material = Material("summary", day, path.name, self._relative(path),
                                SUMMARY_SCHEMA_VERSION, EXPORT_VERSION, _copy_file(path))
            self._remove[material.file_name] = path
            found.append(material)
        return found

    def ledger_exports(self, archived: list[ArchivedFile]) -> list[Material]:
        """Per-day exports of the ledger's records and each mapping version, not yet
        archived (or with rows added since their last part)."""
        if not self.paths.ledger_db.is_file():
            return []
        parts: dict[tuple[str, str], list[ArchivedFile]] = {}
        for entry in archived:
            parts.setdefault((entry.kind, entry.day), []).append(entry)
        found: list[Material] = []
        connection = open_reader_connection(self.paths.ledger_db)
        try:
            for export in DAILY_EXPORTS:
                for day, rows in sorted(day_counts(connection, export, self.cutoff).items()):
                    earlier = parts.get((export.kind, day.isoformat()), [])
                    exported = max((int(e.details.get("rows", 0)) for e in earlier), default=-1)
                    if rows.count > exported:
                        found.append(self._export(export, day, len(earlier) + 1, rows.spans))
            archived_versions = {int(e.details.get("version", 0)) for e in archived
                                 if e.kind == "mapping-version"}
            for row in mapping_versions(connection, self.cutoff):
                if row.version in archived_versions:
                    continue
                found.append(Material(
                    "mapping-version", row.created, f"v{row.version}",
                    f"exports/mapping-version-{row.version}.jsonl",
                    MAPPING_SCHEMA_VERSION, EXPORT_VERSION, self._mapping_writer(row.version),
                    {"version": row.version}))
        finally:
            connection.close()
        return found

    def _export(self, export: DailyExport, day: date, part: int,
                spans: dict[str, tuple[int, int]]) -> Material:
        details: dict[str, Any] = {"part": part}
        ledger = self.paths.ledger_db

        def write(out: BinaryIO) -> None:
            connection = open_reader_connection(ledger)
            try:
                details["rows"] = write_daily_export(connection, export, day, out, spans)
            finally:
                connection.close()
        return Material(export.kind, day, f"part{part}",
                        f"exports/{day.isoformat()}_{export.kind}_part{part}.jsonl",
                        export.schema_version, EXPORT_VERSION, write, details)

    def _mapping_writer(self, version: int) -> Callable[[BinaryIO], None]:
        ledger = self.paths.ledger_db

        def write(out: BinaryIO) -> None:
            connection = open_reader_connection(ledger)
            try:
                write_mapping_version(connection, version, out)
            finally:
                connection.close()
        return write

    def backup_sets(self) -> list[Material]:
        """The backup sets retention is about to drop that the archive must hold first."""
        found = []
        for set_dir in BackupSets(self.paths).archive_bound(self.backup_policy):
            day = date.fromisoformat(set_dir.parent.name)
            material = Material("ledger-set", day, set_dir.name.removesuffix(".set"),
                                self._relative(set_dir), SET_MANIFEST_VERSION, EXPORT_VERSION,
                                _tar_folder(set_dir))
            self._mark[material.file_name] = set_dir
            found.append(material)
        return found

    # -- doing it -----------------------------------------------------------------------
    def run(self) -> ArchiveRunReport:
        """Seal everything due, then remove the moved originals, mark and prune sets."""
        report = ArchiveRunReport(cutoff=self.cutoff)
        sets = BackupSets(self.paths)
        with self.store.locked():
            self._remove_partials()
            archived = self.store.all_entries()
            materials = (self.rotated_logs() + self.summaries()
                         + self.ledger_exports(archived) + self.backup_sets())

            def listed(material: Material, entry: ArchivedFile) -> None:
                original = self._remove.get(material.file_name)
                if original is not None:
                    with contextlib.suppress(FileNotFoundError):
                        original.unlink()
                    report.removed.append(original)
                    with contextlib.suppress(OSError):
                        original.parent.rmdir()  # a rotated day's folder, once empty
                set_dir = self._mark.get(material.file_name)
                if set_dir is not None:
                    sets.mark_archived(set_dir, entry.file)

            report.sealed = self.store.seal_all(materials, listed)
        with sets.locked():
            report.sets_pruned = sets.prune(self.backup_policy)
        return report

    def _remove_partials(self) -> None:
        for _, folder in year_folders(self.store.root):
            for path in folder.iterdir():
                if path.name.endswith(PARTIAL_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()


def run_archive(paths: BotPaths, *, archive_after_days: int, backup_policy: BackupPolicy,
                now: datetime) -> ArchiveRunReport:
    """Archive what is due on the day of `now` (UTC); creates the archive key at the first
    run. See `ArchiveRun`."""
    store = ArchiveStore(paths, now=lambda: now)
    store.open_key(create=True)
    return ArchiveRun(paths, store, archive_after_days=archive_after_days,
                      backup_policy=backup_policy, today=now.date()).run()
