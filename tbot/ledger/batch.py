"""One atomic write of entries, reversals and reconciliation rows: `LedgerWriter.commit_batch`.

What callers hand the writer (`LedgerBatch` of `EntryDraft`/`ReversalDraft` and rows per
reconciliation table, rows pointing at each other with `RowRef` and at the batch's entries
with `EntryRef`) and what they get back (`BatchResult`). The rows are checked and converted
to stored form here, in Python, before anything is written (`prepare_rows`); inside the
writer's transaction `insert_rows` gives them ids, resolves the references and inserts them.

A caller that builds a large batch over time (a sync reading 100,000 fills page by page,
mostly waiting on the broker's rate limit) converts each row as it is made
(`convert_row`): the batch then holds `ConvertedRow`s, and all that is left for the
writer is what only the whole batch can settle (references, and the columns the caller
said it would fill in later). Converting at commit time instead made a 200,000-row sync
spend most of its write converting, after the last page had arrived.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from peewee import BooleanField, Field, ForeignKeyField, IntegerField, TextField

from tbot.ledger.drafts import EntryDraft, PostedEntry
from tbot.ledger.errors import InvalidRowError, LedgerError
from tbot.ledger.fields import (
    CanonicalJsonField,
    ScaledDecimalField,
    TextOrJsonField,
    UtcTimestampField,
)
from tbot.ledger.models import LedgerEntry
from tbot.ledger.recon_models import RECON_MODELS, RECON_SCHEMA_VERSION, RECON_TABLES
from tbot.ledger.schema import insert_rows_in_bulk, insert_statement

BATCH_DETAIL_KEYS = frozenset({"entry_ids", "row_ids", "recon_digest"})
"""Keys the writer adds to a batch's audit `details` (refused in the caller's details)."""


@dataclass(frozen=True, slots=True)
class ReversalDraft:
    """Reverse entry `fitid`, already in the ledger, as `LedgerWriter.reverse` does: the
    same postings negated, posted under `new_fitid`, flagged manual."""

    fitid: str
    new_fitid: str
    memo: str
    dtposted: datetime


@dataclass(frozen=True, slots=True)
class RowRef:
    """Row `index` of `table` earlier in the same batch (an earlier table in `RECON_MODELS`
    order, or an earlier row of the same table); written as that row's id."""

    table: str
    index: int


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Entry `index` of `LedgerBatch.entries`; written as the id it is posted under."""

    index: int


@dataclass
class LedgerBatch:
    """Everything one `commit_batch` writes, all or nothing.

    `rows` maps a reconciliation table name to its rows, each a mapping of column name to
    value (Python values: Decimal, aware datetime, dict/list for JSON columns, RowRef or
    EntryRef for foreign keys, EntryRefs inside `posted_entry_ids`). `id` is assigned by
    the writer and `schema_version` filled in when absent.
    """

    entries: list[EntryDraft | ReversalDraft] = field(default_factory=list)
    rows: dict[str, list[dict[str, object]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch wrote: its entries in batch order, the ids of its rows per table (in
    the order given; tables that got no row are absent) and the batch's audit row id."""

    entries: list[PostedEntry]
    row_ids: dict[str, list[int]]
    audit_id: int


# -- preparing rows (before the transaction) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pending:
    """A value left in a ConvertedRow for `prepare_rows` to convert with the whole batch."""

    value: object


