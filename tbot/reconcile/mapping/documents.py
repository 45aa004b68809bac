"""Export and import of one rule-set version as a JSON document.

The document carries what an external auditor, or a new bot seeded from this one, needs
to trust it: the schema and its version, the bot it came from, the version number and its
provenance, and the SHA-256 of the canonical rules, checked on import against the rules
themselves. An import that fails any check is refused whole, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tbot.clock import utc_text
from tbot.ledger.chart import STANDARD_CHART, Chart
from tbot.reconcile.mapping.rules import RuleError, RuleSet, content_hash
from tbot.reconcile.mapping.store import VersionRow

DOCUMENT_SCHEMA = "tbot.coa-mapping"
DOCUMENT_SCHEMA_VERSION = 1
MAX_DOCUMENT_BYTES = 5_000_000
_FIELDS = frozenset({"schema", "schema_version", "bot_identity", "version", "action",
                     "author", "reason", "created_at", "content_hash", "rules"})


class DocumentError(ValueError):
    """A mapping document that cannot be imported; the message says why."""


def export_document(version: VersionRow, rules: RuleSet, bot_identity: str) -> dict[str, Any]:
    """Version `version` (with its `rules`) as an export document."""
    return {
        "schema": DOCUMENT_SCHEMA,
        "schema_version": DOCUMENT_SCHEMA_VERSION,
        "bot_identity": bot_identity,
        "version": version.version,
        "action": version.action,
        "author": version.author,
        "reason": version.reason,
        "created_at": utc_text(version.created_at),
        "content_hash": version.content_hash,
        "rules": rules.content(),
    }


def document_text(document: Mapping[str, Any]) -> str:
    """The document as the file holds it (stable, readable JSON)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_document(text: str | bytes, chart: Chart = STANDARD_CHART
                  ) -> tuple[dict[str, Any], RuleSet]:
    """The document and its checked rule set; DocumentError naming the first problem."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise DocumentError(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise DocumentError("the document must be a JSON object")
    if document.get("schema") != DOCUMENT_SCHEMA:
        raise DocumentError(f"schema is {document.get('schema')!r}, not {DOCUMENT_SCHEMA!r}")
    if document.get("schema_version") != DOCUMENT_SCHEMA_VERSION:
        raise DocumentError(
            f"schema_version {document.get('schema_version')!r} is not supported (this "
            f"tbot reads version {DOCUMENT_SCHEMA_VERSION})")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise DocumentError(f"unknown field(s) {', '.join(unknown)}")
    for name in ("bot_identity", "content_hash"):
        if not isinstance(document.get(name), str) or not document[name]:
            raise DocumentError(f"{name} is missing")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DocumentError(f"version must be a whole number ≥ 1, not {version!r}")
    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list):
        raise DocumentError("rules must be a list")
    if content_hash(raw_rules) != document["content_hash"]:
        raise DocumentError(
            "content_hash does not match the rules: the document was changed after export")
    try:
        rules = RuleSet.from_dicts(raw_rules, chart)
    except RuleError as error:
        raise DocumentError(f"rule refused: {error}") from None
    if rules.content_hash != document["content_hash"]:
        raise DocumentError("the rules are not in canonical form (fields or order differ "
                            "from an export)")
    return document, rules
