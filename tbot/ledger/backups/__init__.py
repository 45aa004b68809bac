"""Backups of a bot's ledger: sets of one full snapshot plus small pre-write increments.

Why: copying the whole ledger before every write costs what the ledger weighs (950 MB at
a million entries, for every fill). The ledger is append-only, so what a backup must add
since the previous one is the rows written since.

Decisions (docs/ledger-schema.md "Backups" has the file formats, docs/operations.md the
operator's side):

- **Which tables are incremental.** Every table with the append-only triggers `schema`
  creates (entries, postings, trades, audit trail, reconciliation and mapping tables)
  only ever gains rows with growing rowids: an increment holds its rows above the previous
  backup's high-water mark. Every other table (today only `coa_metadata`, one row, which
  nothing protects from UPDATE) is copied whole into an increment whenever its SHA-256
  changes, and replaced whole on restore; so is an append-only table whose triggers were
  dropped. Schema changes (a migration adding tables) travel in the increment too. A
  restore therefore equals the live ledger, not only its append-only part
  (`ledger_state`).
- **"Pre-write" means the increment holds everything committed before the write it
  precedes**, taken in one read transaction, fsynced (file and folder) before the write
  may start. The rows of write N are in the increment taken before write N+1 (or in the
  next snapshot). Every increment is thus a state the ledger really had, and the set is
  exact after a crash: a crash while an increment is written leaves a `.partial` (removed
  and retaken by the next write, which starts from the last whole increment); a crash
  after it leaves a whole increment and a write that SQLite committed entirely or not at
  all. A write refused after its increment was taken simply leaves an increment of the
  unchanged ledger; nothing written since a backup means no increment at all.
- **Each increment carries the audit-chain head and the high-water marks before and
  after, and a SHA-256 of its body**, so a restore proves the set is complete and in
  order: a gap in the sequence, a truncated or altered file, or a head that does not
  follow the previous increment's is refused, naming the file (`restore`).
- **Full snapshots are off the write path**: `tbot ledger backup` (run by the nightly
  timer) starts a new set with SQLite's backup API from a read-only connection while the
  engine writes (`snapshot`). On a home with no usable set, the writer starts one on a
  background thread at its first write and does not wait for it; rows written meanwhile
  land in the new set's first increment. If that snapshot fails, later writes are refused
  until one succeeds (fail closed). A schema migration waits for the snapshot instead.
- **Retention** keeps `BackupPolicy` at the level of sets (a set = a snapshot and its
  increments) and never deletes the newest complete set (`backup_set`).
- **Cost.** An increment reads only the rows above the marks (by rowid), a few MAX(rowid)
  lookups and the schema; its cost follows the write, not the ledger's size.
- **File modes**: sets, increments and restored files 0640 (folders 0750), group of the
  bot home when we may set it (`durable`). No configuration key names an operators'
  group; the home's group is that.
- **The drill** (`drill`) restores the newest set and compares it with the live ledger.
"""

from tbot.ledger.backups.backup_set import BackupPolicy, BackupSets, SetManifest
from tbot.ledger.backups.drill import DrillReport, run_drill
from tbot.ledger.backups.increment import BackupSetError, IncrementDamaged
from tbot.ledger.backups.restore import RestoreResult, choose_set, restore_ledger, restore_set
from tbot.ledger.backups.snapshot import SnapshotResult, take_snapshot
from tbot.ledger.backups.writer_backups import LedgerBackups

__all__ = [
    "BackupPolicy",
    "BackupSetError",
    "BackupSets",
    "DrillReport",
    "IncrementDamaged",
    "LedgerBackups",
    "RestoreResult",
    "SetManifest",
    "SnapshotResult",
    "choose_set",
    "restore_ledger",
    "restore_set",
    "run_drill",
    "take_snapshot",
]