class ConvertedRow:
    """One row of `table`, checked and converted by `convert_row` ahead of its batch.

    Its foreign keys, any JSON value holding an EntryRef, and the columns named `later`
    wait for `prepare_rows`, which converts them with the batch's counts in hand. `set`
    gives such a column its value meanwhile; every other column is fixed.
    """

    __slots__ = ("_pending", "_values", "table")

    def __init__(self, table: str, values: list[object]) -> None:
        self.table = table
        self._values = values
        self._pending = tuple(position for position, value in enumerate(values)
                              if type(value) is _Pending)

    def set(self, column: str, value: object) -> None:
        """Give a foreign-key column or one named `later` its value."""
        position = _PLANS[self.table].positions.get(column)
        if position is None:
            raise LedgerError(f"{self.table} has no column {column!r}")
        if position not in self._pending:
            raise LedgerError(f"{self.table}.{column} was converted already: only foreign "
                              "keys and the columns named `later` can be set afterwards")
        self._values[position] = _Pending(value)

    def values(self) -> list[object]:
        """A copy of the stored values (`_Pending` where the batch converts them)."""
        return list(self._values)

    def pending(self) -> tuple[int, ...]:
        """The positions `prepare_rows` converts."""
        return self._pending


def convert_row(table: str, row: Mapping[str, object], *,
                later: Sequence[str] = ()) -> ConvertedRow:
    """`row` of `table` checked and converted now, as `prepare_rows` would; the columns
    in `later` are converted with the batch (give them a value with `ConvertedRow.set`).
    Raises InvalidRowError (its index is -1: the row has no place in a batch yet)."""
    plan = _PLANS.get(table)
    if plan is None:
        raise LedgerError(f"unknown table {table!r}: rows go to {', '.join(RECON_TABLES)}")
    unknown = [column for column in later if column not in plan.positions]
    if unknown:
        raise LedgerError(f"{table} has no column(s) {', '.join(map(repr, unknown))}")
    return ConvertedRow(table, plan.convert(row, frozenset(later)))


_MODELS = {model._meta.table_name: model for model in RECON_MODELS}
_ORDER = {table: position for position, table in enumerate(RECON_TABLES)}
_ENTRIES_TABLE = LedgerEntry._meta.table_name


@dataclass(frozen=True, slots=True)
class _RefList:
    """A JSON list holding EntryRefs: encoded once the entries have their ids."""

    items: tuple[object, ...]
    field: CanonicalJsonField


@dataclass(frozen=True)
class PreparedTable:
    """One table's rows in stored form, column order, without their ids; RowRef, EntryRef
    and `_RefList` values are resolved by `insert_rows`."""

    table: str
    insert_sql: str
    rows: list[list[object]]


def prepare_rows(batch: LedgerBatch) -> list[PreparedTable]:
    """The batch's rows checked and converted, in `RECON_MODELS` order. Raises LedgerError
    (InvalidRowError for one row) for anything that cannot be written."""
    if not isinstance(batch.rows, Mapping):
        raise LedgerError("LedgerBatch.rows must map table names to lists of rows")
    unknown = sorted(str(table) for table in batch.rows if table not in _MODELS)
    if unknown:
        raise LedgerError(
            f"unknown table(s) {', '.join(unknown)} in the batch: "
            f"its rows go to {', '.join(RECON_TABLES)}"
        )
    counts = {}
    for table, rows in batch.rows.items():
        if not isinstance(rows, list | tuple):
            raise LedgerError(f"the rows of {table} must be a list, not {type(rows).__name__}")
        counts[table] = len(rows)
    context = _Context(counts, len(batch.entries))
    prepared = []
    for table in RECON_TABLES:
        rows = batch.rows.get(table)
        if not rows:
            continue
        plan = _PLANS[table]
        prepared.append(PreparedTable(
            table,
            plan.insert_sql,
            [plan.finish(index, row, context) if type(row) is ConvertedRow
             else plan.prepare(index, row, context) for index, row in enumerate(rows)],
        ))
    return prepared


@dataclass(frozen=True)
class _Context:
    row_counts: dict[str, int]
    entry_count: int


_NO_BATCH = _Context({}, 0)


