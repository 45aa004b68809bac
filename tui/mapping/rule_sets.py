"""The rule-set answers as plain data: a version's rules (`mapping.rules`), the versions
(`mapping.versions`), how two differ (`mapping.diff`), what a replay would change
(`mapping.replay`), what a rule being edited would match (`mapping.preview_rule`), and what
an import or a rollback wrote (docs/protocol.md, "Mapping").

A malformed answer raises `SnapshotError` naming the field, like `queue_items`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tui.mapping.fields import (
    expect_decimal,
    expect_int,
    expect_list,
    expect_object,
    expect_text,
    optional_int,
)
from tui.model.snapshot import SnapshotError, parse_time

RULES_METHOD = "mapping.rules"
VERSIONS_METHOD = "mapping.versions"
DIFF_METHOD = "mapping.diff"
REPLAY_METHOD = "mapping.replay"
ROLLBACK_METHOD = "mapping.rollback"
PREVIEW_METHOD = "mapping.preview_rule"
EXPORT_METHOD = "mapping.export"
IMPORT_METHOD = "mapping.import"

MATCH_FIELDS = ("broker", "activity_type", "subtype", "description", "symbol", "sign",
                "amount_min", "amount_max")
"""A rule's criteria, in the order the engine lists them (tbot.reconcile.mapping.rules)."""
_SHORT_NAMES = {"activity_type": "type", "description": "desc", "amount_min": "min",
                "amount_max": "max"}


@dataclass(frozen=True)
class RuleRow:
    """One rule of a version."""

    id: str
    name: str
    criteria: dict[str, str]
    """The criteria it sets (unset ones left out), as text."""
    debit: str
    credit: str
    enabled: bool
    origin: str
    summary: str

    @property
    def key(self) -> str:
        """The grid's row key."""
        return self.id


@dataclass(frozen=True)
class VersionRow:
    """One rule-set version."""

    version: int
    action: str
    author: str
    reason: str
    created_at: datetime | None
    rule_count: int
    source_version: int | None
    content_hash: str

    @property
    def key(self) -> str:
        """The grid's row key."""
        return str(self.version)


@dataclass(frozen=True)
class RuleSetPage:
    """A `mapping.rules` answer: one version and its rules."""

    version: VersionRow
    active: bool
    rules: tuple[RuleRow, ...]


@dataclass(frozen=True)
class VersionList:
    """A `mapping.versions` answer, newest first."""

    active: int | None
    versions: tuple[VersionRow, ...]


@dataclass(frozen=True)
class RuleChange:
    """How one rule differs between two versions."""

    rule_id: str
    change: str
    """`added`, `removed` or `changed`."""
    fields: tuple[str, ...]
    before: str
    after: str


@dataclass(frozen=True)
class VersionDiff:
    """A `mapping.diff` answer."""

    old: int
    new: int
    changes: tuple[RuleChange, ...]


@dataclass(frozen=True)
class ReplayChange:
    """A past decision a candidate rule set would decide differently."""

    decision_id: int
    broker_id: str
    activity_type: str
    amount: Decimal
    old_account: str
    new_account: str
    """Empty when the candidate would queue it."""
    new_layer: str
    why: str


@dataclass(frozen=True)
class ReplayResult:
    """A `mapping.replay` answer."""

    candidate: str
    decisions: int
    changes: tuple[ReplayChange, ...]


@dataclass(frozen=True)
class PreviewExample:
    """A record a rule preview names."""

    state: str
    """`queued` or `decided`."""
    item: int | None
    decision_id: int | None
    broker_id: str
    activity_type: str
    amount: Decimal
    description: str
    account: str


@dataclass(frozen=True)
class RulePreview:
    """A `mapping.preview_rule` answer."""

    summary: str
    queued: int
    past: int
    examples: tuple[PreviewExample, ...]
    conflicts: int


# -- parsing ------------------------------------------------------------------------------------


def criteria_of(rule: Mapping[str, Any]) -> dict[str, str]:
    """The criteria a rule object sets, as text, in the engine's order."""
    return {name: str(rule[name]) for name in MATCH_FIELDS
            if rule.get(name) is not None and rule.get(name) != ""}


def criteria_text(criteria: dict[str, str]) -> str:
    """`type=FEE sign=- desc=/opra/`; `(any)` when the rule sets none."""
    parts = []
    for name, value in criteria.items():
        shown = f"/{value}/" if name == "description" else value
        parts.append(f"{_SHORT_NAMES.get(name, name)}={shown}")
    return " ".join(parts) or "(any)"


def parse_rules(result: object) -> RuleSetPage:
    """A `mapping.rules` result."""
    what = RULES_METHOD
    record = expect_object(result, what)
    rules = tuple(_rule(rule, f"{what} rule {n}")
                  for n, rule in enumerate(expect_list(record, "rules", what)))
    return RuleSetPage(version=_version(record.get("version"), f"{what}.version"),
                       active=record.get("active") is True, rules=rules)


