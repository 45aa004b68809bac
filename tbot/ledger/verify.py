"""`verify_ledger`: re-check a whole ledger file and list every problem, not only the first.

Both files are opened read-only, so verify can run beside a live writer. The heavy checks
are single SQL statements (GROUP BY ... HAVING, LEFT JOIN for orphans); the canonical texts
of audit rows and entries are built by SQLite (`audit_chain`) and only hashed in Python,
streaming through a plain cursor.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tbot.ledger.amounts import MONEY_PLACES, format_money, from_scaled
from tbot.ledger.audit_chain import GENESIS_HASH, audit_text_sql, entry_text_sql, sha256_hex
from tbot.ledger.chart import AccountType, Chart
from tbot.ledger.coa_file import load_chart
from tbot.ledger.database import open_reader_database
from tbot.ledger.errors import LedgerFileError
from tbot.ledger.models import LEDGER_MODELS
from tbot.ledger.schema import APPEND_ONLY_TRIGGERS, normalise_sql


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


def verify_ledger(ledger_path: Path, coa_path: Path) -> VerifyReport:
    """Check the ledger at `ledger_path` against the chart in `coa_path`; see module doc."""
    started = time.perf_counter()
    chart = load_chart(coa_path)
    database = open_reader_database(ledger_path)
    try:
        connection = database.connection()
        problems: list[VerifyProblem] = []
        try:
            missing = _missing_tables(connection)
        except sqlite3.DatabaseError as failure:
            raise LedgerFileError(
                f"{ledger_path} is not a readable SQLite file: {failure}"
            ) from None
        if missing:
            problems += [
                VerifyProblem("missing_table", f"table {name}", "the table does not exist")
                for name in missing
            ]
            return VerifyReport(0, 0, 0, problems, time.perf_counter() - started)
        entries, postings, audit_rows = connection.execute(
            "SELECT (SELECT COUNT(*) FROM ledger_entries), (SELECT COUNT(*) FROM ledger_postings),"
            " (SELECT COUNT(*) FROM audit_trail)"
        ).fetchone()
        for check in (
            _check_triggers,
            _check_balance,
            _check_posting_counts,
            _check_orphans,
            _check_audit_chain,
            _check_entry_digests,
            lambda connection: _check_accounts(connection, chart),
        ):
            try:
                problems.extend(check(connection))
            except sqlite3.DatabaseError as failure:  # e.g. an amount sum beyond 64 bits
                problems.append(VerifyProblem("check_failed", "ledger", str(failure)))
    finally:
        database.close()
    return VerifyReport(entries, postings, audit_rows, problems, time.perf_counter() - started)


def _entry(fitid: str | None, entry_id: int) -> str:
    return f"entry {fitid} (id {entry_id})" if fitid is not None else f"entry id {entry_id}"


def _missing_tables(connection: sqlite3.Connection) -> list[str]:
    present = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )}
    return [m._meta.table_name for m in LEDGER_MODELS if m._meta.table_name not in present]


def _check_triggers(connection: sqlite3.Connection) -> Iterator[VerifyProblem]:
    stored = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    for name, expected in APPEND_ONLY_TRIGGERS.items():
        actual = stored.get(name)
        if actual is None:
            yield VerifyProblem("missing_trigger", f"trigger {name}",
                                "append-only trigger is missing")
        elif normalise_sql(actual) != normalise_sql(expected):
            yield VerifyProblem("altered_trigger", f"trigger {name}",
                                f"trigger is not the append-only one: {normalise_sql(actual)}")


def _check_balance(connection: sqlite3.Connection) -> Iterator[VerifyProblem]:
    # Entries in more than one currency are rare; group those per currency separately so
    # the common case is one pass over the entry_id index.
    rows = connection.execute(
        "SELECT p.entry_id, e.fitid, MIN(p.currency_code), SUM(p.amount), "
        "MIN(p.currency_code) != MAX(p.currency_code) "
        "FROM ledger_postings p LEFT JOIN ledger_entries e ON e.id = p.entry_id "
        "GROUP BY p.entry_id "
        "HAVING SUM(p.amount) != 0 OR MIN(p.currency_code) != MAX(p.currency_code)"
    ).fetchall()
    for entry_id, fitid, currency, total, mixed in rows:
        if not mixed:
            yield _unbalanced(entry_id, fitid, {currency: total})
            continue
        per_currency = dict(connection.execute(
            "SELECT currency_code, SUM(amount) FROM ledger_postings WHERE entry_id = ? "
            "GROUP BY currency_code HAVING SUM(amount) != 0",
            (entry_id,),
        ).fetchall())
        if per_currency:
            yield _unbalanced(entry_id, fitid, per_currency)


def _unbalanced(entry_id: int, fitid: str | None, totals: dict[str, int]) -> VerifyProblem:
    amounts = ", ".join(
        f"{currency} {format_money(from_scaled(total, MONEY_PLACES))}"
        for currency, total in sorted(totals.items())
    )
    return VerifyProblem("unbalanced", _entry(fitid, entry_id),
                         f"postings do not balance (debits minus credits: {amounts})")


def _check_posting_counts(connection: sqlite3.Connection) -> Iterator[VerifyProblem]:
    for entry_id, fitid, count in connection.execute(
        "SELECT e.id, e.fitid, COUNT(p.id) FROM ledger_entries e "
        "LEFT JOIN ledger_postings p ON p.entry_id = e.id GROUP BY e.id HAVING COUNT(p.id) < 2"
    ):
        kind = "no_postings" if count == 0 else "single_posting"
        yield VerifyProblem(kind, _entry(fitid, entry_id),
                            f"an entry needs at least 2 postings, it has {count}")


def _check_orphans(connection: sqlite3.Connection) -> Iterator[VerifyProblem]:
    for posting_id, entry_id in connection.execute(
        "SELECT p.id, p.entry_id FROM ledger_postings p "
        "LEFT JOIN ledger_entries e ON e.id = p.entry_id WHERE e.id IS NULL ORDER BY p.id"
    ):
        yield VerifyProblem("orphan_posting", f"posting {posting_id}",
                            f"its entry id {entry_id} does not exist")
    for trade_id, entry_id, fitid in connection.execute(
        "SELECT t.id, t.entry_id, t.fitid FROM trades t "
        "LEFT JOIN ledger_entries e ON e.id = t.entry_id WHERE e.id IS NULL ORDER BY t.id"
    ):
        yield VerifyProblem("orphan_trade", f"trade {trade_id} ({fitid})",
                            f"its entry id {entry_id} does not exist")
    for entry_id, fitid, audit_id in connection.execute(
        "SELECT e.id, e.fitid, e.audit_id FROM ledger_entries e "
        "LEFT JOIN audit_trail a ON a.id = e.audit_id WHERE a.id IS NULL ORDER BY e.id"
    ):
        yield VerifyProblem("missing_audit_row", _entry(fitid, entry_id),
                            f"its audit row {audit_id} does not exist")


def _check_accounts(connection: sqlite3.Connection, chart: Chart) -> Iterator[VerifyProblem]:
    used = [row[0] for row in connection.execute(
        "SELECT DISTINCT account_code FROM ledger_postings"
    )]
    bad: dict[str, tuple[str, str]] = {}
    for code in used:
        account = chart.get(code) if isinstance(code, str) else None
        if account is None:
            bad[code] = ("unknown_account", f"account {code!r} is not in the chart")
        elif account.type is AccountType.CONTROL:
            bad[code] = ("control_account",
                         f"account {code} is a control account and holds no money")
        elif not chart.is_leaf(code):
            bad[code] = ("non_leaf_account", f"account {code} is a parent account")
    if not bad:
        return
    marks = ", ".join("?" for _ in bad)
    for posting_id, entry_id, fitid, code in connection.execute(
        "SELECT p.id, p.entry_id, e.fitid, p.account_code FROM ledger_postings p "  # noqa: S608
        f"LEFT JOIN ledger_entries e ON e.id = p.entry_id WHERE p.account_code IN ({marks}) "
        "ORDER BY p.id",
        list(bad),
    ):
        kind, detail = bad[code]
        yield VerifyProblem(kind, f"{_entry(fitid, entry_id)}, posting {posting_id}", detail)


def _check_audit_chain(connection: sqlite3.Connection) -> Iterator[VerifyProblem]:
    previous = GENESIS_HASH
    cursor = connection.execute(
        f"SELECT a.id, a.prev_hash, a.row_hash, {audit_text_sql('a')} "  # noqa: S608
        "FROM audit_trail a ORDER BY a.id"
    )
    for audit_id, prev_hash, row_hash, text in cursor:
        if prev_hash != previous:
            yield VerifyProblem("audit_chain_break", f"audit row {audit_id}",
                                "prev_hash is not the previous row's row_hash "
                                "(a row was removed, inserted or altered before it)")
        if sha256_hex(text) != row_hash:
            yield VerifyProblem("audit_row_altered", f"audit row {audit_id}",
                                "row_hash does not match the row's content")
        previous = row_hash


def _check_entry_digests(connection: sqlite3.Connection) -> Iterator[VerifyProblem]:
    cursor = connection.execute(
        f"SELECT e.id, e.fitid, a.id, {entry_text_sql('e')}, "  # noqa: S608
        "CASE WHEN json_valid(a.details) THEN json_extract(a.details, '$.entry_digest') END "
        "FROM ledger_entries e JOIN audit_trail a ON a.id = e.audit_id ORDER BY e.id"
    )
    for entry_id, fitid, audit_id, text, recorded in cursor:
        if recorded is None:
            yield VerifyProblem("entry_digest_missing", _entry(fitid, entry_id),
                                f"audit row {audit_id} carries no entry_digest")
        elif sha256_hex(text) != recorded:
            yield VerifyProblem("entry_digest_mismatch", _entry(fitid, entry_id),
                                f"the entry, its postings or its trade row changed after "
                                f"posting (digest in audit row {audit_id} does not match)")