class _TablePlan:
    """How one table's rows are checked and converted: the column list and, per column,
    the conversion chosen once from its field type (a 100,000-row batch converts 1.6
    million values: the type dispatch must not be redone for each)."""

    def __init__(self, table: str) -> None:
        model = _MODELS[table]
        self.table = table
        self.insert_sql = insert_statement(model)
        self.fields: tuple[Field, ...] = tuple(model._meta.sorted_fields[1:])  # all but id
        self.columns = frozenset(f.column_name for f in self.fields)
        self.positions = {f.column_name: position for position, f in enumerate(self.fields)}
        self.converters = tuple((f.column_name, _converter(table, f)) for f in self.fields)
        # Only these columns can hold a RowRef, an EntryRef or a list of EntryRefs.
        self.ref_positions = tuple(
            position for position, f in enumerate(self.fields)
            if isinstance(f, ForeignKeyField | CanonicalJsonField)
        )
        self.foreign_keys = frozenset(
            f.column_name for f in self.fields if isinstance(f, ForeignKeyField))

    def _check_shape(self, index: int, row: object) -> Mapping[str, object]:
        table = self.table
        if not isinstance(row, Mapping):
            raise InvalidRowError(table, index, f"a row is a mapping of column to value, "
                                                f"not {type(row).__name__}")
        if "id" in row:
            raise InvalidRowError(table, index, "id is assigned by the writer")
        if not self.columns.issuperset(row):
            unknown = sorted(str(column) for column in row if column not in self.columns)
            raise InvalidRowError(table, index, f"unknown column(s) {', '.join(unknown)}")
        return row

    def prepare(self, index: int, row: object, context: _Context) -> list[object]:
        row = self._check_shape(index, row)
        values: list[object] = []
        for column, convert in self.converters:
            try:
                values.append(convert(row.get(column), index, context))
            except (TypeError, ValueError) as problem:  # AmountError is a ValueError
                raise InvalidRowError(self.table, index, f"{column}: {problem}") from None
        return values

    def convert(self, row: object, later: frozenset[str]) -> list[object]:
        """`prepare` without a batch: what needs one (foreign keys, EntryRefs in JSON, the
        columns in `later`) is left `_Pending`."""
        row = self._check_shape(-1, row)
        values: list[object] = []
        context = _NO_BATCH
        for column, convert in self.converters:
            value = row.get(column)
            if column in later or column in self.foreign_keys or (
                    type(value) is list and any(type(item) is EntryRef for item in value)):
                values.append(_Pending(value))
                continue
            try:
                values.append(convert(value, -1, context))
            except (TypeError, ValueError) as problem:
                raise InvalidRowError(self.table, -1, f"{column}: {problem}") from None
        return values

    def finish(self, index: int, row: ConvertedRow, context: _Context) -> list[object]:
        """A ConvertedRow's pending values converted with the batch in hand."""
        if row.table != self.table:
            raise InvalidRowError(self.table, index, f"a converted row of {row.table}")
        values = row.values()
        converters = self.converters
        for position in row.pending():
            column, convert = converters[position]
            pending = values[position]
            assert type(pending) is _Pending
            try:
                values[position] = convert(pending.value, index, context)
            except (TypeError, ValueError) as problem:
                raise InvalidRowError(self.table, index, f"{column}: {problem}") from None
        return values


Converter = Callable[[object, int, "_Context"], object]


