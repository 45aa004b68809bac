"""The canonical serialisations behind the audit hash chain, shared by writer and verify.

A row's canonical text is the compact JSON array of its stored column values in table
order, exactly what SQLite's ``json_array(col1, col2, ...)`` prints: integers as digits,
text as JSON strings (UTF-8, not ASCII-escaped), NULL as ``null``. Because the text is what
SQLite itself would print, an auditor can recompute every hash with the sqlite3 shell and
`sha256sum` (docs/ledger-schema.md shows how), and `verify` builds the text in SQL.

- audit row: ``row_hash = sha256(json_array(id, created_at_utc, actor, action, subject,
  details, prev_hash))``; ``prev_hash`` is the previous row's ``row_hash``, 64 zeros for
  the first row.
- entry: ``entry_digest = sha256([entry_row, [posting_row, ...by id], trade_row|null])``,
  stored in its audit row's `details`, so an entry, posting or trade altered behind the
  triggers' back no longer matches.
- `details` is canonical JSON of an object: sorted keys, compact separators.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from peewee import Model

from tbot.ledger.models import AuditRow, LedgerEntry, LedgerPosting, Trade, column_names
from tbot.ledger.timestamps import format_utc

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first audit row."""

# Compact, UTF-8 (no ASCII escapes): the same text as SQLite's json_array for ints, text
# and NULL. Tuples encode as arrays.
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_quote = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept
_DETAILS_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)

AUDIT_HASHED_COLUMNS: tuple[str, ...] = tuple(
    column for column in column_names(AuditRow) if column != "row_hash"
)


def sha256_hex(text: str) -> str:
    """SHA-256 of `text` encoded as UTF-8, as 64 lower-case hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(value: object) -> str:
    return _ROW_ENCODER.encode(value)


def row_text(values: Sequence[object]) -> str:
    """The canonical text of one row given its stored values in column order."""
    return _encode(values)


def entry_text(
    entry_row: Sequence[object],
    posting_rows: Sequence[Sequence[object]],
    trade_row: Sequence[object] | None,
) -> str:
    """The canonical text of an entry with its postings (ordered by id) and trade row."""
    return _encode((entry_row, posting_rows, trade_row))


def audit_row_hash(values_without_hash: Sequence[object]) -> str:
    """`row_hash` of an audit row given every column but `row_hash`, in column order."""
    return hashlib.sha256(_encode(values_without_hash).encode("utf-8")).hexdigest()


def canonical_details(details: Mapping[str, Any]) -> str:
    """`details` as canonical JSON text: sorted keys, compact, UTF-8.

    Accepts str, int, bool, None, Decimal (written as its string), aware datetimes (stored
    timestamp text), and lists/tuples/mappings of those. Floats are refused (TypeError):
    their text form is not exact.
    """
    return _DETAILS_ENCODER.encode(_plain(details))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        raise TypeError(f"float {value!r} refused in audit details: pass a Decimal or a str")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, Mapping):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit details keys must be str, not {type(key).__name__}")
            plain[key] = _plain(item)
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise TypeError(f"{type(value).__name__} cannot go into audit details")


# -- the same texts, built by SQLite (for verify and for auditors) ------------------------


def _json_array_sql(model: type[Model], alias: str, columns: Sequence[str] | None = None) -> str:
    names = columns if columns is not None else column_names(model)
    return "json_array(" + ", ".join(f'{alias}."{name}"' for name in names) + ")"


def row_text_sql(model: type[Model], alias: str) -> str:
    """SQL expression for the canonical text of one `model` row (alias `alias`)."""
    return _json_array_sql(model, alias)


def audit_text_sql(alias: str = "a") -> str:
    """SQL expression for an audit row's canonical text (the input of its row_hash)."""
    return _json_array_sql(AuditRow, alias, AUDIT_HASHED_COLUMNS)


def entry_text_sql(alias: str = "e") -> str:
    """SQL expression for an entry's canonical text (the input of its entry_digest)."""
    # Identifiers come from the models, never from input: S608 does not apply.
    posting_row = _json_array_sql(LedgerPosting, "p")
    postings = (
        f"json((SELECT json_group_array(json(posting)) FROM (SELECT {posting_row} AS posting "  # noqa: S608
        f"FROM {LedgerPosting._meta.table_name} p WHERE p.entry_id = {alias}.id ORDER BY p.id)))"
    )
    trade_row = _json_array_sql(Trade, "t")
    trade = (
        f"json((SELECT {trade_row} FROM {Trade._meta.table_name} t "  # noqa: S608
        f"WHERE t.entry_id = {alias}.id))"
    )
    return f"json_array({_json_array_sql(LedgerEntry, alias)}, {postings}, {trade})"


def entry_details(
    entry_digest: str, entry_id: int, fitid: str, reverses_fitid: str | None = None
) -> str:
    """The canonical `details` of an entry's audit row: the same text `canonical_details`
    gives, spelled out because it runs once per posted entry (keys already sorted)."""
    text = f'{{"entry_digest":"{entry_digest}","entry_id":{int(entry_id)},"fitid":{_quote(fitid)}'
    if reverses_fitid is not None:
        text += f',"reverses_fitid":{_quote(reverses_fitid)}'
    return text + "}"
