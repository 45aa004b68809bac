"""Export and import: a document carries its schema, bot, version and hash; one that fails
any check is refused with the reason and changes nothing."""

from __future__ import annotations

import json

import pytest

from tbot.reconcile.mapping.documents import document_text
from tbot.reconcile.mapping.rules import content_hash
from tbot.reconcile.mapping.service import MappingError


@pytest.fixture
def exported(home, mapping_of):
    mapping = mapping_of(home)
    return mapping, mapping.service_call("export")


def tampered(document, **changes):
    return document_text({**document, **changes})


def with_rule(document, **fields):
    rules = [dict(rule) for rule in document["rules"]]
    rules[0].update(fields)
    return document_text({**document, "rules": rules, "content_hash": content_hash(rules)})


@pytest.mark.parametrize(("make", "reason"), [
    (lambda d: tampered(d, schema_version=2), "schema_version 2 is not supported"),
    (lambda d: tampered(d, schema="other"), "schema is 'other'"),
    (lambda d: tampered(d, content_hash="0" * 64), "content_hash does not match"),
    (lambda d: document_text({**d, "rules": d["rules"][1:]}), "content_hash does not match"),
    (lambda d: with_rule(d, debit="9999"), "unknown"),
    (lambda d: with_rule(d, credit="1100"), "parent account"),
    (lambda d: with_rule(d, description="(*bad"), "not a valid regular expression"),
    (lambda d: "{not json", "not JSON"),
    (lambda d: tampered(d, version=0), "version must be"),
])
def test_a_bad_import_is_refused_with_the_reason_and_changes_nothing(exported, make, reason):
    mapping, document = exported
    before = mapping.service_call("versions")
    with pytest.raises(MappingError, match=reason) as refused:
        mapping.service_call("import_document", make(document), actor="cli:admin",
                             reason="test")
    assert refused.value.code == "refused"
    assert mapping.service_call("versions") == before


def test_an_import_is_a_candidate_until_activated_and_replay_shows_its_effect(exported):
    mapping, document = exported
    rules = [rule for rule in document["rules"] if rule["activity_type"] != "CSD"]
    candidate = document_text({**document, "rules": rules, "content_hash": content_hash(rules)})
    imported = mapping.service_call("import_document", candidate, actor="cli:admin",
                                    reason="drop CSD")
    versions = mapping.service_call("versions")
    assert versions["active"] == 1 and versions["versions"][0]["version"] == imported["version"]
    replay = mapping.service_call("replay", version=imported["version"])
    assert replay["candidate"] == f"version {imported['version']}"
    activated = mapping.service_call("activate", imported["version"], actor="cli:admin",
                                     reason="reviewed")
    assert mapping.service_call("versions")["active"] == activated["version"]
    diff = mapping.service_call("diff", 1, activated["version"])
    assert {c["change"] for c in diff["changes"]} == {"removed"}
    assert json.loads(document_text(mapping.service_call("export")))["version"] == (
        activated["version"])
