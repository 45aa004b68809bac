"""FIFO lots: exact partial consumption, refusals that change nothing, and the rebuild from
the ledger after a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tbot.booking.fifo_lots import LotBook, LotsMismatchError, LotTake, OversellError
from tbot.booking.fill_entries import FillBooker
from tbot.config.paths import BotPaths
from tbot.config.setting_types import BrokerName
from tbot.ledger.errors import LedgerError
from tbot.ledger.posting import EntryDraft, LedgerWriter, PostingDraft

from .conftest import OPEN_LONG, Booking, FillFactory

D = Decimal
AT = datetime(2026, 11, 20, 14, 31, tzinfo=UTC)
EQUITIES = "1115"


@pytest.fixture
def three_for_a_hundred() -> LotBook:
    """One lot: 3 AAPL that cost 100.00 in total."""
    book = LotBook()
    book.buy("AAPL", D(3), D(100), AT, "B1")
    return book


def test_partial_sales_of_a_lot_add_up_to_exactly_its_cost(
    three_for_a_hundred: LotBook,
) -> None:
    taken = [three_for_a_hundred.sell("AAPL", D(1)).cost_basis for _ in range(3)]
    # 100/3 → 33.333333; then 66.666667 × 1/2 = 33.3333335, a tie → even 33.333334;
    # the last share takes what is left
    assert taken == [D("33.333333"), D("33.333334"), D("33.333333")]
    assert sum(taken) == 100
    assert three_for_a_hundred.open_symbols() == ()


def test_a_sale_takes_the_oldest_lots_first_and_reports_each(
    three_for_a_hundred: LotBook,
) -> None:
    three_for_a_hundred.buy("AAPL", D(7), D(100), AT, "B2")
    consumption = three_for_a_hundred.sell("AAPL", D(5))
    assert consumption.lots == (LotTake("B1", D(3), D(100)), LotTake("B2", D(2),
                                                                      D("28.571429")))
    assert consumption.cost_basis == D("128.571429")
    assert consumption.average_entry_price == D("25.714285800")
    position = three_for_a_hundred.position("AAPL")
    assert (position.quantity, position.cost) == (D(5), D("71.428571"))


def test_an_oversell_changes_nothing(three_for_a_hundred: LotBook) -> None:
    before = three_for_a_hundred.clone()
    with pytest.raises(OversellError) as refused:
        three_for_a_hundred.sell("AAPL", D("3.000000001"))
    assert isinstance(refused.value, LedgerError)
    assert (refused.value.wanted, refused.value.held) == (D("3.000000001"), D(3))
    assert three_for_a_hundred == before


def test_preview_and_clone_leave_the_book_as_it_was(three_for_a_hundred: LotBook) -> None:
    copy = three_for_a_hundred.clone()
    assert three_for_a_hundred.preview_sell("AAPL", D(1)).cost_basis == D("33.333333")
    copy.sell("AAPL", D(2))
    assert three_for_a_hundred.position("AAPL").quantity == 3
    assert copy.position("AAPL").quantity == 1


@pytest.mark.parametrize(
    ("quantity", "cost"),
    [(D(0), D(1)), (D(-1), D(1)), (D("0.0000000001"), D(1)), (D(1), D("0.0000001")),
     (D(1), D(-1))],
)
def test_a_lot_the_ledger_could_not_hold_is_refused(quantity: Decimal, cost: Decimal) -> None:
    book = LotBook()
    with pytest.raises(LedgerError):
        book.buy("AAPL", quantity, cost, AT, "B1")
    assert book.open_symbols() == ()


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        LotBook().buy("AAPL", D(1), D(1), datetime(2026, 11, 20, 14, 31), "B1")  # noqa: DTZ001


def test_the_lots_rebuilt_from_the_ledger_equal_the_live_ones(
    book: Booking, make_fill: FillFactory, booker: FillBooker, paths: BotPaths
) -> None:
    book(make_fill("buy", "3", "33.333333333", fill_id="B1"))
    book(make_fill("buy", "7", "14.285714286", fill_id="B2"))
    book(make_fill("buy", "2.5", "401.37", symbol="MSFT", fill_id="M1"))
    book(make_fill("buy", "6", "16.5", fill_id="B3"))
    book(make_fill("sell", "1", "35", fill_id="S1"))
    book(make_fill("sell", "5", "20", fill_id="S2"))
    book(make_fill("sell", "1.25", "405", symbol="MSFT", fill_id="M2"))

    rebuilt = LotBook.from_ledger(paths.ledger_db, EQUITIES)

    assert rebuilt == booker.lots
    assert rebuilt.open_symbols() == ("AAPL", "MSFT")
    # after a restart the next sale is drafted exactly as it would have been
    last = make_fill("sell", "10", "15", fill_id="S3")
    restarted = FillBooker(BrokerName.SIM, rebuilt)
    assert restarted.entry_for_fill(last, OPEN_LONG) == booker.entry_for_fill(last, OPEN_LONG)


def test_an_empty_ledger_rebuilds_no_lots(paths: BotPaths) -> None:
    assert LotBook.from_ledger(paths.ledger_db, EQUITIES).open_symbols() == ()


def test_a_sale_posted_at_another_cost_stops_the_rebuild(
    book: Booking, make_fill: FillFactory, writer: LedgerWriter, paths: BotPaths
) -> None:
    book(make_fill("buy", "3", "33.333333333", fill_id="B1"))
    writer.post(_manual_sale("HAND-1", cost=D(50), quantity=D(1)), actor="test")
    with pytest.raises(LotsMismatchError, match=r"at entry 'HAND-1' \(AAPL\): posted cost "
                                                r"50.000000 but FIFO cost 33.333333"):
        LotBook.from_ledger(paths.ledger_db, EQUITIES)


def test_a_sale_of_shares_the_ledger_never_bought_stops_the_rebuild(
    writer: LedgerWriter, paths: BotPaths
) -> None:
    writer.post(_manual_sale("HAND-2", cost=D(10), quantity=D(1)), actor="test")
    with pytest.raises(LotsMismatchError, match=r"'HAND-2'.*lots hold only 0"):
        LotBook.from_ledger(paths.ledger_db, EQUITIES)


def _manual_sale(fitid: str, *, cost: Decimal, quantity: Decimal) -> EntryDraft:
    """A sale booked by hand, outside the FIFO rules."""
    return EntryDraft(
        fitid=fitid,
        dtposted=datetime(2026, 11, 20, 16, 0, tzinfo=UTC),
        trntype="SELL",
        memo="hand-made sale",
        source="test",
        postings=(PostingDraft("1070", cost),
                  PostingDraft(EQUITIES, -cost, quantity=-quantity, symbol="AAPL")),
    )
