"""Bringing a ledger file made before the reconciliation tables up to date.

`find_recon_gaps` compares the file with `RECON_MODELS` and lists what is missing: whole
tables (with their indexes), indexes of tables that exist, append-only triggers. A recon
table or index that exists with another shape is refused (LedgerFileError), never altered.
`create_recon_objects` creates what is missing; the writer runs it with its audit row in
one transaction (`LedgerWriter.open`). Readers never migrate.

Shapes are compared logically (columns with type, NOT NULL, default and key; foreign
keys; CHECK expressions; index columns and uniqueness), against the same tables built in
memory from the models, so a change in how Peewee spells its DDL is not a change of shape.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from peewee import Model, SqliteDatabase

from tbot.ledger.errors import LedgerFileError
from tbot.ledger.models import LEDGER_MODELS
from tbot.ledger.recon_models import RECON_MODELS, RECON_SCHEMA_VERSION, RECON_TABLES
from tbot.ledger.schema import append_only_triggers, create_tables, normalise_sql

MIGRATE_ACTOR = "tbot"


@dataclass(frozen=True)
class TableShape:
    """What makes two tables the same table: columns (name, declared type, NOT NULL,
    default, primary-key position) in order, foreign keys and CHECK expressions."""

    columns: tuple[tuple[object, ...], ...]
    foreign_keys: tuple[tuple[object, ...], ...]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class ReconGaps:
    """The reconciliation objects a ledger file lacks, by name."""

    tables: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the file is up to date."""
        return not (self.tables or self.indexes or self.triggers)

    def details(self) -> dict[str, object]:
        """The `details` of the `ledger.migrate` audit row."""
        return {
            "indexes": list(self.indexes),
            "schema_version": RECON_SCHEMA_VERSION,
            "tables": list(self.tables),
            "triggers": list(self.triggers),
        }


def find_recon_gaps(connection: sqlite3.Connection, path: Path) -> ReconGaps:
    """What `path` (open on `connection`) lacks of the reconciliation schema; raises
    LedgerFileError if a recon table or index is there with another shape."""
    expected = _expected()
    present = _objects(connection)
    missing_tables: list[str] = []
    missing_indexes: list[str] = []
    for table in RECON_TABLES:
        if present.get(table, (None, None))[0] != "table":
            if table in present:
                raise LedgerFileError(
                    f"{path}: {table} is a {present[table][0]}, not the table tbot expects; "
                    "the file is left as it is"
                )
            missing_tables.append(table)
            continue
        want, got = expected.tables[table], table_shape(connection, table)
        if got != want:
            raise LedgerFileError(
                f"{path}: table {table} does not have the shape tbot expects "
                f"({_difference(want, got)}); the file is left as it is"
            )
        for name, definition in expected.indexes[table].items():
            kind, owner = present.get(name, (None, None))
            if kind is None:
                missing_indexes.append(name)
            elif kind != "index" or owner != table or index_shape(connection, name) != definition:
                raise LedgerFileError(
                    f"{path}: index {name} is not the index tbot expects on {table}; "
                    "the file is left as it is"
                )
    missing_triggers = [
        name for name in append_only_triggers(RECON_TABLES)
        if present.get(name, (None, None))[0] != "trigger"
    ]
    # A trigger name taken by another kind of object cannot be created: refuse.
    for name in missing_triggers:
        if name in present:
            raise LedgerFileError(f"{path}: {name} is a {present[name][0]}, not a trigger; "
                                  "the file is left as it is")
    return ReconGaps(tuple(missing_tables), tuple(missing_indexes), tuple(missing_triggers))


def create_recon_objects(database: SqliteDatabase, gaps: ReconGaps) -> None:
    """Create what `gaps` lists (inside the caller's transaction)."""
    models = {model._meta.table_name: model for model in RECON_MODELS}
    create_tables(database, [models[table] for table in gaps.tables])
    if gaps.indexes:
        owners = {name: table for table, names in _expected().indexes.items() for name in names}
        tables = [models[table] for table in dict.fromkeys(owners[name] for name in gaps.indexes)]
        with database.bind_ctx(tables):
            for model in tables:
                model._schema.create_indexes(safe=True)  # only the missing ones are new
    triggers = append_only_triggers(RECON_TABLES)
    for name in gaps.triggers:
        database.execute_sql(triggers[name])


