"""Results read from the ledger: the entry fee rule with partial fills and rounding, days
and positions held overnight, reversals and corrections, strategies, and the engine's
`booked_day` reading the same figures."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

import tbot.booking.ledger_results as ledger_results
from tbot.booking.broker_accounts import accounts_for
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.booking.ledger_results import (
    LedgerResults,
    entry_fee_share,
    read_day,
    read_range,
    read_round_trip,
    results_between,
)
from tbot.broker.models import BrokerFill, OrderSide
from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.config.setting_types import BrokerName
from tbot.engine.ledger_desk import LedgerDesk
from tbot.ledger.amounts import MONEY_PLACES, from_scaled
from tbot.ledger.balances import (
    BALANCES_ACTION,
    BALANCES_SUBJECT,
    balance_checkpoint,
    balances_details,
)
from tbot.ledger.database import open_reader_connection
from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.timestamps import format_utc

from .conftest import OPEN_LONG, START, Booking, FillFactory

D = Decimal
ACCOUNTS = accounts_for(BrokerName.SIM)
DAY = START.date()
MID_LONG = FillContext(strategy="mid", side="long")


def _day_sums(paths: BotPaths, day: date) -> tuple[Decimal, Decimal]:
    """Realized gains and fees of `day` straight from the postings (no module code)."""
    low, high = ledger_results.day_bounds(day)
    connection = open_reader_connection(paths.ledger_db)
    try:
        gains, fees = connection.execute(
            "SELECT COALESCE(SUM(CASE WHEN p.account_code = ? THEN p.amount END), 0), "
            "COALESCE(SUM(CASE WHEN p.account_code = ? THEN p.amount END), 0) "
            "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
            "WHERE e.dtposted >= ? AND e.dtposted < ?",
            (ACCOUNTS.realized_gains, ACCOUNTS.fees, format_utc(low), format_utc(high)),
        ).fetchone()
    finally:
        connection.close()
    return -from_scaled(int(gains), MONEY_PLACES), from_scaled(int(fees), MONEY_PLACES)


def _full_replay(paths: BotPaths, day: date, monkeypatch: pytest.MonkeyPatch) -> LedgerResults:
    """The day read with every symbol replayed from the ledger's first entry."""
    with monkeypatch.context() as patched:
        patched.setattr(ledger_results, "_replay_starts",
                        lambda _c, _a, symbols, _low: dict.fromkeys(symbols, 0))
        return read_day(paths.ledger_db, ACCOUNTS, day)


# -- the rule -------------------------------------------------------------------------


def test_a_fee_split_in_thirds_carries_its_rounding_remainder() -> None:
    shares = [entry_fee_share(D("0.01"), D(3), D(n), D(n + 1)) for n in range(3)]
    assert shares == [D("0.003333"), D("0.003334"), D("0.003333")]
    assert sum(shares) == D("0.01")


def test_ties_round_half_even_and_the_last_share_takes_what_is_left() -> None:
    # 3 micro-units over 2 shares: 1.5 -> 2 (even), then 1.
    assert entry_fee_share(D("0.000003"), D(2), D(0), D(1)) == D("0.000002")
    assert entry_fee_share(D("0.000003"), D(2), D(1), D(2)) == D("0.000001")
    # 1 micro-unit over 2 shares: 0.5 -> 0 (even), then 1.
    assert entry_fee_share(D("0.000001"), D(2), D(0), D(1)) == D(0)
    assert entry_fee_share(D("0.000001"), D(2), D(1), D(2)) == D("0.000001")
    assert entry_fee_share(D("0.07"), D("32.310177705"), D(0), D("32.310177705")) == D("0.07")


def test_fractional_closes_add_up_to_the_fee_exactly() -> None:
    cuts = [D(0), D("0.364840000"), D("4.9"), D("13.870040000"), D("14.234880000")]
    shares = [entry_fee_share(D("0.2"), D("14.23488"), a, b) for a, b in pairwise(cuts)]
    # cumulative 0.2 × b / 14.23488 rounds to 0.005126, 0.068845, 0.194874, 0.2
    assert shares == [D("0.005126"), D("0.063719"), D("0.126029"), D("0.005126")]
    assert sum(shares) == D("0.2")