def parse_versions(result: object) -> VersionList:
    """A `mapping.versions` result."""
    what = VERSIONS_METHOD
    record = expect_object(result, what)
    return VersionList(
        active=optional_int(record, "active", what),
        versions=tuple(_version(v, f"{what} version {n}")
                       for n, v in enumerate(expect_list(record, "versions", what))))


def parse_diff(result: object) -> VersionDiff:
    """A `mapping.diff` result."""
    what = DIFF_METHOD
    record = expect_object(result, what)
    changes = []
    for n, value in enumerate(expect_list(record, "changes", what)):
        change = expect_object(value, f"{what} change {n}")
        before, after = change.get("before"), change.get("after")
        changes.append(RuleChange(
            rule_id=expect_text(change, "rule_id", what),
            change=expect_text(change, "change", what),
            fields=tuple(str(f) for f in expect_list(change, "fields", what, optional=True)),
            before=_rule_line(before, f"{what} change {n}.before"),
            after=_rule_line(after, f"{what} change {n}.after"),
        ))
    return VersionDiff(old=expect_int(record, "from", what), new=expect_int(record, "to", what),
                       changes=tuple(changes))


def parse_replay(result: object) -> ReplayResult:
    """A `mapping.replay` result."""
    what = REPLAY_METHOD
    record = expect_object(result, what)
    changes = []
    for n, value in enumerate(expect_list(record, "changes", what)):
        change = expect_object(value, f"{what} change {n}")
        where = f"{what} change {n}"
        changes.append(ReplayChange(
            decision_id=expect_int(change, "decision_id", where),
            broker_id=expect_text(change, "broker_id", where),
            activity_type=expect_text(change, "activity_type", where, optional=True),
            amount=expect_decimal(change, "amount", where),
            old_account=expect_text(change, "old_account", where, optional=True),
            new_account=expect_text(change, "new_account", where, optional=True),
            new_layer=expect_text(change, "new_layer", where, optional=True),
            why=expect_text(change, "why", where, optional=True),
        ))
    return ReplayResult(candidate=expect_text(record, "candidate", what),
                        decisions=expect_int(record, "decisions", what),
                        changes=tuple(changes))


def parse_preview(result: object) -> RulePreview:
    """A `mapping.preview_rule` result."""
    what = PREVIEW_METHOD
    record = expect_object(result, what)
    rule = expect_object(record.get("rule", {}), f"{what}.rule")
    examples = []
    for n, value in enumerate(expect_list(record, "examples", what, optional=True)):
        example = expect_object(value, f"{what} example {n}")
        where = f"{what} example {n}"
        examples.append(PreviewExample(
            state=expect_text(example, "state", where, optional=True),
            item=optional_int(example, "id", where),
            decision_id=optional_int(example, "decision_id", where),
            broker_id=expect_text(example, "broker_id", where),
            activity_type=expect_text(example, "activity_type", where, optional=True),
            amount=expect_decimal(example, "amount", where),
            description=expect_text(example, "description", where, optional=True),
            account=expect_text(example, "account", where, optional=True),
        ))
    return RulePreview(summary=expect_text(rule, "summary", what, optional=True),
                       queued=expect_int(record, "queued", what),
                       past=expect_int(record, "past", what), examples=tuple(examples),
                       conflicts=expect_int(record, "conflicts", what, default=0))


def _rule(value: object, what: str) -> RuleRow:
    record = expect_object(value, what)
    return RuleRow(
        id=expect_text(record, "id", what),
        name=expect_text(record, "name", what, optional=True),
        criteria=criteria_of(record),
        debit=expect_text(record, "debit", what),
        credit=expect_text(record, "credit", what),
        enabled=record.get("enabled", True) is not False,
        origin=expect_text(record, "origin", what, optional=True),
        summary=expect_text(record, "summary", what, optional=True),
    )


def _version(value: object, what: str) -> VersionRow:
    record = expect_object(value, what)
    return VersionRow(
        version=expect_int(record, "version", what),
        action=expect_text(record, "action", what, optional=True),
        author=expect_text(record, "author", what, optional=True),
        reason=expect_text(record, "reason", what, optional=True),
        created_at=parse_time(record.get("created_at"), f"{what}.created_at"),
        rule_count=expect_int(record, "rule_count", what, default=0),
        source_version=optional_int(record, "source_version", what),
        content_hash=expect_text(record, "content_hash", what, optional=True),
    )


def _rule_line(value: object, what: str) -> str:
    """A rule of a diff as one line: its criteria and its two accounts."""
    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise SnapshotError(f"{what}: expected an object or null, got {type(value).__name__}")
    off = "" if value.get("enabled", True) is not False else " [disabled]"
    return (f"{criteria_text(criteria_of(value))} → Dr {value.get('debit')} / "
            f"Cr {value.get('credit')}{off}")
