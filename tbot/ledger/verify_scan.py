"""The scanning half of `verify_ledger`: the audit hash chain and the merged entry pass.

Kept free of heavy imports (no Peewee, no pydantic: the SQL arrives ready-made in a
`ScanJob`) so that `verify` can run a share of the work in a helper process, started as
``python -m tbot.ledger.verify_scan`` with the job as JSON on stdin and the problems as
JSON on stdout. Threads would not help: a thread stepping SQLite has to win the GIL back
for every row it returns.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

from tbot.ledger.amounts import MONEY_PLACES, format_money, from_scaled

GENESIS_HASH = "0" * 64
# Scans read the whole file, several times: map it and keep its pages.
SCAN_PRAGMAS = (
    "PRAGMA query_only = 1",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA mmap_size = 1073741824",
    "PRAGMA cache_size = -262144",
)


@dataclass(frozen=True)
class VerifyProblem:
    """One thing wrong: its `kind` (a stable code), `where` (entry, posting, row, trigger)
    and a `detail` for a person."""

    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.detail}"


@dataclass(frozen=True)
class ScanJob:
    """One share of the scanning work, with the SQL it needs (built from the models by
    `verify`). Entries `first_entry`..`last_entry` are checked; the audit chain too when
    `chain_sql` is set. `posting_bound`/`audit_bound` cap the scans at verify's start."""

    ledger_path: str
    first_entry: int
    last_entry: int
    posting_bound: int
    trade_bound: int
    audit_bound: int
    entries_sql: str
    groups_sql: str
    chain_sql: str | None


@dataclass
class ScanResult:
    """What one share found (problems of the chain and of the entries, each in scan
    order) and how many rows it saw."""

    chain_problems: list[VerifyProblem] = field(default_factory=list)
    entry_problems: list[VerifyProblem] = field(default_factory=list)
    entries: int = 0
    postings: int = 0
    audit_rows: int = 0

    @classmethod
    def from_json(cls, text: str | bytes) -> ScanResult:
        """The result `main` printed (ValueError/KeyError/TypeError if malformed)."""
        raw = json.loads(text)
        return cls(
            chain_problems=[VerifyProblem(**problem) for problem in raw["chain_problems"]],
            entry_problems=[VerifyProblem(**problem) for problem in raw["entry_problems"]],
            entries=int(raw["entries"]),
            postings=int(raw["postings"]),
            audit_rows=int(raw["audit_rows"]),
        )


def open_scan_connection(ledger_path: str) -> sqlite3.Connection:
    """A read-only connection tuned for full scans."""
    connection = sqlite3.connect(f"file:{quote(ledger_path)}?mode=ro", uri=True)
    try:
        for pragma in SCAN_PRAGMAS:
            connection.execute(pragma)
    except sqlite3.Error:
        connection.close()  # e.g. "file is not a database"
        raise
    return connection


def run_scan(connection: sqlite3.Connection, job: ScanJob) -> ScanResult:
    """Run `job` on `connection`; a failing statement becomes a `check_failed` problem."""
    result = ScanResult()
    if job.chain_sql is not None:
        try:
            result.chain_problems.extend(_check_audit_chain(connection, job, result))
        except sqlite3.DatabaseError as failure:
            result.chain_problems.append(
                VerifyProblem("check_failed", "audit chain", str(failure))
            )
    try:
        result.entry_problems.extend(_check_entries(connection, job, result))
    except sqlite3.DatabaseError as failure:  # e.g. a posting sum beyond 64 bits
        result.entry_problems.append(VerifyProblem("check_failed", "entries", str(failure)))
    return result


def entry_label(fitid: object, entry_id: object) -> str:
    """How problems name an entry."""
    return f"entry {fitid} (id {entry_id})" if fitid is not None else f"entry id {entry_id}"


def orphan_posting(posting_id: int, entry_id: object) -> VerifyProblem:
    """The problem for a posting whose entry does not exist."""
    return VerifyProblem("orphan_posting", f"posting {posting_id}",
                         f"its entry id {entry_id} does not exist")


def _check_audit_chain(
    connection: sqlite3.Connection, job: ScanJob, result: ScanResult
) -> Iterator[VerifyProblem]:
    previous = GENESIS_HASH
    sha256 = hashlib.sha256
    rows = 0
    for audit_id, prev_hash, row_hash, text in connection.execute(
        job.chain_sql or "", (job.audit_bound,)
    ):
        rows += 1
        if prev_hash != previous:
            yield VerifyProblem("audit_chain_break", f"audit row {audit_id}",
                                "prev_hash is not the previous row's row_hash "
                                "(a row was removed, inserted or altered before it)")
        if sha256(text).hexdigest() != row_hash:
            yield VerifyProblem("audit_row_altered", f"audit row {audit_id}",
                                "row_hash does not match the row's content")
        previous = row_hash
    result.audit_rows = rows


