"""The layout of a simulated broker's state file, and how a file is recognised as one.

A state file carries its own ``application_id`` and ``user_version``, so another SQLite
file (a ledger, say) or a state file of an unknown version is told apart before anything is
read or written. A file of an older version this tbot knows is migrated in place on open,
in one transaction. Tables are STRICT: money and quantities stay the exact text they were
written as.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tbot.broker.sim.errors import SimStateError

SCHEMA_VERSION = 2
APPLICATION_ID = 0x54425342
"""``PRAGMA application_id`` of every state file ("TBSB"): tells ours from other SQLite files."""
SQLITE_HEADER = b"SQLite format 3\x00"

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE orders (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL UNIQUE,
        client_order_id TEXT NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity TEXT NOT NULL,
        filled_quantity TEXT NOT NULL,
        average_price TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled', 'rejected')),
        submitted_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        reject_reason TEXT
    ) STRICT""",
    "CREATE INDEX orders_by_status ON orders (status)",
    """CREATE TABLE fills (
        seq INTEGER PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL REFERENCES orders (order_id),
        client_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        filled_at TEXT NOT NULL,
        announced_price TEXT NOT NULL,
        reported INTEGER NOT NULL CHECK (reported IN (0, 1)),
        pending_until TEXT
    ) STRICT""",
    "CREATE INDEX fills_by_time ON fills (filled_at, seq)",
    "CREATE INDEX fills_by_order ON fills (order_id, seq)",
    """CREATE TABLE cash_activities (
        seq INTEGER PRIMARY KEY,
        activity_id TEXT NOT NULL UNIQUE,
        activity_type TEXT NOT NULL,
        amount TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        description TEXT NOT NULL,
        symbol TEXT
    ) STRICT""",
    "CREATE INDEX cash_activities_by_time ON cash_activities (occurred_at, seq)",
    """CREATE TABLE positions (
        symbol TEXT PRIMARY KEY,
        quantity TEXT NOT NULL,
        average_cost TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE last_prices (
        symbol TEXT PRIMARY KEY,
        price TEXT NOT NULL,
        as_of TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE fault_log (
        seq INTEGER PRIMARY KEY,
        fault TEXT NOT NULL,
        sim_day TEXT NOT NULL,
        fired_at TEXT NOT NULL,
        detail TEXT NOT NULL,
        UNIQUE (fault, sim_day)
    ) STRICT""",
)
"""The current layout (version `SCHEMA_VERSION`): what a new file is created with."""

SCHEMA_V1: tuple[str, ...] = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE orders (
        seq INTEGER PRIMARY KEY,
        order_id TEXT NOT NULL UNIQUE,
        client_order_id TEXT NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity TEXT NOT NULL,
        filled_quantity TEXT NOT NULL,
        average_price TEXT,
        status TEXT NOT NULL
            CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled', 'rejected')),
        submitted_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        reject_reason TEXT
    ) STRICT""",
    "CREATE INDEX orders_by_status ON orders (status)",
    """CREATE TABLE fills (
        seq INTEGER PRIMARY KEY,
        fill_id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL REFERENCES orders (order_id),
        client_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity TEXT NOT NULL,
        price TEXT NOT NULL,
        fee TEXT NOT NULL,
        filled_at TEXT NOT NULL,
        announced_price TEXT NOT NULL,
        reported INTEGER NOT NULL CHECK (reported IN (0, 1))
    ) STRICT""",
    "CREATE INDEX fills_by_time ON fills (filled_at, seq)",
    """CREATE TABLE cash_activities (
        seq INTEGER PRIMARY KEY,
        activity_id TEXT NOT NULL UNIQUE,
        activity_type TEXT NOT NULL,
        amount TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        description TEXT NOT NULL,
        symbol TEXT
    ) STRICT""",
    "CREATE INDEX cash_activities_by_time ON cash_activities (occurred_at, seq)",
    """CREATE TABLE positions (
        symbol TEXT PRIMARY KEY,
        quantity TEXT NOT NULL,
        average_cost TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE last_prices (
        symbol TEXT PRIMARY KEY,
        price TEXT NOT NULL,
        as_of TEXT NOT NULL
    ) STRICT""",
    """CREATE TABLE fault_log (
        seq INTEGER PRIMARY KEY,
        fault TEXT NOT NULL,
        sim_day TEXT NOT NULL,
        fired_at TEXT NOT NULL,
        detail TEXT NOT NULL,
        UNIQUE (fault, sim_day)
    ) STRICT""",
)
"""The layout version-1 files were created with. Frozen: migrations start from it."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1 -> 2: a fill may be reported pending (the pending_fill fault) until this time.
    1: (
        "ALTER TABLE fills ADD COLUMN pending_until TEXT",
        "CREATE INDEX fills_by_order ON fills (order_id, seq)",
    ),
}
"""Statements that bring a file of version n to n + 1, run in one transaction on open."""
SCHEMAS: dict[int, tuple[str, ...]] = {1: SCHEMA_V1, SCHEMA_VERSION: SCHEMA}
"""The layout of every version this tbot can open (older ones are migrated)."""
REQUIRED_META_KEYS = ("account_id", "currency", "cash", "created_at")


