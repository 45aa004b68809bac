"""One increment of a backup set: the rows a ledger gained since the previous backup.

File `inc-{sequence:08d}.jsonl.gz` in the set's folder: gzip of JSON lines (UTF-8, one
object a line, so `zcat FILE | head -1` shows the header):

1. the header: format, set name, sequence, `taken_at_utc`, the audit-chain head and the
   high-water marks before and after (`head_before`, `head_after`, `marks_before`,
   `marks_after`), the digests of the tables copied whole (`whole_after`) and of the
   schema (`schema_digest`), the number of rows, and `body_bytes` / `body_sha256` of
   everything after the header line;
2. when the schema changed since the previous backup, `{"schema": [[type, name, table,
   sql], ...]}` (the whole schema, creation order);
3. one line per table that changed, parents first: `{"table", "mode": "append"|"replace",
   "columns", "rows"}`; values are JSON numbers, strings and null (a BLOB, should one
   appear, is `{"base64": ...}`).

`read_increment` refuses (IncrementDamaged) a file that does not decompress to the end, a
header that is not one, or a body whose length or SHA-256 differs: a truncated or altered
increment is named, never half-applied.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tbot.ledger.backups.ledger_state import (
    ChainHead,
    LedgerState,
    SchemaObject,
    TableLayout,
    head_is_in,
    quote_identifier,
    read_state,
    rows_digest,
    whole_rows,
)
from tbot.ledger.errors import LedgerError

INCREMENT_FORMAT = "tbot-ledger-increment"
INCREMENT_VERSION = 1
_NAME = re.compile(r"^inc-(\d{8})\.jsonl\.gz$")
_COMPRESS_LEVEL = 1  # a few times faster than 6 and about as small on these rows
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes the gzip header and trailer itself


class BackupSetError(LedgerError):
    """A backup set that cannot be used as it is (restore refuses it), naming the file."""


class IncrementDamaged(BackupSetError):
    """An increment file that is truncated, altered or not an increment at all."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"increment {path.name} of backup set {path.parent.name} is "
                         f"damaged: {problem}")


def increment_name(sequence: int) -> str:
    """The file name of increment number `sequence` (from 1)."""
    return f"inc-{sequence:08d}.jsonl.gz"


def increment_sequence(name: str) -> int | None:
    """The sequence number in an increment file name, None for any other name."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class IncrementHeader:
    """The first line of an increment."""

    set_name: str
    sequence: int
    taken_at_utc: str
    head_before: ChainHead
    head_after: ChainHead
    marks_before: dict[str, int]
    marks_after: dict[str, int]
    whole_after: dict[str, str]
    schema_digest: str
    rows: int
    body_bytes: int
    body_sha256: str

    @property
    def state_after(self) -> LedgerState:
        """The ledger's state this increment brings a restore to."""
        return LedgerState(self.head_after, self.marks_after, self.whole_after,
                           self.schema_digest)

    def as_json(self) -> dict[str, Any]:
        """The header line's object."""
        return {
            "format": INCREMENT_FORMAT, "version": INCREMENT_VERSION, "set": self.set_name,
            "sequence": self.sequence, "taken_at_utc": self.taken_at_utc,
            "head_before": self.head_before.as_json(), "head_after": self.head_after.as_json(),
            "marks_before": self.marks_before, "marks_after": self.marks_after,
            "whole_after": self.whole_after, "schema_digest": self.schema_digest,
            "rows": self.rows, "body_bytes": self.body_bytes, "body_sha256": self.body_sha256,
        }

    @classmethod
    def from_json(cls, data: Any) -> IncrementHeader:
        """Parse a header line's object (KeyError/TypeError/ValueError when malformed)."""
        if data.get("format") != INCREMENT_FORMAT or data.get("version") != INCREMENT_VERSION:
            raise ValueError(f"not a version-{INCREMENT_VERSION} tbot ledger increment")
        before = LedgerState.from_json({"head": data["head_before"], "marks": data["marks_before"],
                                        "whole": {}, "schema_digest": ""})
        after = LedgerState.from_json({"head": data["head_after"], "marks": data["marks_after"],
                                       "whole": data["whole_after"],
                                       "schema_digest": data["schema_digest"]})
        return cls(str(data["set"]), int(data["sequence"]), str(data["taken_at_utc"]),
                   before.head, after.head, before.marks, after.marks, after.whole,
                   after.schema_digest, int(data["rows"]), int(data["body_bytes"]),
                   str(data["body_sha256"]))


@dataclass(frozen=True)
class TableRows:
    """The rows of one table in an increment: appended, or the table's whole content."""

    table: str
    replace: bool
    columns: tuple[str, ...]
    rows: list[Any]
    """Each row a sequence of stored values in `columns` order."""


@dataclass(frozen=True)
class Increment:
    """A whole increment, read and checked."""

    path: Path
    header: IncrementHeader
    schema: list[SchemaObject] | None
    tables: list[TableRows]


