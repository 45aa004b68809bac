"""Backup sets on disk: where they live, their manifests, their increments, retention.

A set is a folder `storage/backups/{YYYY-MM-DD}/{BOT_IDENTITY}_BOT_ledger.{stamp}.set/`
(the day and stamp of its snapshot, UTC; `-1`, `-2`... for a second one in the same
second) holding:

- `snapshot.db`: a full copy of the ledger (SQLite's backup API, one read transaction);
- `coa.db`: a copy of the chart of accounts the ledger posts to (verify needs it);
- `snapshot.json`: the manifest: sizes and SHA-256 of both copies, and the state the
  snapshot ends on (chain head, high-water marks, digests: `ledger_state.LedgerState`);
- `inc-00000001.jsonl.gz`, `inc-00000002.jsonl.gz`...: the increments (`increment`).

A set folder appears under its real name only once its snapshot is whole (it is built as
`.{name}.partial` and renamed), so a set with a manifest is complete from its snapshot on.

Retention (`BackupPolicy`): sets count as the backups did before them: keep the sets of the
`retention_days` most recent day folders holding this bot's sets and, within each day, the
newest `keep_per_day`. The newest complete set is never deleted. Of a day folder aged out,
the newest set is kept until the cold archive holds it (`archive_bound`; `tbot archive run`
seals it and writes its `archived.json` mark): the ledger being append-only, it holds all
the day's earlier sets did. Single-file backups of
the versions before sets (`...{stamp}.db`) are aged out by the same rule. Only this bot's
sets and files are ever deleted.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tbot.clock import utc_stamp
from tbot.config.paths import BotPaths
from tbot.ledger.backups.durable import exclusive_lock, home_group, write_durably
from tbot.ledger.backups.increment import (
    BackupSetError,
    increment_sequence,
    read_increment_header,
)
from tbot.ledger.backups.ledger_state import LedgerState

SNAPSHOT_FILE = "snapshot.db"
COA_FILE = "coa.db"
MANIFEST_FILE = "snapshot.json"
MANIFEST_FORMAT = "tbot-ledger-snapshot"
MANIFEST_VERSION = 1
SET_SUFFIX = ".set"
ARCHIVED_MARK = "archived.json"
"""Written into a set once the cold archive holds it (`mark_archived`)."""

_DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PROBE_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BackupPolicy:
    """How many backup sets to keep: `retention_days` day folders, `keep_per_day` per day."""

    retention_days: int
    keep_per_day: int

    def __post_init__(self) -> None:
        for name in ("retention_days", "keep_per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BackupPolicy.{name} must be a whole number >= 1, not {value!r}")


@dataclass(frozen=True)
class SetManifest:
    """`snapshot.json` of one set."""

    name: str
    bot_identity: str
    taken_at_utc: str
    ledger_file: str
    coa_file: str
    snapshot_bytes: int
    snapshot_sha256: str
    coa_sha256: str
    state: LedgerState

    def as_json(self) -> dict[str, Any]:
        """The manifest's JSON object."""
        return {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "set": self.name,
            "bot_identity": self.bot_identity, "taken_at_utc": self.taken_at_utc,
            "ledger_file": self.ledger_file, "coa_file": self.coa_file,
            "snapshot_bytes": self.snapshot_bytes, "snapshot_sha256": self.snapshot_sha256,
            "coa_sha256": self.coa_sha256, "state": self.state.as_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> SetManifest:
        """Parse a manifest (KeyError/TypeError/ValueError when malformed)."""
        if data.get("format") != MANIFEST_FORMAT or data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"not a version-{MANIFEST_VERSION} tbot snapshot manifest")
        return cls(str(data["set"]), str(data["bot_identity"]), str(data["taken_at_utc"]),
                   str(data["ledger_file"]), str(data["coa_file"]), int(data["snapshot_bytes"]),
                   str(data["snapshot_sha256"]), str(data["coa_sha256"]),
                   LedgerState.from_json(data["state"]))


