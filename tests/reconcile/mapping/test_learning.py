"""The learned mapping model: suggestions, calibrated confidence, reasons, precedents and
un-learning, over tokens of real `MappingRecord`s."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.reconcile.mapping.learning import MappingModel, Precedent, Suggestion
from tbot.reconcile.mapping.records import MappingRecord

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
AUTO_APPLY = 0.95


def record(activity_type: str, amount: str, description: str = "", *, broker: str = "sim",
           subtype: str | None = None, symbol: str | None = None,
           number: int = 1) -> MappingRecord:
    return MappingRecord(
        broker=broker, broker_id=f"A{number:05d}", activity_type=activity_type,
        amount=Decimal(amount), currency="USD", occurred_at=START + timedelta(minutes=number),
        description=description, subtype=subtype, symbol=symbol,
    )


def miscfee(number: int, words: str = "opra market data") -> MappingRecord:
    return record("MISCFEE", "-12.50", f"{words} fee ref{number}", number=number)


def dividend(number: int) -> MappingRecord:
    return record("DIV", "3.10", "cash dividend", symbol="AAPL", number=number)


def deposit(number: int) -> MappingRecord:
    return record("CSD", "5000", "wire deposit incoming", number=number)


def history(*groups: tuple[str, list[MappingRecord]]) -> list[Precedent]:
    """Precedents numbered 1.. in the order given: (account, records) per group."""
    made: list[Precedent] = []
    for account, records in groups:
        for item in records:
            made.append(Precedent(len(made) + 1, account, item.tokens()))
    return made


def background() -> list[tuple[str, list[MappingRecord]]]:
    """Other kinds the operator has mapped, so the model has accounts to choose among."""
    return [("4050", [dividend(100 + n) for n in range(30)]),
            ("3010", [deposit(200 + n) for n in range(30)])]


def test_no_precedents_no_suggestion() -> None:
    model = MappingModel.build([])
    assert model.size == 0
    assert model.suggest(miscfee(1).tokens()) == []


def test_one_precedent_suggests_its_account_below_auto_apply() -> None:
    model = MappingModel.build(history(("5070", [miscfee(1)])))
    [top] = model.suggest(miscfee(2).tokens())
    assert top.account == "5070"
    assert top.confidence < AUTO_APPLY
    assert top.precedents == (1,)


@pytest.mark.parametrize("seen", [1, 2])
def test_a_kind_seen_once_or_twice_is_never_auto_applied(seen: int) -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(seen)]),
                                       *background()))
    top = model.suggest(miscfee(99).tokens())[0]
    assert top.account == "5070"
    assert top.confidence < AUTO_APPLY


def test_many_consistent_precedents_exceed_auto_apply() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(25)]),
                                       *background()))
    top = model.suggest(miscfee(99).tokens())[0]
    assert top.account == "5070"
    assert top.confidence > AUTO_APPLY
    assert top.confidence < 1.0


def test_confidence_grows_with_consistent_evidence() -> None:
    seen = []
    for count in (1, 2, 5, 10, 20, 40):
        model = MappingModel.build(history(("5070", [miscfee(n) for n in range(count)]),
                                           *background()))
        seen.append(model.suggest(miscfee(99).tokens())[0].confidence)
    assert seen == sorted(seen)
    assert seen[-1] > AUTO_APPLY > seen[1]


def test_conflicting_precedents_stay_well_below_auto_apply() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(60)]),
                                       ("2010", [miscfee(100 + n) for n in range(40)]),
                                       *background()))
    first, second = model.suggest(miscfee(999).tokens())[:2]
    assert (first.account, second.account) == ("5070", "2010")
    assert first.confidence < 0.7
    assert second.confidence < first.confidence


def test_a_kind_never_seen_is_not_auto_applied_however_alike() -> None:
    # The same fee from a broker the model has no decisions of.
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(40)]),
                                       *background()))
    other = record("MISCFEE", "-12.50", "opra market data fee", broker="alpaca")
    top = model.suggest(other.tokens())[0]
    assert top.account == "5070"
    assert top.confidence <= 0.5


def test_reasons_name_the_distinguishing_tokens() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(10)]),
                                       *background()))
    top = model.suggest(miscfee(99).tokens())[0]
    assert 1 <= len(top.reasons) <= 3
    assert set(top.reasons) <= set(miscfee(99).tokens())
    # Tokens every account shares say nothing for this one.
    assert "broker=sim" not in top.reasons
    assert any(r in top.reasons for r in ("type=MISCFEE", "type_sign=MISCFEE-", "word=opra",
                                          "word=market", "word=data", "word=fee"))


def test_words_separate_accounts_within_a_kind() -> None:
    model = MappingModel.build(history(
        ("5070", [miscfee(n, "opra market data") for n in range(20)]),
        ("5045", [miscfee(100 + n, "platform api") for n in range(20)]),
        *background()))
    data = model.suggest(miscfee(998, "opra market data").tokens())[0]
    platform = model.suggest(miscfee(999, "platform api").tokens())[0]
    assert (data.account, platform.account) == ("5070", "5045")
    assert "word=platform" in platform.reasons or "word=api" in platform.reasons
    # The kind's decisions disagree (20 / 20): neither is sure enough to book itself.
    assert data.confidence < AUTO_APPLY and platform.confidence < AUTO_APPLY


def test_precedents_are_real_decisions_of_that_account() -> None:
    precedents = history(("5070", [miscfee(n) for n in range(8)]),
                         ("2010", [miscfee(100 + n) for n in range(5)]), *background())
    model = MappingModel.build(precedents)
    accounts = {p.decision_id: p.account for p in precedents}
    suggestions = model.suggest(miscfee(999).tokens())
    assert [s.account for s in suggestions[:2]] == ["5070", "2010"]
    for suggestion in suggestions:
        assert 1 <= len(suggestion.precedents) <= 3
        assert all(accounts[i] == suggestion.account for i in suggestion.precedents)


def test_precedents_list_the_most_similar_then_the_newest() -> None:
    plain = [miscfee(n, "opra market data") for n in range(1, 4)]
    close = record("MISCFEE", "-12.50", "opra market data nyse fee ref9", number=9)
    model = MappingModel.build(history(("5070", [*plain, close])))
    top = model.suggest(record("MISCFEE", "-12.50", "opra market data nyse fee ref9",
                               number=10).tokens())[0]
    assert top.precedents[0] == 4  # the one sharing "nyse" and "ref9"
    assert top.precedents[1:] == (3, 2)  # then equally similar ones, newest first


def test_undoing_decisions_unlearns_them() -> None:
    learned = history(("2010", [miscfee(n) for n in range(3)]),
                      ("5070", [miscfee(100 + n) for n in range(25)]), *background())
    before = MappingModel.build(learned).suggest(miscfee(999).tokens())[0]
    # The operator undoes the 25 decisions for 5070: the model is rebuilt without them.
    kept = [p for p in learned if p.account != "5070"]
    after = MappingModel.build(kept).suggest(miscfee(999).tokens())[0]
    assert before.account == "5070"
    assert after.account == "2010"
    assert after.confidence < AUTO_APPLY


def test_allowed_filters_accounts() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(25)]),
                                       ("2010", [miscfee(100 + n) for n in range(2)]),
                                       *background()))
    everything = model.suggest(miscfee(999).tokens())
    assert everything[0].account == "5070"
    allowed = model.suggest(miscfee(999).tokens(), allowed={"2010", "4050"})
    assert [s.account for s in allowed] == ["2010"]  # 4050: nothing like a MISCFEE
    # A closed account keeps its share of doubt: the others are not made surer by it.
    assert allowed[0].confidence == next(s for s in everything if s.account == "2010").confidence
    assert model.suggest(miscfee(999).tokens(), allowed=set()) == []


def test_limit_caps_the_suggestions_best_first() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(5)]),
                                       ("2010", [miscfee(100 + n) for n in range(3)]),
                                       ("5045", [miscfee(200 + n) for n in range(2)]),
                                       *background()))
    assert [s.account for s in model.suggest(miscfee(999).tokens(), limit=1)] == ["5070"]
    three = model.suggest(miscfee(999).tokens())
    assert [s.account for s in three] == ["5070", "2010", "5045"]
    assert [s.confidence for s in three] == sorted((s.confidence for s in three),
                                                   reverse=True)
    assert model.suggest(miscfee(999).tokens(), limit=0) == []


def test_negligible_accounts_are_not_suggested_after_the_first() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(5)]),
                                       *background()))
    suggestions = model.suggest(miscfee(999).tokens())
    assert [s.account for s in suggestions] == ["5070"]
    # The best guess is always given, however unsure: it is what the queue shows.
    only = model.suggest(miscfee(999).tokens(), allowed={"3010"})
    assert [s.account for s in only] == ["3010"]
    assert only[0].confidence < 0.01


def test_fingerprint_names_the_history() -> None:
    precedents = history(("5070", [miscfee(n) for n in range(5)]), *background())
    model = MappingModel.build(precedents)
    assert model.fingerprint.startswith(f"nb1:{len(precedents)}:")
    assert len(model.fingerprint.rsplit(":", 1)[1]) == 12
    # Stable: the same decisions in any order name the same model.
    assert MappingModel.build(reversed(precedents)).fingerprint == model.fingerprint
    # A decision undone, or one more made, or one reclassified: another model.
    assert MappingModel.build(precedents[1:]).fingerprint != model.fingerprint
    more = [*precedents, Precedent(999, "5070", miscfee(999).tokens())]
    assert MappingModel.build(more).fingerprint != model.fingerprint
    changed = [Precedent(precedents[0].decision_id, "2010", precedents[0].tokens),
               *precedents[1:]]
    assert MappingModel.build(changed).fingerprint != model.fingerprint


def test_same_precedents_same_suggestions_and_ties_by_account_code() -> None:
    precedents = history(("5070", [miscfee(1)]), ("2010", [miscfee(2)]))
    shuffled = precedents[::-1]
    first = MappingModel.build(precedents).suggest(miscfee(3).tokens())
    again = MappingModel.build(shuffled).suggest(miscfee(3).tokens())
    assert first == again
    assert [s.account for s in first] == ["2010", "5070"]  # a tie: by code


def test_a_decision_given_twice_is_refused() -> None:
    twice = [Precedent(1, "5070", miscfee(1).tokens()), Precedent(1, "2010", ())]
    with pytest.raises(ValueError, match="twice"):
        MappingModel.build(twice)


def test_suggestion_as_dict_is_json_ready() -> None:
    model = MappingModel.build(history(("5070", [miscfee(n) for n in range(3)])))
    view = model.suggest(miscfee(9).tokens())[0].as_dict()
    assert json.loads(json.dumps(view)) == view
    assert view["account"] == "5070"
    assert view["confidence"] == round(view["confidence"], 4)
    assert isinstance(view["reasons"], list) and isinstance(view["precedents"], list)
    assert Suggestion("5045", 0.123456).as_dict()["confidence"] == 0.1235
