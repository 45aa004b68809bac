"""What a backup needs to know about a ledger file: its tables, how each one is backed up,
its high-water marks, its audit-chain head, and digests of what is not append-only.

- A table is **append-only** when it has both of the triggers `schema` creates for it
  (`<table>_no_update`, `<table>_no_delete`, with exactly that SQL): rows are then only
  ever added, with growing rowids, so the rows to back up since a previous backup are
  those above its high-water mark (the largest rowid then). Today that is every table of
  the journal, the reconciliation log and the mapping tables.
- Every **other** table (`coa_metadata`, one row; or an append-only table whose triggers
  someone dropped) is copied whole into an increment whenever the SHA-256 of its content
  changes, and replaced whole on restore. Correct whatever happens to such a table, and
  cheap for the small tables it is meant for.
- The **schema** (sqlite_master, SQLite's own objects aside) has a digest too; an increment
  carries the full schema when it changed (a migration added tables), and restore creates
  the objects it lacks.

Every function here reads; call them inside one read transaction for a consistent view.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from tbot.ledger.audit_chain import GENESIS_HASH
from tbot.ledger.schema import append_only_triggers, normalise_sql

AUDIT_TABLE = "audit_trail"

SchemaObject = tuple[str, str, str, str]
"""(type, name, table name, SQL as stored) of one schema object."""


@dataclass(frozen=True)
class ChainHead:
    """The last audit row: its id and row_hash (0 and the genesis hash for none)."""

    audit_id: int
    row_hash: str

    def as_json(self) -> dict[str, Any]:
        """Plain data for a manifest or an increment header."""
        return {"audit_id": self.audit_id, "row_hash": self.row_hash}

    @classmethod
    def from_json(cls, data: Any) -> ChainHead:
        """The inverse of `as_json` (KeyError/TypeError on a malformed value)."""
        audit_id, row_hash = data["audit_id"], data["row_hash"]
        if not isinstance(audit_id, int) or not isinstance(row_hash, str):
            raise TypeError("a chain head is an integer audit_id and a text row_hash")
        return cls(audit_id, row_hash)

    def __str__(self) -> str:
        return f"audit row {self.audit_id} ({self.row_hash[:12]})"


@dataclass(frozen=True)
class LedgerState:
    """Where a ledger stands, as far as a backup set is concerned."""

    head: ChainHead
    marks: dict[str, int]
    """Append-only table -> its largest rowid (0 when empty)."""
    whole: dict[str, str]
    """Every other table -> the SHA-256 of its content."""
    schema_digest: str

    def as_json(self) -> dict[str, Any]:
        """Plain data for a manifest."""
        return {"head": self.head.as_json(), "marks": dict(self.marks),
                "whole": dict(self.whole), "schema_digest": self.schema_digest}

    @classmethod
    def from_json(cls, data: Any) -> LedgerState:
        """The inverse of `as_json`."""
        marks, whole = data["marks"], data["whole"]
        if not (isinstance(marks, dict) and isinstance(whole, dict)):
            raise TypeError("marks and whole must be objects")
        return cls(ChainHead.from_json(data["head"]), {str(k): int(v) for k, v in marks.items()},
                   {str(k): str(v) for k, v in whole.items()}, str(data["schema_digest"]))


@dataclass(frozen=True)
class TableLayout:
    """How to read and write one table's rows: its columns (with `rowid` first when the
    table has no INTEGER PRIMARY KEY to carry it) and whether it is append-only."""

    name: str
    columns: tuple[str, ...]
    append_only: bool

    def select_sql(self, where: str = "") -> str:
        """SELECT of every column in `columns` order, by rowid."""
        quoted = ", ".join(quote_identifier(column) for column in self.columns)
        return f"SELECT {quoted} FROM {quote_identifier(self.name)} {where} ORDER BY rowid"  # noqa: S608

    def insert_sql(self, columns: tuple[str, ...]) -> str:
        """INSERT of `columns` (the columns an increment recorded)."""
        quoted = ", ".join(quote_identifier(column) for column in columns)
        marks = ", ".join("?" for _ in columns)
        return f"INSERT INTO {quote_identifier(self.name)} ({quoted}) VALUES ({marks})"  # noqa: S608


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def read_schema(connection: sqlite3.Connection) -> list[SchemaObject]:
    """The schema objects in creation order (SQLite's own and automatic indexes left out)."""
    # One row of JSON, not a row per object: see `read_state` on why statements count.
    text = connection.execute(
        "SELECT json_group_array(json_array(type, name, tbl_name, sql)) FROM "
        "(SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid)"
    ).fetchone()[0]
    return [(str(kind), str(name), str(table), str(sql))
            for kind, name, table, sql in json.loads(text)]


def schema_digest(schema: list[SchemaObject]) -> str:
    """SHA-256 of the schema, independent of creation order and of runs of whitespace."""
    plain = sorted((kind, name, table, normalise_sql(sql)) for kind, name, table, sql in schema)
    return hashlib.sha256(json.dumps(plain).encode()).hexdigest()


def table_layouts(connection: sqlite3.Connection, schema: list[SchemaObject]
                  ) -> list[TableLayout]:
    """Every table of `schema`, parents first (creation order), with its layout."""
    triggers = {name: sql for kind, name, _, sql in schema if kind == "trigger"}
    layouts = []
    for kind, name, _, _ in schema:
        if kind != "table":
            continue
        info = connection.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()
        columns = tuple(row[1] for row in info)
        keys = [row for row in info if row[5]]
        has_alias = len(keys) == 1 and str(keys[0][2]).upper() == "INTEGER"
        if not has_alias:
            columns = ("rowid", *columns)
        expected = append_only_triggers((name,))
        append_only = has_alias and all(
            normalise_sql(triggers.get(trigger, "")) == normalise_sql(sql)
            for trigger, sql in expected.items()
        )
        layouts.append(TableLayout(name, columns, append_only))
    return layouts


def chain_head(connection: sqlite3.Connection) -> ChainHead:
    """The last audit row of the file (none: id 0 and the genesis hash)."""
    try:
        row = connection.execute(
            f"SELECT id, row_hash FROM {AUDIT_TABLE} ORDER BY id DESC LIMIT 1"  # noqa: S608
        ).fetchone()
    except sqlite3.OperationalError:  # no audit table at all
        row = None
    return ChainHead(0, GENESIS_HASH) if row is None else ChainHead(row[0], row[1])


def high_water_mark(connection: sqlite3.Connection, table: str) -> int:
    """The largest rowid of `table`, 0 when empty."""
    return int(connection.execute(
        f"SELECT COALESCE(MAX(rowid), 0) FROM {quote_identifier(table)}"  # noqa: S608
    ).fetchone()[0])


def high_water_marks(connection: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    """`high_water_mark` of each of `tables`, in one statement."""
    if not tables:
        return {}
    columns = ", ".join(
        f"(SELECT COALESCE(MAX(rowid), 0) FROM {quote_identifier(table)})"  # noqa: S608
        for table in tables)
    values = connection.execute(f"SELECT {columns}").fetchone()
    return {table: int(value) for table, value in zip(tables, values, strict=True)}


def whole_rows(connection: sqlite3.Connection, layout: TableLayout) -> list[tuple[Any, ...]]:
    """Every row of a table, by rowid."""
    return connection.execute(layout.select_sql()).fetchall()


def rows_digest(rows: list[tuple[Any, ...]]) -> str:
    """SHA-256 of rows as SQLite returned them (ints, text, None, floats, bytes)."""
    return hashlib.sha256(repr(rows).encode()).hexdigest()


_LAYOUTS_BY_SCHEMA: dict[str, list[TableLayout]] = {}
"""Layouts of the schemas seen lately, by schema digest: the layouts follow from the
schema alone, and reading them costs a PRAGMA per table."""
_LAYOUTS_KEPT = 8


def read_state(connection: sqlite3.Connection) -> tuple[LedgerState, list[TableLayout],
                                                        list[SchemaObject]]:
    """The state of the file open on `connection`, with its table layouts and schema.

    Few statements, whatever the number of tables: it runs before every write on a helper
    thread, and each statement's return waits for the GIL while the writer's thread
    validates in Python (up to the 5 ms switch interval each: with a statement per table
    that wait was most of an increment's time)."""
    schema = read_schema(connection)
    digest = schema_digest(schema)
    layouts = _LAYOUTS_BY_SCHEMA.get(digest)
    if layouts is None:
        layouts = table_layouts(connection, schema)
        if len(_LAYOUTS_BY_SCHEMA) >= _LAYOUTS_KEPT:
            _LAYOUTS_BY_SCHEMA.pop(next(iter(_LAYOUTS_BY_SCHEMA)), None)
        _LAYOUTS_BY_SCHEMA[digest] = layouts
    marks = high_water_marks(connection, [t.name for t in layouts if t.append_only])
    whole = {t.name: rows_digest(whole_rows(connection, t)) for t in layouts
             if not t.append_only}
    state = LedgerState(chain_head(connection), marks, whole, digest)
    return state, layouts, schema


def head_is_in(connection: sqlite3.Connection, head: ChainHead) -> bool:
    """True when the file holds `head` as an audit row (same id, same row_hash): the file
    continues the chain a backup ended on."""
    if head.audit_id == 0:
        return True
    try:
        row = connection.execute(
            f"SELECT row_hash FROM {AUDIT_TABLE} WHERE id = ?", (head.audit_id,)  # noqa: S608
        ).fetchone()
    except sqlite3.OperationalError:
        return False
    return row is not None and row[0] == head.row_hash
