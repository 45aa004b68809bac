"""`verify_ledger`: re-check a whole ledger file and list every problem, not only the first.

Both files are opened read-only, so verify can run beside a live writer. It checks the
ledger as it was when verify started: the highest id of each table is read first, in one
statement, and every scan stops there (rows are append-only and ids only grow, so the rows
up to those ids do not change under a legitimate writer).

Checks:

- the append-only triggers exist and are the ones `schema` creates (those of a missing
  reconciliation table excepted: the missing table is reported instead);
- posting accounts against the chart (unknown, parent, control);
- the audit hash chain: every row_hash against the row's content, every prev_hash against
  the previous row's row_hash;
- one merged pass, in entry-id order, over entries (joined with their trade and audit
  rows) and their posting groups: too few postings, per-currency balance, orphan postings,
  duplicate trade rows, missing audit rows, entry digests; and orphan trade rows;
- the reconciliation tables (`verify_recon`): missing tables, orphan references, resolutions
  of non-breaks, batch digests.

Speed: each scan is one SQL statement streamed through a plain cursor. SQLite builds the
canonical texts (`audit_chain`), groups and sums; Python only hashes and compares. On a
large ledger a helper process (`verify_scan`) takes the audit chain and about a third of
the entries, so two cores share the work; if it cannot run, everything runs here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import tbot
from tbot.ledger.audit_chain import audit_text_sql, row_text_sql
from tbot.ledger.chart import AccountType, Chart
from tbot.ledger.coa_file import load_chart
from tbot.ledger.errors import LedgerFileError
from tbot.ledger.models import LEDGER_MODELS, LedgerEntry, LedgerPosting, Trade
from tbot.ledger.schema import APPEND_ONLY_TRIGGERS, TRIGGER_TABLES, normalise_sql
from tbot.ledger.verify_recon import check_recon, missing_recon_tables, missing_table_problems
from tbot.ledger.verify_scan import (
    ScanJob,
    ScanResult,
    VerifyProblem,
    entry_label,
    open_scan_connection,
    orphan_posting,
    run_scan,
)

__all__ = ["VerifyProblem", "VerifyReport", "verify_ledger"]

PARALLEL_FROM_ENTRIES = 20_000
"""Below this many entries a helper process costs more than it saves."""
HELPER_SHARE = 0.38
"""Share of the entries the helper checks, besides the whole audit chain."""

_DIGEST_PREFIX = '{"entry_digest":"'


@dataclass(frozen=True)
class VerifyReport:
    """What verify counted and found, and how long it took."""

    entries: int
    postings: int
    audit_rows: int
    problems: list[VerifyProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify_ledger(ledger_path: Path, coa_path: Path, *, parallel: bool = True) -> VerifyReport:
    """Check the ledger at `ledger_path` against the chart in `coa_path` (see the module
    doc). `parallel=False` keeps all the work in this process."""
    started = time.perf_counter()
    chart = load_chart(coa_path)
    ledger_path = Path(ledger_path).resolve()
    if not ledger_path.is_file():
        raise LedgerFileError(f"ledger file {ledger_path} does not exist")
    try:
        connection = open_scan_connection(str(ledger_path))
    except sqlite3.DatabaseError as failure:  # not a database at all
        raise LedgerFileError(f"{ledger_path} is not a readable SQLite file: {failure}") from None
    helper: subprocess.Popen[bytes] | None = None
    try:
        try:
            missing = _missing_tables(connection)
        except sqlite3.DatabaseError as failure:
            raise LedgerFileError(
                f"{ledger_path} is not a readable SQLite file: {failure}"
            ) from None
        if missing:
            problems = [
                VerifyProblem("missing_table", f"table {name}", "the table does not exist")
                for name in missing
            ]
            return VerifyReport(0, 0, 0, problems, time.perf_counter() - started)
        recon_missing = missing_recon_tables(connection)
        whole = whole_ledger_job(connection, ledger_path)
        helper_job = None
        if parallel and whole.last_entry >= PARALLEL_FROM_ENTRIES:
            split = whole.last_entry - int(whole.last_entry * HELPER_SHARE)
            helper_job = replace(whole, first_entry=split + 1)
            helper = _start_helper(helper_job)  # first, so it runs while we work here
        problems = missing_table_problems(recon_missing)
        problems += _guarded(
            "triggers", lambda: list(_check_triggers(connection, recon_missing))
        )
        problems += _guarded(
            "accounts", lambda: _check_accounts(connection, chart, whole.posting_bound)
        )
        if helper_job is not None:
            mine = run_scan(connection, replace(whole, last_entry=split, chain_sql=None))
            theirs = _finish_helper(helper, helper_job, connection)
            scans = [theirs, mine]
            problems += theirs.chain_problems + mine.entry_problems + theirs.entry_problems
        else:
            scans = [run_scan(connection, whole)]
            problems += scans[0].chain_problems + scans[0].entry_problems
        stray = _guarded(
            "orphan postings",
            lambda: list(_stray_postings(connection, whole.last_entry, whole.posting_bound)),
        )
        problems += stray
        problems += _guarded(
            "orphan trades", lambda: _orphan_trades(connection, whole.last_entry, whole.trade_bound)
        )
        problems += _guarded(
            "reconciliation tables",
            lambda: check_recon(connection, recon_missing, whole.audit_bound),
        )
    finally:
        if helper is not None and helper.poll() is None:  # only if we failed before reaping
            helper.kill()
            helper.wait()
        connection.close()
    return VerifyReport(
        entries=sum(scan.entries for scan in scans),
        postings=sum(scan.postings for scan in scans) + len(stray),
        audit_rows=sum(scan.audit_rows for scan in scans),
        problems=problems,
        seconds=time.perf_counter() - started,
    )


# -- the SQL each scan runs, derived from the models ---------------------------------------


def whole_ledger_job(connection: sqlite3.Connection, ledger_path: Path) -> ScanJob:
    """The scan of every entry and the whole audit chain as of now: the highest id of each
    table, read in one statement, bounds every scan."""
    entry_bound, posting_bound, trade_bound, audit_bound = connection.execute(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger_entries), "
        "(SELECT COALESCE(MAX(id), 0) FROM ledger_postings), "
        "(SELECT COALESCE(MAX(id), 0) FROM trades), "
        "(SELECT COALESCE(MAX(id), 0) FROM audit_trail)"
    ).fetchone()
    return ScanJob(
        ledger_path=str(ledger_path),
        first_entry=1,
        last_entry=entry_bound,
        posting_bound=posting_bound,
        trade_bound=trade_bound,
        audit_bound=audit_bound,
        entries_sql=_entries_sql(),
        groups_sql=_groups_sql(),
        chain_sql=_chain_sql(),
    )


def _chain_sql() -> str:
    return (
        f"SELECT a.id, a.prev_hash, a.row_hash, CAST({audit_text_sql('a')} AS BLOB) "  # noqa: S608
        "FROM audit_trail a WHERE a.id <= ? ORDER BY a.id"
    )


def _entries_sql() -> str:
    # One row per entry (two if a second trade row was slipped in): the head and tail of
    # its canonical text around the postings (UTF-8 bytes, ready to hash), its trade id,
    # whether its audit row is missing, and the entry_digest that row records, read by
    # position (the writer puts it first; anything else takes the slow path).
    return (
        "SELECT e.id, e.fitid, e.audit_id, a.id IS NULL, "  # noqa: S608
        f"CAST('[' || {row_text_sql(LedgerEntry, 'e')} || ',[' AS BLOB), "
        f"CAST('],' || CASE WHEN t.id IS NULL THEN 'null' ELSE {row_text_sql(Trade, 't')} END "
        "|| ']' AS BLOB), t.id, "
        f"CASE WHEN substr(a.details, 1, 17) = '{_DIGEST_PREFIX}' "
        "AND substr(a.details, 82, 1) = '\"' THEN substr(a.details, 18, 64) END "
        "FROM ledger_entries e "
        "LEFT JOIN trades t ON t.entry_id = e.id AND t.id <= ? "
        "LEFT JOIN audit_trail a ON a.id = e.audit_id AND a.id <= ? "
        "WHERE e.id BETWEEN ? AND ? ORDER BY e.id"
    )


def _groups_sql() -> str:
    # The entry_id index is (entry_id, id): group_concat sees each entry's postings in id
    # order, the canonical order.
    return (
        "SELECT p.entry_id, "  # noqa: S608
        f"CAST(group_concat({row_text_sql(LedgerPosting, 'p')}, ',') AS BLOB), "
        "COUNT(*), SUM(p.amount), MIN(p.currency_code), "
        "MIN(p.currency_code) != MAX(p.currency_code) "
        "FROM ledger_postings p WHERE p.id <= ? AND p.entry_id BETWEEN ? AND ? "
        "GROUP BY p.entry_id ORDER BY p.entry_id"
    )


# -- the helper process -------------------------------------------------------------------


def _start_helper(job: ScanJob) -> subprocess.Popen[bytes] | None:
    """Start `python -m tbot.ledger.verify_scan` on `job`, or None if it cannot start."""
    package_root = str(Path(tbot.__file__).resolve().parent.parent)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        part for part in (package_root, environment.get("PYTHONPATH")) if part
    )
    try:
        helper = subprocess.Popen(  # our own interpreter, our own module
            [sys.executable, "-m", "tbot.ledger.verify_scan"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
    except (OSError, ValueError):
        return None
    job_text = json.dumps(asdict(job)).encode()
    try:
        if helper.stdin is None:
            raise OSError("no pipe to the helper")
        # A few kilobytes at most: fits the pipe, so this never waits on the helper.
        helper.stdin.write(job_text)
        helper.stdin.close()
    except OSError:
        helper.kill()
        helper.wait()
        return None
    return helper


def _finish_helper(
    helper: subprocess.Popen[bytes] | None, job: ScanJob, connection: sqlite3.Connection
) -> ScanResult:
    """The helper's result; if it failed in any way, the job is run here instead."""
    if helper is not None and helper.stdout is not None:
        with helper.stdout:
            output = helper.stdout.read()  # stdout is its only pipe left: no deadlock
        if helper.wait() == 0:
            try:
                return ScanResult.from_json(output)
            except (ValueError, KeyError, TypeError):
                pass
    return run_scan(connection, job)


