"""Helpers shared by the backup tests: reading a set's increments and a ledger's rows."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

from tbot.config.paths import BotPaths
from tbot.ledger.backups import BackupSets
from tbot.ledger.backups.backup_set import increments_of


def ledger_rows(ledger: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of `ledger` (rowid order), SQLite's own tables aside."""
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {table: connection.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
                for table in tables}
    finally:
        connection.close()


def schema_of(ledger: Path) -> list[tuple[str, str]]:
    """(name, sql) of every schema object, by name."""
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    finally:
        connection.close()


def newest_set(paths: BotPaths) -> Path:
    """The newest complete set of the home (fails the test if there is none)."""
    newest = BackupSets(paths).newest()
    assert newest is not None, "no backup set"
    return newest


def increment_files(set_dir: Path) -> list[Path]:
    """The complete increments of a set, in order."""
    return [path for _, path in increments_of(set_dir)]


def increment_header(path: Path) -> dict[str, Any]:
    """The header line of an increment, as JSON."""
    return json.loads(gzip.decompress(path.read_bytes()).split(b"\n", 1)[0])


def rewrite_header(path: Path, **changes: Any) -> None:
    """Change header fields of an increment, keeping its body (and so its checksum)."""
    header, body = gzip.decompress(path.read_bytes()).split(b"\n", 1)
    data = {**json.loads(header), **changes}
    path.write_bytes(gzip.compress(json.dumps(data).encode() + b"\n" + body))
