"""Full snapshots: the base of a backup set, taken off the write path.

`take_snapshot` copies the live ledger with SQLite's backup API in one step (one read
transaction, so the copy is one consistent state even while the engine writes: WAL), and
the chart of accounts beside it. The state the copy ends on (chain head, high-water
marks, digests) is read from the copy itself, so it is exact whatever was written
meanwhile. Both files are fsynced, the manifest written, and the folder renamed from
`.{name}.partial` to its name (folder fsynced): the set exists only once it is whole.
Publication and pruning happen under the sets' lock; the copy itself holds only the
snapshot lock (one snapshot at a time), never the writer's lock, so writes carry on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tbot.config.paths import BotPaths
from tbot.ledger.backups.backup_set import (
    COA_FILE,
    MANIFEST_FILE,
    SNAPSHOT_FILE,
    BackupPolicy,
    BackupSets,
    SetManifest,
)
from tbot.ledger.backups.durable import (
    BACKUP_DIR_MODE,
    BACKUP_FILE_MODE,
    exclusive_lock,
    fsync_dir,
    fsync_file,
    give_to_operators,
    make_dirs,
    write_durably,
)
from tbot.ledger.backups.increment import BackupSetError
from tbot.ledger.backups.ledger_state import read_state
from tbot.ledger.database import open_reader_connection
from tbot.ledger.timestamps import format_utc

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotResult:
    """A snapshot taken: its set, manifest, size, time, and the sets pruned after it."""

    set_dir: Path
    manifest: SetManifest
    seconds: float
    pruned: list[Path]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_database(source_path: Path, target: Path) -> None:
    """Copy the SQLite file `source_path` to the new file `target` in one read
    transaction (a consistent state), as a rollback-journal file, fsynced."""
    source = open_reader_connection(source_path)
    try:
        destination = sqlite3.connect(target)
        try:
            # A fresh file needs no journal and no per-page syncing: one fsync below.
            destination.execute("PRAGMA journal_mode = OFF")
            destination.execute("PRAGMA synchronous = OFF")
            source.backup(destination)  # pages=-1: one step, one read transaction
            destination.execute("PRAGMA journal_mode = DELETE")
        finally:
            destination.close()
    finally:
        source.close()
    fsync_file(target)


def take_snapshot(paths: BotPaths, moment: datetime, policy: BackupPolicy | None = None
                  ) -> SnapshotResult:
    """Start a new backup set with a full snapshot of the ledger taken at `moment`, then
    prune per `policy` (None: no pruning). BackupSetError if another snapshot is under
    way; OSError/sqlite3.Error if the copy fails (nothing is published then)."""
    started = time.perf_counter()
    sets = BackupSets(paths)
    with exclusive_lock(sets.snapshot_lock_file, sets.gid, wait=False) as held:
        if not held:
            raise BackupSetError("another snapshot of this ledger is being taken; try later")
        for leftover in sets.partial_dirs():  # a crashed snapshot's: nobody else makes them
            shutil.rmtree(leftover, ignore_errors=True)
        set_dir = sets.new_set_dir(moment)
        building = sets.partial_dir(set_dir)
        make_dirs(building.parent, sets.gid)
        os.mkdir(building, BACKUP_DIR_MODE)
        try:
            give_to_operators(building, sets.gid, BACKUP_DIR_MODE)
            manifest = _fill(paths, building, set_dir.name, moment)
            with sets.locked():
                os.rename(building, set_dir)
                fsync_dir(set_dir.parent)
                pruned = sets.prune(policy) if policy is not None else []
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    return SnapshotResult(set_dir, manifest, time.perf_counter() - started, pruned)


def _fill(paths: BotPaths, building: Path, name: str, moment: datetime) -> SetManifest:
    """Copy ledger and chart into `building` and write the manifest."""
    snapshot, coa = building / SNAPSHOT_FILE, building / COA_FILE
    copy_database(paths.ledger_db, snapshot)
    copy_database(paths.coa_db(), coa)
    gid = BackupSets(paths).gid
    for path in (snapshot, coa):
        give_to_operators(path, gid, BACKUP_FILE_MODE)
    connection = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        state, _, _ = read_state(connection)
    finally:
        connection.close()
    manifest = SetManifest(
        name=name, bot_identity=paths.identity.bot_identity, taken_at_utc=format_utc(moment),
        ledger_file=paths.ledger_db.name, coa_file=paths.coa_db().name,
        snapshot_bytes=snapshot.stat().st_size, snapshot_sha256=file_sha256(snapshot),
        coa_sha256=file_sha256(coa), state=state)
    text = json.dumps(manifest.as_json(), indent=2, sort_keys=True) + "\n"
    write_durably(building / MANIFEST_FILE, text.encode("utf-8"), gid)  # fsyncs the folder
    return manifest