@dataclass(frozen=True)
class CollectedIncrement:
    """What `collect_increment` found: the file's bytes and header, or nothing to add."""

    data: bytes | None
    header: IncrementHeader | None
    state: LedgerState


def _blob_as_json(value: object) -> dict[str, str]:
    # Only called for what JSON cannot hold: rows are encoded as they come, no per-value
    # Python loop (that loop cost more than the rest of the increment together).
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store a {type(value).__name__} in an increment")


def _blob_from_json(item: dict[str, Any]) -> Any:
    if item.keys() == {"base64"}:
        return base64.b64decode(item["base64"])
    return item


def _line(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=_blob_as_json).encode("utf-8") + b"\n"


def collect_increment(
    connection: sqlite3.Connection,
    previous: LedgerState,
    *,
    set_name: str,
    sequence: int,
    taken_at_utc: str,
) -> CollectedIncrement:
    """The increment after `previous` of the file open on `connection` (inside the
    caller's read transaction). `data` is None when nothing changed since `previous`.

    Raises BackupSetError when the file does not continue `previous` (a table shrank or
    vanished, or the chain head `previous` ended on is not in the file): the set belongs
    to another ledger, or the ledger was replaced.
    """
    state, layouts, schema = read_state(connection)
    for table, mark in previous.marks.items():
        now = state.marks.get(table)
        if now is None or now < mark:
            raise BackupSetError(
                f"the ledger does not continue backup set {set_name}: table {table} "
                f"{'is gone' if now is None else f'ends at row {now}, the set at {mark}'}")
    if not head_is_in(connection, previous.head):
        raise BackupSetError(f"the ledger does not continue backup set {set_name}: its "
                             f"{previous.head} is not in the ledger")
    if (state.marks == previous.marks and state.whole == previous.whole
            and state.schema_digest == previous.schema_digest):
        return CollectedIncrement(None, None, state)
    # The body stays a list of pieces, hashed and compressed piece by piece: hashlib and
    # zlib release the GIL on large pieces, joining megabytes of rows would not, and this
    # runs beside the writer's thread (see `_appended_json`).
    body: list[bytes] = []
    if state.schema_digest != previous.schema_digest:
        body.append(_line({"schema": [list(item) for item in schema]}))
    count = 0
    appended = _appended_json(connection, layouts, previous, state)
    for layout in layouts:
        encoded = appended.get(layout.name)
        if encoded is not None:
            added, rows_text = encoded
            if added:
                count += added
                body += (b'{"table":' + _json(layout.name) + b',"mode":"append","columns":'
                         + _json(list(layout.columns)) + b',"rows":[', rows_text, b"]}\n")
            continue
        rows = _changed_rows(connection, layout, previous, state)
        if rows is None:
            continue
        count += len(rows)
        body.append(_line({"table": layout.name, "mode": "append" if layout.append_only else
                           "replace", "columns": list(layout.columns),
                           "rows": rows}))
    digest = hashlib.sha256()
    for piece in body:
        digest.update(piece)
    header = IncrementHeader(
        set_name, sequence, taken_at_utc, previous.head, state.head, dict(previous.marks),
        dict(state.marks), dict(state.whole), state.schema_digest, count,
        sum(map(len, body)), digest.hexdigest())
    return CollectedIncrement(_gzip([_line(header.as_json()), *body]), header, state)


