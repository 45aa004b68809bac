"""Rules: the most specific wins, ties that book differently are ambiguous, a rule that
books cash backwards is not applied; bad rules are refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tbot.reconcile.mapping.defaults import default_rules
from tbot.reconcile.mapping.layers import Mapper
from tbot.reconcile.mapping.learning import MappingModel
from tbot.reconcile.mapping.records import MappingRecord
from tbot.reconcile.mapping.rules import Rule, RuleError, RuleSet, diff_rule_sets, rule_from_dict

CASH = "1070"


def record(activity_type: str = "MISC", amount: str = "-1.50", description: str = "",
           symbol: str | None = None, broker: str = "SIM") -> MappingRecord:
    return MappingRecord(broker=broker, broker_id=f"A-{activity_type}-{amount}",
                         activity_type=activity_type, amount=Decimal(amount), currency="USD",
                         occurred_at=datetime(2026, 11, 20, 15, tzinfo=UTC),
                         description=description, symbol=symbol)


def mapper(rules: RuleSet, threshold: float = 0.95) -> Mapper:
    return Mapper(rules, 7, MappingModel.build([]), cash_account=CASH, threshold=threshold)


def test_the_most_specific_matching_rule_wins_and_names_itself():
    rules = RuleSet([
        Rule(id="R1", activity_type="MISC", sign="-", debit="5045", credit=CASH),
        Rule(id="R2", activity_type="MISC", sign="-", description="opra", debit="5070",
             credit=CASH),
    ])
    verdict = mapper(rules).decide(record(description="OPRA market data"))
    assert (verdict.layer, verdict.rule.id, verdict.account, verdict.version) == (
        "rule", "R2", "5070", 7)
    assert mapper(rules).decide(record(description="other")).rule.id == "R1"


def test_a_tie_between_rules_that_book_differently_goes_to_the_queue():
    rules = RuleSet([
        Rule(id="R1", activity_type="MISC", debit="5045", credit=CASH),
        Rule(id="R2", sign="-", debit="5070", credit=CASH),
    ])
    verdict = mapper(rules).decide(record())
    assert not verdict.posts and verdict.queue_reason == "ambiguous"
    assert {s["account"] for s in verdict.suggestions} >= {"5045", "5070"}
    # Two rules that tie but book alike agree: the lowest id decides.
    agreeing = RuleSet([Rule(id="R1", activity_type="MISC", debit="5045", credit=CASH),
                        Rule(id="R2", sign="-", debit="5045", credit=CASH)])
    assert mapper(agreeing).decide(record()).rule.id == "R1"


def test_a_rule_that_would_book_cash_against_the_sign_is_not_applied():
    rules = RuleSet([Rule(id="R1", activity_type="MISC", debit="5045", credit=CASH)])
    verdict = mapper(rules).decide(record(amount="3.00"))  # cash in: cash must be debited
    assert verdict.queue_reason == "rule-misfit" and "against" in verdict.detail


def test_amount_range_and_symbol_narrow_a_rule():
    rule = Rule(id="R1", activity_type="DIV", symbol="AAPL", amount_min=Decimal("1"),
                amount_max=Decimal("100"), debit=CASH, credit="4050")
    assert rule.matches(record("DIV", "25.00", symbol="aapl"))
    assert not rule.matches(record("DIV", "250.00", symbol="AAPL"))
    assert not rule.matches(record("DIV", "25.00", symbol="MSFT"))
    assert rule.specificity == 3


def test_a_brand_new_activity_type_queues_with_suggestions_from_similar_rules():
    verdict = mapper(default_rules()).decide(
        record("NEWFEE2027", "-4.00", description="Some new fee the broker invented"))
    assert verdict.queue_reason == "no-rule"
    top = verdict.suggestions[0]
    assert top["account"] == "5045" and top["source"] == "similar-rule"
    assert top["confidence"] <= 0.5


@pytest.mark.parametrize(("change", "message"), [
    ({"description": "([unclosed"}, "not a valid regular expression"),
    ({"debit": "9310"}, "control account"),
    ({"debit": "1000"}, "parent account"),
    ({"debit": "8888"}, "unknown"),
    ({"debit": CASH}, "the same account"),
    ({"sign": "?"}, "sign must be"),
    ({"amount_min": "5", "amount_max": "1"}, "above amount_max"),
    ({"amount_min": 1.5}, "exact amount as text"),
    ({"colour": "red"}, "unknown field"),
    ({"id": "rule-1"}, "must look like R1"),
])
def test_a_bad_rule_is_refused_with_the_reason(change, message):
    raw = {"id": "R1", "activity_type": "MISC", "debit": "5045", "credit": CASH, **change}
    with pytest.raises(RuleError, match=message):
        rule_from_dict(raw)


def test_the_content_hash_survives_a_round_trip_and_diff_names_each_change():
    rules = default_rules()
    again = RuleSet.from_dicts(rules.content())
    assert again.content_hash == rules.content_hash
    changed = rules.with_enabled("R1", False).with_rule(
        Rule(id=rules.next_id(), activity_type="MISC", debit="5070", credit=CASH))
    changes = {c.rule_id: c for c in diff_rule_sets(rules, changed)}
    assert changes["R1"].change == "changed" and "enabled" in changes["R1"].fields
    assert changes[rules.next_id()].change == "added"
    assert changed.content_hash != rules.content_hash
