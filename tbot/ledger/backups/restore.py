"""Rebuilding a ledger from a backup set.

`restore_set` copies the set's snapshot (checking its SHA-256 against the manifest on the
way), then applies the increments in sequence order in one transaction, refusing, with the
file named, a set that is not whole and in order:

- an increment missing in the sequence (`inc-00000003` absent between 2 and 4);
- an increment that is truncated or altered (`increment.read_increment`);
- an increment of another set, or whose chain head or high-water marks before do not
  follow the previous increment's (or the snapshot's) after;
- an increment after which the rebuilt file's chain head or marks differ from what it says.

`--as-of`: the newest set whose snapshot was taken at or before the time, and of it the
increments taken at or before it. (An increment holds what was committed before the write
it preceded, so the result is the ledger as it was at the last backup before that time.)

The result is built beside the target as `.{name}.restoring`, fsynced, and linked to its
name only once whole: a refused or interrupted restore leaves no ledger file behind, and
an existing file is never overwritten. Files are 0640 (`durable`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tbot.config.paths import BotPaths
from tbot.ledger.backups.backup_set import (
    COA_FILE,
    SNAPSHOT_FILE,
    BackupSets,
    SetManifest,
    increments_of,
    read_manifest,
)
from tbot.ledger.backups.durable import (
    BACKUP_FILE_MODE,
    fsync_dir,
    fsync_file,
    give_to_operators,
    home_group,
    make_dirs,
)
from tbot.ledger.backups.increment import (
    BackupSetError,
    Increment,
    increment_name,
    read_increment,
)
from tbot.ledger.backups.ledger_state import (
    LedgerState,
    TableLayout,
    chain_head,
    high_water_mark,
    read_schema,
    read_state,
    table_layouts,
)
from tbot.ledger.timestamps import parse_utc
from tbot.ledger.verify import VerifyReport, verify_ledger

_COPY_CHUNK = 4 << 20


@dataclass(frozen=True)
class RestoreResult:
    """A ledger rebuilt from a set."""

    set_dir: Path
    ledger_path: Path
    coa_path: Path
    snapshot_taken_at_utc: str
    increments_applied: int
    backed_up_at_utc: str
    """When the last backup applied (snapshot or increment) was taken."""
    state: LedgerState
    seconds: float


def choose_set(paths: BotPaths, as_of: datetime | None = None) -> Path:
    """The newest complete set, or with `as_of` the newest started at or before it."""
    sets = BackupSets(paths).complete_sets()
    if not sets:
        raise BackupSetError(f"no complete backup set under {paths.backups_dir}; "
                             "take one with `tbot ledger backup`")
    if as_of is None:
        return sets[-1]
    for set_dir in reversed(sets):
        if parse_utc(read_manifest(set_dir).taken_at_utc) <= as_of:
            return set_dir
    oldest = read_manifest(sets[0]).taken_at_utc
    raise BackupSetError(f"no backup set was started on or before {as_of.isoformat()}; "
                         f"the oldest kept starts at {oldest}")


def restore_ledger(paths: BotPaths, target_dir: Path, as_of: datetime | None = None
                   ) -> tuple[RestoreResult, VerifyReport]:
    """Rebuild the bot's ledger into `target_dir` from the right set, then verify it."""
    result = restore_set(choose_set(paths, as_of), target_dir, as_of=as_of)
    return result, verify_ledger(result.ledger_path, result.coa_path)