def test_closing_outside_the_fill_is_refused() -> None:
    with pytest.raises(ValueError):
        entry_fee_share(D("0.01"), D(3), D(2), D(4))
    with pytest.raises(ValueError):
        entry_fee_share(D("0.01"), D(0), D(0), D(0))


# -- partial fills ----------------------------------------------------------------------


def test_partial_fills_charge_each_round_trip_its_share_of_the_entry_fees(
    booker: FillBooker, book: Booking, make_fill: FillFactory, paths: BotPaths,
    legs: Callable[[str], list[Any]],
) -> None:
    book(make_fill("buy", "3", "100", fee="0.01"))  # F1
    book(make_fill("buy", "7", "101", fee="0.05"))  # F2
    sales = [make_fill("sell", "2", "102", fee="0.01"),
             make_fill("sell", "4", "103", fee="0.02"),
             make_fill("sell", "4", "99", fee="0.02")]
    consumed = []
    for sale in sales:
        consumed.append(booker.lots.preview_sell(sale.symbol, sale.quantity))
        book(sale)

    results = read_day(paths.ledger_db, ACCOUNTS, DAY)
    trips = results.total.round_trips
    assert [trip.fitid for trip in trips] == [sale.fill_id for sale in sales]
    assert [[(c.fitid, c.quantity, c.fee) for c in trip.charges] for trip in trips] == [
        [("SIM-FILL-0001", D(2), D("0.006667"))],
        [("SIM-FILL-0001", D(1), D("0.003333")), ("SIM-FILL-0002", D(3), D("0.021429"))],
        [("SIM-FILL-0002", D(4), D("0.028571"))],
    ]
    # The same shares as the lot book's FIFO consumption.
    for trip, consumption in zip(trips, consumed, strict=True):
        assert [(c.fitid, c.quantity) for c in trip.charges] == [
            (take.fitid, take.quantity) for take in consumption.lots]
        assert trip.cost_basis == consumption.cost_basis
    for trip, sale in zip(trips, sales, strict=True):
        gain_legs = [amount for account, amount, _, _ in legs(sale.fill_id)
                     if account == ACCOUNTS.realized_gains]
        assert trip.realized_gain == -sum(gain_legs, D(0))
        assert trip.exit_fee == sale.fee
        assert trip.pnl == trip.realized_gain - trip.exit_fee - trip.entry_fees
        assert trip.closed_at == sale.filled_at
    assert sum((trip.entry_fees for trip in trips), D(0)) == D("0.06")  # 0.01 + 0.05
    assert [trip.opened_at for trip in trips] == [START + timedelta(minutes=1)] * 2 + [
        START + timedelta(minutes=2)]
    assert trips[0].holding_seconds == 120

    total = results.total
    gains, fees = _day_sums(paths, DAY)
    assert (total.realized_gains, total.fees) == (gains, fees) == (D(5), D("0.11"))
    assert total.round_trip_fees == fees  # flat again: every fee is a round trip's
    assert total.round_trip_pnl == total.net == D("4.89")
    assert [fill.fitid for fill in total.entry_fills] == ["SIM-FILL-0001", "SIM-FILL-0002"]
    assert read_round_trip(paths.ledger_db, ACCOUNTS, sales[1].fill_id) == trips[1]
    assert read_round_trip(paths.ledger_db, ACCOUNTS, "SIM-FILL-0001") is None  # a buy
    assert read_round_trip(paths.ledger_db, ACCOUNTS, "nothing") is None


