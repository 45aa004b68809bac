"""Per-day exports of the ledger's records, for the archive.

The ledger keeps every row forever (append-only), so these are copies, made so that a
year's reconciliation, sync, trade and mapping records can be read from the archive alone,
in a documented shape, without the ledger's database. Each export is JSON lines:

    {"format": "tbot-archive-export", "kind": "recon", "day": "2026-03-02",
     "export_version": 1, "schema_version": 1, "tables": ["reconciliation_log", ...]}
    {"table": "reconciliation_log", "row": {"id": 17, "timestamp_utc": "...", ...}}
    ...

A day's export is made once that day is older than `ARCHIVE_AFTER_DAYS`. Rows never arrive
late for a day whose timestamp is when the row was written; for the others (a sync that
books an old trade), a later run that counts more rows for an exported day exports the day
again as part 2, 3...: nothing already archived is replaced.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, BinaryIO

from tbot.ledger.mapping_models import MAPPING_SCHEMA_VERSION
from tbot.ledger.recon_models import RECON_SCHEMA_VERSION

EXPORT_FORMAT = "tbot-archive-export"
EXPORT_VERSION = 1
TRADES_SCHEMA_VERSION = 1
"""The `trades` table's shape as exported (its columns in docs/ledger-schema.md)."""


@dataclass(frozen=True)
class DailyExport:
    """One kind of per-day export: which tables, by which day column."""

    kind: str
    schema_version: int
    tables: tuple[tuple[str, str], ...]
    """(table, the column whose first ten characters are the row's UTC day)."""


DAILY_EXPORTS: tuple[DailyExport, ...] = (
    DailyExport("sync", RECON_SCHEMA_VERSION,
                (("sync_runs", "started_at_utc"), ("broker_records", "fetched_at_utc"))),
    DailyExport("recon", RECON_SCHEMA_VERSION,
                (("reconciliation_log", "timestamp_utc"), ("position_checks", "checked_at_utc"),
                 ("balance_assertions", "asserted_at_utc"))),
    DailyExport("trades", TRADES_SCHEMA_VERSION, (("trades", "dtposted"),)),
    DailyExport("mapping-decisions", MAPPING_SCHEMA_VERSION,
                (("mapping_decisions", "decided_at_utc"),)),
)


def _tables_present(connection: sqlite3.Connection) -> set[str]:
    return {name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}


@dataclass(frozen=True)
class DayRows:
    """One day's rows of an export: how many, and the rowid span of each table holding
    them (the day's rows lie within it, so a day is read by rowid, not by a full scan)."""

    count: int
    spans: dict[str, tuple[int, int]]


def day_counts(connection: sqlite3.Connection, export: DailyExport, before: date
               ) -> dict[date, DayRows]:
    """The rows per day of `export`'s tables, for the days before `before` (one scan of
    each table)."""
    present = _tables_present(connection)
    days: dict[date, DayRows] = {}
    for table, column in export.tables:
        if table not in present:
            continue  # a ledger from before the table existed
        # Table and column names come from DAILY_EXPORTS, never from input.
        query = (f"SELECT substr({column}, 1, 10) AS day, count(*), min(rowid), "  # noqa: S608
                 f"max(rowid) FROM {table} WHERE {column} < ? GROUP BY day")
        for day_text, count, low, high in connection.execute(query, (before.isoformat(),)):
            day = date.fromisoformat(day_text)
            known = days.get(day, DayRows(0, {}))
            days[day] = DayRows(known.count + count, {**known.spans, table: (low, high)})
    return days


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return value


def write_daily_export(connection: sqlite3.Connection, export: DailyExport, day: date,
                       out: BinaryIO, spans: dict[str, tuple[int, int]] | None = None) -> int:
    """Write `export`'s rows of `day` to `out` as JSON lines; returns the row count.
    `spans` (from `day_counts`) bounds each table's read by rowid, so the export holds
    exactly the rows counted; a table without a span is read whole for the day."""
    present = _tables_present(connection)
    tables = [(table, column) for table, column in export.tables if table in present]
    spans = spans or {}
    header = {"format": EXPORT_FORMAT, "kind": export.kind, "day": day.isoformat(),
              "export_version": EXPORT_VERSION, "schema_version": export.schema_version,
              "tables": [table for table, _ in tables]}
    out.write(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
    start, end = day.isoformat(), date.fromordinal(day.toordinal() + 1).isoformat()
    rows = 0
    for table, column in tables:
        low, high = spans.get(table, (0, 2**63 - 1))
        cursor = connection.execute(
            f"SELECT * FROM {table} WHERE rowid BETWEEN ? AND ? AND {column} >= ? "  # noqa: S608
            f"AND {column} < ? ORDER BY rowid",
            (low, high, start, end))
        names = [description[0] for description in cursor.description]
        for row in cursor:
            record = {"table": table,
                      "row": {name: _json_value(value) for name, value in zip(names, row,
                                                                              strict=True)}}
            out.write(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
                      + b"\n")
            rows += 1
    return rows


@dataclass(frozen=True)
class MappingVersionRow:
    """A mapping version to export: its number and when it was made."""

    version: int
    created: date


def mapping_versions(connection: sqlite3.Connection, before: date) -> list[MappingVersionRow]:
    """The mapping versions made before `before`."""
    if "coa_mapping_versions" not in _tables_present(connection):
        return []
    return [MappingVersionRow(version, date.fromisoformat(created[:10]))
            for version, created in connection.execute(
                "SELECT version, created_at_utc FROM coa_mapping_versions "
                "WHERE created_at_utc < ? ORDER BY version", (before.isoformat(),))]


def write_mapping_version(connection: sqlite3.Connection, version: int, out: BinaryIO) -> None:
    """Write one mapping version (its row, then every rule) as JSON lines."""
    header = {"format": EXPORT_FORMAT, "kind": "mapping-version", "version": version,
              "export_version": EXPORT_VERSION, "schema_version": MAPPING_SCHEMA_VERSION,
              "tables": ["coa_mapping_versions", "coa_mapping_rules"]}
    out.write(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
    for record in _version_rows(connection, version):
        out.write(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8")
                  + b"\n")


def _version_rows(connection: sqlite3.Connection, version: int) -> Iterator[dict[str, Any]]:
    cursor = connection.execute("SELECT * FROM coa_mapping_versions WHERE version = ?",
                                (version,))
    names = [description[0] for description in cursor.description]
    version_id = None
    for row in cursor:
        values = dict(zip(names, row, strict=True))
        version_id = values["id"]
        yield {"table": "coa_mapping_versions",
               "row": {name: _json_value(value) for name, value in values.items()}}
    if version_id is None:
        return
    cursor = connection.execute(
        "SELECT * FROM coa_mapping_rules WHERE version_id = ? ORDER BY rule_key", (version_id,))
    names = [description[0] for description in cursor.description]
    for row in cursor:
        yield {"table": "coa_mapping_rules",
               "row": {name: _json_value(value) for name, value in zip(names, row,
                                                                       strict=True)}}