def restore_set(set_dir: Path, target_dir: Path, *, as_of: datetime | None = None
                ) -> RestoreResult:
    """Rebuild the ledger of `set_dir` (and its chart) into `target_dir` (see the module
    doc). BackupSetError names what is wrong with the set; nothing is left behind then."""
    started = time.perf_counter()
    manifest = read_manifest(set_dir)
    if as_of is not None and parse_utc(manifest.taken_at_utc) > as_of:
        raise BackupSetError(f"backup set {set_dir.name} starts at {manifest.taken_at_utc}, "
                             f"after {as_of.isoformat()}")
    target_dir = Path(target_dir)
    gid = home_group(target_dir.parent if not target_dir.exists() else target_dir)
    make_dirs(target_dir, gid)
    ledger_path, coa_path = target_dir / manifest.ledger_file, target_dir / manifest.coa_file
    for path in (ledger_path, coa_path):
        if path.exists():
            raise BackupSetError(f"{path} already exists; a restore never overwrites a file")
    work = target_dir / f".{manifest.ledger_file}.restoring"
    coa_work = target_dir / f".{manifest.coa_file}.restoring"
    try:
        _copy_checked(set_dir / SNAPSHOT_FILE, work, manifest.snapshot_sha256, set_dir)
        _copy_checked(set_dir / COA_FILE, coa_work, manifest.coa_sha256, set_dir)
        applied, state, backed_up_at = _apply_increments(set_dir, manifest, work, as_of)
        for source, final in ((work, ledger_path), (coa_work, coa_path)):
            fsync_file(source)
            give_to_operators(source, gid, BACKUP_FILE_MODE)
            os.link(source, final)  # fails rather than overwrite a file that appeared
        fsync_dir(target_dir)
    finally:
        for leftover in (work, coa_work, Path(f"{work}-journal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return RestoreResult(set_dir, ledger_path, coa_path, manifest.taken_at_utc, applied,
                         backed_up_at, state, time.perf_counter() - started)


def _copy_checked(source: Path, target: Path, sha256: str, set_dir: Path) -> None:
    """Copy `source` to `target`, hashing on the way; refuse a copy that differs from the
    manifest's SHA-256."""
    digest = hashlib.sha256()
    try:
        with source.open("rb") as reading, target.open("xb") as writing:
            while chunk := reading.read(_COPY_CHUNK):
                digest.update(chunk)
                writing.write(chunk)
    except FileNotFoundError:
        if not source.exists():
            raise BackupSetError(f"{source.name} of backup set {set_dir.name} is missing"
                                 ) from None
        raise
    if digest.hexdigest() != sha256:
        raise BackupSetError(f"{source.name} of backup set {set_dir.name} does not match its "
                             "manifest's SHA-256: the file is damaged")


def _apply_increments(set_dir: Path, manifest: SetManifest, work: Path,
                      as_of: datetime | None) -> tuple[int, LedgerState, str]:
    """Apply the set's increments (up to `as_of`) to `work`; (count, final state, when
    the last backup applied was taken)."""
    connection = sqlite3.connect(work, isolation_level=None)
    try:
        # Rows arrive parents first, but a trigger-free, check-free bulk copy is what this
        # is: the verify run after the restore checks references and balances.
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("PRAGMA synchronous = OFF")  # fsynced once, at the end
        expected, backed_up_at, applied = manifest.state, manifest.taken_at_utc, 0
        connection.execute("BEGIN IMMEDIATE")
        for position, (sequence, path) in enumerate(increments_of(set_dir), start=1):
            if sequence != position:
                raise BackupSetError(
                    f"increment {increment_name(position)} of backup set {set_dir.name} is "
                    f"missing (the next one there is {path.name}); the set cannot be "
                    "restored past it")
            increment = read_increment(path)
            header = increment.header
            if as_of is not None and parse_utc(header.taken_at_utc) > as_of:
                break
            _check_follows(increment, manifest.name, expected)
            _apply(connection, increment)
            _check_reached(connection, increment)
            expected, backed_up_at, applied = header.state_after, header.taken_at_utc, sequence
        connection.execute("COMMIT")
        state, _, _ = read_state(connection)
        if state != expected:
            raise BackupSetError(f"the ledger rebuilt from backup set {set_dir.name} does not "
                                 "end on the state its last backup records")
        connection.execute("PRAGMA journal_mode = WAL")  # as every ledger file is
    finally:
        connection.close()
    return applied, expected, backed_up_at


def _check_follows(increment: Increment, set_name: str, expected: LedgerState) -> None:
    header, name = increment.header, increment.path.name
    if header.set_name != set_name:
        raise BackupSetError(f"increment {name} belongs to backup set {header.set_name}, "
                             f"not {set_name}")
    if header.head_before != expected.head:
        raise BackupSetError(
            f"increment {name} of backup set {set_name} does not follow the previous one: "
            f"it starts after {header.head_before}, the set so far ends on {expected.head}")
    if header.marks_before != expected.marks:
        raise BackupSetError(
            f"increment {name} of backup set {set_name} does not follow the previous one: "
            "its high-water marks before differ from where the set so far ends")


def _apply(connection: sqlite3.Connection, increment: Increment) -> None:
    if increment.schema is not None:
        present = {name: sql for _, name, _, sql in read_schema(connection)}
        for kind, name, _, sql in increment.schema:
            if name not in present:
                connection.execute(sql)
            elif " ".join(present[name].split()) != " ".join(sql.split()):
                raise BackupSetError(f"increment {increment.path.name} redefines {kind} "
                                     f"{name}; a restore only adds schema objects")
    layouts = {layout.name: layout for layout in
               table_layouts(connection, read_schema(connection))}
    for table in increment.tables:
        layout = layouts.get(table.table) or TableLayout(table.table, table.columns, False)
        if table.replace:
            connection.execute(f'DELETE FROM "{table.table}"')  # noqa: S608 (a table name)
        connection.executemany(layout.insert_sql(table.columns), table.rows)


def _check_reached(connection: sqlite3.Connection, increment: Increment) -> None:
    header = increment.header
    head = chain_head(connection)
    problem = None
    if head != header.head_after:
        problem = f"the chain head is {head}, the increment says {header.head_after}"
    else:
        for table in {t.table for t in increment.tables if not t.replace}:
            mark = high_water_mark(connection, table)
            if mark != header.marks_after.get(table):
                problem = (f"table {table} ends at row {mark}, the increment says "
                           f"{header.marks_after.get(table)}")
                break
    if problem is not None:
        raise BackupSetError(f"after applying increment {increment.path.name}: {problem}")

