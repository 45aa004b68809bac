"""`mapping.preview_rule`: what a rule being edited would match, before it is saved: the
queued items and the past decisions (what replay runs over), a few examples, the past
decisions booked elsewhere; an invalid rule is INVALID_PARAMS with the reason; nothing is
written."""

from __future__ import annotations

from typing import Any

import pytest

from tbot.control.methods import Caller, RpcError
from tbot.control.roles import Role
from tbot.control.wire import INVALID_PARAMS
from tbot.reconcile.mapping.methods import MappingMethods, PreviewRuleParams

UNKNOWN_FEE = "MISCFEE"
CALLER = Caller(uid=1001, gid=1001, pid=1, role=Role.VIEWER, name="viewer(uid=1001)")


def fee_rule(**fields: Any) -> dict[str, Any]:
    """A rule booking the simulated broker's unknown fee out of cash (1070) to 5070."""
    return {"activity_type": UNKNOWN_FEE, "sign": "-", "debit": "5070", "credit": "1070",
            **fields}


def preview(mapping: Any, rule: dict[str, Any]) -> dict[str, Any]:
    """The method as the engine serves it (params model, handler, error mapping)."""
    async def call(service: Any) -> dict[str, Any]:
        return await MappingMethods(service).preview_rule(PreviewRuleParams(rule=rule), CALLER)

    return mapping.run(call)


@pytest.fixture
def two_days(faulty_home: Any, cash_day: Any, recon_of: Any, mapping_of: Any) -> Any:
    """Two days of cash faults: day one's fee decided (to 5070), day two's queued."""
    recon, mapping = recon_of(faulty_home), mapping_of(faulty_home)
    cash_day(faulty_home, 0)
    recon.sync()
    (item,) = mapping.queue()["items"]
    mapping.assign(item["id"], "5070", reason="OPRA fee")
    cash_day(faulty_home, 1)
    recon.sync()
    return mapping


def test_a_rule_counts_the_queued_items_and_the_past_decisions_it_matches(two_days):
    result = preview(two_days, fee_rule())

    assert (result["queued"], result["past"], result["conflicts"]) == (1, 1, 0)
    queued, past = result["examples"]
    assert (queued["state"], queued["activity_type"], queued["amount"]) == (
        "queued", UNKNOWN_FEE, "-12.34")
    assert queued["id"] == two_days.queue()["items"][0]["id"]
    assert (past["state"], past["account"], past["id"]) == ("decided", "5070", None)
    assert past["decision_id"] >= 1
    assert result["rule"]["summary"].endswith("→ Dr 5070 / Cr 1070")


def test_past_decisions_booked_elsewhere_are_conflicts(two_days):
    result = preview(two_days, fee_rule(debit="5045"))

    assert (result["past"], result["conflicts"]) == (1, 1)
    (conflict,) = result["conflict_examples"]
    assert conflict["account"] == "5070"


def test_a_rule_matching_nothing_says_zero(two_days):
    result = preview(two_days, fee_rule(description="^no such fee$"))

    assert (result["queued"], result["past"], result["examples"]) == (0, 0, [])


@pytest.mark.parametrize(("rule", "reason"), [
    (fee_rule(description="OPRA("), "not a valid regular expression"),
    (fee_rule(debit="1000"), "takes no postings"),
    (fee_rule(amount_min="5", amount_max="1"), "is above amount_max"),
    ({"activity_type": UNKNOWN_FEE}, "debit is required"),
    (fee_rule(colour="red"), "unknown field"),
])
def test_an_invalid_rule_is_invalid_params_with_the_reason(two_days, rule, reason):
    with pytest.raises(RpcError) as refused:
        preview(two_days, rule)

    assert refused.value.code == INVALID_PARAMS
    assert reason in refused.value.message


def test_a_preview_writes_nothing(two_days):
    before = two_days.service_call("versions")

    preview(two_days, fee_rule())

    assert two_days.service_call("versions") == before
    assert two_days.queue()["total"] == 1


def test_the_method_is_a_read_open_to_viewers(home, mapping_of):
    specs = {spec.name: spec for spec in mapping_of(home).run(
        lambda service: _specs(service))}
    spec = specs["mapping.preview_rule"]
    assert (spec.min_role, spec.changes_state) == (Role.VIEWER, False)


async def _specs(service: Any) -> list[Any]:
    return MappingMethods(service).specs()
