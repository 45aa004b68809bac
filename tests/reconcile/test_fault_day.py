"""A simulated day with every fault of the simulated broker: one break of each kind, each
explained; resolving them all leaves none open and the ledger verifies clean."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tbot.booking.fifo_lots import LotBook
from tbot.broker.models import OrderSide
from tbot.engine.order_intents import Purpose
from tbot.ledger.verify import verify_ledger
from tbot.reconcile import queries
from tbot.reconcile.resolution import ManualPosting, ResolutionError, ResolveRequest
from tbot.reconcile.statuses import ResolutionAction
from tests.reconcile.conftest import ACCOUNTS

ALL_FAULTS = ("phantom_fill,drop_fill,restate_price,pending_fill,dividend,deposit,"
              "unknown_fee,cash_drift,unknown_position")


def fault_day(session: Any) -> None:
    """Entries at 14:31-14:33, the cash faults at 15:00, a held entry and exits after."""
    session.advance({"AAPL": "100.00", "MSFT": "300.00", "NVDA": "150.00", "AMD": "120.00"})
    session.order("AAPL", OrderSide.BUY, "10")  # its fill is dropped from the reports
    session.advance({})  # (and a phantom share of AAPL is bought behind our back)
    session.order("MSFT", OrderSide.BUY, "5")  # its fill is restated a cent worse
    session.advance({}, minutes=30)  # past 15:00: dividend, deposit, fee, drift, position
    session.order("NVDA", OrderSide.BUY, "3")  # its fill stays pending for 30 minutes
    session.advance({})
    session.order("AAPL", OrderSide.SELL, "10", Purpose.EXIT)
    session.order("MSFT", OrderSide.SELL, "5", Purpose.EXIT)
    session.advance({"AAPL": "101.00", "MSFT": "302.00"})


def open_breaks(recon: Any) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return recon.run(lambda s: s.reconciler.ledger.read(
        lambda c: queries.list_breaks(c, now, limit=500)))["breaks"]


@pytest.fixture
def faulty(make_home: Any, session_of: Any, recon_of: Any) -> Any:
    home = make_home(SIM_FAULTS=ALL_FAULTS)
    session = session_of(home)
    fault_day(session)
    session.close()
    return recon_of(home)


def by_kind(breaks: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in breaks:
        grouped.setdefault((row["kind"], row["status"]), []).append(row)
    return grouped


def test_every_fault_shows_as_one_explained_break(faulty):
    result = faulty.sync()

    grouped = by_kind(open_breaks(faulty))
    assert set(grouped) == {
        ("fill", "local-only"), ("fill", "mismatch"), ("fill", "broker-only"),
        ("fill", "pending"), ("cash", "unmapped"), ("position", "broker-only"),
        ("balance", "mismatch"),
    }
    (restated,) = grouped[("fill", "mismatch")]
    assert [f["field"] for f in restated["compare_fields"]] == ["price"]
    # The dividend and the deposit are booked by the default mapping rules; only the fee
    # of a type no rule knows waits for the mapping queue.
    assert {row["broker_value"].split()[0] for row in grouped[("cash", "unmapped")]} == {
        "MISCFEE"}
    assert result.counts["mapped"] == 2
    positions = {p.symbol: p for p in result.positions}
    assert positions["AAPL"].unexplained == 0  # the phantom share, explained by its fill
    unknown = [p for p in result.positions if p.unexplained]
    assert len(unknown) == 1 and unknown[0].broker_quantity == 5
    (balance,) = result.balances
    assert not balance.passed and balance.difference == Decimal("-0.37")
    for row in open_breaks(faulty):
        assert row["detail"]  # each explained in words


def resolve(recon: Any, break_id: int, action: ResolutionAction, reason: str,
            **extra: Any) -> Any:
    request = ResolveRequest(break_id=break_id, action=action, reason=reason, **extra)
    return recon.run(lambda s: s.resolve(request, "cli:test"))


def test_resolving_every_break_leaves_none_open_and_the_ledger_clean(faulty, clock):
    faulty.sync()
    grouped = by_kind(open_breaks(faulty))
    (dropped,) = grouped[("fill", "local-only")]
    with pytest.raises(ResolutionError, match="sold since"):
        resolve(faulty, dropped["id"], ResolutionAction.ACCEPT_BROKER, "the broker is right")
    resolve(faulty, dropped["id"], ResolutionAction.KEEP_LEDGER,
            "the broker's report omits it; its position and cash confirm the fill")
    (restated,) = grouped[("fill", "mismatch")]
    accepted = resolve(faulty, restated["id"], ResolutionAction.ACCEPT_BROKER,
                       "the broker's confirm shows the restated price")
    assert [e["fitid"].split("~")[1] for e in accepted.entries] == ["r1", "c1"]
    (phantom,) = grouped[("fill", "broker-only")]
    resolve(faulty, phantom["id"], ResolutionAction.ACCEPT_BROKER, "a manual order at the broker")
    (pending,) = grouped[("fill", "pending")]
    with pytest.raises(ResolutionError, match="followed up"):
        resolve(faulty, pending["id"], ResolutionAction.ACCEPT_BROKER, "no")
    for row in grouped[("cash", "unmapped")]:
        kind = row["broker_value"].split()[0]
        if kind == "DIV":
            resolve(faulty, row["id"], ResolutionAction.ACCEPT_BROKER, "a dividend",
                    account="4050")
        elif kind == "CSD":
            resolve(faulty, row["id"], ResolutionAction.ACCEPT_BROKER, "a deposit",
                    account="3010")
        else:
            amount = Decimal(row["broker_value"].split()[-1])
            resolve(faulty, row["id"], ResolutionAction.BOOK_MANUALLY, "an unknown fee",
                    postings=(ManualPosting("5045", -amount), ManualPosting("1070", amount)))
    (balance,) = grouped[("balance", "mismatch")]
    resolve(faulty, balance["id"], ResolutionAction.ACCEPT_BROKER, "unexplained drift written off",
            account="5050")
    positions = [r for r in grouped[("position", "broker-only")] if r["trade_id"] != "AAPL"]
    for row in positions:
        resolve(faulty, row["id"], ResolutionAction.KEEP_LEDGER,
                "a transfer-in: the paperwork follows next week")

    clock.set(datetime(2026, 11, 20, 15, 40, tzinfo=UTC))  # the pending fill is final by now
    final = faulty.sync()

    assert open_breaks(faulty) == []
    assert final.balances[0].passed
    report = verify_ledger(faulty.home.paths.ledger_db, faulty.home.paths.coa_db())
    assert report.ok, report.problems
    lots = LotBook.from_ledger(faulty.home.paths.ledger_db, ACCOUNTS.equities)
    assert lots.position("AAPL").quantity == 1 and lots.position("MSFT").quantity == 0


def test_a_resolution_is_refused_twice_for_unknown_and_for_a_closed_break(faulty):
    faulty.sync()
    (restated,) = by_kind(open_breaks(faulty))[("fill", "mismatch")]
    with pytest.raises(ResolutionError) as unknown:
        resolve(faulty, 99999, ResolutionAction.KEEP_LEDGER, "why not")
    assert unknown.value.code == "unknown"
    resolve(faulty, restated["id"], ResolutionAction.KEEP_LEDGER, "the broker will restate back")
    with pytest.raises(ResolutionError) as again:
        resolve(faulty, restated["id"], ResolutionAction.KEEP_LEDGER, "twice")
    assert again.value.code == "already_resolved"
    with pytest.raises(ResolutionError, match="reason"):
        resolve(faulty, restated["id"], ResolutionAction.KEEP_LEDGER, "  ")


def test_a_kept_break_stays_resolved_through_later_syncs(faulty):
    faulty.sync()
    (restated,) = by_kind(open_breaks(faulty))[("fill", "mismatch")]
    resolve(faulty, restated["id"], ResolutionAction.KEEP_LEDGER, "known timing difference")
    before = faulty.read("SELECT COUNT(*) FROM reconciliation_log WHERE trade_id = ?",
                         (restated["trade_id"],))

    faulty.sync()

    after = faulty.read("SELECT COUNT(*) FROM reconciliation_log WHERE trade_id = ?",
                        (restated["trade_id"],))
    assert after == before
    assert all(row["trade_id"] != restated["trade_id"] for row in open_breaks(faulty))


def test_a_dry_run_posts_nothing(faulty):
    faulty.sync()
    (restated,) = by_kind(open_breaks(faulty))[("fill", "mismatch")]
    entries = faulty.read("SELECT COUNT(*) FROM ledger_entries")

    preview = resolve(faulty, restated["id"], ResolutionAction.ACCEPT_BROKER, "preview",
                      dry_run=True)

    assert preview.dry_run and len(preview.entries) == 2
    assert faulty.read("SELECT COUNT(*) FROM ledger_entries") == entries
    assert any(row["id"] == restated["id"] for row in open_breaks(faulty))
