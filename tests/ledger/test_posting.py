"""The one write path: what LedgerWriter accepts, what it refuses, and what lands on disk."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from peewee import SqliteDatabase

from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.ledger.audit_chain import GENESIS_HASH, audit_row_hash
from tbot.ledger.database import bound, open_reader_database
from tbot.ledger.errors import (
    AlreadyReversedError,
    DuplicateFitidError,
    EntryNotFoundError,
    InvalidEntryError,
    LedgerError,
    LedgerFileError,
    NonPostableAccountError,
    UnbalancedEntryError,
    UnknownAccountError,
)
from tbot.ledger.models import LEDGER_MODELS, AuditRow, LedgerEntry, LedgerPosting, Trade
from tbot.ledger.posting import (
    BackupPolicy,
    EntryDraft,
    LedgerWriter,
    PostedEntry,
    PostingDraft,
    TradeDraft,
    create_ledger_file,
)
from tbot.ledger.verify import verify_ledger

from .conftest import EntryFactory, Snapshot


@pytest.fixture
def reader(ledger_paths: BotPaths) -> Iterator[SqliteDatabase]:
    """A read-only Peewee database on the ledger with the models bound to it."""
    database = open_reader_database(ledger_paths.ledger_db)
    with bound(database, LEDGER_MODELS):
        yield database
    database.close()


def test_balanced_entry_is_posted_with_its_postings_and_audit_row(
    writer: LedgerWriter, make_entry: EntryFactory, reader: SqliteDatabase, clock: FrozenClock
) -> None:
    posted = writer.post(make_entry("FIT-1", "250.75"), actor="engine")
    assert posted == PostedEntry(entry_id=1, fitid="FIT-1", audit_id=2)
    entry = LedgerEntry.get(LedgerEntry.fitid == "FIT-1")
    assert (entry.trntype, entry.memo, entry.source, entry.is_manual) == (
        "BUY", "test entry", "engine", False)
    assert (entry.entity_code, entry.jurisdiction_code, entry.broker_code, entry.bot_id) == (
        "ACME", "US", "ALP", "B01")
    assert entry.currency_code == "USD"
    assert entry.dtposted == entry.created_at_utc == clock.now()
    legs = [(p.account_code, p.amount) for p in entry.postings.order_by(LedgerPosting.id)]
    assert legs == [("1111", Decimal("250.75")), ("1030", Decimal("-250.75"))]
    audit = AuditRow.get_by_id(posted.audit_id)
    assert (audit.actor, audit.action, audit.subject) == ("engine", "entry.post", "FIT-1")
    assert json.loads(audit.details)["entry_id"] == 1


def test_unbalanced_entry_is_refused_naming_fitid_and_imbalance(
    writer: LedgerWriter, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    draft = EntryDraft(
        "FIT-UNBAL", datetime(2026, 3, 2, tzinfo=UTC), "BUY", "lopsided",
        (PostingDraft("1111", Decimal("100.00")), PostingDraft("1030", Decimal("-99.99"))),
    )
    with pytest.raises(UnbalancedEntryError) as refused:
        writer.post(draft, actor="engine")
    assert "FIT-UNBAL" in str(refused.value)
    assert "USD 0.01" in str(refused.value)
    assert refused.value.imbalance == {"USD": Decimal("0.01")}
    assert snapshot(ledger_paths.ledger_db) == before


def test_unknown_account_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(UnknownAccountError, match="'7777'"):
        writer.post(make_entry("FIT-U", debit="7777"), actor="engine")


def test_parent_account_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(NonPostableAccountError, match="parent account"):
        writer.post(make_entry("FIT-P", debit="1110"), actor="engine")


def test_top_node_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(NonPostableAccountError, match="'1000'"):
        writer.post(make_entry("FIT-T", credit="1000"), actor="engine")


def test_control_account_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(NonPostableAccountError, match="control account"):
        writer.post(make_entry("FIT-C", debit="9320"), actor="engine")


def test_duplicate_fitid_already_in_the_file_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    writer.post(make_entry("FIT-DUP"), actor="engine")
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(DuplicateFitidError, match=r"'FIT-DUP'.*already in the ledger"):
        writer.post(make_entry("FIT-DUP", "5.00"), actor="engine")
    assert snapshot(ledger_paths.ledger_db) == before


def test_duplicate_fitid_within_a_batch_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(DuplicateFitidError, match="twice in this batch"):
        writer.post_batch([make_entry("FIT-A"), make_entry("FIT-B"), make_entry("FIT-A")],
                          actor="engine")
    assert snapshot(ledger_paths.ledger_db) == before


def test_refused_batch_changes_nothing(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    writer.post(make_entry("FIT-0"), actor="engine")
    before = snapshot(ledger_paths.ledger_db)
    good = [make_entry(f"FIT-{n}") for n in range(1, 50)]
    with pytest.raises(UnknownAccountError):
        writer.post_batch([*good, make_entry("FIT-BAD", debit="0000")], actor="engine")
    assert snapshot(ledger_paths.ledger_db) == before
    writer.post_batch(good, actor="engine")  # the good part alone still posts
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok


def test_batch_refused_by_the_database_midway_leaves_nothing(
    writer: LedgerWriter,
    make_entry: EntryFactory,
    ledger_paths: BotPaths,
    snapshot: Snapshot,
    tamper: sqlite3.Connection,
) -> None:
    # A rule only the database knows, hit after thousands of rows are already inserted:
    # they must roll back with the rest.
    tamper.execute(
        "CREATE TRIGGER refuse_memo BEFORE INSERT ON ledger_entries "
        "WHEN NEW.memo = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    )
    before = snapshot(ledger_paths.ledger_db)
    drafts = [make_entry(f"FIT-{n:05d}") for n in range(2500)]
    drafts.append(make_entry("FIT-POISON", memo="poison"))
    with pytest.raises(LedgerError, match="poisoned"):
        writer.post_batch(drafts, actor="engine")
    assert snapshot(ledger_paths.ledger_db) == before


def test_entry_with_a_single_posting_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    draft = make_entry("FIT-ONE", postings=(PostingDraft("1111", Decimal(0)),))
    with pytest.raises(InvalidEntryError, match="at least 2 postings, it has 1"):
        writer.post(draft, actor="engine")


def test_zero_amount_posting_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    draft = make_entry("FIT-Z", postings=(
        PostingDraft("1111", Decimal(5)), PostingDraft("1030", Decimal(-5)),
        PostingDraft("5010", Decimal("0.00")),
    ))
    with pytest.raises(InvalidEntryError, match="zero amount"):
        writer.post(draft, actor="engine")


def test_naive_dtposted_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    naive = datetime(2026, 3, 2, 14, 30)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(InvalidEntryError, match=r"'FIT-N'.*naive"):
        writer.post(make_entry("FIT-N", dtposted=naive), actor="engine")


def test_float_amount_is_refused_with_a_type_error(
    writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    draft = make_entry("FIT-F", postings=(
        PostingDraft("1111", 0.1), PostingDraft("1030", -0.1),  # type: ignore[arg-type]
    ))
    with pytest.raises(TypeError, match=r"FIT-F.*pass a Decimal or a str"):
        writer.post(draft, actor="engine")


def test_amount_with_too_many_places_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    with pytest.raises(InvalidEntryError, match="more than 6 decimal places"):
        writer.post(make_entry("FIT-7", "1.0000001"), actor="engine")


def test_nan_amount_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(InvalidEntryError, match="not a finite amount"):
        writer.post(make_entry("FIT-NAN", postings=(
            PostingDraft("1111", Decimal("NaN")), PostingDraft("1030", Decimal(1)),
        )), actor="engine")


def test_memo_with_control_characters_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    with pytest.raises(InvalidEntryError, match="memo"):
        writer.post(make_entry("FIT-M", memo="line one\nline two"), actor="engine")


def test_empty_fitid_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(InvalidEntryError, match="FITID"):
        writer.post(make_entry(""), actor="engine")


def test_actor_is_required(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(LedgerError, match="actor"):
        writer.post(make_entry("FIT-ACT"), actor="")


def test_awkward_values_round_trip_through_the_ledger(
    writer: LedgerWriter, make_entry: EntryFactory, reader: SqliteDatabase
) -> None:
    legs = (
        PostingDraft("1111", Decimal("0.000001"), quantity=Decimal("0.000000001"), symbol="X"),
        PostingDraft("1112", Decimal("9000000000000.5"), quantity=Decimal("123456789.123456789"),
                     symbol="Y"),
        PostingDraft("1113", Decimal("1E+3"), quantity=Decimal("-2.5"), symbol="Z"),
        PostingDraft("1030", -Decimal("9000000001000.500001")),
    )
    posted = writer.post(make_entry("FIT-AWK", postings=legs), actor="engine")
    stored = [(p.amount, p.quantity) for p in LedgerPosting.select()
              .where(LedgerPosting.entry == posted.entry_id).order_by(LedgerPosting.id)]
    assert stored == [(leg.amount, leg.quantity) for leg in legs]


def test_multi_currency_entry_balances_per_currency(
    writer: LedgerWriter, make_entry: EntryFactory, reader: SqliteDatabase, ledger_paths: BotPaths
) -> None:
    legs = (
        PostingDraft("1030", Decimal("-100.00"), "USD"),
        PostingDraft("1040", Decimal("100.00"), "USD"),
        PostingDraft("1040", Decimal("-137.25"), "CAD"),
        PostingDraft("1050", Decimal("137.25"), "CAD"),
    )
    writer.post(make_entry("FIT-FX", postings=legs, trntype="XFER"), actor="engine")
    currencies = {p.currency_code for p in LedgerPosting.select()}
    assert currencies == {"USD", "CAD"}
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok


def test_currencies_cannot_offset_each_other(
    writer: LedgerWriter, make_entry: EntryFactory
) -> None:
    legs = (PostingDraft("1030", Decimal("10"), "USD"), PostingDraft("1040", Decimal("-10"), "CAD"))
    with pytest.raises(UnbalancedEntryError) as refused:
        writer.post(make_entry("FIT-X", postings=legs), actor="engine")
    assert refused.value.imbalance == {"USD": Decimal("10"), "CAD": Decimal("-10")}


def test_bad_currency_code_is_refused(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    with pytest.raises(InvalidEntryError, match="'usd'"):
        writer.post(make_entry("FIT-CUR", currency="usd"), actor="engine")


def test_trade_row_carries_every_mandatory_field(
    writer: LedgerWriter,
    make_entry: EntryFactory,
    reader: SqliteDatabase,
    clock: FrozenClock,
) -> None:
    trade = TradeDraft(
        trntype="SELL", strategy="close", symbol="SQQQ", side="long", size=Decimal("10.5"),
        entry_price=Decimal("12.34"), exit_price=Decimal("13.01"), pnl=Decimal("7.035"),
        broker="alpaca", tag="InverseETF", leverage_multiplier=Decimal(3),
    )
    posted = writer.post(make_entry("FIT-TRADE", "7.035", debit="1030", credit="4010",
                                    trntype="SELL", trade=trade), actor="engine")
    row = Trade.get(Trade.fitid == "FIT-TRADE")
    assert row.trntype == "SELL"
    assert row.dtposted == clock.now()
    assert row.currency_code == "USD"
    assert (row.entity_code, row.jurisdiction_code, row.broker_code, row.bot_id) == (
        "ACME", "US", "ALP", "B01")
    assert (row.strategy, row.symbol, row.side) == ("close", "SQQQ", "long")
    assert row.size == Decimal("10.5")
    assert (row.entry_price, row.exit_price) == (Decimal("12.34"), Decimal("13.01"))
    assert row.pnl == Decimal("7.035")
    assert row.audit_reference.id == posted.audit_id
    assert (row.tag, row.leverage_multiplier) == ("InverseETF", Decimal(3))
    assert row.entry.id == posted.entry_id
    assert row.broker == "alpaca"
    assert row.error_code is None


def test_opening_trade_defaults_tag_and_leverage(
    writer: LedgerWriter, make_entry: EntryFactory, reader: SqliteDatabase, buy_trade: TradeDraft
) -> None:
    writer.post(make_entry("FIT-OPEN", trade=buy_trade), actor="engine")
    row = Trade.get(Trade.fitid == "FIT-OPEN")
    assert (row.tag, row.leverage_multiplier, row.exit_price) == ("none", Decimal(1), None)


def test_trade_side_must_match_its_trntype(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft
) -> None:
    trade = TradeDraft(**{**_fields(buy_trade), "side": "short"})
    with pytest.raises(InvalidEntryError, match="BUY is on the long side"):
        writer.post(make_entry("FIT-SIDE", trade=trade), actor="engine")


def test_closing_trade_needs_an_exit_price(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft
) -> None:
    trade = TradeDraft(**{**_fields(buy_trade), "trntype": "SELL", "strategy": "close"})
    with pytest.raises(InvalidEntryError, match="closing SELL needs an exit_price"):
        writer.post(make_entry("FIT-EXIT", trade=trade), actor="engine")


def test_opening_trade_has_no_exit_price(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft
) -> None:
    trade = TradeDraft(**{**_fields(buy_trade), "exit_price": Decimal(70)})
    with pytest.raises(InvalidEntryError, match="opening BUY has no exit_price"):
        writer.post(make_entry("FIT-NOEXIT", trade=trade), actor="engine")


def test_unknown_strategy_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory, buy_trade: TradeDraft
) -> None:
    trade = TradeDraft(**{**_fields(buy_trade), "strategy": "lunch"})
    with pytest.raises(InvalidEntryError, match="strategy 'lunch'"):
        writer.post(make_entry("FIT-STRAT", trade=trade), actor="engine")


def test_reversal_posts_the_negated_entry_flagged_manual(
    writer: LedgerWriter, make_entry: EntryFactory, reader: SqliteDatabase,
    ledger_paths: BotPaths, clock: FrozenClock,
) -> None:
    original = writer.post(make_entry("FIT-ORIG", "42.50"), actor="engine")
    clock.advance(timedelta(hours=1))
    reversal = writer.reverse("FIT-ORIG", new_fitid="FIT-ORIG-REV", memo="booked twice",
                              actor="operator")
    entry = LedgerEntry.get_by_id(reversal.entry_id)
    assert entry.is_manual is True
    assert entry.reverses_entry.id == original.entry_id
    assert entry.source == "reversal"
    assert entry.dtposted == clock.now()
    legs = [(p.account_code, p.amount) for p in entry.postings.order_by(LedgerPosting.id)]
    assert legs == [("1111", Decimal("-42.50")), ("1030", Decimal("42.50"))]
    audit = AuditRow.get_by_id(reversal.audit_id)
    assert (audit.action, audit.actor) == ("entry.reverse", "operator")
    assert json.loads(audit.details)["reverses_fitid"] == "FIT-ORIG"
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok


def test_second_reversal_is_refused(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, snapshot: Snapshot
) -> None:
    writer.post(make_entry("FIT-R"), actor="engine")
    writer.reverse("FIT-R", new_fitid="FIT-R-1", memo="first", actor="operator")
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(AlreadyReversedError, match=r"'FIT-R' was already reversed by .*FIT-R-1"):
        writer.reverse("FIT-R", new_fitid="FIT-R-2", memo="again", actor="operator")
    assert snapshot(ledger_paths.ledger_db) == before


def test_reversing_an_unknown_fitid_is_refused(writer: LedgerWriter) -> None:
    with pytest.raises(EntryNotFoundError, match="'NOPE'"):
        writer.reverse("NOPE", new_fitid="NOPE-R", memo="x", actor="operator")


def test_record_event_extends_the_same_hash_chain(
    writer: LedgerWriter, make_entry: EntryFactory, reader: SqliteDatabase,
    ledger_paths: BotPaths,
) -> None:
    posted = writer.post(make_entry("FIT-E"), actor="engine")
    event_id = writer.record_event("keys.rotate", actor="operator", subject="env",
                                   details={"keys": ["env", "login"], "count": 2})
    assert event_id == posted.audit_id + 1
    row = AuditRow.get_by_id(event_id)
    assert row.details == '{"count":2,"keys":["env","login"]}'
    assert row.prev_hash == AuditRow.get_by_id(posted.audit_id).row_hash
    assert row.row_hash == audit_row_hash((row.id, "2026-03-02T14:30:00.000000Z", row.actor,
                                           row.action, row.subject, row.details, row.prev_hash))
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok


def test_record_event_refuses_float_details(writer: LedgerWriter) -> None:
    with pytest.raises(TypeError, match="float"):
        writer.record_event("risk.limit", actor="operator", subject="max_loss",
                            details={"value": 0.5})


def test_first_audit_row_records_the_ledger_creation(
    ledger_paths: BotPaths, reader: SqliteDatabase
) -> None:
    first = AuditRow.get_by_id(1)
    assert (first.action, first.prev_hash) == ("ledger.create", GENESIS_HASH)
    assert json.loads(first.details)["bot_identity"] == "ACME_US_ALP_B01"


def test_post_batch_assigns_ids_in_order(writer: LedgerWriter, make_entry: EntryFactory) -> None:
    posted = writer.post_batch([make_entry(f"FIT-{n}") for n in range(3)], actor="engine")
    assert [(p.entry_id, p.fitid, p.audit_id) for p in posted] == [
        (1, "FIT-0", 2), (2, "FIT-1", 3), (3, "FIT-2", 4)]
    assert writer.post_batch([], actor="engine") == []


def test_writes_need_an_open_writer(
    ledger_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy, make_entry: EntryFactory
) -> None:
    closed = LedgerWriter(ledger_paths, clock, policy)
    with pytest.raises(LedgerError, match="not open"):
        closed.post(make_entry("FIT-CLOSED"), actor="engine")


def test_ledger_file_is_never_overwritten(
    ledger_paths: BotPaths, clock: FrozenClock, snapshot: Snapshot
) -> None:
    before = snapshot(ledger_paths.ledger_db)
    with pytest.raises(LedgerFileError, match="already exists"):
        create_ledger_file(ledger_paths, clock)
    assert snapshot(ledger_paths.ledger_db) == before


def test_ledger_file_needs_the_coa_file_first(paths: BotPaths, clock: FrozenClock) -> None:
    with pytest.raises(LedgerFileError, match=r"COA file .* does not exist"):
        create_ledger_file(paths, clock)
    assert not paths.ledger_db.exists()


def test_ledger_file_copies_the_coa_metadata(ledger_paths: BotPaths) -> None:
    connection = sqlite3.connect(f"file:{ledger_paths.ledger_db}?mode=ro", uri=True)
    ledger_rows = connection.execute("SELECT * FROM coa_metadata").fetchall()
    connection.close()
    connection = sqlite3.connect(f"file:{ledger_paths.coa_db()}?mode=ro", uri=True)
    coa_rows = connection.execute("SELECT * FROM coa_metadata").fetchall()
    connection.close()
    assert ledger_rows == coa_rows
    assert len(ledger_rows) == 1


def test_ledger_file_is_in_wal_mode(ledger_paths: BotPaths) -> None:
    connection = sqlite3.connect(f"file:{ledger_paths.ledger_db}?mode=ro", uri=True)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def _fields(trade: TradeDraft) -> dict[str, object]:
    return {name: getattr(trade, name) for name in TradeDraft.__dataclass_fields__}


def test_rows_built_before_the_transaction_follow_a_write_made_around_the_lock(
    writer: LedgerWriter, ledger_paths: BotPaths, make_entry: EntryFactory,
    tamper: sqlite3.Connection,
) -> None:
    """The writer builds a batch's rows (ids, hash chain) while its pre-write backup runs,
    before its transaction; if the file moved on meanwhile (a program writing around the
    writer lock), the rows are built again on the new end: the chain stays whole and
    nothing collides."""
    writer.post(make_entry("FIRST"), actor="test")
    assert writer.wait_for_backups(timeout=30)
    with ThreadPoolExecutor(max_workers=1) as pool:
        tamper.execute("BEGIN IMMEDIATE")  # the writer's transaction waits for this one
        second = pool.submit(writer.post, make_entry("SECOND"), actor="test")
        time.sleep(0.3)  # its rows are built on the file as it is now
        last_id, last_hash = tamper.execute(
            "SELECT id, row_hash FROM audit_trail ORDER BY id DESC LIMIT 1").fetchone()
        row = (last_id + 1, "2026-03-02T15:00:00.000000Z", "intruder", "note.added",
               "around the lock", "{}", last_hash)
        tamper.execute("INSERT INTO audit_trail VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (*row, audit_row_hash(row)))
        tamper.execute("COMMIT")
        posted = second.result(timeout=30)
    assert posted.audit_id == last_id + 2
    report = verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db())
    assert report.ok, report.problems