# -- checks that stay in this process -----------------------------------------------------


def _guarded(name: str, check: Callable[[], list[VerifyProblem]]) -> list[VerifyProblem]:
    """`check()`, or a `check_failed` problem if SQLite refuses it (a damaged index...)."""
    try:
        return check()
    except sqlite3.DatabaseError as failure:
        return [VerifyProblem("check_failed", name, str(failure))]


def _missing_tables(connection: sqlite3.Connection) -> list[str]:
    present = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )}
    return [m._meta.table_name for m in LEDGER_MODELS if m._meta.table_name not in present]


def _check_triggers(
    connection: sqlite3.Connection, missing_tables: list[str]
) -> Iterator[VerifyProblem]:
    stored = dict(connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
    ))
    for name, expected in APPEND_ONLY_TRIGGERS.items():
        if TRIGGER_TABLES[name] in missing_tables:
            continue
        actual = stored.get(name)
        if actual is None:
            yield VerifyProblem("missing_trigger", f"trigger {name}",
                                "append-only trigger is missing")
        elif normalise_sql(actual) != normalise_sql(expected):
            yield VerifyProblem("altered_trigger", f"trigger {name}",
                                f"trigger is not the append-only one: {normalise_sql(actual)}")


def _check_accounts(
    connection: sqlite3.Connection, chart: Chart, posting_bound: int
) -> list[VerifyProblem]:
    bad: dict[object, tuple[str, str]] = {}
    for (code,) in connection.execute(
        "SELECT DISTINCT account_code FROM ledger_postings"
    ):
        account = chart.get(code) if isinstance(code, str) else None
        if account is None:
            bad[code] = ("unknown_account", f"account {code!r} is not in the chart")
        elif account.type is AccountType.CONTROL:
            bad[code] = ("control_account",
                         f"account {code} is a control account and holds no money")
        elif not chart.is_leaf(code):
            bad[code] = ("non_leaf_account", f"account {code} is a parent account")
    if not bad:
        return []
    marks = ", ".join("?" for _ in bad)
    rows = connection.execute(
        "SELECT p.id, p.entry_id, e.fitid, p.account_code FROM ledger_postings p "  # noqa: S608
        f"LEFT JOIN ledger_entries e ON e.id = p.entry_id "
        f"WHERE p.id <= ? AND p.account_code IN ({marks}) ORDER BY p.id",
        [posting_bound, *bad],
    )
    return [
        VerifyProblem(bad[code][0], f"{entry_label(fitid, entry_id)}, posting {posting_id}",
                      bad[code][1])
        for posting_id, entry_id, fitid, code in rows
    ]


def _stray_postings(
    connection: sqlite3.Connection, entry_bound: int, posting_bound: int
) -> Iterator[VerifyProblem]:
    """Postings whose entry_id is outside every scanned range (so no entry can own them)."""
    for posting_id, entry_id in connection.execute(
        "SELECT id, entry_id FROM ledger_postings "
        "WHERE id <= ? AND (entry_id < 1 OR entry_id > ?) ORDER BY id",
        (posting_bound, entry_bound),
    ):
        yield orphan_posting(posting_id, entry_id)


def _orphan_trades(
    connection: sqlite3.Connection, entry_bound: int, trade_bound: int
) -> list[VerifyProblem]:
    rows = connection.execute(
        "SELECT t.id, t.entry_id, t.fitid FROM trades t "
        "LEFT JOIN ledger_entries e ON e.id = t.entry_id AND e.id <= ? "
        "WHERE t.id <= ? AND e.id IS NULL ORDER BY t.id",
        (entry_bound, trade_bound),
    )
    return [
        VerifyProblem("orphan_trade", f"trade {trade_id} ({fitid})",
                      f"its entry id {entry_id} does not exist")
        for trade_id, entry_id, fitid in rows
    ]