def check_is_sqlite(path: Path) -> None:
    """Refuse (SimStateError) anything at `path` but a regular file with an SQLite header,
    before SQLite gets a chance to touch it."""
    if not path.is_file():
        raise SimStateError(f"simulated broker state file {path} is not a regular file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as failure:
        raise SimStateError(
            f"simulated broker state file {path} cannot be read ({failure.strerror})"
        ) from None
    # SQLite would happily turn an empty or foreign file into a fresh database: refuse first.
    if header != SQLITE_HEADER:
        raise SimStateError(
            f"simulated broker state file {path} is not an SQLite database; "
            "it was left untouched (move it aside to start a new simulated account)"
        )


def _expected_columns(version: int) -> dict[str, list[str]]:
    reference = sqlite3.connect(":memory:")
    try:
        for statement in SCHEMAS[version]:
            reference.execute(statement)
        return _columns_by_table(reference)
    finally:
        reference.close()


def _columns_by_table(connection: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
    ]
    return {
        table: [
            column
            for (column,) in connection.execute(
                "SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,)
            ).fetchall()
        ]
        for table in tables
    }


def check_schema(connection: sqlite3.Connection, path: Path) -> int:
    """Refuse (SimStateError) a database that is not a state file of a schema version this
    tbot reads, with the tables, columns and account keys of that version; return the
    version (older than `SCHEMA_VERSION` until `migrate` has run). Reads only."""
    refusal = f"simulated broker state file {path}"
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    if application_id != APPLICATION_ID:
        raise SimStateError(
            f"{refusal} is an SQLite database of another kind, not a simulated broker's "
            "state; it was left untouched"
        )
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version not in SCHEMAS:
        raise SimStateError(
            f"{refusal} has schema version {version}; this tbot reads versions 1 to "
            f"{SCHEMA_VERSION}. It was left untouched"
        )
    found = _columns_by_table(connection)
    for table, columns in _expected_columns(version).items():
        if found.get(table) != columns:
            raise SimStateError(
                f"{refusal} has a damaged schema (table {table}: expected columns "
                f"{', '.join(columns)}, found {', '.join(found.get(table, [])) or 'none'}); "
                "it was left untouched"
            )
    present = {key for (key,) in connection.execute("SELECT key FROM meta").fetchall()}
    missing = [key for key in REQUIRED_META_KEYS if key not in present]
    if missing:
        raise SimStateError(f"{refusal} lacks {', '.join(missing)}; it was left untouched")
    return int(version)


def migrate(connection: sqlite3.Connection, path: Path) -> None:
    """Bring a state file `check_schema` accepted up to `SCHEMA_VERSION`, in one
    transaction (a crash or a failure leaves it at its old version, unchanged). A file
    already current is not written to."""
    if connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated it meanwhile.
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        while version < SCHEMA_VERSION:
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            version += 1
        # user_version lives in the database header, so it commits (or not) with the rest.
        connection.execute(f"PRAGMA user_version = {int(version)}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    check_schema(connection, path)
