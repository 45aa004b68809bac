"""Assignments under bad input and faults: accounts that take no postings, two operators,
a retried or repeated import, undo (which un-learns), a posting whose decision row is
missing, and SIGKILL at random points of an assignment."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.verify import verify_ledger
from tbot.reconcile.mapping import store
from tbot.reconcile.mapping.service import MappingError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def queued(faulty_home, cash_day, recon_of, mapping_of) -> Any:
    """A home after one synced day: the unknown fee waits in the queue."""
    cash_day(faulty_home, 0)
    recon = recon_of(faulty_home)
    recon.sync()
    mapping = mapping_of(faulty_home)
    (item,) = mapping.queue()["items"]
    return recon, mapping, item


def live_entries(recon: Any, broker_id: str) -> list[tuple[Any, ...]]:
    return recon.read(
        "SELECT e.fitid FROM ledger_entries e WHERE (e.fitid = ? OR e.fitid LIKE ?) "
        "AND e.reverses_entry_id IS NULL AND NOT EXISTS (SELECT 1 FROM ledger_entries r "
        "WHERE r.reverses_entry_id = e.id)", (broker_id, f"{broker_id}~%"))


@pytest.mark.parametrize(("account", "reason"), [
    ("9310", "control account"), ("1000", "parent account"), ("7777", "unknown"),
    ("1070", "cash account itself"),
])
def test_an_account_that_takes_no_postings_is_refused(queued, account, reason):
    recon, mapping, item = queued
    with pytest.raises(MappingError, match=reason) as refused:
        mapping.assign(item["id"], account)
    assert refused.value.code == "invalid"
    assert live_entries(recon, item["broker_id"]) == []
    assert mapping.queue()["total"] == 1


def test_an_item_another_operator_assigned_is_refused_unless_reclassified(queued):
    recon, mapping, item = queued
    mapping.assign(item["id"], "5070", actor="control:alice", reason="market data")

    with pytest.raises(MappingError, match="control:alice mapped it to 5070") as refused:
        mapping.assign(item["id"], "5045", actor="control:bob", reason="a fee")
    assert refused.value.code == "already_assigned"

    changed = mapping.assign(item["id"], "5045", actor="control:bob", reason="it is a fee",
                             reclassify=True)
    assert changed["action"] == "reclassify"
    assert live_entries(recon, item["broker_id"]) == [(f"{item['broker_id']}~c1",)]
    learned = mapping.run(lambda s: s.ledger.read(store.precedents))
    assert [p.account for p in learned] == ["5045"]  # the superseded choice stopped counting
    assert verify_ledger(recon.home.paths.ledger_db, recon.home.paths.coa_db()).ok


def test_the_same_activity_synced_twice_stays_one_item(queued):
    recon, mapping, _ = queued
    before = recon.read("SELECT COUNT(*) FROM mapping_queue")
    recon.sync()
    recon.sync()
    assert recon.read("SELECT COUNT(*) FROM mapping_queue") == before
    assert mapping.queue()["total"] == 1


def test_undo_reverses_requeues_and_unlearns(queued):
    recon, mapping, item = queued
    mapping.assign(item["id"], "5070", reason="market data")

    undone = mapping.service_call("undo", item["id"], actor="cli:alice", reason="wrong account")

    assert undone["reversal_entry_ids"]
    assert live_entries(recon, item["broker_id"]) == []
    (waiting,) = mapping.queue()["items"]
    assert waiting["reason"] == "undone"
    assert all(s["source"] != "learned" for s in waiting["suggestions"])
    recon.sync()  # still no rule: it stays queued, nothing is posted twice
    assert live_entries(recon, item["broker_id"]) == []
    again = mapping.assign(item["id"], "5045", reason="a fee after all")
    assert again["action"] == "post"
    assert live_entries(recon, item["broker_id"]) == [(f"{item['broker_id']}~c1",)]
    assert verify_ledger(recon.home.paths.ledger_db, recon.home.paths.coa_db()).ok


def test_a_posting_without_its_decision_row_shows_mapped_after_a_restart(queued, clock):
    recon, mapping, item = queued
    home = recon.home
    # The entry an interrupted writer left behind, without its decision row.
    amount = -abs(Decimal(item["amount"]))
    writer = LedgerWriter(home.paths, clock, home.backup_policy).open()
    try:
        writer.post(EntryDraft(
            fitid=item["broker_id"], dtposted=clock.now(), trntype="DEBIT",
            memo="posted before a crash", source="mapping",
            postings=(PostingDraft("5070", -amount), PostingDraft("1070", amount))),
            actor="engine")
    finally:
        writer.close()

    recon.sync()  # the restart's sync

    assert mapping.queue()["total"] == 0
    (shown,) = mapping.queue(state="mapped")["items"]
    assert shown["reason"] == "booked-elsewhere"
    adopted = mapping.assign(item["id"], "5070", reason="confirm the crashed posting")
    assert adopted["action"] == "adopt" and adopted["posted_entry_ids"] == []
    assert live_entries(recon, item["broker_id"]) == [(item["broker_id"],)]


CHILD = """
import asyncio, sys
from datetime import datetime
from pathlib import Path
from tbot.admin.bot_home import open_home
from tbot.clock import FrozenClock
from tbot.reconcile.mapping.offline import OfflineMapping

