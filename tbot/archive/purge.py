"""`tbot archive purge --before DATE --clearance REF`: the only way anything leaves the
archive.

Audit material is kept at least seven years (the seeds' retention rule). A purge is refused
unless DATE is at least seven years before today, and it needs a clearance reference (the
regulator's or counsel's letter: whatever the firm files it under). It writes its audit row
into the ledger's hash chain *before* deleting anything, naming every file; the year
manifests keep each purged file under `purged` with the clearance, who and when. A crash
after the audit row and before the deletions leaves files a second purge removes (with a
second row): an audit row may name a file that still exists, never the reverse.

The audit row needs the ledger's writer lock, so a purge is refused while the engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from tbot.archive.manifest import ArchivedFile, PurgedFile, write_manifest
from tbot.archive.sealed_file import ArchiveError
from tbot.archive.store import ArchiveStore
from tbot.clock import Clock
from tbot.config.paths import BotPaths
from tbot.ledger.backups import BackupPolicy
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.timestamps import format_utc

RETENTION_YEARS = 7
"""Nothing in the archive is deleted before it is this many years old."""


def earliest_allowed_cutoff(today: date) -> date:
    """The latest `--before` a purge accepts on `today`: the same day seven years back
    (29 February falls back to 28 February)."""
    year = today.year - RETENTION_YEARS
    try:
        return today.replace(year=year)
    except ValueError:
        return today.replace(year=year, day=28)


@dataclass(frozen=True)
class PurgeResult:
    """What a purge deleted, under which clearance, and its audit row."""

    before: date
    clearance: str
    purged: list[ArchivedFile]
    audit_id: int | None


def _check_clearance(clearance: str) -> str:
    text = clearance.strip()
    if not text or not text.isprintable() or len(text) > 200:
        raise ArchiveError("--clearance needs the reference of the regulatory clearance "
                           "(printable text, at most 200 characters)")
    return text


def purge_archive(paths: BotPaths, clock: Clock, policy: BackupPolicy, *, before: date,
                  clearance: str, actor: str) -> PurgeResult:
    """Delete the archived files whose material day is before `before` (see the module
    doc). ArchiveError when `before` is within seven years or the clearance is empty."""
    reference = _check_clearance(clearance)
    now: datetime = clock.now()
    limit = earliest_allowed_cutoff(now.date())
    if before > limit:
        raise ArchiveError(
            f"refused: archived material is kept {RETENTION_YEARS} years; on {now.date()} "
            f"--before may be {limit} at the latest, not {before}")
    store = ArchiveStore(paths, now=clock.now)
    with store.locked():
        doomed = [(folder, manifest, entry)
                  for folder, manifest in store.manifests()
                  for entry in sorted(manifest.entries.values(), key=lambda e: e.file)
                  if entry.material_day < before]
        if not doomed:
            return PurgeResult(before, reference, [], None)
        with LedgerWriter(paths, clock, policy) as writer:
            audit_id = writer.record_event(
                "archive.purge", actor=actor, subject=f"archive before {before.isoformat()}",
                details={"before": before.isoformat(), "clearance": reference,
                         "files": [entry.file for _, _, entry in doomed],
                         "sha256": [entry.stored_sha256 for _, _, entry in doomed]})
        stamp = format_utc(now)
        touched = {}
        for folder, manifest, entry in doomed:
            del manifest.entries[entry.file]
            manifest.purged.append(PurgedFile(entry, stamp, actor, reference))
            touched[folder] = manifest
        # Manifests first: a crash between leaves unlisted files, never listed missing ones.
        for folder, manifest in touched.items():
            write_manifest(folder, manifest, store.gid)
        for folder, _, entry in doomed:
            (folder / entry.file).unlink(missing_ok=True)
    return PurgeResult(before, reference, [entry for _, _, entry in doomed], audit_id)
