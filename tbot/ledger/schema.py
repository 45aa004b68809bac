"""The SQL around the models: table creation, append-only triggers, bulk INSERT statements.

Everything here is derived from the Peewee models, which stay the single schema definition.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain

from peewee import Model, SqliteDatabase

from tbot.ledger.models import (
    AuditRow,
    LedgerEntry,
    LedgerPosting,
    Trade,
    column_names,
)
from tbot.ledger.recon_models import RECON_MODELS, RECON_TABLES

CORE_APPEND_ONLY_MODELS: tuple[type[Model], ...] = (LedgerEntry, LedgerPosting, Trade, AuditRow)
CORE_APPEND_ONLY_TABLES: tuple[str, ...] = tuple(
    m._meta.table_name for m in CORE_APPEND_ONLY_MODELS
)
"""The journal's append-only tables (every ledger file has them since its creation)."""
APPEND_ONLY_MODELS: tuple[type[Model], ...] = (*CORE_APPEND_ONLY_MODELS, *RECON_MODELS)
APPEND_ONLY_TABLES: tuple[str, ...] = (*CORE_APPEND_ONLY_TABLES, *RECON_TABLES)


def _trigger_sql(table: str, operation: str) -> tuple[str, str]:
    name = f"{table}_no_{operation.lower()}"
    sql = (
        f"CREATE TRIGGER {name} BEFORE {operation} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    )
    return name, sql


def append_only_triggers(tables: Sequence[str]) -> dict[str, str]:
    """Trigger name -> the exact CREATE TRIGGER statement, for each table of `tables`."""
    return dict(
        _trigger_sql(table, operation)
        for table in tables
        for operation in ("UPDATE", "DELETE")
    )


APPEND_ONLY_TRIGGERS: dict[str, str] = append_only_triggers(APPEND_ONLY_TABLES)
"""Trigger name -> the exact CREATE TRIGGER statement (as sqlite_master stores it)."""
TRIGGER_TABLES: dict[str, str] = {
    name: table for table in APPEND_ONLY_TABLES for name in append_only_triggers((table,))
}
"""Trigger name -> the table it guards."""


def normalise_sql(sql: str) -> str:
    """`sql` with runs of whitespace collapsed, for comparing stored DDL."""
    return " ".join(sql.split())


def create_tables(database: SqliteDatabase, models: Sequence[type[Model]]) -> None:
    """Create `models`' tables and indexes (refusing if one exists: files start empty)."""
    with database.bind_ctx(models):
        database.create_tables(models, safe=False)


def create_append_only_triggers(
    database: SqliteDatabase, tables: Sequence[str] = APPEND_ONLY_TABLES
) -> None:
    """The triggers that make `tables` (by default every append-only table: entries,
    postings, trades, audit rows and the reconciliation tables) append-only."""
    for sql in append_only_triggers(tables).values():
        database.execute_sql(sql)


def insert_statement(model: type[Model]) -> str:
    """``INSERT INTO "table" ("col", ...) VALUES (?, ...)`` with every column of `model`."""
    columns = column_names(model)
    quoted = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("?" for _ in columns)
    table = model._meta.table_name
    return f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'  # noqa: S608 (model names)


ROWS_PER_INSERT = 100
"""Rows in one multi-row INSERT of `insert_rows_in_bulk` (fewer where a table's columns
times this would pass SQLite's limit on parameters)."""


def insert_rows_in_bulk(
    connection: sqlite3.Connection, insert_sql: str, rows: Sequence[Sequence[object]]
) -> None:
    """Insert `rows` with `insert_sql` (one ``INSERT ... VALUES (?, ...)`` of
    `insert_statement`), `ROWS_PER_INSERT` rows to a statement: ``VALUES (...), (...)``.

    The same rows as `executemany(insert_sql, rows)`, about a fifth faster (a statement's
    step and reset, and the binding loop's start, are paid per hundred rows, not per row;
    `benchmarks/ledger_post.py` measures both). Rows are inserted in order; a refused row
    fails its whole statement, and the caller's transaction or savepoint undoes the rest.
    """
    if not rows:
        return
    widths = set(map(len, rows))
    if len(widths) != 1:  # flattened, a short row and a long one would shift every value
        raise ValueError(f"rows of different lengths {sorted(widths)} for {insert_sql!r}")
    (width,) = widths
    per_statement = max(1, min(ROWS_PER_INSERT, connection.getlimit(
        sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    full = _multi_row_sql(insert_sql, per_statement)
    flatten = chain.from_iterable
    for start in range(0, len(rows), per_statement):
        part = rows[start:start + per_statement]
        sql = full if len(part) == per_statement else _multi_row_sql(insert_sql, len(part))
        connection.execute(sql, list(flatten(part)))


@lru_cache(maxsize=256)
def _multi_row_sql(insert_sql: str, count: int) -> str:
    head, values, group = insert_sql.rpartition(" VALUES ")
    if not values or not group.startswith("("):
        raise ValueError(f"not a single-row INSERT of insert_statement: {insert_sql!r}")
    return f"{head} VALUES {', '.join([group] * count)}"


def require_layout(model: type[Model], expected: tuple[str, ...]) -> tuple[str, ...]:
    """Fail at import time if `model`'s columns are not `expected`, in order.

    The bulk writer builds row tuples positionally for speed; this keeps it honest if
    someone reorders or adds a column in the model.
    """
    actual = column_names(model)
    if actual != expected:
        raise RuntimeError(
            f"{model._meta.table_name} columns changed: the writer builds {expected}, "
            f"the model defines {actual}"
        )
    return actual