def _converter(table: str, column_field: Field) -> Converter:
    """The conversion of one column: the common, well-typed values take a short path; the
    rest (and every refusal) go through `_stored`."""

    def general(value: object, index: int, context: _Context) -> object:
        if value is None and column_field.column_name == "schema_version":
            value = RECON_SCHEMA_VERSION
        return _stored(table, index, column_field, value, context)

    kind = type(column_field)
    nullable = column_field.null
    if kind in (TextField, TextOrJsonField):
        def text(value: object, index: int, context: _Context) -> object:
            if type(value) is str or (value is None and nullable):
                return value
            return general(value, index, context)
        return text
    if kind is CanonicalJsonField:
        def json_value(value: object, index: int, context: _Context) -> object:
            if value is None and nullable:
                return None
            if (type(value) is list or type(value) is dict) and not value:
                return "[]" if type(value) is list else "{}"
            return general(value, index, context)
        return json_value
    if kind is ForeignKeyField:
        target = column_field.rel_model._meta.table_name
        # A RowRef to a recon table: is it an earlier row of the batch? (`_reference` says
        # why not, for every other value.)
        before = _ORDER.get(target, len(_ORDER)) < _ORDER[table]

        def reference(value: object, index: int, context: _Context) -> object:
            if value is None and nullable:
                return None
            if type(value) is RowRef and value.table == target:
                position = value.index
                if type(position) is int and 0 <= position < context.row_counts.get(
                        target, 0) and (before or (target == table and position < index)):
                    return value
            elif type(value) is int and value >= 1:
                return value
            return general(value, index, context)
        return reference
    if kind is BooleanField or (kind is IntegerField and column_field.column_name
                                != "schema_version"):
        boolean = kind is BooleanField

        def whole(value: object, index: int, context: _Context) -> object:
            if type(value) is int and (not boolean or value in (0, 1)):
                return value
            if value is None and nullable:
                return None
            return general(value, index, context)
        return whole
    if kind is UtcTimestampField:
        return _exact_type(datetime, column_field.db_value, nullable, general)
    if kind is ScaledDecimalField:
        return _exact_type(Decimal, column_field.db_value, nullable, general)
    return general


def _exact_type(expected: type, convert: Callable[[object], object], nullable: bool,
                general: Converter) -> Converter:
    """A converter that applies `convert` to values of exactly `expected` type."""

    def converter(value: object, index: int, context: _Context) -> object:
        if type(value) is expected:
            return convert(value)
        if value is None and nullable:
            return None
        return general(value, index, context)

    return converter


_PLANS = {table: _TablePlan(table) for table in RECON_TABLES}


def _stored(table: str, index: int, column_field: Field, value: object,
            context: _Context) -> object:
    """`value` as the column stores it (or a reference to resolve later)."""
    column = column_field.column_name
    if value is None:
        if not column_field.null:
            raise ValueError("a value is required")
        return None
    # The commonest case, text in a text column, skips the chain below.
    if type(value) is str and type(column_field) in (TextField, TextOrJsonField):
        return value
    if isinstance(column_field, ForeignKeyField):
        return _reference(table, index, column_field, value, context)
    if isinstance(value, RowRef | EntryRef) and not isinstance(column_field, CanonicalJsonField):
        raise ValueError(f"a {type(value).__name__} only goes in a foreign-key column")
    if isinstance(column_field, CanonicalJsonField):
        if isinstance(value, list | tuple) and any(isinstance(item, EntryRef) for item in value):
            for item in value:
                if isinstance(item, EntryRef):
                    _check_entry_ref(item, context)
            # The other items are checked now, with the refs standing in as ids.
            column_field.db_value([1 if isinstance(item, EntryRef) else item for item in value])
            return _RefList(tuple(value), column_field)
        return column_field.db_value(value)
    if column == "schema_version":
        if value != RECON_SCHEMA_VERSION or type(value) is not int:
            raise ValueError(f"this writer writes version {RECON_SCHEMA_VERSION} rows, "
                             f"not {value!r}")
        return value
    if isinstance(column_field, BooleanField):
        if type(value) is bool or (type(value) is int and value in (0, 1)):
            return int(value)
        raise TypeError(f"{type(value).__name__} {value!r} given where a bool is required")
    if isinstance(column_field, IntegerField):
        if type(value) is not int:
            raise TypeError(f"{type(value).__name__} {value!r} given where an int is required")
        return value
    if isinstance(column_field, ScaledDecimalField | UtcTimestampField | TextOrJsonField):
        return column_field.db_value(value)
    if isinstance(column_field, TextField):
        if type(value) is not str:
            raise TypeError(f"{type(value).__name__} {value!r} given where text is required")
        return value
    raise TypeError(f"column type {type(column_field).__name__} is not handled")  # pragma: no cover


