"""Sync: every broker record of the window accounted for, by the broker's id, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from tbot.broker.models import OrderRequest, OrderSide
from tbot.engine.order_intents import Purpose
from tbot.reconcile.statuses import RunOutcome
from tests.reconcile.conftest import bar

LEDGER_TABLES = ("ledger_entries", "ledger_postings", "trades", "reconciliation_log",
                 "broker_records")


def table_counts(recon: Any) -> dict[str, int]:
    return {table: recon.read(f"SELECT COUNT(*) FROM {table}")[0][0] for table in LEDGER_TABLES}


def test_a_clean_day_reconciles_ok_with_no_breaks(home, session_of, recon_of):
    session = session_of(home)
    session.round_trip("AAPL", "10", "100.00", "101.00")
    session.close()
    recon = recon_of(home)

    result = recon.sync()

    assert result.outcome is RunOutcome.COMPLETE
    assert result.counts == {"ok": 3}  # the funding and two fills
    assert result.new_breaks == []
    assert [b.passed for b in result.balances] == [True]
    assert all(p.outcome.value == "matched" for p in result.positions)
    statuses = recon.read("SELECT kind, status FROM reconciliation_log ORDER BY id")
    assert statuses == [("fill", "ok"), ("fill", "ok"), ("cash", "ok")]
    (run,) = recon.read("SELECT trigger, outcome, credential_fingerprint, records_seen "
                        "FROM sync_runs")
    assert run[0] == "manual" and run[1] == "complete" and len(run[2]) == 64 and run[3] == 3


def test_a_second_sync_of_unchanged_data_changes_nothing(home, session_of, recon_of):
    session = session_of(home)
    session.round_trip("AAPL", "10", "100.00", "101.00")
    session.close()
    recon = recon_of(home)
    recon.sync()
    before = table_counts(recon)

    again = recon.sync()

    assert table_counts(recon) == before
    assert again.counts == {"ok": 3} and again.new_breaks == [] and again.rows_written >= 1
    assert recon.read("SELECT COUNT(*) FROM sync_runs")[0][0] == 2


def test_each_record_keeps_its_raw_payload_hash_and_broker_time(home, session_of, recon_of):
    session = session_of(home)
    session.round_trip("MSFT", "5", "300.00", "301.00")
    session.close()
    recon = recon_of(home)
    recon.sync()

    rows = recon.read("SELECT kind, broker_id, record_hash, raw_payload, broker_local_time, "
                      "final FROM broker_records WHERE kind = 'fill' ORDER BY id")
    assert len(rows) == 2
    import hashlib
    import json

    for _, broker_id, record_hash, raw, local_time, final in rows:
        payload = json.loads(raw)
        assert payload["id"] == broker_id and final == 1
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False)
        assert hashlib.sha256(canonical.encode()).hexdigest() == record_hash
        assert local_time.endswith("-05:00")  # New York's own clock, beside the UTC one


def test_a_fill_of_our_own_order_the_ledger_missed_is_booked_and_ok(home, session_of,
                                                                     recon_of, clock):
    session = session_of(home)
    session.advance({"AAPL": "100.00"})
    session.order("AAPL", OrderSide.BUY, "10")
    # The broker fills it, but the "engine" dies before booking it.
    at = session.minute
    clock.set(at + timedelta(minutes=1))
    missed = session.broker.on_bars({"AAPL": bar("AAPL", at, "100.00")}, clock.now())
    session.close()
    recon = recon_of(home)

    result = recon.sync()

    assert result.counts.get("ok") == 2 and result.new_breaks == []
    booked = recon.read("SELECT fitid FROM ledger_entries WHERE fitid = ?",
                        (missed[0].fill_id,))
    assert booked == [(missed[0].fill_id,)]
    assert [p.outcome.value for p in result.positions] == ["matched"]


def test_a_foreign_fill_is_a_broker_only_break_explaining_the_position(home, session_of,
                                                                       recon_of):
    session = session_of(home)
    session.advance({"AAPL": "100.00"})
    session.broker.submit(OrderRequest("manual-1", "AAPL", OrderSide.BUY, Decimal(2)))
    session.clock.set(session.minute + timedelta(minutes=1))
    fills = session.broker.on_bars({"AAPL": bar("AAPL", session.minute, "100.00")},
                                   session.clock.now())
    assert fills  # returned, but the "engine" never books a fill it did not order
    session.close()
    recon = recon_of(home)

    result = recon.sync()

    assert result.counts.get("broker-only") == 1
    (position,) = result.positions
    assert position.outcome.value == "missing_in_ledger"
    assert position.unexplained == 0  # the broker-only fill explains the two shares
    assert result.balances[0].passed  # its cash is explained too


def test_a_strategy_entry_still_held_is_ok_and_matched(home, session_of, recon_of):
    session = session_of(home)
    session.round_trip("AAPL", "10", "100.00", "101.00")
    session.order("AAPL", OrderSide.BUY, "1", Purpose.ENTRY, strategy="mid")
    session.advance({"AAPL": "102.00"})
    session.close()
    recon = recon_of(home)
    result = recon.sync()
    assert result.counts == {"ok": 4}


def test_a_check_writes_only_what_changed(home, session_of, recon_of):
    from tbot.reconcile.statuses import SyncTrigger

    session = session_of(home)
    session.advance({"AAPL": "100.00"})
    session.order("AAPL", OrderSide.BUY, "10")
    session.advance({"AAPL": "100.00"})
    session.close()
    recon = recon_of(home)
    recon.sync()
    before = [recon.read(f"SELECT COUNT(*) FROM {t}")[0][0]
              for t in ("position_checks", "balance_assertions", "audit_trail")]

    quiet = recon.run(lambda service: service.check(SyncTrigger.SCHEDULE))

    assert quiet is not None and quiet.rows_written == 0 and quiet.positions
    after = [recon.read(f"SELECT COUNT(*) FROM {t}")[0][0]
             for t in ("position_checks", "balance_assertions", "audit_trail")]
    assert after == before  # nothing written, not even a backup-and-audit round


def test_a_position_break_closes_once_the_symbol_is_flat_everywhere(home, session_of,
                                                                   recon_of, clock):
    session = session_of(home)
    session.advance({"AAPL": "100.00"})
    session.order("AAPL", OrderSide.BUY, "10")
    session.advance({})

    def foreign(side: OrderSide, client_id: str) -> None:
        session.broker.submit(OrderRequest(client_id, "AAPL", side, Decimal(2)))
        clock.set(session.minute + timedelta(minutes=1))
        session.broker.on_bars({"AAPL": bar("AAPL", session.minute, "100.00")}, clock.now())
        session.minute = clock.now()

    foreign(OrderSide.BUY, "manual-1")
    session.writer.close()
    recon = recon_of(home)
    first = recon.sync()
    assert [p.outcome.value for p in first.positions] == ["quantity_mismatch"]
    session.writer.open()
    session.order("AAPL", OrderSide.SELL, "10", Purpose.EXIT)
    session.advance({})
    foreign(OrderSide.SELL, "manual-2")
    session.close()

    recon.sync()

    statuses = recon.read("SELECT status FROM reconciliation_log WHERE kind = 'position' "
                          "ORDER BY id")
    assert statuses == [("mismatch",), ("ok",)]  # the break closed by itself