def _gzip(pieces: list[bytes]) -> bytes:
    """`pieces` joined, as one gzip member (what `gzip.decompress` reads; the header's
    mtime is 0, so the same rows give the same file)."""
    compressor = zlib.compressobj(_COMPRESS_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    compressed = [compressor.compress(piece) for piece in pieces]
    compressed.append(compressor.flush())
    return b"".join(compressed)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _appended_json(connection: sqlite3.Connection, layouts: list[TableLayout],
                   previous: LedgerState, state: LedgerState) -> dict[str, tuple[int, bytes]]:
    """The new rows of the append-only tables as the text of their increment lines'
    JSON arrays without the brackets (UTF-8), by table: (0, b"") for a table that did not
    change. Tables this path does not
    serve (not append-only, new in this increment, or holding a value JSON cannot: a BLOB)
    are left out, for `_changed_rows`.

    SQLite builds the text (json_array per row, joined by group_concat: json_group_array
    would parse every row's text again), for every table in ONE statement: it runs while
    the writer's thread validates in Python, and each statement's return waits for the GIL
    (see `ledger_state.read_state`)."""
    served = [layout for layout in layouts
              if layout.append_only and layout.name in previous.marks]
    found = {layout.name: (0, b"") for layout in served
             if state.marks[layout.name] == previous.marks[layout.name]}
    changed = [layout for layout in served if layout.name not in found]
    if not changed:
        return found
    # The ORDER BY in each subquery orders its aggregate (an aggregate's subquery is not
    # flattened).
    selects = ", ".join(
        f"(SELECT count(*) FROM {quote_identifier(layout.name)} WHERE rowid > ?), "  # noqa: S608
        f"(SELECT group_concat(encoded, ',') FROM (SELECT json_array("
        + ", ".join(quote_identifier(column) for column in layout.columns)
        + f") AS encoded FROM {quote_identifier(layout.name)} WHERE rowid > ? ORDER BY rowid))"
        for layout in changed)
    marks = [previous.marks[layout.name] for layout in changed for _ in range(2)]
    factory = connection.text_factory
    connection.text_factory = bytes  # SQLite's UTF-8 as it is: no decoding and encoding
    try:
        values = connection.execute(f"SELECT {selects}", marks).fetchone()
    except sqlite3.OperationalError:  # "JSON cannot hold BLOB values": the Python path
        return found
    finally:
        connection.text_factory = factory
    for index, layout in enumerate(changed):
        count, text = values[2 * index], values[2 * index + 1]
        found[layout.name] = (int(count), text or b"")
    return found


def _changed_rows(connection: sqlite3.Connection, layout: TableLayout, previous: LedgerState,
                  state: LedgerState) -> list[tuple[Any, ...]] | None:
    """The rows of `layout` to record, or None when it did not change."""
    if layout.append_only:
        mark = previous.marks.get(layout.name)
        if mark is None:
            # New in this increment (a migration), or just became append-only: its rows
            # are all recorded; restore creates the table from the schema first.
            mark = 0
        if state.marks[layout.name] == mark and layout.name in previous.marks:
            return None
        return connection.execute(layout.select_sql("WHERE rowid > ?"), (mark,)).fetchall()
    if previous.whole.get(layout.name) == state.whole[layout.name]:
        return None
    rows = whole_rows(connection, layout)
    if rows_digest(rows) != state.whole[layout.name]:  # cannot happen in one read txn
        raise BackupSetError(f"table {layout.name} changed while it was being backed up")
    return rows


def read_increment_header(path: Path) -> IncrementHeader:
    """The header of increment `path` without reading its body: what a writer resuming a
    set needs (the state the set has reached). Reading a 200,000-row increment whole for
    that took a second at every writer's start. Completeness is still checked: the gzip
    trailer's length must equal the header line's plus the body's (a truncated file's last
    bytes are not that); the body's own checksum is checked by restores and the drill."""
    try:
        with gzip.open(path, "rb") as stream:
            header_line = stream.readline()
        size = path.stat().st_size
        with path.open("rb") as raw:
            raw.seek(max(size - 4, 0))
            trailer = int.from_bytes(raw.read(4), "little")
    except (EOFError, OSError, zlib.error) as problem:
        raise IncrementDamaged(path, f"it cannot be read ({problem})") from None
    try:
        header = IncrementHeader.from_json(json.loads(header_line))
    except (ValueError, KeyError, TypeError, AttributeError) as problem:
        raise IncrementDamaged(path, f"its header is not valid ({problem})") from None
    if trailer != (len(header_line) + header.body_bytes) % 2**32:
        raise IncrementDamaged(path, "its length does not match its header; truncated?")
    if header.sequence != increment_sequence(path.name):
        raise IncrementDamaged(path, f"it says it is increment {header.sequence}")
    return header


def read_increment(path: Path) -> Increment:
    """Read and check one increment file (IncrementDamaged if it is not whole)."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (EOFError, OSError, zlib.error) as problem:
        raise IncrementDamaged(path, f"it does not decompress ({problem}); truncated?") from None
    header_line, newline, body = raw.partition(b"\n")
    if not newline:
        raise IncrementDamaged(path, "no header line")
    try:
        header = IncrementHeader.from_json(json.loads(header_line))
    except (ValueError, KeyError, TypeError, AttributeError) as problem:
        raise IncrementDamaged(path, f"its header is not valid ({problem})") from None
    if len(body) != header.body_bytes:
        raise IncrementDamaged(path, f"{len(body)} body bytes where the header says "
                               f"{header.body_bytes}; truncated?")
    if hashlib.sha256(body).hexdigest() != header.body_sha256:
        raise IncrementDamaged(path, "its content does not match its SHA-256")
    if header.sequence != increment_sequence(path.name):
        raise IncrementDamaged(path, f"it says it is increment {header.sequence}")
    schema: list[SchemaObject] | None = None
    tables: list[TableRows] = []
    try:
        for line in body.splitlines():
            item = json.loads(line, object_hook=_blob_from_json)
            if "schema" in item:
                schema = [(str(a), str(b), str(c), str(d)) for a, b, c, d in item["schema"]]
                continue
            tables.append(TableRows(
                str(item["table"]), item["mode"] == "replace", tuple(item["columns"]),
                item["rows"]))
    except (ValueError, KeyError, TypeError) as problem:
        raise IncrementDamaged(path, f"a line is not valid ({problem})") from None
    return Increment(path, header, schema, tables)