def _check_entries(
    connection: sqlite3.Connection, job: ScanJob, result: ScanResult
) -> Iterator[VerifyProblem]:
    """Walk entries and posting groups together in entry-id order."""
    sha256 = hashlib.sha256
    groups = connection.execute(
        job.groups_sql, (job.posting_bound, job.first_entry, job.last_entry)
    ).fetchall()
    entries = connection.execute(
        job.entries_sql, (job.trade_bound, job.audit_bound, job.first_entry, job.last_entry)
    )
    result.postings = sum(group[2] for group in groups)
    group_index, group_count = 0, len(groups)
    previous_id = None
    for entry_id, fitid, audit_id, audit_missing, head, tail, trade_id, recorded in entries:
        if entry_id == previous_id:
            yield VerifyProblem("duplicate_trade", f"trade {trade_id}",
                                f"{entry_label(fitid, entry_id)} already has a trade row")
            continue
        previous_id = entry_id
        result.entries += 1
        while group_index < group_count and groups[group_index][0] < entry_id:
            yield from _orphan_postings(connection, job, groups[group_index][0])
            group_index += 1
        postings_text = b""
        if group_index < group_count and groups[group_index][0] == entry_id:
            _, postings_text, count, total, currency, mixed = groups[group_index]
            group_index += 1
            if count < 2:
                yield _too_few(entry_id, fitid, count)
            if total != 0 or mixed:
                yield from _unbalanced(connection, job, entry_id, fitid, currency, total, mixed)
        else:
            yield _too_few(entry_id, fitid, 0)
        if audit_missing:
            yield VerifyProblem("missing_audit_row", entry_label(fitid, entry_id),
                                f"its audit row {audit_id} does not exist")
            continue
        if recorded is None:
            recorded = _recorded_digest(connection, audit_id)
        if recorded is None:
            yield VerifyProblem("entry_digest_missing", entry_label(fitid, entry_id),
                                f"audit row {audit_id} carries no entry_digest")
        elif sha256(head + postings_text + tail).hexdigest() != recorded:
            yield VerifyProblem("entry_digest_mismatch", entry_label(fitid, entry_id),
                                "the entry, its postings or its trade row changed after "
                                f"posting (digest in audit row {audit_id} does not match)")
    for group in groups[group_index:]:
        yield from _orphan_postings(connection, job, group[0])


def _recorded_digest(connection: sqlite3.Connection, audit_id: int) -> str | None:
    """The entry_digest in audit row `audit_id` when its details are not laid out as the
    writer lays them out (slow path: parse the JSON)."""
    row = connection.execute("SELECT details FROM audit_trail WHERE id = ?",
                             (audit_id,)).fetchone()
    try:
        parsed = json.loads(row[0]) if row and isinstance(row[0], str) else None
    except ValueError:
        return None
    digest = parsed.get("entry_digest") if isinstance(parsed, dict) else None
    return digest if isinstance(digest, str) else None


def _too_few(entry_id: int, fitid: str, count: int) -> VerifyProblem:
    kind = "no_postings" if count == 0 else "single_posting"
    return VerifyProblem(kind, entry_label(fitid, entry_id),
                         f"an entry needs at least 2 postings, it has {count}")


def _unbalanced(
    connection: sqlite3.Connection,
    job: ScanJob,
    entry_id: int,
    fitid: str,
    currency: str,
    total: int,
    mixed: int,
) -> Iterator[VerifyProblem]:
    totals = {currency: total}
    if mixed:  # several currencies: each must balance on its own
        totals = dict(connection.execute(
            "SELECT currency_code, SUM(amount) FROM ledger_postings "
            "WHERE entry_id = ? AND id <= ? GROUP BY currency_code HAVING SUM(amount) != 0",
            (entry_id, job.posting_bound),
        ).fetchall())
    if not totals:
        return
    amounts = ", ".join(
        f"{code} {format_money(from_scaled(amount, MONEY_PLACES))}"
        for code, amount in sorted(totals.items())
    )
    yield VerifyProblem("unbalanced", entry_label(fitid, entry_id),
                        f"postings do not balance (debits minus credits: {amounts})")


def _orphan_postings(
    connection: sqlite3.Connection, job: ScanJob, entry_id: int
) -> Iterator[VerifyProblem]:
    for (posting_id,) in connection.execute(
        "SELECT id FROM ledger_postings WHERE entry_id = ? AND id <= ? ORDER BY id",
        (entry_id, job.posting_bound),
    ).fetchall():
        yield orphan_posting(posting_id, entry_id)


def main() -> int:
    """Helper-process entry point: a ScanJob as JSON on stdin, a ScanResult on stdout."""
    job = ScanJob(**json.load(sys.stdin))
    connection = open_scan_connection(job.ledger_path)
    try:
        result = run_scan(connection, job)
    finally:
        connection.close()
    json.dump(asdict(result), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
