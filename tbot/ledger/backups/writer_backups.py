"""The writer's side of backups: an increment before each write, and a snapshot in the
background when there is no set to add increments to.

`LedgerBackups.take(moment)` runs before every write (on the writer's helper thread, while
the batch is validated). Under the sets' lock it finds the newest complete set and writes
the increment holding everything committed since that set's last backup, fsynced (file
and folder) before it returns; the write proceeds only after. Nothing written since: no
file. Its cost follows the rows written since the previous backup, not the ledger's size.

When there is no set to add to (a new home, a home of an older version, a set that does not
continue this ledger because the ledger was replaced, a damaged last increment), `take`
starts a snapshot on a background thread and returns at once: the write does not wait, and
the rows it writes are in the new set's first increment (or in its snapshot). If that
snapshot fails, every later `take` raises (the write is refused, fail closed) and retries it
in the background, until one succeeds. `take(..., wait_for_set=True)` (a schema migration)
takes the missing snapshot before returning instead.

Failures are logged at error level with an `ALERT` prefix; the engine's alerting picks
those up.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

from tbot.config.paths import BotPaths
from tbot.ledger.backups.backup_set import BackupPolicy, BackupSets, SetTail, set_tail
from tbot.ledger.backups.durable import write_durably
from tbot.ledger.backups.increment import BackupSetError, collect_increment, increment_name
from tbot.ledger.backups.snapshot import take_snapshot
from tbot.ledger.database import open_reader_connection
from tbot.ledger.timestamps import format_utc

log = logging.getLogger("tbot.ledger.backups")


class LedgerBackups:
    """Takes the pre-write backups of one bot's ledger (see the module doc)."""

    def __init__(self, paths: BotPaths, policy: BackupPolicy) -> None:
        self._paths = paths
        self._policy = policy
        self._sets = BackupSets(paths)
        self._tail: SetTail | None = None
        self._snapshot: threading.Thread | None = None
        self._snapshot_failure: BaseException | None = None
        self._guard = threading.Lock()
        self.last_increment: Path | None = None
        """The increment the last `take` wrote (None: it wrote none)."""

    @property
    def sets(self) -> BackupSets:
        """The bot's backup sets."""
        return self._sets

    def existing(self) -> list[Path]:
        """This bot's complete backup sets, oldest first."""
        return self._sets.complete_sets()

    def take(self, moment: datetime, *, wait_for_set: bool = False) -> Path | None:
        """The pre-write backup at `moment`: the increment it wrote, or None (nothing new,
        or no set yet: a snapshot was started). Raises OSError / sqlite3.Error /
        BackupSetError when the backup failed: the write must not proceed."""
        self.last_increment = None
        if self._add_to_newest_set(moment):
            return self.last_increment
        if not wait_for_set:
            self._need_snapshot(moment)
            return None
        self.wait_for_snapshot()  # one may be under way: its set will do
        if self._add_to_newest_set(moment):
            return self.last_increment
        take_snapshot(self._paths, moment, self._policy)
        return None

    def _add_to_newest_set(self, moment: datetime) -> bool:
        """Write the increment into the newest set; False when there is no usable set."""
        with self._sets.locked():
            newest = self._sets.newest()
            if newest is None:
                return False
            try:
                if self._tail is None or self._tail.set_dir != newest:
                    self._tail = set_tail(newest)
                self.last_increment = self._write_increment(self._tail, moment)
            except BackupSetError as problem:
                self._tail = None
                log.error("ALERT ledger backup: %s; starting a new backup set", problem)
                return False
            return True

    def _write_increment(self, tail: SetTail, moment: datetime) -> Path | None:
        sequence = tail.sequence + 1
        connection = open_reader_connection(self._paths.ledger_db)
        try:
            connection.execute("BEGIN")  # one read transaction: one consistent state
            collected = collect_increment(connection, tail.state, set_name=tail.name,
                                          sequence=sequence, taken_at_utc=format_utc(moment))
            connection.execute("COMMIT")
        finally:
            connection.close()
        if collected.data is None:
            return None
        path = tail.set_dir / increment_name(sequence)
        try:
            write_durably(path, collected.data, self._sets.gid)
        except OSError as problem:
            log.error("ALERT ledger backup: writing %s failed (%s); the write is refused",
                      path, problem)
            raise
        self._tail = SetTail(tail.set_dir, sequence, collected.state)
        return path

    def _need_snapshot(self, moment: datetime) -> None:
        """Start the missing snapshot in the background (never waited for here); raise if
        the previous attempt failed."""
        with self._guard:
            running = self._snapshot is not None and self._snapshot.is_alive()
            failure = self._snapshot_failure
            if not running:
                self._snapshot = threading.Thread(
                    target=self._snapshot_in_background, args=(moment,),
                    name="ledger-snapshot", daemon=True)
                self._snapshot.start()
        if failure is not None:
            raise BackupSetError(
                f"there is no usable backup set and the snapshot that starts one failed "
                f"({failure}); retrying in the background, writes are refused until it "
                "succeeds")

    def _snapshot_in_background(self, moment: datetime) -> None:
        try:
            take_snapshot(self._paths, moment, self._policy)
        except BackupSetError as problem:  # another process is taking one: it will do
            log.warning("ledger backup: %s", problem)
        except Exception as problem:
            self._snapshot_failure = problem
            log.error("ALERT ledger backup: the snapshot of %s failed: %s",
                      self._paths.ledger_db, problem)
        else:
            self._snapshot_failure = None

    def wait_for_snapshot(self, timeout: float | None = None) -> bool:
        """Wait for a background snapshot to end; False if it is still running."""
        thread = self._snapshot
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self) -> None:
        """Let a background snapshot finish (its set is then whole, not left half-made)."""
        self.wait_for_snapshot()
