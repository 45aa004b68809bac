"""The reconciliation tables' share of `verify_ledger`.

- a recon table missing is a `missing_table` problem (the file predates reconciliation);
- references to a sync run, broker record, ledger entry or log row that does not exist are
  `orphan_<row kind>` problems, `posted_entry_ids` included;
- a 'resolved' log row must resolve a break (not an 'ok' or 'resolved' row);
- every batch audit row's `recon_digest` must still match the rows it lists, and every
  recon row must be listed by one (else it was written outside the ledger writer).

The recon tables are small next to the journal: plain queries, Python does the rest.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence

from peewee import ForeignKeyField, Model

from tbot.ledger.audit_chain import (
    POST_ACTION,
    REVERSE_ACTION,
    recon_rows_text,
    sha256_hex,
)
from tbot.ledger.models import LedgerEntry, column_names
from tbot.ledger.recon_models import NOT_BREAK_STATUSES, RECON_MODELS, ReconciliationLog
from tbot.ledger.verify_scan import VerifyProblem

MISSING_RECON_DETAIL = (
    "the table does not exist: the file predates reconciliation (or the mapping queue); "
    "opening it with the engine "
    "or any `tbot` command that writes adds it"
)

_ROW_KIND = {
    "sync_runs": "sync_run",
    "broker_records": "broker_record",
    "reconciliation_log": "reconciliation_log",
    "position_checks": "position_check",
    "balance_assertions": "balance_assertion",
    "coa_mapping_versions": "mapping_version",
    "coa_mapping_rules": "mapping_rule",
    "mapping_decisions": "mapping_decision",
    "mapping_queue": "mapping_queue_row",
}
_TARGET_LABEL = {
    "sync_runs": "sync run",
    "broker_records": "broker record",
    "reconciliation_log": "reconciliation log row",
    "coa_mapping_versions": "mapping version",
    "mapping_decisions": "mapping decision",
    LedgerEntry._meta.table_name: "ledger entry",
}
_MODELS = {model._meta.table_name: model for model in RECON_MODELS}
_LOG = ReconciliationLog._meta.table_name
_DIGEST_MARK = '"recon_digest":'


def missing_recon_tables(connection: sqlite3.Connection) -> list[str]:
    """The recon tables the file lacks, in creation order."""
    present = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )}
    return [table for table in _MODELS if table not in present]


def missing_table_problems(missing: Sequence[str]) -> list[VerifyProblem]:
    """One `missing_table` problem per missing recon table."""
    return [VerifyProblem("missing_table", f"table {table}", MISSING_RECON_DETAIL)
            for table in missing]


def check_recon(
    connection: sqlite3.Connection, missing: Sequence[str], audit_bound: int
) -> list[VerifyProblem]:
    """Every problem of the recon tables present (see the module doc), as of now: rows
    with an id above each table's highest id at the start are not looked at."""
    tables = [table for table in _MODELS if table not in missing]
    if not tables:
        return []
    highest = ", ".join(
        f'(SELECT COALESCE(MAX(id), 0) FROM "{table}")' for table in tables  # noqa: S608
    )
    bounds = dict(zip(tables, connection.execute(f"SELECT {highest}").fetchone(), strict=True))
    problems: list[VerifyProblem] = []
    for table in tables:
        problems += _orphans(connection, _MODELS[table], bounds[table], missing)
    if _LOG in bounds:
        problems += _bad_resolutions(connection, bounds[_LOG])
        problems += _posted_entries(connection, bounds[_LOG])
    problems += _digests(connection, bounds, audit_bound)
    return problems


def _where(table: str, row_id: object) -> str:
    return f"{table} row {row_id}"


def _orphans(
    connection: sqlite3.Connection, model: type[Model], bound: int, missing: Sequence[str]
) -> Iterator[VerifyProblem]:
    table = model._meta.table_name
    for column_field in model._meta.sorted_fields:
        if not isinstance(column_field, ForeignKeyField):
            continue
        target = column_field.rel_model._meta.table_name
        if target in missing:
            continue  # every reference would dangle: the missing table is the problem
        column = column_field.column_name
        for row_id, value in connection.execute(
            f'SELECT c.id, c."{column}" FROM "{table}" c '  # noqa: S608 (model names)
            f'LEFT JOIN "{target}" t ON t.id = c."{column}" '
            f'WHERE c.id <= ? AND c."{column}" IS NOT NULL AND t.id IS NULL ORDER BY c.id',
            (bound,),
        ):
            yield VerifyProblem(f"orphan_{_ROW_KIND[table]}", _where(table, row_id),
                                f"its {column} {value!r} names no {_TARGET_LABEL[target]}")


