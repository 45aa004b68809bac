"""The encrypted cold archive: `storage/archive/{year}/`, seven years, nothing lost.

Why: the seeds keep ledgers, logs, reconciliation and sync records, trade histories and
mapping versions for seven years, in encrypted cold storage once they leave the hot
folders, and destroy nothing without regulatory clearance.

Decisions:

- **Its own key.** `storage/keys/archive.key` (0600), made at the first `tbot archive run`.
  It is not one of the keys `tbot keys rotate` rotates: rotating it would mean re-encrypting
  years of archive. Each manifest entry names the key id that sealed it, so a wrong key is
  told apart from an altered file. Losing the key loses the archive: back it up apart from
  the archive (docs/operations.md).
- **One file, one thing** (`sealed_file`): gzip, then Fernet in 4 MiB frames so a
  gigabyte backup set never sits in memory, the last frame flagged inside the encryption.
  Written atomically, 0640 with the home's group.
- **Names say what a file is** (`store.archive_file_name`):
  `{day}__{kind}__{label}__s{schema}e{export}.tbarc`.
- **Per-year manifests** (`manifest`) with each file's stored and content SHA-256, listed
  atomically after the file is whole; an original is removed only after its listing is on
  disk (`archive_run`).
- **What moves, when** (`archive_run`): rotated logs and daily summaries after
  `ARCHIVE_AFTER_DAYS`; per-day exports of sync, reconciliation, trade and mapping-decision
  rows and each mapping version (`exports`; the ledger keeps its rows); backup sets when
  retention drops them (the newest set of each dropped day; retention keeps it until the
  archive holds it).
- **Verify, restore** (`store`): `verify` checks every stored SHA-256 without decrypting,
  then decrypts and checks content; `restore FILE --to DIR` never overwrites.
- **Purge** (`purge`): only material seven years old, only with `--clearance`, audited in
  the ledger before anything is deleted.
"""

from tbot.archive.archive_run import ArchiveRunReport, run_archive
from tbot.archive.manifest import ArchivedFile
from tbot.archive.purge import PurgeResult, purge_archive
from tbot.archive.sealed_file import ArchiveError, SealedFileDamaged
from tbot.archive.store import ArchiveStore, ArchiveVerifyReport

__all__ = [
    "ArchiveError",
    "ArchiveRunReport",
    "ArchiveStore",
    "ArchiveVerifyReport",
    "ArchivedFile",
    "PurgeResult",
    "SealedFileDamaged",
    "purge_archive",
    "run_archive",
]
