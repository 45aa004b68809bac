"""`insert_rows_in_bulk`: many rows to an INSERT, the same rows as `executemany`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tbot.ledger.schema import ROWS_PER_INSERT, insert_rows_in_bulk

INSERT = 'INSERT INTO "t" ("id", "name", "note") VALUES (?, ?, ?)'


@pytest.fixture
def connection() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:", isolation_level=None)
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT)")
    yield connection
    connection.close()


def _rows(count: int) -> list[tuple[object, ...]]:
    return [(number, f"row {number}", None if number % 3 else "ünï \"q\"")
            for number in range(1, count + 1)]


@pytest.mark.parametrize("count", [1, ROWS_PER_INSERT, 2 * ROWS_PER_INSERT + 7])
def test_rows_go_in_as_executemany_puts_them(connection: sqlite3.Connection,
                                             count: int) -> None:
    rows = _rows(count)
    insert_rows_in_bulk(connection, INSERT, rows)
    assert connection.execute("SELECT * FROM t ORDER BY rowid").fetchall() == rows


def test_no_rows_is_no_statement(connection: sqlite3.Connection) -> None:
    insert_rows_in_bulk(connection, INSERT, [])
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_statements_stay_within_sqlites_limit_on_parameters(
    connection: sqlite3.Connection,
) -> None:
    connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)  # 3 rows of 3 columns
    rows = _rows(11)
    insert_rows_in_bulk(connection, INSERT, rows)
    assert connection.execute("SELECT * FROM t ORDER BY rowid").fetchall() == rows


def test_rows_of_different_lengths_are_refused_before_anything_is_inserted(
    connection: sqlite3.Connection,
) -> None:
    # Flattened, the short row and the long one would add up and shift every value.
    with pytest.raises(ValueError, match="different lengths"):
        insert_rows_in_bulk(connection, INSERT, [(1, "a"), (2, "b", None, "x")])
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_refused_row_fails_its_statement_and_names_the_constraint(
    connection: sqlite3.Connection,
) -> None:
    rows = _rows(5)
    rows[3] = (4, None, None)
    connection.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        insert_rows_in_bulk(connection, INSERT, rows)
    connection.execute("ROLLBACK")
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_statement_that_is_not_one_of_insert_statement_is_refused(
    connection: sqlite3.Connection,
) -> None:
    with pytest.raises(ValueError, match="single-row INSERT"):
        insert_rows_in_bulk(connection, "DELETE FROM t WHERE id = ?", [(1,)])