def _bad_resolutions(connection: sqlite3.Connection, bound: int) -> Iterator[VerifyProblem]:
    marks = ", ".join("?" for _ in NOT_BREAK_STATUSES)
    for row_id, resolved_id, status in connection.execute(
        "SELECT r.id, r.resolves_id, t.status FROM reconciliation_log r "  # noqa: S608
        "JOIN reconciliation_log t ON t.id = r.resolves_id "
        f"WHERE r.id <= ? AND r.status = 'resolved' AND t.status IN ({marks}) ORDER BY r.id",
        (bound, *NOT_BREAK_STATUSES),
    ):
        yield VerifyProblem(
            "resolution_of_non_break", _where(_LOG, row_id),
            f"it resolves row {resolved_id}, whose status is {status!r}: only a break "
            "(mismatch, local-only, broker-only, pending, unmapped) is resolved",
        )


def _posted_entries(connection: sqlite3.Connection, bound: int) -> list[VerifyProblem]:
    problems: list[VerifyProblem] = []
    named: dict[int, list[int]] = {}  # entry id -> log rows naming it
    for row_id, text in connection.execute(
        "SELECT id, posted_entry_ids FROM reconciliation_log "
        "WHERE id <= ? AND posted_entry_ids IS NOT NULL ORDER BY id",
        (bound,),
    ):
        try:
            ids = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            ids = None
        if not (isinstance(ids, list)
                and all(type(entry_id) is int and entry_id > 0 for entry_id in ids)):
            problems.append(VerifyProblem("malformed_posted_entry_ids", _where(_LOG, row_id),
                                          "posted_entry_ids is not a JSON list of entry ids"))
            continue
        for entry_id in ids:
            named.setdefault(entry_id, []).append(row_id)
    if not named:
        return problems
    found = {row[0] for row in connection.execute(
        "SELECT id FROM ledger_entries WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(named)),),
    )}
    for entry_id, row_ids in named.items():
        if entry_id not in found:
            problems += [
                VerifyProblem("orphan_reconciliation_log", _where(_LOG, row_id),
                              f"its posted_entry_ids names entry id {entry_id}, "
                              "which does not exist")
                for row_id in row_ids
            ]
    problems.sort(key=lambda problem: int(problem.where.rsplit(" ", 1)[1]))
    return problems


def _digests(
    connection: sqlite3.Connection, bounds: dict[str, int], audit_bound: int
) -> list[VerifyProblem]:
    """Batch audit rows against the rows they list; rows no batch lists."""
    problems: list[VerifyProblem] = []
    if not any(bounds.values()):
        return problems  # no recon row yet: no batch to check
    covered: dict[str, set[int]] = {table: set() for table in bounds}
    # Entry rows are most of the trail and never batch rows: skipping them by action first
    # makes the scan about three times faster.
    for audit_id, details in connection.execute(
        "SELECT id, details FROM audit_trail WHERE id <= ? AND action NOT IN (?, ?) "
        "AND instr(details, ?) > 0 ORDER BY id",
        (audit_bound, POST_ACTION, REVERSE_ACTION, _DIGEST_MARK),
    ).fetchall():
        recorded, row_ids = _batch_details(details)
        if recorded is None or row_ids is None:
            continue  # not a batch row after all (the text only mentions the key)
        rows: dict[str, list[list[object]]] = {}
        intact = True
        for table, ids in row_ids.items():
            if table not in bounds:
                intact = False
                continue
            covered[table].update(ids)
            columns = ", ".join(f'"{column}"' for column in column_names(_MODELS[table]))
            fetched = [list(row) for row in connection.execute(
                f'SELECT {columns} FROM "{table}" '  # noqa: S608 (model names)
                "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (json.dumps(ids),),
            )]
            intact = intact and len(fetched) == len(set(ids))
            rows[table] = fetched
        if not intact or sha256_hex(recon_rows_text(rows)) != recorded:
            problems.append(VerifyProblem(
                "recon_digest_mismatch", f"audit row {audit_id}",
                "the reconciliation rows this batch wrote changed or vanished after writing "
                "(their digest no longer matches)",
            ))
    for table, bound in bounds.items():
        for (row_id,) in connection.execute(
            f'SELECT id FROM "{table}" WHERE id <= ? ORDER BY id', (bound,)  # noqa: S608
        ):
            if row_id not in covered[table]:
                problems.append(VerifyProblem(
                    "unaudited_recon_row", _where(table, row_id),
                    "no batch audit row lists it: it was written outside the ledger writer",
                ))
    return problems


def _batch_details(details: object) -> tuple[str | None, dict[str, list[int]] | None]:
    """(recon_digest, row_ids) of a batch audit row's details, or Nones if malformed."""
    try:
        parsed = json.loads(details) if isinstance(details, str) else None
    except ValueError:
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    digest, row_ids = parsed.get("recon_digest"), parsed.get("row_ids")
    if not (isinstance(digest, str) and isinstance(row_ids, dict)
            and all(isinstance(ids, list) and all(type(i) is int for i in ids)
                    for ids in row_ids.values())):
        return None, None
    return digest, row_ids
