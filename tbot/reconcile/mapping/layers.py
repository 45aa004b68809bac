"""The three layers, in order, over one rule-set version and one learned model.

1. Rules (the shipped defaults are rules too): the most specific matching rule books the
   record, if it puts the broker's cash account on the side the amount's sign needs; a
   tie between rules that book differently, or a rule that would book cash backwards, is
   queued with the reason, never guessed.
2. The learned model: its top suggestion books the record when its calibrated confidence
   is at least `threshold` (`MAPPING_AUTO_APPLY_CONFIDENCE`).
3. Otherwise the record waits in the queue with up to three suggestions: the model's, then
   (while the model knows nothing of such records) the accounts of the rules it nearly
   matches, marked as such and capped well below any auto-apply threshold.

Every verdict names the layer, the rule or model, and the version that decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tbot.ledger.chart import STANDARD_CHART, Chart
from tbot.reconcile.mapping.learning import MappingModel, Suggestion
from tbot.reconcile.mapping.records import MappingRecord
from tbot.reconcile.mapping.rules import Rule, RuleSet

SUGGESTIONS = 3
NEARBY_CAP = 0.5
"""The most a near-miss rule's suggestion may claim: a hint, never auto-applied."""
_WORD = re.compile(r"[a-z][a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the layers decided for one record: post (layer, accounts) or queue (why)."""

    record: MappingRecord
    layer: str | None = None  # default / rule / learned; None: queued
    account: str | None = None  # the counter account (the one that is not cash)
    debit: str | None = None
    credit: str | None = None
    rule: Rule | None = None
    confidence: float | None = None
    model: str | None = None
    version: int | None = None
    queue_reason: str | None = None  # no-rule / ambiguous / below-threshold / rule-misfit
    detail: str = ""
    suggestions: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def posts(self) -> bool:
        """True when a layer decided (the record is booked without a person)."""
        return self.layer is not None


def sides(record: MappingRecord, cash_account: str, counter: str) -> tuple[str, str]:
    """(debit, credit) booking `record` against `counter`: cash in debits cash."""
    return (cash_account, counter) if record.amount > 0 else (counter, cash_account)


def fits(rule: Rule, record: MappingRecord, cash_account: str) -> bool:
    """True when `rule` books the broker's cash on the side `record`'s sign moves it."""
    return (rule.debit if record.amount > 0 else rule.credit) == cash_account


def counter_of(rule: Rule, cash_account: str) -> str:
    """The account a rule books against cash."""
    return rule.credit if rule.debit == cash_account else rule.debit


class Mapper:
    """Decides records with one version's rules and one model; cheap to call per record."""

    def __init__(self, rules: RuleSet, version: int, model: MappingModel, *,
                 cash_account: str, threshold: float, chart: Chart = STANDARD_CHART) -> None:
        self.rules = rules
        self.version = version
        self.model = model
        self.cash_account = cash_account
        self.threshold = threshold
        self.chart = chart
        self._allowed = frozenset(chart.postable_codes()) - {cash_account}

    def decide(self, record: MappingRecord) -> Verdict:
        """The verdict of the first layer that decides, or the queue's."""
        match = self.rules.match(record)
        if match.rule is not None:
            rule = match.rule
            if not fits(rule, record, self.cash_account):
                return self._queue(
                    record, "rule-misfit",
                    f"{rule.id} matches but books Dr {rule.debit} / Cr {rule.credit}: cash "
                    f"{self.cash_account} would move against the broker's {record.sign} amount")
            layer = "default" if rule.origin == "default" else "rule"
            counter = counter_of(rule, self.cash_account)
            return Verdict(
                record, layer=layer, account=counter, debit=rule.debit, credit=rule.credit,
                rule=rule, version=self.version,
                detail=f"mapped by {rule.id} ({layer}, version {self.version}): "
                       f"Dr {rule.debit} / Cr {rule.credit}",
            )
        if match.ambiguous:
            tied = ", ".join(f"{r.id} → {counter_of(r, self.cash_account)}"
                             for r in match.tied)
            return self._queue(record, "ambiguous",
                               f"rules tie at the same specificity: {tied}", tied=match.tied)
        learned = self.model.suggest(record.tokens(), limit=SUGGESTIONS, allowed=self._allowed)
        if learned and learned[0].confidence >= self.threshold:
            top = learned[0]
            debit, credit = sides(record, self.cash_account, top.account)
            return Verdict(
                record, layer="learned", account=top.account, debit=debit, credit=credit,
                confidence=top.confidence, model=self.model.fingerprint, version=self.version,
                detail=f"learned ({self.model.fingerprint}, confidence {top.confidence:.4f} ≥ "
                       f"{self.threshold:g}): Dr {debit} / Cr {credit}",
                suggestions=tuple(self._learned_view(s) for s in learned),
            )
        if learned:
            top = learned[0]
            return self._queue(record, "below-threshold",
                               f"best guess {top.account} at {top.confidence:.2f} is below "
                               f"{self.threshold:g}", learned=learned)
        return self._queue(record, "no-rule",
                           f"no rule of version {self.version} matches "
                           f"{record.activity_type} {record.sign}", learned=learned)

    def suggest(self, record: MappingRecord) -> list[dict[str, Any]]:
        """Up to three suggestions for `record`, best first (what the queue shows)."""
        learned = self.model.suggest(record.tokens(), limit=SUGGESTIONS, allowed=self._allowed)
        return self._suggestions(record, learned, ())

    # -- internals ------------------------------------------------------------------------
    def _queue(self, record: MappingRecord, reason: str, detail: str, *,
               learned: list[Suggestion] | None = None, tied: tuple[Rule, ...] = ()) -> Verdict:
        if learned is None:
            learned = self.model.suggest(record.tokens(), limit=SUGGESTIONS,
                                         allowed=self._allowed)
        return Verdict(record, queue_reason=reason, detail=detail, version=self.version,
                       model=self.model.fingerprint,
                       suggestions=tuple(self._suggestions(record, learned, tied)))

    def _learned_view(self, suggestion: Suggestion) -> dict[str, Any]:
        view = suggestion.as_dict()
        view["source"] = "learned"
        view["name"] = self._name(suggestion.account)
        return view

    def _name(self, code: str) -> str:
        account = self.chart.get(code)
        return account.name if account else ""

    def _suggestions(self, record: MappingRecord, learned: list[Suggestion],
                     tied: tuple[Rule, ...]) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for rule in tied:  # a tie names its candidates first: one of them is meant
            if fits(rule, record, self.cash_account):
                account = counter_of(rule, self.cash_account)
                found.setdefault(account, {
                    "account": account, "name": self._name(account), "confidence": None,
                    "reasons": [f"{rule.id} matches ({rule.name or rule.summary()})"],
                    "precedents": [], "source": "tied-rule"})
        for suggestion in learned:
            found.setdefault(suggestion.account, self._learned_view(suggestion))
        if len(found) < SUGGESTIONS:
            for account, score, rule in self._nearby(record):
                if account in found:
                    continue
                found[account] = {
                    "account": account, "name": self._name(account),
                    "confidence": round(score, 4),
                    "reasons": [f"like {rule.id} ({rule.name or rule.activity_type})"],
                    "precedents": [], "source": "similar-rule"}
                if len(found) >= SUGGESTIONS:
                    break
        return list(found.values())[:SUGGESTIONS]

    def _nearby(self, record: MappingRecord) -> list[tuple[str, float, Rule]]:
        """Rules this record nearly matches (same broker and cash side), by how much of
        them it meets and whether its description names their activity."""
        words = set(_WORD.findall(record.description.lower()))
        words |= {record.activity_type.lower()}
        scored: list[tuple[float, str, str, Rule]] = []
        for rule in self.rules:
            if not rule.enabled or not fits(rule, record, self.cash_account):
                continue
            if rule.broker is not None and rule.broker != record.broker:
                continue
            checks = [
                rule.activity_type is None
                or rule.activity_type.upper() == record.activity_type.upper(),
                rule.sign is None or rule.sign == record.sign,
                rule.symbol is None or (record.symbol or "").upper() == rule.symbol.upper(),
            ]
            met = sum(checks) / len(checks)
            named = {w for w in _WORD.findall(f"{rule.activity_type or ''} {rule.name}".lower())}
            overlap = any(w in words or w.rstrip("s") in words for w in named)
            if not overlap and met < 1:
                continue  # shares only the broker and the sign: not a hint worth a line
            score = NEARBY_CAP * (0.5 * met + (0.5 if overlap else 0.0))
            if score > 0:
                scored.append((score, rule.id, counter_of(rule, self.cash_account), rule))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [(account, score, rule) for score, _, account, rule in scored]