def test_a_position_held_overnight_charges_the_next_day(
    book: Booking, make_fill: FillFactory, paths: BotPaths, clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book(make_fill("buy", "1", "50", fee="0.01"))
    book(make_fill("sell", "1", "51", fee="0.01"))  # flat: the replay of day 2 starts after
    book(make_fill("buy", "10", "100", fee="0.05"))
    book(make_fill("sell", "4", "102", fee="0.02"))
    clock.advance(timedelta(days=1))
    last = make_fill("sell", "6", "101", fee="0.03")
    book(last)

    first_day = read_day(paths.ledger_db, ACCOUNTS, DAY).total
    assert [trip.entry_fees for trip in first_day.round_trips] == [D("0.01"), D("0.02")]
    assert first_day.fees == D("0.09")
    # 0.03 of the entry fee belongs to the 6 shares still held: not a round trip's yet.
    assert first_day.net == first_day.round_trip_pnl - D("0.03")

    next_day = read_day(paths.ledger_db, ACCOUNTS, DAY + timedelta(days=1)).total
    (trip,) = next_day.round_trips
    assert (trip.entry_fees, trip.exit_fee, next_day.fees) == (D("0.03"), D("0.03"), D("0.03"))
    assert trip.opened_at == START + timedelta(minutes=3)
    assert trip.holding_seconds == 86400 + 120
    assert next_day.entry_fills == ()
    for day in (DAY, DAY + timedelta(days=1)):
        assert read_day(paths.ledger_db, ACCOUNTS, day) == _full_replay(paths, day, monkeypatch)
    assert read_round_trip(paths.ledger_db, ACCOUNTS, last.fill_id) == trip
    whole = read_range(paths.ledger_db, ACCOUNTS, START, START + timedelta(days=2)).total
    assert whole.round_trip_pnl == whole.net  # flat at the end: the two views meet


# -- reversals and corrections -----------------------------------------------------------


def test_reversed_entries_leave_the_round_trips_but_their_postings_cancel(
    booker: FillBooker, book: Booking, make_fill: FillFactory, paths: BotPaths,
    writer: LedgerWriter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = make_fill("buy", "3", "100", fee="0.01")
    book(first)
    book(make_fill("buy", "5", "101", fee="0.03"))
    withdrawn = make_fill("buy", "2", "40", fee="0.01", symbol="MSFT")
    book(withdrawn)
    writer.reverse(withdrawn.fill_id, new_fitid=f"{withdrawn.fill_id}~r1", memo="withdrawn",
                   actor="test")
    # The broker restates the first fee: reversal, then the corrected entry at once.
    writer.reverse(first.fill_id, new_fitid=f"{first.fill_id}~r1", memo="restated",
                   actor="test")
    corrected = replace(first, fill_id=f"{first.fill_id}~c1", fee=D("0.04"))
    writer.post(FillBooker(BrokerName.SIM, LotBook()).entry_for_fill(corrected, OPEN_LONG),
                actor="test")
    booker.lots = LotBook.from_ledger(paths.ledger_db, ACCOUNTS.equities)
    book(make_fill("buy", "2", "41", fee="0.02", symbol="MSFT"))
    sales = [make_fill("sell", "4", "102", fee="0.02"), make_fill("sell", "4", "102", fee="0.02"),
             make_fill("sell", "2", "42", fee="0.01", symbol="MSFT")]
    for sale in sales:
        book(sale)

    results = read_day(paths.ledger_db, ACCOUNTS, DAY)
    charges = [[(c.fitid, c.quantity, c.fee) for c in trip.charges]
               for trip in results.total.round_trips]
    assert charges == [
        # the correction, posted later, keeps the original's place in FIFO order
        [("SIM-FILL-0001~c1", D(3), D("0.04")), ("SIM-FILL-0002", D(1), D("0.006"))],
        [("SIM-FILL-0002", D(4), D("0.024"))],
        [("SIM-FILL-0004", D(2), D("0.02"))],  # the withdrawn MSFT fill is never charged
    ]
    assert results.total.round_trips[0].opened_at == first.filled_at
    assert [fill.fitid for fill in results.total.entry_fills] == [
        "SIM-FILL-0002", "SIM-FILL-0001~c1", "SIM-FILL-0004"]
    gains, fees = _day_sums(paths, DAY)
    assert (results.total.realized_gains, results.total.fees) == (gains, fees)
    assert fees == D("0.14")  # 0.01 + 0.03 + 0.01 - 0.01 - 0.01 + 0.04 + 0.02 + 0.05
    assert results.total.round_trip_fees == fees
    assert results.unattributed.fees == 0  # reversals count for the strategy they reverse
    assert results == _full_replay(paths, DAY, monkeypatch)


# -- strategies, entries without one, and the engine's reading -----------------------


def test_strategies_apart_and_money_without_a_strategy_in_the_total(
    book: Booking, make_fill: FillFactory, paths: BotPaths, writer: LedgerWriter,
    clock: FrozenClock, home: Any,
) -> None:
    book(make_fill("buy", "10", "20", fee="0.05"))
    book(make_fill("buy", "4", "30", fee="0.02", symbol="KO"), MID_LONG)
    book(make_fill("sell", "10", "21", fee="0.05"))
    book(make_fill("sell", "4", "29", fee="0.02", symbol="KO"), MID_LONG)
    writer.post(EntryDraft(
        fitid="DATA-FEE-1", dtposted=clock.now(), trntype="DEBIT", memo="market data",
        postings=(PostingDraft(ACCOUNTS.fees, D("0.5"), "USD"),
                  PostingDraft(ACCOUNTS.cash, D("-0.5"), "USD")),
        source="manual",
    ), actor="test")

    results = read_day(paths.ledger_db, ACCOUNTS, DAY)
    opened, mid = results.by_strategy["open"], results.by_strategy["mid"]
    assert list(results.by_strategy) == ["mid", "open"]
    assert (opened.realized_gains, opened.fees, opened.round_trip_pnl) == (
        D(10), D("0.1"), D("9.9"))
    assert (mid.realized_gains, mid.fees, mid.round_trip_pnl) == (D(-4), D("0.04"), D("-4.04"))
    assert (results.unattributed.fees, results.unattributed.round_trips) == (D("0.5"), ())
    assert results.total.fees == opened.fees + mid.fees + D("0.5")
    assert results.total.round_trip_pnl == opened.round_trip_pnl + mid.round_trip_pnl
    assert _day_sums(paths, DAY) == (results.total.realized_gains, results.total.fees)
    assert read_day(paths.ledger_db, ACCOUNTS, DAY - timedelta(days=1)).total.fees == 0

    desk = LedgerDesk(paths, clock, home.backup_policy)
    try:
        booked = desk.booked_day(DAY, ACCOUNTS)
    finally:
        desk.close_blocking()
    assert booked.results == results
    assert {name: (day.realized, day.fees, day.trades)
            for name, day in booked.by_strategy.items()} == {
        "mid": (D(-4), D("0.04"), 1), "open": (D(10), D("0.1"), 1)}
    assert booked.entry_keys == [("open", "AAPL", "long"), ("mid", "KO", "long")]


def test_a_range_that_ends_before_it_starts_is_refused(paths: BotPaths) -> None:
    connection = open_reader_connection(paths.ledger_db)
    try:
        with pytest.raises(ValueError):
            results_between(connection, ACCOUNTS, START, START - timedelta(seconds=1))
    finally:
        connection.close()


def test_a_sale_beyond_the_ledger_s_fills_is_an_error_not_a_guess(
    make_fill: FillFactory, paths: BotPaths, writer: LedgerWriter,
) -> None:
    lots = LotBook()
    lots.buy("AAPL", D(5), D(500), START, "elsewhere")  # shares the ledger never bought
    writer.post(FillBooker(BrokerName.SIM, lots).entry_for_fill(
        make_fill("sell", "5", "101"), OPEN_LONG), actor="test")
    with pytest.raises(ledger_results.LedgerResultsError):
        read_day(paths.ledger_db, ACCOUNTS, DAY)


# -- many partial fills over several days ------------------------------------------------


@pytest.mark.parametrize("checkpoints", [False, True], ids=["whole", "from-checkpoints"])
def test_seeded_partial_fills_over_days_agree_with_the_lots_and_the_accounts(
    booker: FillBooker, book: Booking, paths: BotPaths, clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch, writer: LedgerWriter, checkpoints: bool,
) -> None:
    """(`from-checkpoints`: a balance checkpoint at each day's end, as the engine writes;
    the held-overnight positions are then read from it, and nothing may change.)"""
    rng = random.Random(20261120)
    consumed: dict[str, list[tuple[str, Decimal]]] = {}
    entry_fees: dict[str, Decimal] = {}
    number = 0
    for _ in range(3):
        for _ in range(14):
            number += 1
            symbol = rng.choice(("F", "KO"))
            held = booker.lots.position(symbol).quantity
            side = "sell" if held and rng.random() < 0.45 else "buy"
            if side == "buy":
                quantity = Decimal(rng.randint(1, 40_000)).scaleb(-3)
            else:
                quantity = min(held, Decimal(rng.randint(1, 30_000)).scaleb(-3))
            clock.advance(timedelta(minutes=7))
            fill = BrokerFill(
                fill_id=f"SIM-F{number:04d}", order_id=f"SIM-O{number:04d}",
                client_order_id=f"open-x-{number:04d}", symbol=symbol, side=OrderSide(side),
                quantity=quantity, price=Decimal(rng.randint(900, 1100)).scaleb(-2),
                fee=Decimal(rng.randint(0, 9)).scaleb(-2), filled_at=clock.now(),
            )
            if side == "sell":
                consumption = booker.lots.preview_sell(symbol, quantity)
                consumed[fill.fill_id] = [(take.fitid, take.quantity)
                                          for take in consumption.lots]
            else:
                entry_fees[fill.fill_id] = fill.fee
            book(fill)
        if checkpoints:
            with sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True) as ledger:
                ledger.execute("BEGIN")
                details = balances_details(balance_checkpoint(ledger))
            writer.record_event(BALANCES_ACTION, actor="engine", subject=BALANCES_SUBJECT,
                                details=details)
        clock.advance(timedelta(hours=20))

    charged: dict[str, Decimal] = {}
    days = sorted({START.date() + timedelta(days=n) for n in range(4)})
    for day in days:
        results = read_day(paths.ledger_db, ACCOUNTS, day)
        assert results == _full_replay(paths, day, monkeypatch)
        assert _day_sums(paths, day) == (results.total.realized_gains, results.total.fees)
        for trip in results.total.round_trips:
            assert [(c.fitid, c.quantity) for c in trip.charges] == consumed[trip.fitid]
            assert trip.pnl == trip.realized_gain - trip.exit_fee - trip.entry_fees
            for charge in trip.charges:
                charged[charge.fitid] = charged.get(charge.fitid, D(0)) + charge.fee
    assert len(consumed) > 10
    # Every fill sold out has been charged its whole fee; one still open, at most that.
    for fitid, fee in entry_fees.items():
        symbol_lots = {lot.fitid for s in ("F", "KO") for lot in booker.lots.lots(s)}
        if fitid in symbol_lots:
            assert charged.get(fitid, D(0)) <= fee
        else:
            assert charged[fitid] == fee


def test_the_queries_stay_on_indexes(paths: BotPaths) -> None:
    """No full scan of the journal's big tables for a day's entries or a window's fills."""
    connection = sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True)
    try:
        where = "e.dtposted >= :low AND e.dtposted < :high"
        names = {"gains": "4045", "fees": "5045", "equities": "1115", "low": "a", "high": "b"}
        plans = [
            connection.execute("EXPLAIN QUERY PLAN " + ledger_results._ENTRY_SQL.format(
                where=where), names).fetchall(),
            connection.execute("EXPLAIN QUERY PLAN " + ledger_results._MOVES_SQL.format(
                where=ledger_results._WINDOW, marks=":s0"),
                {"fees": "5045", "equities": "1115", "s0": "F", "start": 1, "high": 9},
            ).fetchall(),
        ]
    finally:
        connection.close()
    for plan in plans:
        details = [str(row[-1]) for row in plan]
        assert not [d for d in details if d.startswith("SCAN") and "ledger_" in d], details

