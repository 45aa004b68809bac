"""Opening ledger and COA files: the writer's connection and read-only readers.

The writer opens an existing file read-write (never creating one by accident) with WAL,
foreign keys and full fsync; readers open with ``mode=ro`` and ``query_only`` so they can
never write, and under WAL they neither block the writer nor wait for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from peewee import Model, SqliteDatabase

from tbot.ledger.errors import LedgerFileError

BUSY_TIMEOUT_MS = 5000
"""How long a connection waits on a lock before giving up (a checkpoint, a creator)."""

WRITER_PRAGMAS: tuple[tuple[str, object], ...] = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "full"),
    ("busy_timeout", BUSY_TIMEOUT_MS),
)
READER_PRAGMAS: tuple[tuple[str, object], ...] = (
    ("query_only", 1),
    ("busy_timeout", BUSY_TIMEOUT_MS),
)


def _uri(path: Path, mode: str) -> str:
    # Percent-encode the path: '?', '#' and '%' are legal in file names but not in a URI.
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise LedgerFileError(f"{what} {path} does not exist")


def open_writer_database(path: Path, what: str = "ledger file") -> SqliteDatabase:
    """A connected read-write database on the existing file `path` (never creates one)."""
    _require_file(path, what)
    database = SqliteDatabase(_uri(path, "rw"), uri=True, pragmas=list(WRITER_PRAGMAS))
    database.connect()
    return database


def open_reader_database(path: Path, what: str = "ledger file") -> SqliteDatabase:
    """A connected read-only database on `path`: it cannot write, and does not block the
    writer. Bind models with `bound(...)` to query it through Peewee."""
    _require_file(path, what)
    database = SqliteDatabase(_uri(path, "ro"), uri=True, pragmas=list(READER_PRAGMAS))
    database.connect()
    return database


def open_reader_connection(path: Path, what: str = "ledger file") -> sqlite3.Connection:
    """A plain read-only sqlite3 connection on `path` (for backups and bulk scans)."""
    _require_file(path, what)
    connection = sqlite3.connect(_uri(path, "ro"), uri=True)
    for pragma, value in READER_PRAGMAS:
        connection.execute(f"PRAGMA {pragma} = {value}")
    return connection


def create_database(path: Path, *, wal: bool) -> SqliteDatabase:
    """A connected database on a new file `path` (used by the file creators only)."""
    pragmas: list[tuple[str, object]] = [("foreign_keys", 1), ("synchronous", "full")]
    if wal:
        pragmas.insert(0, ("journal_mode", "wal"))
    database = SqliteDatabase(str(path), pragmas=pragmas)
    database.connect()
    return database


@contextmanager
def bound(database: SqliteDatabase, models: Sequence[type[Model]]) -> Iterator[SqliteDatabase]:
    """Bind `models` to `database` for the duration of the block."""
    with database.bind_ctx(models):
        yield database