def read_manifest(set_dir: Path) -> SetManifest:
    """The manifest of `set_dir` (BackupSetError if it is missing or not one)."""
    path = set_dir / MANIFEST_FILE
    try:
        return SetManifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise BackupSetError(f"backup set {set_dir} has no {MANIFEST_FILE}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as problem:
        raise BackupSetError(f"{path} is not a valid manifest: {problem}") from None


@dataclass(frozen=True)
class SetTail:
    """Where a set ends: its last increment's number (0: the snapshot alone) and the state
    of the ledger it ends on."""

    set_dir: Path
    sequence: int
    state: LedgerState

    @property
    def name(self) -> str:
        """The set's folder name."""
        return self.set_dir.name


def is_archived(set_dir: Path) -> bool:
    """Whether the cold archive holds `set_dir` (its mark is there)."""
    return (set_dir / ARCHIVED_MARK).is_file()


def increments_of(set_dir: Path) -> list[tuple[int, Path]]:
    """The complete increment files of `set_dir` by sequence (`.partial` files left out)."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for path in set_dir.iterdir():
            sequence = increment_sequence(path.name)
            if sequence is not None:
                found.append((sequence, path))
    return sorted(found)


def set_tail(set_dir: Path) -> SetTail:
    """Where `set_dir` ends (reads the manifest and the last increment)."""
    manifest = read_manifest(set_dir)
    increments = increments_of(set_dir)
    if not increments:
        return SetTail(set_dir, 0, manifest.state)
    sequence, last = increments[-1]
    return SetTail(set_dir, sequence, read_increment_header(last).state_after)


class BackupSets:
    """The backup sets of one bot's ledger (see the module doc)."""

    def __init__(self, paths: BotPaths) -> None:
        self.paths = paths
        self.gid = home_group(paths.home)
        # The name shape comes from the path resolver rather than being spelt again here.
        probe = paths.ledger_backup_file(_PROBE_MOMENT).name
        prefix, suffix = probe.split(utc_stamp(_PROBE_MOMENT))
        self._prefix, self._legacy_suffix = prefix, suffix
        stamp = r"(\d{8}T\d{6}Z)(?:-(\d+))?"
        self._set_name = re.compile(rf"^{re.escape(prefix)}{stamp}{re.escape(SET_SUFFIX)}$")
        self._legacy_name = re.compile(rf"^{re.escape(prefix)}{stamp}{re.escape(suffix)}$")

    @property
    def root(self) -> Path:
        """`storage/backups/`."""
        return self.paths.backups_dir

    @property
    def lock_file(self) -> Path:
        """Held while an increment is written, or a set published or pruned."""
        return self.root / f"{self._prefix}backups.lock"

    @property
    def snapshot_lock_file(self) -> Path:
        """Held for the whole of a snapshot: one at a time."""
        return self.root / f"{self._prefix}snapshot.lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclude other writers of sets (other processes and threads) for the block."""
        with exclusive_lock(self.lock_file, self.gid):
            yield

    def new_set_dir(self, moment: datetime) -> Path:
        """A set folder name for a snapshot taken at `moment` that no set uses yet."""
        folder = self.paths.ledger_backup_dir(moment.date())
        stamp = utc_stamp(moment)
        counter = 0
        while True:
            tail = f"-{counter}" if counter else ""
            candidate = folder / f"{self._prefix}{stamp}{tail}{SET_SUFFIX}"
            if not candidate.exists() and not self.partial_dir(candidate).exists():
                return candidate
            counter += 1

    @staticmethod
    def partial_dir(set_dir: Path) -> Path:
        """Where the set is built before it gets its name."""
        return set_dir.with_name(f".{set_dir.name}.partial")

    def complete_sets(self) -> list[Path]:
        """This bot's sets that have a manifest, oldest first."""
        return [path for _, entries in self._by_day() for path, is_set in entries
                if is_set and (path / MANIFEST_FILE).is_file()]

    def newest(self) -> Path | None:
        """The newest complete set, None when there is none."""
        sets = self.complete_sets()
        return sets[-1] if sets else None

    def find(self, name: str) -> Path:
        """The complete set called `name` (BackupSetError if there is none)."""
        for path in self.complete_sets():
            if path.name == name:
                return path
        raise BackupSetError(f"no complete backup set named {name} under {self.root}")

    def partial_dirs(self) -> list[Path]:
        """Set folders a snapshot left unfinished (a crash, a full disk)."""
        found = []
        for folder in self._day_folders():
            for path in folder.iterdir():
                if (path.name.startswith(".") and path.name.endswith(".partial")
                        and self._set_name.match(path.name[1:-len(".partial")])):
                    found.append(path)
        return found

    def archive_bound(self, policy: BackupPolicy) -> list[Path]:
        """The sets `policy` ages out that must reach the cold archive first: the newest
        complete set of each day folder beyond `retention_days` (the ledger being
        append-only, it holds everything the day's earlier sets do), not yet marked
        archived, and never the newest set of all. Oldest first."""
        newest = self.newest()
        bound = []
        for position, (_, entries) in enumerate(reversed(self._by_day())):
            if position < policy.retention_days:
                continue
            sets = [path for path, is_set in entries
                    if is_set and (path / MANIFEST_FILE).is_file()]
            if sets and sets[-1] != newest and not is_archived(sets[-1]):
                bound.append(sets[-1])
        return sorted(bound, key=lambda path: (path.parent.name, path.name))

    def mark_archived(self, set_dir: Path, archive_file: str) -> None:
        """Record in `set_dir` that the archive holds it (`archive_file`): only then may
        retention delete it."""
        text = json.dumps({"archive_file": archive_file}, sort_keys=True) + "\n"
        write_durably(set_dir / ARCHIVED_MARK, text.encode("utf-8"), self.gid)

    def prune(self, policy: BackupPolicy) -> list[Path]:
        """Delete sets (and old single-file backups) beyond `policy`; call under
        `locked()`. Returns what was deleted. A set that `archive_bound` names is kept
        until `tbot archive run` has sealed it: nothing leaves except into the archive."""
        days = self._by_day()
        newest = self.newest()
        waiting = set(self.archive_bound(policy))
        doomed: list[Path] = []
        for position, (_, entries) in enumerate(reversed(days)):
            paths = [path for path, _ in entries]
            doomed += paths if position >= policy.retention_days else \
                paths[: -policy.keep_per_day]
        removed = []
        for path in doomed:
            if path == newest or path in waiting:
                continue  # the only set restore can start from, or not archived yet
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    with contextlib.suppress(FileNotFoundError):
                        leftover.unlink()
            removed.append(path)
        for folder, _ in days:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if nothing else lives there
        return removed

    def _day_folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(path for path in self.root.iterdir()
                      if path.is_dir() and _DAY_FOLDER.match(path.name))

    def _by_day(self) -> list[tuple[Path, list[tuple[Path, bool]]]]:
        """Day folders holding our sets or old backups, oldest first, each with its
        entries oldest first, flagged True for a set."""
        days = []
        for folder in self._day_folders():
            entries = []
            for path in folder.iterdir():
                for pattern, is_set in ((self._set_name, True), (self._legacy_name, False)):
                    match = pattern.match(path.name)
                    if match:
                        entries.append(((match.group(1), int(match.group(2) or 0)), path, is_set))
            if entries:
                days.append((folder, [(path, is_set) for _, path, is_set in sorted(entries)]))
        return days
