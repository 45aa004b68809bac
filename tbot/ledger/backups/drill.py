"""The restore drill: prove the newest backup set rebuilds the live ledger.

`run_drill` restores the newest set into a scratch folder beside the sets (it needs room
for one copy of the ledger), runs `verify_ledger` on the result, and compares it with the
live ledger up to the same point: for every append-only table the set holds (entries,
postings, trades, the audit trail, the reconciliation and mapping tables) the rows up to
the set's high-water mark, by count and by SHA-256 of their content, and that the live
audit trail holds the chain head the set ends on. The live ledger is read in one read
transaction, so the engine keeps writing meanwhile. Any difference, a verify problem or a
set that cannot be restored is a failed drill: logged at error level with an `ALERT`
prefix, and the CLI exits 1. The scratch folder is removed afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tbot.config.paths import BotPaths
from tbot.ledger.backups.durable import make_dirs
from tbot.ledger.backups.increment import BackupSetError
from tbot.ledger.backups.ledger_state import TableLayout, head_is_in, read_schema, table_layouts
from tbot.ledger.backups.restore import RestoreResult, choose_set, restore_set
from tbot.ledger.database import open_reader_connection
from tbot.ledger.verify import VerifyReport, verify_ledger

log = logging.getLogger("tbot.ledger.backups")

_FETCH = 10_000


@dataclass(frozen=True)
class TableComparison:
    """One table's rows up to the set's mark, in the restored and the live ledger."""

    table: str
    mark: int
    restored_rows: int
    live_rows: int
    same: bool


@dataclass(frozen=True)
class DrillReport:
    """What the drill restored, verified and compared."""

    set_name: str
    restore: RestoreResult | None
    verify: VerifyReport | None
    tables: list[TableComparison] = field(default_factory=list)
    head_in_live: bool = False
    failure: str | None = None
    """Why the set could not be restored at all."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the set restores, verifies and equals the live ledger."""
        return (self.failure is None and self.verify is not None and self.verify.ok
                and self.head_in_live and all(table.same for table in self.tables))

    def differences(self) -> list[str]:
        """Each reason the drill failed, for people."""
        found = [] if self.failure is None else [self.failure]
        if self.verify is not None and not self.verify.ok:
            found.append(f"the restored ledger fails verify ({len(self.verify.problems)} "
                         "problem(s))")
        if self.restore is not None and not self.head_in_live:
            found.append(f"the live ledger does not hold the set's chain head "
                         f"({self.restore.state.head})")
        for t in self.tables:
            if not t.same:
                how = "differ in content" if t.restored_rows == t.live_rows else "differ"
                found.append(f"{t.table}: {t.restored_rows} restored and {t.live_rows} live "
                             f"row(s) up to row {t.mark} {how}")
        return found


def run_drill(paths: BotPaths) -> DrillReport:
    """Restore the newest set into scratch space and compare it with the live ledger."""
    started = time.perf_counter()
    make_dirs(paths.backups_dir, None)
    scratch = Path(tempfile.mkdtemp(dir=paths.backups_dir, prefix=".drill-"))
    set_name = "(none)"
    try:
        try:
            set_dir = choose_set(paths)
            set_name = set_dir.name
            restored = restore_set(set_dir, scratch / "ledgers")
        except BackupSetError as problem:
            report = DrillReport(set_name, None, None, failure=problem.message,
                                 seconds=time.perf_counter() - started)
        else:
            verify = verify_ledger(restored.ledger_path, restored.coa_path)
            tables, head_in_live = _compare(restored, paths.ledger_db)
            report = DrillReport(set_name, restored, verify, tables, head_in_live,
                                 seconds=time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not report.ok:
        log.error("ALERT ledger backup drill failed for %s (set %s): %s",
                  paths.ledger_db, report.set_name, "; ".join(report.differences()))
    return report


def _compare(restored: RestoreResult, live_path: Path) -> tuple[list[TableComparison], bool]:
    rebuilt = sqlite3.connect(f"file:{restored.ledger_path}?mode=ro", uri=True)
    live = open_reader_connection(live_path)
    try:
        live.execute("BEGIN")  # one consistent view of the live ledger
        layouts = {layout.name: layout for layout in
                   table_layouts(rebuilt, read_schema(rebuilt))}
        comparisons = []
        for table, mark in restored.state.marks.items():
            layout = layouts[table]
            mine = _digest(rebuilt, layout, mark)
            try:
                theirs = _digest(live, layout, mark)
            except sqlite3.OperationalError:  # the table is not in the live ledger
                theirs = (0, "")
            comparisons.append(TableComparison(table, mark, mine[0], theirs[0],
                                               mine == theirs))
        head_in_live = head_is_in(live, restored.state.head)
        live.execute("COMMIT")
    finally:
        live.close()
        rebuilt.close()
    return comparisons, head_in_live


def _digest(connection: sqlite3.Connection, layout: TableLayout, mark: int) -> tuple[int, str]:
    """(row count, SHA-256 of the rows) of `layout`'s table up to rowid `mark`."""
    digest = hashlib.sha256()
    count = 0
    cursor = connection.execute(layout.select_sql("WHERE rowid <= ?"), (mark,))
    while rows := cursor.fetchmany(_FETCH):
        count += len(rows)
        digest.update(repr(rows).encode())
    return count, digest.hexdigest()
