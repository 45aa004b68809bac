"""Short sales in a real ledger: SHORT and COVER entries, FIFO short lots, realized PnL to
the cent, the reports read from the ledger, a restart's rebuild, crossing fills refused,
and `tbot ledger verify` on a ledger with shorts (clean, and catching a tampered short)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal

import pytest

from tbot.booking.broker_accounts import accounts_for
from tbot.booking.fifo_lots import (
    LotBook,
    LotsMismatchError,
    OvercoverError,
    OversellError,
    SideConflictError,
)
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.booking.ledger_results import read_day, read_round_trip
from tbot.booking.trade_records import record_of_round_trip
from tbot.config.paths import BotPaths
from tbot.config.setting_types import BrokerName
from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.schema import APPEND_ONLY_TRIGGERS
from tbot.ledger.verify import verify_ledger

from .conftest import OPEN_LONG, START, Booking, FillFactory, Leg

D = Decimal
CASH, EQUITIES, GAINS, FEES = "1070", "1115", "4045", "5045"
ACCOUNTS = accounts_for(BrokerName.SIM)
SHORT_SALE = FillContext(strategy="open", side="short", tag="ShortSell")
Legs = Callable[[str], list[Leg]]
TradeRow = Callable[[str], dict[str, object]]


@pytest.fixture
def two_shorts_and_a_partial_cover(book: Booking, make_fill: FillFactory) -> dict[str, str]:
    """Short 10 AAPL @ 50 and 5 @ 52.30, then cover 12 @ 48.10: the first lot and two
    fifths of the second are bought back. Returns the fill ids by name."""
    fills = {
        "short_1": make_fill("sell", "10", "50.00", fee="0.05", fill_id="S1"),
        "short_2": make_fill("sell", "5", "52.30", fee="0.03", fill_id="S2"),
        "cover_1": make_fill("buy", "12", "48.10", fee="0.06", fill_id="C1"),
    }
    for fill in fills.values():
        book(fill, SHORT_SALE)
    return {name: fill.fill_id for name, fill in fills.items()}


def test_short_sales_open_short_lots_and_a_cover_closes_them_fifo_to_the_cent(
    two_shorts_and_a_partial_cover: dict[str, str], legs: Legs, trade_row: TradeRow,
    booker: FillBooker, account_balance: Callable[[str], Decimal],
) -> None:
    # A short sale: cash in (less the fee), the equities account credited at the proceeds
    # with a negative quantity.
    assert legs("S1") == [
        (CASH, D("499.95"), None, None),
        (FEES, D("0.05"), None, None),
        (EQUITIES, D("-500.00"), D(-10), "AAPL"),
    ]
    assert legs("S2") == [
        (CASH, D("261.47"), None, None),
        (FEES, D("0.03"), None, None),
        (EQUITIES, D("-261.50"), D(-5), "AAPL"),
    ]
    # The cover buys 12 for 577.20; FIFO: all of S1 (500.00) and 2/5 of S2 (104.60) were
    # sold short for 604.60, so the realized gain is 604.60 - 577.20 = 27.40.
    assert legs("C1") == [
        (EQUITIES, D("604.60"), D(12), "AAPL"),
        (FEES, D("0.06"), None, None),
        (CASH, D("-577.26"), None, None),
        (GAINS, D("-27.40"), None, None),
    ]
    short_row, cover_row = trade_row("S1"), trade_row("C1")
    assert (short_row["trntype"], short_row["side"], short_row["tag"]) == (
        "SHORT", "short", "ShortSell")
    assert (short_row["entry_price"], short_row["exit_price"], short_row["pnl"]) == (
        50_000_000_000, None, -50_000)
    assert (cover_row["trntype"], cover_row["side"], cover_row["size"]) == (
        "COVER", "short", 12_000_000_000)
    # entry price: the average short price of the covered shares, 604.60 / 12
    assert (cover_row["entry_price"], cover_row["exit_price"], cover_row["pnl"]) == (
        50_383_333_333, 48_100_000_000, 27_340_000)

    position = booker.lots.position("AAPL")
    assert (position.quantity, position.cost, position.is_short) == (D(-3), D("-156.90"), True)
    assert [(lot.fitid, lot.quantity, lot.cost, lot.short)
            for lot in booker.lots.lots("AAPL")] == [("S2", D(3), D("156.90"), True)]
    assert account_balance(EQUITIES) == D("-156.90")  # the journal says what the lots say


def test_the_last_cover_empties_the_lots_and_the_gains_add_up(
    two_shorts_and_a_partial_cover: dict[str, str], book: Booking, make_fill: FillFactory,
    legs: Legs, booker: FillBooker, account_balance: Callable[[str], Decimal],
    paths: BotPaths,
) -> None:
    book(make_fill("buy", "3", "53.00", fee="0.02", fill_id="C2"), SHORT_SALE)
    # the rest of S2 was sold for 156.90 and is bought back for 159.00: a loss of 2.10
    assert legs("C2") == [
        (EQUITIES, D("156.90"), D(3), "AAPL"),
        (FEES, D("0.02"), None, None),
        (CASH, D("-159.02"), None, None),
        (GAINS, D("2.10"), None, None),
    ]
    assert booker.lots.open_symbols() == ()
    assert account_balance(EQUITIES) == 0
    assert account_balance(GAINS) == D("-25.30")  # 27.40 - 2.10, credited
    assert account_balance(FEES) == D("0.16")
    report = verify_ledger(paths.ledger_db, paths.coa_db())
    assert report.ok, report.problems


def test_the_reports_read_short_round_trips_from_the_ledger(
    two_shorts_and_a_partial_cover: dict[str, str], book: Booking, make_fill: FillFactory,
    paths: BotPaths,
) -> None:
    book(make_fill("buy", "3", "53.00", fee="0.02", fill_id="C2"), SHORT_SALE)
    day = read_day(paths.ledger_db, ACCOUNTS, START.date())
    total = day.total
    assert [(f.fitid, f.side, f.quantity) for f in total.entry_fills] == [
        ("S1", "short", D(10)), ("S2", "short", D(5))]
    first, second = total.round_trips
    # C1 closes all of S1 (its fee 0.05) and 2 of S2's 5 shares (0.03 x 2/5 = 0.012)
    assert (first.fitid, first.side, first.quantity, first.cost_basis) == (
        "C1", "short", D(12), D("604.60"))
    assert (first.realized_gain, first.exit_fee, first.entry_fees) == (
        D("27.40"), D("0.06"), D("0.062"))
    assert first.pnl == D("27.278")
    assert (second.realized_gain, second.entry_fees, second.pnl) == (
        D("-2.10"), D("0.018"), D("-2.138"))
    # every fee of the day is charged to exactly one round trip
    assert total.round_trip_pnl == total.net == D("25.14")

    record = record_of_round_trip(first, side="short", broker="SIM", exit_reason="timeout",
                                  order_id="O1")
    assert (record.side, record.size, record.entry_price, record.exit_price, record.PnL) == (
        "short", D(12), D("50.3833"), D("48.1"), D("27.278"))
    assert read_round_trip(paths.ledger_db, ACCOUNTS, "S1") is None  # an entry, not an exit


def test_a_restart_rebuilds_the_short_lots_and_drafts_the_next_cover_the_same(
    two_shorts_and_a_partial_cover: dict[str, str], book: Booking, make_fill: FillFactory,
    booker: FillBooker, paths: BotPaths,
) -> None:
    book(make_fill("buy", "2", "30", symbol="MSFT", fill_id="M1"))  # a long beside it
    rebuilt = LotBook.from_ledger(paths.ledger_db, EQUITIES)

    assert rebuilt == booker.lots
    assert rebuilt.open_symbols() == ("AAPL", "MSFT")
    assert rebuilt.position("AAPL").quantity == D(-3)
    assert rebuilt.position("MSFT").quantity == D(2)
    cover = make_fill("buy", "3", "47.77", fee="0.01", fill_id="C9")
    restarted = FillBooker(BrokerName.SIM, rebuilt)
    assert restarted.entry_for_fill(cover, SHORT_SALE) == booker.entry_for_fill(
        cover, SHORT_SALE)


def test_a_fill_that_would_cross_zero_is_refused_and_changes_nothing(
    book: Booking, make_fill: FillFactory, booker: FillBooker, writer: LedgerWriter,
) -> None:
    book(make_fill("buy", "10", "20", fill_id="L1"))
    book(make_fill("sell", "4", "30", symbol="MSFT", fill_id="X1"), SHORT_SALE)
    before = booker.lots.clone()

    # a sale of more than is held long never turns into a short
    with pytest.raises(OversellError, match="cannot sell 15 AAPL: the FIFO lots hold only 10"):
        booker.entry_for_fill(make_fill("sell", "15", "21"), OPEN_LONG)
    # a short sale of what is held long is refused, whatever its size
    with pytest.raises(SideConflictError, match=r"cannot sell short AAPL .* 10 are held long"):
        booker.entry_for_fill(make_fill("sell", "1", "21"), SHORT_SALE)
    # a cover never buys more than is short
    with pytest.raises(OvercoverError, match="cannot cover 5 MSFT: the FIFO lots are short "
                                             "only 4"):
        booker.entry_for_fill(make_fill("buy", "5", "29", symbol="MSFT"), SHORT_SALE)
    # a "buy to cover" with nothing short is not a purchase under a short's tag
    with pytest.raises(OvercoverError, match="short only 0"):
        booker.entry_for_fill(make_fill("buy", "1", "29", symbol="KO"), SHORT_SALE)
    # and a plain sale of nothing held is not taken for a short sale
    with pytest.raises(OversellError, match="cannot sell 1 KO"):
        booker.entry_for_fill(make_fill("sell", "1", "29", symbol="KO"), OPEN_LONG)
    assert booker.lots == before


def test_a_purchase_against_short_lots_covers_them(
    book: Booking, make_fill: FillFactory, trade_row: TradeRow, booker: FillBooker
) -> None:
    """A buy the engine did not tag (a fill recovered from the broker) still covers: a
    symbol held short has no long lots to add to."""
    book(make_fill("sell", "4", "30", fill_id="X1"), SHORT_SALE)
    book(make_fill("buy", "4", "29", fill_id="X2"), OPEN_LONG)
    assert (trade_row("X2")["trntype"], trade_row("X2")["tag"]) == ("COVER", "ShortSell")
    assert booker.lots.open_symbols() == ()


def test_verify_is_clean_with_shorts_and_names_a_tampered_short_lot(
    two_shorts_and_a_partial_cover: dict[str, str], paths: BotPaths
) -> None:
    assert verify_ledger(paths.ledger_db, paths.coa_db()).ok

    # Someone moves a short lot's proceeds and its cash leg behind tbot's back (the entry
    # still balances) and puts the append-only triggers back as they were.
    with sqlite3.connect(paths.ledger_db) as tamper:
        tamper.execute("DROP TRIGGER ledger_postings_no_update")
        tamper.execute(
            "UPDATE ledger_postings SET amount = amount + 1000000 WHERE entry_id = "
            "(SELECT id FROM ledger_entries WHERE fitid = 'S2') AND account_code IN (?, ?)",
            (CASH, FEES),
        )
        tamper.execute(
            "UPDATE ledger_postings SET amount = amount - 2000000 WHERE entry_id = "
            "(SELECT id FROM ledger_entries WHERE fitid = 'S2') AND account_code = ?",
            (EQUITIES,),
        )
        tamper.execute(APPEND_ONLY_TRIGGERS["ledger_postings_no_update"])
    report = verify_ledger(paths.ledger_db, paths.coa_db())
    assert [(p.kind, p.where) for p in report.problems] == [
        ("entry_digest_mismatch", "entry S2 (id 2)")]


def test_a_cover_posted_at_the_wrong_proceeds_stops_the_rebuild(
    two_shorts_and_a_partial_cover: dict[str, str], writer: LedgerWriter, paths: BotPaths
) -> None:
    """A cover that balances but does not take the FIFO proceeds of the short lots: the
    writer cannot know, the rebuild at start-up refuses it (the engine fails closed)."""
    writer.post(EntryDraft(
        fitid="HAND-COVER", dtposted=START, trntype="COVER", memo="by hand",
        postings=(
            PostingDraft(EQUITIES, D("150"), quantity=D(3), symbol="AAPL"),
            PostingDraft(CASH, D("-150")),
        ),
    ), actor="test")
    with pytest.raises(LotsMismatchError, match=r"'HAND-COVER' \(AAPL\): posted cover at "
                                                r"150.000000 but the FIFO short lots' proceeds "
                                                r"are 156.90"):
        LotBook.from_ledger(paths.ledger_db, EQUITIES)


def test_a_short_entry_while_the_ledger_is_long_stops_the_rebuild(
    book: Booking, make_fill: FillFactory, writer: LedgerWriter, paths: BotPaths
) -> None:
    book(make_fill("buy", "10", "20", fill_id="L1"))
    writer.post(EntryDraft(
        fitid="HAND-SHORT", dtposted=START, trntype="SHORT", memo="by hand",
        postings=(
            PostingDraft(CASH, D("60")),
            PostingDraft(EQUITIES, D("-60"), quantity=D(-3), symbol="AAPL"),
        ),
    ), actor="test")
    with pytest.raises(LotsMismatchError, match=r"'HAND-SHORT'.*10 are held long"):
        LotBook.from_ledger(paths.ledger_db, EQUITIES)
