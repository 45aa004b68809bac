"""Every rule change is a new immutable version with author, reason and hash; a bad rule
changes nothing; rollback and activation copy a version; unknown versions are refused."""

from __future__ import annotations

import pytest

from tbot.reconcile.mapping.service import MappingError


@pytest.fixture
def mapping(home, mapping_of):
    return mapping_of(home)


def test_a_rule_with_a_bad_pattern_is_refused_and_changes_nothing(mapping):
    before = mapping.service_call("versions")
    with pytest.raises(MappingError, match="not a valid regular expression") as refused:
        mapping.service_call("change_rule", actor="cli:admin", reason="typo",
                             rule={"activity_type": "MISC", "description": "OPRA(",
                                   "debit": "5070", "credit": "1070"})
    assert refused.value.code == "refused"
    assert mapping.service_call("versions") == before


def test_add_edit_disable_each_make_a_version_with_author_reason_and_hash(mapping):
    added = mapping.service_call("change_rule", actor="cli:alice", reason="OPRA fees",
                                 rule={"activity_type": "MISC", "description": "opra",
                                       "sign": "-", "debit": "5070", "credit": "1070"})
    edited = mapping.service_call("change_rule", actor="cli:bob", reason="fees, not data",
                                  rule={"id": added["rule"], "activity_type": "MISC",
                                        "description": "opra", "sign": "-", "debit": "5045",
                                        "credit": "1070"})
    disabled = mapping.service_call("change_rule", actor="cli:bob", reason="not needed",
                                    rule_id=added["rule"], enabled=False)
    versions = mapping.service_call("versions")["versions"]
    assert [(v["version"], v["action"], v["author"]) for v in versions] == [
        (4, "disable", "cli:bob"), (3, "edit", "cli:bob"), (2, "add", "cli:alice"),
        (1, "create", "tbot")]
    assert len({v["content_hash"] for v in versions}) == 4
    assert (added["action"], edited["action"], disabled["action"]) == ("add", "edit", "disable")
    changes = mapping.service_call("diff", 2, 3)["changes"]
    assert changes[0]["fields"] == ["debit"]
    rules = {r["id"]: r for r in mapping.service_call("rules", 2)["rules"]}
    assert rules[added["rule"]]["debit"] == "5070"  # an old version stays as it was


def test_rollback_copies_a_version_and_activation_refuses_what_is_active(mapping):
    mapping.service_call("change_rule", actor="cli:alice", reason="add",
                         rule={"activity_type": "MISC", "sign": "-", "debit": "5070",
                               "credit": "1070"})
    rolled = mapping.service_call("rollback", 1, actor="cli:admin", reason="undo the add")
    assert rolled["version"] == 3
    assert mapping.service_call("rules")["version"]["content_hash"] == (
        mapping.service_call("rules", 1)["version"]["content_hash"])
    with pytest.raises(MappingError, match="already active") as refused:
        mapping.service_call("activate", 3, actor="cli:admin", reason="again")
    assert refused.value.code == "not_allowed"
    with pytest.raises(MappingError, match="no mapping version 42") as unknown:
        mapping.service_call("rollback", 42, actor="cli:admin", reason="no such")
    assert unknown.value.code == "unknown"
    with pytest.raises(MappingError, match="reason is required"):
        mapping.service_call("rollback", 1, actor="cli:admin", reason=" ")
