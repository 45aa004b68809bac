"""Fills become balanced entries in a real ledger, with exact FIFO costs and trade rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.booking.fifo_lots import LotBook, OversellError
from tbot.booking.fill_entries import FillBooker, FillBookingError, FillContext
from tbot.broker.models import CashActivity
from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.config.setting_types import BrokerName
from tbot.ledger.errors import DuplicateFitidError
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.verify import verify_ledger

from .conftest import OPEN_LONG, Booking, FillFactory, Leg

D = Decimal
CASH, EQUITIES, GAINS, FEES, FLOAT = "1070", "1115", "4045", "5045", "3010"
Legs = Callable[[str], list[Leg]]
TradeRow = Callable[[str], dict[str, object]]


def test_a_round_trip_posts_balanced_entries_and_the_ledger_verifies(
    book: Booking, make_fill: FillFactory, legs: Legs, trade_row: TradeRow,
    booker: FillBooker, paths: BotPaths,
) -> None:
    bought = make_fill("buy", "12", "187.2537", fee="0.06")
    sold = make_fill("sell", "12", "189.10", fee="0.06")
    book(bought)
    book(sold, FillContext(strategy="open", side="long", memo_hint="trailing stop exit"))

    # cost 12 × 187.2537 = 2247.0444; proceeds 2269.20; gain 22.1556
    assert legs(bought.fill_id) == [
        (EQUITIES, D("2247.0444"), D(12), "AAPL"),
        (FEES, D("0.06"), None, None),
        (CASH, D("-2247.1044"), None, None),
    ]
    assert legs(sold.fill_id) == [
        (CASH, D("2269.14"), None, None),
        (FEES, D("0.06"), None, None),
        (EQUITIES, D("-2247.0444"), D(-12), "AAPL"),
        (GAINS, D("-22.1556"), None, None),
    ]
    report = verify_ledger(paths.ledger_db, paths.coa_db())
    assert report.ok, report.problems
    assert report.entries == 2
    assert booker.lots.open_symbols() == ()


def test_the_trade_rows_carry_prices_pnl_and_the_context(
    book: Booking, make_fill: FillFactory, trade_row: TradeRow
) -> None:
    bought = make_fill("buy", "12", "187.2537", fee="0.06")
    sold = make_fill("sell", "12", "189.10", fee="0.06")
    book(bought)
    book(sold)

    buy_row, sell_row = trade_row(bought.fill_id), trade_row(sold.fill_id)
    # stored scaled: prices 9 places, money 6, quantity 9
    assert (buy_row["trntype"], buy_row["strategy"], buy_row["side"], buy_row["broker"]) == (
        "BUY", "open", "long", "SIM")
    assert buy_row["entry_price"] == 187_253_700_000
    assert buy_row["exit_price"] is None
    assert buy_row["pnl"] == -60_000
    assert buy_row["size"] == 12_000_000_000
    assert sell_row["trntype"] == "SELL"
    assert sell_row["entry_price"] == 187_253_700_000  # the lots' average entry price
    assert sell_row["exit_price"] == 189_100_000_000
    assert sell_row["pnl"] == 22_095_600  # 22.1556 gain − 0.06 fee


def test_the_memo_reads_as_a_sentence(
    booker: FillBooker, make_fill: FillFactory
) -> None:
    bought = make_fill("buy", "12", "187.2537", fee="0.06")
    memo = booker.entry_for_fill(bought, OPEN_LONG).memo
    assert memo == "open: buy 12 AAPL @ 187.2537 (fee 0.06)"
    hinted = FillContext(strategy="mid", side="long", memo_hint="trailing stop exit")
    assert booker.entry_for_fill(bought, hinted).memo == (
        "mid: buy 12 AAPL @ 187.2537 (fee 0.06); trailing stop exit")


def test_cost_is_rounded_half_even_to_the_ledgers_money_places(
    booker: FillBooker, make_fill: FillFactory
) -> None:
    # 3 × 10.0000015 = 30.0000045: a tie, rounded to the even 30.000004
    tie = booker.entry_for_fill(make_fill("buy", "3", "10.0000015"), OPEN_LONG)
    assert tie.postings[0].amount == D("30.000004")
    # 1 × 10.0000035 = 10.0000035: a tie, rounded to the even 10.000004
    up = booker.entry_for_fill(make_fill("buy", "1", "10.0000035"), OPEN_LONG)
    assert up.postings[0].amount == D("10.000004")


def test_fifo_over_three_buys_and_partial_sells_keeps_every_micro_dollar(
    book: Booking, make_fill: FillFactory, legs: Legs, trade_row: TradeRow,
    booker: FillBooker, account_balance: Callable[[str], Decimal], paths: BotPaths,
) -> None:
    book(make_fill("buy", "3", "33.333333333", fill_id="B1"))  # 99.999999999 → 100.000000
    book(make_fill("buy", "7", "14.285714286", fill_id="B2"))  # 100.000000002 → 100.000000
    book(make_fill("buy", "6", "16.5", fill_id="B3"))  # 99.000000

    book(make_fill("sell", "1", "35", fill_id="S1"))
    # 100 × 1/3 = 33.3333333… → 33.333333; gain 1.666667
    assert legs("S1")[1:] == [(EQUITIES, D("-33.333333"), D(-1), "AAPL"),
                              (GAINS, D("-1.666667"), None, None)]
    assert trade_row("S1")["entry_price"] == 33_333_333_000

    book(make_fill("sell", "5", "20", fill_id="S2"))
    # B1's last 2 shares take all it has left (66.666667); 3 of B2: 100 × 3/7 → 42.857143
    assert legs("S2")[1:] == [(EQUITIES, D("-109.523810"), D(-5), "AAPL"),
                              (GAINS, D("9.523810"), None, None)]  # a loss: a debit
    assert trade_row("S2")["entry_price"] == 21_904_762_000
    lots = booker.lots.lots("AAPL")
    assert [(lot.fitid, lot.quantity, lot.cost) for lot in lots] == [
        ("B2", D(4), D("57.142857")), ("B3", D(6), D("99.000000"))]

    book(make_fill("sell", "10", "15", fill_id="S3"))
    assert legs("S3")[1:] == [(EQUITIES, D("-156.142857"), D(-10), "AAPL"),
                              (GAINS, D("6.142857"), None, None)]
    # every lot gave up exactly what it cost: 33.333333 + 109.523810 + 156.142857 = 299
    assert account_balance(EQUITIES) == 0
    # proceeds 35 + 100 + 150 = 285 against 299 of cost: a net loss of 14, a debit balance
    assert account_balance(GAINS) == D(14)
    assert booker.lots.open_symbols() == ()
    assert verify_ledger(paths.ledger_db, paths.coa_db()).ok


def test_a_loss_is_a_debit_to_realized_gains_and_a_negative_pnl(
    book: Booking, make_fill: FillFactory, legs: Legs, trade_row: TradeRow
) -> None:
    book(make_fill("buy", "10", "50"))
    sold = make_fill("sell", "10", "48", fee="0.02")
    book(sold)
    assert (GAINS, D(20), None, None) in legs(sold.fill_id)
    assert trade_row(sold.fill_id)["pnl"] == -20_020_000


def test_a_zero_fee_and_a_zero_gain_leave_their_legs_out(
    book: Booking, make_fill: FillFactory, legs: Legs
) -> None:
    bought = make_fill("buy", "4", "25.5")
    sold = make_fill("sell", "4", "25.5")
    book(bought)
    book(sold)
    assert legs(bought.fill_id) == [(EQUITIES, D(102), D(4), "AAPL"),
                                    (CASH, D(-102), None, None)]
    assert legs(sold.fill_id) == [(CASH, D(102), None, None),
                                  (EQUITIES, D(-102), D(-4), "AAPL")]


def test_an_oversell_is_refused_before_anything_changes(
    book: Booking, make_fill: FillFactory, booker: FillBooker, writer: LedgerWriter,
    legs: Legs,
) -> None:
    book(make_fill("buy", "5", "10"))
    before = booker.lots.clone()
    too_many = make_fill("sell", "6", "11")
    with pytest.raises(OversellError, match="cannot sell 6 AAPL: the FIFO lots hold only 5"):
        booker.entry_for_fill(too_many, OPEN_LONG)
    with pytest.raises(OversellError):
        booker.commit(too_many)
    assert booker.lots == before
    assert legs(too_many.fill_id) == []
    with pytest.raises(OversellError):
        booker.entry_for_fill(make_fill("sell", "1", "11", symbol="MSFT"), OPEN_LONG)


def test_a_fill_seen_twice_is_refused_by_the_ledger_and_leaves_the_lots_alone(
    book: Booking, make_fill: FillFactory, booker: FillBooker, writer: LedgerWriter
) -> None:
    fill = make_fill("buy", "5", "10")
    book(fill)
    before = booker.lots.clone()
    again = booker.entry_for_fill(fill, OPEN_LONG)
    with pytest.raises(DuplicateFitidError, match="already in the ledger"):
        writer.post(again, actor="test")
    # the engine reads the refusal as "already booked" and does not commit
    assert booker.lots == before
    assert booker.lots.position("AAPL").quantity == 5


def test_a_fill_cannot_be_applied_to_the_lots_twice(
    book: Booking, make_fill: FillFactory, booker: FillBooker
) -> None:
    fill = make_fill("buy", "5", "10")
    book(fill)
    with pytest.raises(FillBookingError, match="already applied"):
        booker.commit(fill)
    assert booker.lots.position("AAPL").quantity == 5


def test_commit_refuses_a_fill_whose_lots_changed_since_it_was_drafted(
    book: Booking, make_fill: FillFactory, booker: FillBooker
) -> None:
    book(make_fill("buy", "3", "33.333333333"))  # one lot: 3 shares for 100.000000
    first = make_fill("sell", "1", "40")
    booker.entry_for_fill(first, OPEN_LONG)  # drafted at 33.333333
    book(make_fill("sell", "1", "40"))  # another sale slips in between
    before = booker.lots.clone()
    with pytest.raises(FillBookingError, match=r"drafted at cost 33\.333333 but the lots now "
                                               r"give 33\.333334"):
        booker.commit(first)
    assert booker.lots == before


def test_an_inverse_etf_is_booked_long_with_its_tag_and_leverage(
    book: Booking, make_fill: FillFactory, trade_row: TradeRow, booker: FillBooker
) -> None:
    bearish = FillContext(strategy="open", side="short", tag="InverseETF",
                          leverage_multiplier=3)
    fill = make_fill("buy", "20", "14.05", symbol="SQQQ")
    book(fill, bearish)
    row = trade_row(fill.fill_id)
    assert (row["side"], row["tag"], row["leverage_multiplier"]) == ("long", "InverseETF",
                                                                     3_000_000)
    assert booker.entry_for_fill(fill, bearish).memo == (
        "open: buy 20 SQQQ @ 14.05 (fee 0) [bearish via InverseETF]")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"side": "sideways"}, "fill side must be one of"),
        ({"side": "short"}, "booked only as an inverse ETF"),
        ({"side": "long", "leverage_multiplier": 0}, "leverage_multiplier must be"),
    ],
)
def test_a_context_the_ledger_could_not_hold_is_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(FillBookingError, match=message):
        FillContext(strategy="open", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("quantity", "price", "fee", "message"),
    [
        ("0.0000000001", "10", "0", "more than 9 decimal places"),
        ("-1", "10", "0", "must be > 0"),
        ("1", "0", "0", "must be > 0"),
        ("1", "10", "-0.01", "fee >= 0"),
    ],
)
def test_a_fill_with_impossible_numbers_is_refused(
    booker: FillBooker, make_fill: FillFactory, quantity: str, price: str, fee: str,
    message: str,
) -> None:
    with pytest.raises(FillBookingError, match=message):
        booker.entry_for_fill(make_fill("buy", quantity, price, fee=fee), OPEN_LONG)


def test_a_fee_with_more_places_than_the_ledger_is_rounded_half_even(
    book: Booking, make_fill: FillFactory, legs: Legs
) -> None:
    fill = make_fill("buy", "1", "10", fee="0.0000125")
    book(fill)
    assert (FEES, D("0.000012"), None, None) in legs(fill.fill_id)


def test_the_funding_entry_debits_cash_and_credits_the_capital_float(
    booker: FillBooker, writer: LedgerWriter, legs: Legs, clock: FrozenClock,
    paths: BotPaths,
) -> None:
    deposit = CashActivity(activity_id="SIM-CSD-0001", activity_type="CSD",
                           amount=D("25000.00"), occurred_at=clock.now(),
                           description="initial funding")
    draft = booker.funding_entry(deposit)
    writer.post(draft, actor="test")
    assert (draft.trntype, draft.source) == ("CREDIT", "engine")
    assert draft.memo == "funding: CSD 25000 (initial funding)"
    assert legs("SIM-CSD-0001") == [(CASH, D(25000), None, None),
                                     (FLOAT, D(-25000), None, None)]
    clock.advance(timedelta(hours=8))
    back = CashActivity(activity_id="SIM-CSW-0001", activity_type="CSW",
                        amount=D("-5000"), occurred_at=clock.now(), description="")
    writer.post(booker.funding_entry(back), actor="test")
    assert legs("SIM-CSW-0001") == [(CASH, D(-5000), None, None),
                                     (FLOAT, D(5000), None, None)]
    assert verify_ledger(paths.ledger_db, paths.coa_db()).ok
    with pytest.raises(FillBookingError, match="non-zero"):
        booker.funding_entry(CashActivity("X", "CSD", D(0), clock.now(), ""))


@pytest.mark.parametrize(
    ("broker", "cash", "equities"),
    [(BrokerName.ALPACA, "1030", "1111"), (BrokerName.IBKR, "1040", "1112")],
)
def test_each_broker_books_into_its_own_accounts(
    broker: BrokerName, cash: str, equities: str, make_fill: FillFactory
) -> None:
    draft = FillBooker(broker, LotBook()).entry_for_fill(make_fill("buy", "1", "5"), OPEN_LONG)
    assert [leg.account for leg in draft.postings] == [equities, cash]
    assert draft.trade is not None and draft.trade.broker == broker.value


def test_a_side_given_as_plain_text_is_booked_by_its_meaning(
    book: Booking, make_fill: FillFactory, booker: FillBooker, legs: Legs
) -> None:
    book(make_fill("buy", "2", "10"))
    sale = replace(make_fill("sell", "2", "11"), side="sell")
    book(sale)
    assert (GAINS, D(-2), None, None) in legs(sale.fill_id)
    assert booker.lots.open_symbols() == ()
