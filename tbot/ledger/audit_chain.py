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
- reconciliation rows written by one batch: ``recon_digest = sha256({table: [row, ...]})``
  (canonical JSON: tables as sorted keys, each row's stored values in column order, rows
  by id), stored in the batch's audit row `details` with the ids of those rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from peewee import Model

from tbot.ledger.canonical import canonical_json, canonical_json_of_plain
from tbot.ledger.models import AuditRow, LedgerEntry, LedgerPosting, Trade, column_names
from tbot.ledger.recon_models import RECON_MODELS

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first audit row."""

POST_ACTION = "entry.post"
REVERSE_ACTION = "entry.reverse"
CREATE_ACTION = "ledger.create"
MIGRATE_ACTION = "ledger.migrate"
WRITER_ACTIONS = frozenset({POST_ACTION, REVERSE_ACTION, CREATE_ACTION, MIGRATE_ACTION})
"""Audit actions the writer uses itself (a batch's action must be another)."""

# Compact, UTF-8 (no ASCII escapes): the same text as SQLite's json_array for ints, text
# and NULL. Tuples encode as arrays. Rows are plain tuples: no cycles to look for (that check
# cost a tenth of the encoding).
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_quote = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept


def _row_encoder() -> Callable[[object], str]:
    """`_ROW_ENCODER.encode`, without building its C encoder again on every call.

    `JSONEncoder.encode` makes a new C encoder (`json.encoder.c_make_encoder`, with these
    same arguments) for each value: a third of the cost of encoding one row, twice per
    posted entry. The C encoder is the standard library's, not documented: where it is
    missing, `JSONEncoder.encode` it is. Both give the same text (tests pin it).
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return _ROW_ENCODER.encode
    encoder = _ROW_ENCODER
    iterencode = make_encoder(None, encoder.default, _quote, None, encoder.key_separator,
                              encoder.item_separator, False, False, True)
    join = "".join

    def encode(value: object) -> str:
        return join(iterencode(value, 0))

    return encode


_encode = _row_encoder()

AUDIT_HASHED_COLUMNS: tuple[str, ...] = tuple(
    column for column in column_names(AuditRow) if column != "row_hash"
)


def sha256_hex(text: str) -> str:
    """SHA-256 of `text` encoded as UTF-8, as 64 lower-case hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def recon_rows_text(rows: Mapping[str, Sequence[Sequence[object]]]) -> str:
    """The canonical text of the reconciliation rows one batch wrote: a JSON object with a
    key per table (sorted) holding its rows' stored values in column order, rows by id."""
    # Stored values are already plain (int, str, None): encoded as they are.
    return canonical_json_of_plain({table: [list(row) for row in table_rows]
                                    for table, table_rows in rows.items()})


def canonical_details(details: Mapping[str, Any]) -> str:
    """`details` as canonical JSON text: sorted keys, compact, UTF-8.

    Accepts str, int, bool, None, Decimal (written as its string), aware datetimes (stored
    timestamp text), and lists/tuples/mappings of those. Floats are refused (TypeError):
    their text form is not exact.
    """
    if not isinstance(details, Mapping):
        raise TypeError(f"audit details must be a mapping, not {type(details).__name__}")
    return canonical_json(details)


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


def recon_rows_text_sql(audit_id: str = "$ID") -> str:
    """A statement giving the canonical text of the rows listed by batch audit row
    `audit_id` (an SQL expression: a number, a parameter), the input of its recon_digest.
    Equal to `recon_rows_text` for every batch that wrote at least one row."""
    selects = " UNION ALL ".join(
        f"SELECT '{table}', x.id, {_json_array_sql(model, 'x')} FROM {table} x "  # noqa: S608
        f"JOIN ids ON ids.tbl = '{table}' AND ids.id = x.id"
        for model in RECON_MODELS
        for table in (model._meta.table_name,)
    )
    return (
        "WITH ids(tbl, id) AS (SELECT j.key, k.value FROM audit_trail a, "  # noqa: S608
        f"json_each(a.details, '$.row_ids') j, json_each(j.value) k WHERE a.id = {audit_id}), "
        f"r(tbl, id, row) AS ({selects}) "
        "SELECT '{' || group_concat(json_quote(tbl) || ':' || rows, ',') || '}' "
        "FROM (SELECT tbl, '[' || group_concat(row, ',') || ']' AS rows "
        "FROM (SELECT * FROM r ORDER BY tbl, id) GROUP BY tbl ORDER BY tbl)"
    )


def entry_details(
    entry_digest: str, entry_id: int, fitid: str, reverses_fitid: str | None = None
) -> str:
    """The canonical `details` of an entry's audit row: the same text `canonical_details`
    gives, spelled out because it runs once per posted entry (keys already sorted)."""
    text = f'{{"entry_digest":"{entry_digest}","entry_id":{int(entry_id)},"fitid":{_quote(fitid)}'
    if reverses_fitid is not None:
        text += f',"reverses_fitid":{_quote(reverses_fitid)}'
    return text + "}"
