"""The issue's day in the life: the unknown fee waits with suggestions; assigning it posts
the entry; the next day the same kind of fee posts by itself and names the version that
decided it; a rollback sends the next one back to the queue; export then import on a
fresh home reproduces the rule set."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tbot.ledger.verify import verify_ledger
from tbot.reconcile.mapping.documents import document_text

UNKNOWN_FEE = "MISCFEE"


def decisions(recon: Any) -> list[tuple[Any, ...]]:
    return recon.read(
        "SELECT broker_id, layer, action, rule_version, rule_key, account, entry_id "
        "FROM mapping_decisions ORDER BY id")


def entry_of(recon: Any, fitid: str) -> list[tuple[Any, ...]]:
    return recon.read(
        "SELECT p.account_code, p.amount FROM ledger_entries e JOIN ledger_postings p "
        "ON p.entry_id = e.id WHERE e.fitid = ? ORDER BY p.amount", (fitid,))


def test_defaults_post_the_dividend_and_the_deposit_and_queue_the_unknown_fee(
        faulty_home, cash_day, recon_of, mapping_of):
    cash_day(faulty_home, 0)
    recon = recon_of(faulty_home)

    result = recon.sync()

    assert result.counts.get("mapped") == 2
    made = decisions(recon)
    assert sorted((layer, action, version) for _, layer, action, version, *_ in made) == [
        ("default", "post", 1), ("default", "post", 1)]
    queue = mapping_of(faulty_home).queue()
    (item,) = queue["items"]
    assert (item["activity_type"], item["amount"], item["reason"]) == (
        UNKNOWN_FEE, "-12.34", "no-rule")
    assert item["suggestions"], "a brand-new type still gets suggestions"
    top = item["suggestions"][0]
    assert top["account"] == "5045" and top["source"] == "similar-rule"
    assert top["confidence"] < 0.95
    # The cash assertion holds: what the defaults posted is in the ledger's cash.
    assert all(balance.passed or balance.difference == Decimal("12.34")
               for balance in result.balances)


def test_assign_posts_once_and_the_next_day_the_saved_rule_decides(
        faulty_home, cash_day, recon_of, mapping_of):
    cash_day(faulty_home, 0)
    recon, mapping = recon_of(faulty_home), mapping_of(faulty_home)
    recon.sync()
    (item,) = mapping.queue()["items"]

    done = mapping.assign(item["id"], "5070", reason="OPRA pass-through fee",
                          save_rule={})

    assert done["action"] == "post" and done["new_version"] == 2
    assert entry_of(recon, item["broker_id"]) == [("1070", -12340000), ("5070", 12340000)]
    assert mapping.queue()["total"] == 0
    # The unmapped break is cleared by the same write.
    (status,) = recon.read(
        "SELECT status FROM reconciliation_log WHERE trade_id = ? ORDER BY id DESC LIMIT 1",
        (item["broker_id"],))
    assert status == ("resolved",)
    # A retry posts nothing more.
    again = mapping.assign(item["id"], "5070", reason="retry")
    assert again.get("unchanged") is True
    assert len(entry_of(recon, item["broker_id"])) == 2

    cash_day(faulty_home, 1)
    recon.sync()

    fee_decisions = [d for d in decisions(recon) if d[1] == "rule"]
    (next_fee,) = fee_decisions
    assert next_fee[3] == 2 and next_fee[5] == "5070"  # version 2's rule decided
    assert next_fee[4] == done["rule"]["id"]
    assert mapping.queue()["total"] == 0
    assert verify_ledger(faulty_home.paths.ledger_db, faulty_home.paths.coa_db()).ok


def test_a_rollback_sends_the_next_fee_back_to_the_queue(
        faulty_home, cash_day, recon_of, mapping_of):
    cash_day(faulty_home, 0)
    recon, mapping = recon_of(faulty_home), mapping_of(faulty_home)
    recon.sync()
    (item,) = mapping.queue()["items"]
    mapping.assign(item["id"], "5070", reason="OPRA fee", save_rule={})

    rolled = mapping.service_call("rollback", 1, actor="cli:admin", reason="rule was wrong")

    assert rolled["version"] == 3 and rolled["source_version"] == 1
    versions = mapping.service_call("versions")
    assert versions["active"] == 3
    cash_day(faulty_home, 1)
    recon.sync()
    queue = mapping.queue()
    (waiting,) = queue["items"]
    assert waiting["activity_type"] == UNKNOWN_FEE and waiting["broker_id"] != item["broker_id"]
    # The operator's earlier decision is a precedent now: the model suggests 5070.
    assert waiting["suggestions"][0]["account"] == "5070"
    assert waiting["suggestions"][0]["source"] == "learned"
    assert waiting["suggestions"][0]["precedents"]


def test_export_then_import_on_a_fresh_home_reproduces_the_rule_set(
        faulty_home, cash_day, recon_of, mapping_of, make_home, tmp_path):
    cash_day(faulty_home, 0)
    recon_of(faulty_home).sync()
    mapping = mapping_of(faulty_home)
    (item,) = mapping.queue()["items"]
    mapping.assign(item["id"], "5070", reason="OPRA fee", save_rule={"description": "fee"})
    document = mapping.service_call("export")
    text = document_text(document)

    fresh_root = tmp_path / "fresh"
    fresh_root.mkdir()
    import tests.reconcile.conftest as base
    from tbot.admin.bot_home import open_home
    from tbot.admin.init_home import init_home
    from tbot.clock import FrozenClock

    init_home(fresh_root / "home", base.IDENTITY, FrozenClock(base.DAY_START), actor="test")
    fresh = mapping_of(open_home(fresh_root / "home"))
    imported = fresh.service_call("import_document", text, actor="cli:admin", reason="seed")
    assert imported["active"] is False
    fresh.service_call("activate", imported["version"], actor="cli:admin", reason="seeded")

    mine = mapping.service_call("rules")
    theirs = fresh.service_call("rules")
    assert theirs["version"]["content_hash"] == mine["version"]["content_hash"]
    assert [r["summary"] for r in theirs["rules"]] == [r["summary"] for r in mine["rules"]]
