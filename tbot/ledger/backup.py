"""Online backups of the ledger before every write, and their retention.

Each backup is a full copy made with SQLite's backup API from the writer's own connection
(readers keep reading: WAL), written under a temporary name and renamed into
`BotPaths.ledger_backup_file(now)`, i.e. `storage/backups/{date}/`. Two backups in the
same second get `-1`, `-2`... rather than overwrite each other.

Retention (`BackupPolicy`): keep the `retention_days` most recent day folders that hold
this bot's backups, and in each the newest `keep_per_day` files. Only files whose names
are this bot's backups are ever deleted; anything else in those folders is left alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tbot.clock import utc_stamp
from tbot.config.paths import BotPaths

_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PROBE_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BackupPolicy:
    """How many backups to keep: `retention_days` day folders, `keep_per_day` per day."""

    retention_days: int
    keep_per_day: int

    def __post_init__(self) -> None:
        for name in ("retention_days", "keep_per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BackupPolicy.{name} must be a whole number >= 1, not {value!r}")


class LedgerBackups:
    """Takes and prunes the online backups of one bot's ledger."""

    def __init__(self, paths: BotPaths, policy: BackupPolicy) -> None:
        self._paths = paths
        self._policy = policy
        # Derive the file-name shape from the path resolver rather than re-spelling it.
        probe = paths.ledger_backup_file(_PROBE_MOMENT).name
        prefix, suffix = probe.split(utc_stamp(_PROBE_MOMENT))
        self._prefix, self._suffix = prefix, suffix
        self._name = re.compile(
            rf"^{re.escape(prefix)}(\d{{8}}T\d{{6}}Z)(?:-(\d+))?{re.escape(suffix)}$"
        )

    def take(self, source: sqlite3.Connection, moment: datetime) -> Path:
        """Copy the database of `source` to a new backup file named for `moment`, then
        prune per policy. Returns the new file."""
        target = self._unique_target(moment)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()  # left over from a crash mid-backup
        destination = sqlite3.connect(partial)
        try:
            # A fresh file needs no rollback journal and no per-page syncing: one fsync
            # below makes it durable before it gets its real name.
            destination.execute("PRAGMA journal_mode = OFF")
            destination.execute("PRAGMA synchronous = OFF")
            source.backup(destination)
        finally:
            destination.close()
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
        self.prune()
        return target

    def _unique_target(self, moment: datetime) -> Path:
        target = self._paths.ledger_backup_file(moment)
        counter = 0
        while target.exists():
            counter += 1
            stamp = utc_stamp(moment)
            target = target.with_name(f"{self._prefix}{stamp}-{counter}{self._suffix}")
        return target

    def existing(self) -> list[Path]:
        """This bot's backup files, oldest first."""
        return [path for _, files in self._by_day() for path in files]

    def prune(self) -> list[Path]:
        """Delete backups beyond the policy; returns the deleted files."""
        days = self._by_day()
        removed: list[Path] = []
        keep_days = days[-self._policy.retention_days:]
        for folder, files in days[: -self._policy.retention_days]:
            removed += self._delete(files)
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if nothing else lives there
        for _, files in keep_days:
            removed += self._delete(files[: -self._policy.keep_per_day])
        return removed

    def _by_day(self) -> list[tuple[Path, list[Path]]]:
        """Day folders holding our backups, oldest first, each with its files oldest first."""
        root = self._paths.backups_dir
        if not root.is_dir():
            return []
        days = []
        for folder in sorted(root.iterdir()):
            if not (folder.is_dir() and _DAY_FOLDER.match(folder.name)):
                continue
            files = []
            for path in folder.iterdir():
                match = self._name.match(path.name)
                if match:
                    files.append(((match.group(1), int(match.group(2) or 0)), path))
            if files:
                days.append((folder, [path for _, path in sorted(files)]))
        return days

    @staticmethod
    def _delete(files: list[Path]) -> list[Path]:
        for path in files:
            # With the -wal/-shm a reader (say, verify run on a backup) may have left.
            for doomed in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                with contextlib.suppress(FileNotFoundError):
                    doomed.unlink()
        return files


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