home = open_home(Path(sys.argv[1]))
with OfflineMapping(home, FrozenClock(datetime.fromisoformat(sys.argv[2]))) as service:
    print("ready", flush=True)
    asyncio.run(service.assign(int(sys.argv[3]), "5070", actor="cli:test",
                               reason="killed mid-way", save_rule={}))
print("done", flush=True)
"""


def test_sigkill_during_an_assignment_then_a_retry_posts_exactly_once(queued, clock):
    recon, mapping, item = queued
    rng = random.Random(11)
    finished = False
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(recon.home.paths.home), clock.now().isoformat(),
             str(item["id"])], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        entries = live_entries(recon, item["broker_id"])
        assert len(entries) <= 1
        state = mapping.queue(state="all")["items"][0]
        # All or nothing: an entry exists exactly when the item says mapped.
        assert (state["state"] == "mapped") == bool(entries)
        finished = finished or bool(entries)
    result = mapping.assign(item["id"], "5070", actor="cli:test", reason="the retry")
    assert result.get("unchanged") or result["action"] == "post"
    assert live_entries(recon, item["broker_id"]) == [(item["broker_id"],)]
    versions = mapping.service_call("versions")["versions"]
    # The rule was saved by the one child that finished, never twice.
    assert [v["action"] for v in versions].count("add") == (1 if finished else 0)
    report = verify_ledger(recon.home.paths.ledger_db, recon.home.paths.coa_db())
    assert report.ok, report.problems


def resolve_break(recon: Any, broker_id: str, action: str, **extra: Any) -> None:
    from tbot.reconcile.resolution import ResolveRequest
    from tbot.reconcile.statuses import ResolutionAction

    ((break_id,),) = recon.read(
        "SELECT id FROM reconciliation_log WHERE trade_id = ? AND status = 'unmapped' "
        "ORDER BY id DESC LIMIT 1", (broker_id,))
    request = ResolveRequest(break_id=break_id, action=ResolutionAction(action),
                             reason="the bookkeeper's call", **extra)
    recon.run(lambda s: s.resolve(request, "cli:carol"))


def test_a_break_accepted_with_an_account_is_learned_as_that_admin_s_decision(queued):
    recon, mapping, item = queued
    resolve_break(recon, item["broker_id"], "accept-broker", account="5070")

    recon.sync()

    (mapped,) = mapping.queue(state="mapped")["items"]
    assert mapped["broker_id"] == item["broker_id"] and mapped["reason"] == "decided"
    learned = mapping.run(lambda s: s.ledger.read(store.precedents))
    assert [p.account for p in learned] == ["5070"]
    ((actor, action),) = recon.read(
        "SELECT actor, action FROM mapping_decisions WHERE broker_id = ?", (item["broker_id"],))
    assert (actor, action) == ("cli:carol", "adopt")
    assert live_entries(recon, item["broker_id"]) == [(item["broker_id"],)]


def test_a_break_kept_unbooked_is_settled_and_no_later_rule_posts_it(queued):
    recon, mapping, item = queued
    resolve_break(recon, item["broker_id"], "keep-ledger")
    recon.sync()
    (settled,) = mapping.queue(state="settled")["items"]
    assert settled["reason"] == "kept-unbooked"

    mapping.service_call("change_rule", actor="cli:admin", reason="map these fees",
                         rule={"activity_type": "MISCFEE", "sign": "-", "debit": "5045",
                               "credit": "1070"})
    recon.sync()

    assert live_entries(recon, item["broker_id"]) == []
    assert mapping.queue()["total"] == 0


def test_a_zero_amount_activity_is_recorded_and_never_breaks_a_sync(faulty_home, cash_day,
                                                                    recon_of, mapping_of):
    from tests.reconcile.mapping.test_mapping_day import decisions

    cash_day(faulty_home, 0)
    recon = recon_of(faulty_home)
    from tbot.admin.sim_account import sim_broker_settings
    from tbot.broker.models import CashActivity
    from tbot.broker.sim.sim_broker import SimBroker

    broker = SimBroker.open(faulty_home.paths.sim_broker_file, sim_broker_settings(
        faulty_home.config.bot, faulty_home.identity.bot_identity), recon.clock)
    try:
        store = broker._store
        with store.transaction():
            store.insert_activity(store.next_activity_number(), CashActivity(
                "SIM-SPLIT-1", "SPLIT", Decimal(0), recon.clock.now(), "2-for-1 split", "AAPL"))
    finally:
        broker.close()

    result = recon.sync()

    assert result.outcome.value == "complete"
    assert not [d for d in decisions(recon) if d[0] == "SIM-SPLIT-1"]
    (row,) = recon.read("SELECT status, detail FROM reconciliation_log WHERE trade_id = ?",
                        ("SIM-SPLIT-1",))
    assert row == ("ok", "moves no cash: nothing to book")
