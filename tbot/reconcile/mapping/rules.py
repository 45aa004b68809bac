"""Mapping rules and the rule set one version holds.

A `Rule` matches a cash record on the broker's own fields (broker, activity type and
subtype, description by regular expression, symbol, sign of the amount, a range of its
absolute amount) and names the debit and the credit account. The most specific matching
rule wins (the number of criteria it sets); a tie between rules that book differently is an
ambiguity the queue settles, never a guess.

A `RuleSet` is the content of one version: its rules in id order. Its canonical JSON and
SHA-256 are what a version row stores, what an export carries and what an import checks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from tbot.ledger.chart import STANDARD_CHART, Chart
from tbot.reconcile.compare import plain
from tbot.reconcile.mapping.records import MappingRecord

MATCH_FIELDS = ("broker", "activity_type", "subtype", "description", "symbol", "sign",
                "amount_min", "amount_max")
"""The criteria a rule may set; an unset one matches anything."""
RULE_FIELDS = ("id", "name", *MATCH_FIELDS, "debit", "credit", "enabled", "origin")
SIGNS = ("+", "-")
ORIGINS = ("default", "operator")
"""Where a rule comes from: the shipped defaults (unedited), or a person."""
_RULE_ID = re.compile(r"R([1-9][0-9]*)")
MAX_PATTERN = 200


class RuleError(ValueError):
    """A rule (or a rule set) that cannot be used; the message names the rule and field."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One mapping rule. `id` (``R1``, ``R2``...) stays the same across versions, so two
    versions can be compared rule by rule."""

    id: str
    debit: str
    credit: str
    name: str = ""
    broker: str | None = None
    activity_type: str | None = None
    subtype: str | None = None
    description: str | None = None
    symbol: str | None = None
    sign: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    enabled: bool = True
    origin: str = "operator"
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def specificity(self) -> int:
        """How many criteria the rule sets (an amount range counts once)."""
        criteria = (self.broker, self.activity_type, self.subtype, self.description,
                    self.symbol, self.sign)
        ranged = self.amount_min is not None or self.amount_max is not None
        return sum(value is not None for value in criteria) + int(ranged)

    def matches(self, record: MappingRecord) -> bool:
        """True when every criterion the rule sets holds for `record`."""
        if self.broker is not None and record.broker != self.broker:
            return False
        if self.activity_type is not None and (
            record.activity_type.upper() != self.activity_type.upper()
        ):
            return False
        if self.subtype is not None and (record.subtype or "").upper() != self.subtype.upper():
            return False
        if self.symbol is not None and (record.symbol or "").upper() != self.symbol.upper():
            return False
        if self.sign is not None and record.sign != self.sign:
            return False
        size = abs(record.amount)
        if self.amount_min is not None and size < self.amount_min:
            return False
        if self.amount_max is not None and size > self.amount_max:
            return False
        if self.description is not None:
            pattern = self._pattern or compile_pattern(self.description, self.id)
            if pattern.search(record.description or "") is None:
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready fields, every field present (canonical content)."""
        return {
            "id": self.id,
            "name": self.name,
            "broker": self.broker,
            "activity_type": self.activity_type,
            "subtype": self.subtype,
            "description": self.description,
            "symbol": self.symbol,
            "sign": self.sign,
            "amount_min": None if self.amount_min is None else plain(self.amount_min),
            "amount_max": None if self.amount_max is None else plain(self.amount_max),
            "debit": self.debit,
            "credit": self.credit,
            "enabled": self.enabled,
            "origin": self.origin,
        }

    def summary(self) -> str:
        """One line: ``R3 FEE - → Dr 5045 / Cr 1070 (Simulated broker fees)``."""
        criteria = [f"{name}={value}" for name, value in (
            ("broker", self.broker), ("type", self.activity_type), ("subtype", self.subtype),
            ("desc", self.description and f"/{self.description}/"), ("symbol", self.symbol),
            ("sign", self.sign), ("min", self.amount_min), ("max", self.amount_max),
        ) if value is not None]
        off = "" if self.enabled else " [disabled]"
        label = f" ({self.name})" if self.name else ""
        return (f"{self.id} {' '.join(criteria) or '(any)'} → Dr {self.debit} / "
                f"Cr {self.credit}{label}{off}")