# -- shapes -------------------------------------------------------------------------------


def table_shape(connection: sqlite3.Connection, table: str) -> TableShape:
    """The logical shape of `table` as it is in the file."""
    columns = tuple(
        (name, str(kind).upper(), notnull, default, pk)
        for _, name, kind, notnull, default, pk, *_ in connection.execute(
            f'PRAGMA table_xinfo("{table}")'
        )
    )
    foreign_keys = tuple(sorted(
        (source, target_table, target, on_update, on_delete)
        for _, _, target_table, source, target, on_update, on_delete, _ in connection.execute(
            f'PRAGMA foreign_key_list("{table}")'
        )
    ))
    row = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    checks = tuple(sorted(check_expressions(row[0] if row else "")))
    return TableShape(columns, foreign_keys, checks)


def index_shape(connection: sqlite3.Connection, index: str) -> tuple[object, ...]:
    """(unique, partial, column names) of `index`."""
    row = connection.execute(
        "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?", (index,)
    ).fetchone()
    if row is None:
        return ()
    flags = {name: (unique, partial) for _, name, unique, _, partial in connection.execute(
        f'PRAGMA index_list("{row[0]}")'
    )}
    columns = tuple(name for _, _, name in connection.execute(f'PRAGMA index_info("{index}")'))
    return (*flags.get(index, (None, None)), columns)


def check_expressions(sql: str) -> list[str]:
    """The expressions of every ``CHECK (...)`` in a CREATE TABLE statement, whitespace
    collapsed (string literals and quoted names are skipped over when matching brackets)."""
    found: list[str] = []
    upper = sql.upper()
    position = 0
    while True:
        position = _find_keyword(sql, upper, "CHECK", position)
        if position < 0:
            return found
        start = sql.find("(", position)
        end = _closing_bracket(sql, start)
        found.append(normalise_sql(sql[start + 1:end]))
        position = end + 1


def _find_keyword(sql: str, upper: str, keyword: str, start: int) -> int:
    index = start
    quote: str | None = None
    while index < len(sql):
        char = sql[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"`[":
            quote = "]" if char == "[" else char
        elif (upper.startswith(keyword, index)
              and (index == 0 or not (sql[index - 1].isalnum() or sql[index - 1] == "_"))
              and not (sql[index + len(keyword):index + len(keyword) + 1].isalnum())):
            rest = sql[index + len(keyword):].lstrip()
            if rest.startswith("("):
                return index + len(keyword)
        index += 1
    return -1


def _closing_bracket(sql: str, opening: int) -> int:
    depth = 0
    quote: str | None = None
    for index in range(opening, len(sql)):
        char = sql[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(sql)


def _difference(want: TableShape, got: TableShape) -> str:
    want_names = [column[0] for column in want.columns]
    got_names = [column[0] for column in got.columns]
    if want_names != got_names:
        return (f"columns {', '.join(map(str, got_names))} "
                f"where tbot expects {', '.join(want_names)}")
    for wanted, actual in zip(want.columns, got.columns, strict=True):
        if wanted != actual:
            return f"column {wanted[0]} is declared differently"
    if want.foreign_keys != got.foreign_keys:
        return "its foreign keys differ"
    return "its CHECK constraints differ"


@dataclass(frozen=True)
class _Expected:
    tables: dict[str, TableShape]
    indexes: dict[str, dict[str, tuple[object, ...]]]


@functools.cache
def _expected() -> _Expected:
    """The recon tables' shapes, read back from an in-memory file built from the models."""
    database = SqliteDatabase(":memory:")
    try:
        models: tuple[type[Model], ...] = (*LEDGER_MODELS, *RECON_MODELS)
        create_tables(database, models)
        connection = database.connection()
        tables = {table: table_shape(connection, table) for table in RECON_TABLES}
        indexes = {
            table: {
                name: index_shape(connection, name)
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                    "AND sql IS NOT NULL ORDER BY name",
                    (table,),
                )
            }
            for table in RECON_TABLES
        }
    finally:
        database.close()
    return _Expected(tables, indexes)


def _objects(connection: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Every named schema object: name -> (type, table it belongs to)."""
    return {
        name: (kind, table)
        for kind, name, table in connection.execute(
            "SELECT type, name, tbl_name FROM sqlite_master"
        )
    }