def _reference(table: str, index: int, column_field: ForeignKeyField, value: object,
               context: _Context) -> object:
    target = column_field.rel_model._meta.table_name
    if isinstance(value, RowRef):
        if value.table != target:
            raise ValueError(f"points at {target} rows, not at {value.table!r} rows")
        count = context.row_counts.get(value.table, 0)
        if type(value.index) is not int or not 0 <= value.index < count:
            raise ValueError(f"{value} names no row of this batch ({count} {target} rows)")
        earlier = _ORDER[value.table] < _ORDER[table] or (
            value.table == table and value.index < index
        )
        if not earlier:
            raise ValueError(f"{value} is not an earlier row of the batch")
        return value
    if isinstance(value, EntryRef):
        if target != _ENTRIES_TABLE:
            raise ValueError(f"points at {target} rows, not at entries")
        _check_entry_ref(value, context)
        return value
    if type(value) is not int or value < 1:
        raise TypeError(f"{value!r} given where a {target} id, a RowRef or an EntryRef is "
                        "required")
    return value


def _check_entry_ref(ref: EntryRef, context: _Context) -> None:
    if type(ref.index) is not int or not 0 <= ref.index < context.entry_count:
        raise ValueError(f"{ref} names no entry of this batch ({context.entry_count} entries)")


# -- writing rows (inside the transaction) ------------------------------------------------


def insert_rows(
    connection: sqlite3.Connection, prepared: Sequence[PreparedTable], entry_ids: Sequence[int]
) -> tuple[dict[str, list[int]], dict[str, list[list[object]]]]:
    """Give the rows ids, resolve their references, insert them one by one (so a refusal
    names its row). Returns the ids and the stored rows (ids included), per table."""
    ids: dict[str, list[int]] = {}
    written: dict[str, list[list[object]]] = {}
    for table in prepared:
        (last,) = connection.execute(
            f'SELECT COALESCE(MAX(id), 0) FROM "{table.table}"'  # noqa: S608 (a model name)
        ).fetchone()
        table_ids = list(range(last + 1, last + 1 + len(table.rows)))
        ids[table.table] = table_ids  # before inserting: a row may point at an earlier one
        positions = _PLANS[table.table].ref_positions
        stored_rows = []
        for row_id, values in zip(table_ids, table.rows, strict=True):
            stored = [row_id, *values]
            for position in positions:
                value = values[position]
                if type(value) is RowRef:  # the common reference, resolved inline
                    stored[position + 1] = ids[value.table][value.index]
                elif type(value) is EntryRef or type(value) is _RefList:
                    stored[position + 1] = _resolve(value, ids, entry_ids)
            stored_rows.append(stored)
        # In bulk; only when SQLite refuses a row is the table inserted again row by row,
        # so the refusal names its row.
        connection.execute("SAVEPOINT batch_rows")
        try:
            insert_rows_in_bulk(connection, table.insert_sql, stored_rows)
        except sqlite3.IntegrityError:
            connection.execute("ROLLBACK TO batch_rows")
            for index, stored in enumerate(stored_rows):
                try:
                    connection.execute(table.insert_sql, stored)
                except sqlite3.IntegrityError as problem:
                    raise InvalidRowError(table.table, index, str(problem)) from None
        finally:
            connection.execute("RELEASE batch_rows")
        written[table.table] = stored_rows
    return ids, written


def _resolve(value: object, ids: Mapping[str, list[int]], entry_ids: Sequence[int]) -> object:
    if isinstance(value, RowRef):
        return ids[value.table][value.index]
    if isinstance(value, EntryRef):
        return entry_ids[value.index]
    if isinstance(value, _RefList):
        return value.field.db_value(
            [entry_ids[item.index] if isinstance(item, EntryRef) else item
             for item in value.items]
        )
    return value