def compile_pattern(pattern: str, rule_id: str = "rule") -> re.Pattern[str]:
    """`pattern` compiled case-insensitively; RuleError naming the rule when it is not a
    valid regular expression (or is too long to be one a person wrote)."""
    if len(pattern) > MAX_PATTERN:
        raise RuleError(f"{rule_id}: the description pattern is longer than {MAX_PATTERN} "
                        "characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise RuleError(f"{rule_id}: description {pattern!r} is not a valid regular "
                        f"expression: {error}") from None


def rule_from_dict(raw: Mapping[str, Any], chart: Chart = STANDARD_CHART) -> Rule:
    """A rule read (and checked) from JSON fields; RuleError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise RuleError(f"a rule must be an object, not {type(raw).__name__}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise RuleError(f"rule id {rule_id!r} must look like R1, R2, ...")
    unknown = sorted(set(raw) - set(RULE_FIELDS))
    if unknown:
        raise RuleError(f"{rule_id}: unknown field(s) {', '.join(unknown)}")

    def text(name: str, *, required: bool = False) -> str | None:
        value = raw.get(name)
        if value is None or value == "":
            if required:
                raise RuleError(f"{rule_id}: {name} is required")
            return None
        if not isinstance(value, str):
            raise RuleError(f"{rule_id}: {name} must be text, not {type(value).__name__}")
        if len(value) > MAX_PATTERN:
            raise RuleError(f"{rule_id}: {name} is longer than {MAX_PATTERN} characters")
        return value.strip()

    def amount(name: str) -> Decimal | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RuleError(f"{rule_id}: {name} must be an exact amount as text, "
                            f"not {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise RuleError(f"{rule_id}: {name} {value!r} is not a number") from None
        if not number.is_finite() or number < 0:
            raise RuleError(f"{rule_id}: {name} must be a finite amount ≥ 0, not {value!r}")
        return number

    sign = text("sign")
    if sign is not None and sign not in SIGNS:
        raise RuleError(f"{rule_id}: sign must be + or -, not {sign!r}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{rule_id}: enabled must be true or false")
    origin = raw.get("origin", "operator")
    if origin not in ORIGINS:
        raise RuleError(f"{rule_id}: origin must be one of {', '.join(ORIGINS)}, not {origin!r}")
    description = text("description")
    pattern = compile_pattern(description, rule_id) if description is not None else None
    rule = Rule(
        id=rule_id,
        name=text("name") or "",
        broker=text("broker"),
        activity_type=text("activity_type"),
        subtype=text("subtype"),
        description=description,
        symbol=text("symbol"),
        sign=sign,
        amount_min=amount("amount_min"),
        amount_max=amount("amount_max"),
        debit=text("debit", required=True) or "",
        credit=text("credit", required=True) or "",
        enabled=enabled,
        origin=str(origin),
        _pattern=pattern,
    )
    check_rule(rule, chart)
    return rule


def check_rule(rule: Rule, chart: Chart = STANDARD_CHART) -> None:
    """RuleError when `rule` names an account that takes no postings, books both sides to
    one account, or has an empty amount range."""
    for side in ("debit", "credit"):
        code = getattr(rule, side)
        reason = chart.refusal_reason(code)
        if reason is not None:
            raise RuleError(f"{rule.id}: {side} account {code!r} takes no postings ({reason})")
    if rule.debit == rule.credit:
        raise RuleError(f"{rule.id}: debit and credit are the same account {rule.debit}")
    if (rule.amount_min is not None and rule.amount_max is not None
            and rule.amount_min > rule.amount_max):
        raise RuleError(f"{rule.id}: amount_min {rule.amount_min} is above amount_max "
                        f"{rule.amount_max}")
    if rule.description is not None:
        compile_pattern(rule.description, rule.id)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """What the rule layer found for a record: the winning rule, or the rules that tie."""

    rule: Rule | None
    tied: tuple[Rule, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.rule is None and bool(self.tied)


class RuleSet:
    """The rules of one version, in id order, with their canonical content and hash."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        ordered = sorted(rules, key=lambda rule: rule_number(rule.id))
        ids = [rule.id for rule in ordered]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise RuleError(f"rule id(s) {', '.join(duplicates)} appear more than once")
        self.rules: tuple[Rule, ...] = tuple(ordered)
        self._by_id = {rule.id: rule for rule in ordered}

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        """The rule `rule_id`, or None."""
        return self._by_id.get(rule_id)

    @classmethod
    def from_dicts(cls, raw: Sequence[Mapping[str, Any]],
                   chart: Chart = STANDARD_CHART) -> RuleSet:
        """A rule set read and checked from JSON rules; RuleError on the first bad one."""
        if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
            raise RuleError("rules must be a list")
        return cls(rule_from_dict(item, chart) for item in raw)

    def content(self) -> list[dict[str, Any]]:
        """The rules as canonical JSON-ready dicts, in id order."""
        return [rule.as_dict() for rule in self.rules]

    def canonical(self) -> str:
        """The canonical JSON text of the content (sorted keys, no spaces)."""
        return canonical_rules(self.content())

    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical content."""
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    def next_id(self) -> str:
        """The id a new rule gets: one above the highest ever used in this set."""
        highest = max((rule_number(rule.id) for rule in self.rules), default=0)
        return f"R{highest + 1}"

    def match(self, record: MappingRecord) -> RuleMatch:
        """The most specific enabled rule matching `record`. Rules that tie at the top
        and book to the same two accounts agree (the lowest id decides); ones that book
        differently make the record ambiguous."""
        matching = [rule for rule in self.rules if rule.enabled and rule.matches(record)]
        if not matching:
            return RuleMatch(None)
        top = max(rule.specificity for rule in matching)
        best = [rule for rule in matching if rule.specificity == top]
        if len({(rule.debit, rule.credit) for rule in best}) > 1:
            return RuleMatch(None, tuple(best))
        return RuleMatch(best[0], tuple(best[1:]))

    # -- changes: each gives a new set -----------------------------------------------------
    def with_rule(self, rule: Rule) -> RuleSet:
        """This set with `rule` added (a new id) or replacing the rule of its id."""
        kept = [existing for existing in self.rules if existing.id != rule.id]
        return RuleSet([*kept, rule])

    def with_enabled(self, rule_id: str, enabled: bool) -> RuleSet:
        """This set with rule `rule_id` enabled or disabled; RuleError if unknown."""
        rule = self._by_id.get(rule_id)
        if rule is None:
            raise RuleError(f"there is no rule {rule_id}")
        return self.with_rule(replace(rule, enabled=enabled, origin="operator"))


def rule_number(rule_id: str) -> int:
    """The number of a rule id (``R12`` → 12); RuleError for anything else."""
    found = _RULE_ID.fullmatch(rule_id)
    if found is None:
        raise RuleError(f"rule id {rule_id!r} must look like R1, R2, ...")
    return int(found.group(1))


def canonical_rules(content: Sequence[Mapping[str, Any]]) -> str:
    """Rules as canonical JSON (the text a content hash is taken over)."""
    return json.dumps(list(content), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def content_hash(content: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of rules given as JSON dicts."""
    return hashlib.sha256(canonical_rules(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class RuleChange:
    """How one rule differs between two versions."""

    rule_id: str
    change: str  # added / removed / changed
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    fields: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "change": self.change, "fields": list(self.fields),
                "before": self.before, "after": self.after}


def diff_rule_sets(old: RuleSet, new: RuleSet) -> list[RuleChange]:
    """What changed from `old` to `new`, rule by rule, in id order."""
    changes: list[RuleChange] = []
    ids = sorted({rule.id for rule in old} | {rule.id for rule in new}, key=rule_number)
    for rule_id in ids:
        before, after = old.get(rule_id), new.get(rule_id)
        if before is None and after is not None:
            changes.append(RuleChange(rule_id, "added", None, after.as_dict()))
        elif after is None and before is not None:
            changes.append(RuleChange(rule_id, "removed", before.as_dict(), None))
        elif before is not None and after is not None:
            a, b = before.as_dict(), after.as_dict()
            fields = tuple(name for name in RULE_FIELDS if a.get(name) != b.get(name))
            if fields:
                changes.append(RuleChange(rule_id, "changed", a, b, fields))
    return changes
