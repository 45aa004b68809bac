"""The daily summary: money and round trips from the ledger's reading of the day, counts
from the session, nulls when nothing traded, and the JSON file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from tbot.booking.broker_accounts import accounts_for
from tbot.booking.daily_summary import MONEY_DEFINITIONS, SessionStats, write_daily_summary
from tbot.booking.fill_entries import FillContext
from tbot.booking.ledger_results import (
    EntryFill,
    FeeCharge,
    LedgerResults,
    RoundTrip,
    StrategyResults,
    day_bounds,
    read_day,
)
from tbot.booking.trade_records import record_of_round_trip
from tbot.config.paths import BotPaths
from tbot.config.setting_types import BrokerName

from .conftest import IDENTITY, START, Booking, FillFactory

D = Decimal
DAY = date(2026, 11, 20)
STARTED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
FEE = D("0.03")
ACCOUNTS = accounts_for(BrokerName.SIM)
MID_LONG = FillContext(strategy="mid", side="long")
_ids = count(1)


def _trip(strategy: str, ticker: str, pnl: str, held: int) -> RoundTrip:
    """A round trip with PnL `pnl` after an exit fee and entry fees of 0.03 each."""
    number = next(_ids)
    closed = START + timedelta(hours=1, minutes=number)
    return RoundTrip(
        entry_id=number, fitid=f"X{number}", strategy=strategy, symbol=ticker, side="long",
        tag="none", quantity=D(10), exit_price=D(100), cost_basis=D(1000),
        realized_gain=D(pnl) + 2 * FEE, exit_fee=FEE, entry_fees=FEE,
        opened_at=closed - timedelta(seconds=held), closed_at=closed,
        charges=(FeeCharge("E", closed - timedelta(seconds=held), D(10), FEE),),
    )


def _entries(strategy: str, how_many: int) -> tuple[EntryFill, ...]:
    return tuple(EntryFill(entry_id=n, fitid=f"B{n}", strategy=strategy, symbol="AAPL",
                           side="long", quantity=D(10), fee=FEE, filled_at=START)
                 for n in range(how_many))


def _results(by_strategy: dict[str, StrategyResults],
             unattributed: StrategyResults | None = None) -> LedgerResults:
    unattributed = unattributed or StrategyResults()
    parts = [*by_strategy.values(), unattributed]
    total = StrategyResults(
        realized_gains=sum((part.realized_gains for part in parts), D(0)),
        fees=sum((part.fees for part in parts), D(0)),
        round_trips=tuple(trip for part in parts for trip in part.round_trips),
        entry_fills=tuple(fill for part in parts for fill in part.entry_fills),
    )
    return LedgerResults(*day_bounds(DAY), by_strategy=by_strategy,
                         unattributed=unattributed, total=total)


@pytest.fixture
def session() -> SessionStats:
    """open: 4 signals; mid: 2 signals and one rejection; close: nothing; and the daily
    loss limit fired for the whole bot."""
    stats = SessionStats(("open", "mid", "close"))
    for _ in range(4):
        stats.record_signal("open")
    stats.record_signal("mid")
    stats.record_signal("mid")
    stats.record_rejection("mid", "insufficient buying power")
    stats.record_risk_trigger("daily loss limit", at=datetime(2026, 11, 20, 19, 5, tzinfo=UTC),
                              detail="loss 250.00 reached DAILY_LOSS_LIMIT")
    return stats


@pytest.fixture
def results() -> LedgerResults:
    """The ledger's day: open's 3 round trips (AAPL +10.50 in 600 s, MSFT −4.25 in 300 s,
    AAPL +2.00 in 1200 s; each 0.03 exit and 0.03 entry fee) and one entry still open
    (0.03), mid's TSLA −7 in 60 s, and a 0.50 data fee booked without a strategy."""
    trips = tuple(_trip("open", ticker, pnl, held) for ticker, pnl, held in (
        ("AAPL", "10.50", 600), ("MSFT", "-4.25", 300), ("AAPL", "2.00", 1200)))
    opened = StrategyResults(
        realized_gains=sum((trip.realized_gain for trip in trips), D(0)),
        fees=D("0.21"), round_trips=trips, entry_fills=_entries("open", 4),
    )
    tsla = _trip("mid", "TSLA", "-7", 60)
    mid = StrategyResults(realized_gains=tsla.realized_gain, fees=D("0.06"),
                          round_trips=(tsla,), entry_fills=_entries("mid", 1))
    return _results({"mid": mid, "open": opened}, StrategyResults(fees=D("0.5")))


def _summary(stats: SessionStats, results: LedgerResults) -> dict[str, Any]:
    return stats.build_summary(DAY, IDENTITY.bot_identity, "SIM", STARTED, ENDED,
                               {"orders_submitted": 5, "fills": 8}, results=results)


def test_per_strategy_figures_match_the_hand_computed_session(
    session: SessionStats, results: LedgerResults,
) -> None:
    opened = _summary(session, results)["strategies"]["open"]
    assert opened == {
        "signals": 4,
        "entries": 4,
        "total_trades": 3,
        "wins": 2,
        "losses": 1,
        "win_rate": D("0.6667"),
        "realized_pnl": D("8.25"),
        "fees": D("0.21"),
        "realized_gains": D("8.43"),
        "round_trip_fees": D("0.18"),
        "net_pnl": D("8.22"),  # 0.03 less than realized_pnl: the entry still open
        "average_pnl_per_trade": D("2.75"),
        "max_gain": D("10.50"),
        "max_loss": D("-4.25"),
        "trades_vs_signals": D("0.75"),
        "average_holding_seconds": D("700"),
        "best_ticker": "AAPL",
        "worst_ticker": "MSFT",
        "ticker_pnl": {"AAPL": D("12.50"), "MSFT": D("-4.25")},
        "rejections": 0,
        "rejection_reasons": {},
        "risk_triggers": {},
        "filter_blocks": {},
    }
    mid = _summary(session, results)["strategies"]["mid"]
    assert (mid["win_rate"], mid["max_gain"], mid["max_loss"]) == (D(0), None, D(-7))
    assert (mid["best_ticker"], mid["worst_ticker"]) == ("TSLA", "TSLA")
    assert mid["rejection_reasons"] == {"insufficient buying power": 1}


def test_totals_span_every_strategy_and_money_without_one(
    session: SessionStats, results: LedgerResults,
) -> None:
    summary = _summary(session, results)
    totals = summary["totals"]
    assert (totals["signals"], totals["entries"], totals["total_trades"]) == (6, 5, 4)
    assert (totals["wins"], totals["losses"], totals["win_rate"]) == (2, 2, D("0.5"))
    assert totals["realized_pnl"] == D("1.25")
    assert totals["fees"] == D("0.77")  # 0.21 + 0.06 + the 0.50 without a strategy
    assert totals["round_trip_fees"] == D("0.24")
    assert totals["realized_gains"] == D("1.49")
    assert totals["net_pnl"] == D("0.72")
    assert totals["average_pnl_per_trade"] == D("0.3125")
    assert (totals["max_gain"], totals["max_loss"]) == (D("10.50"), D(-7))
    assert totals["trades_vs_signals"] == D("0.6667")
    assert totals["average_holding_seconds"] == D(540)  # (600 + 300 + 1200 + 60) / 4
    assert (totals["best_ticker"], totals["worst_ticker"]) == ("AAPL", "TSLA")
    assert totals["rejections"] == 1
    assert summary["unattributed"] == {"realized_gains": D(0), "fees": D("0.5"),
                                       "net_pnl": D("-0.5")}


def test_the_summary_carries_identity_times_triggers_counters_and_definitions(
    session: SessionStats, results: LedgerResults,
) -> None:
    summary = _summary(session, results)
    assert (summary["day"], summary["bot_identity"], summary["broker"]) == (
        DAY, "TBOT_US_SIM_BOT01", "SIM")
    assert (summary["started_at"], summary["ended_at"]) == (STARTED, ENDED)
    assert summary["risk_triggers"] == [{
        "trigger": "daily loss limit", "strategy": None,
        "at": datetime(2026, 11, 20, 19, 5, tzinfo=UTC),
        "detail": "loss 250.00 reached DAILY_LOSS_LIMIT",
    }]
    assert summary["counters"] == {"orders_submitted": 5, "fills": 8}
    assert list(summary["strategies"]) == ["open", "mid", "close"]
    assert summary["money_source"] == "ledger"
    assert summary["money_definitions"] == MONEY_DEFINITIONS
    assert "net" in MONEY_DEFINITIONS["realized_pnl"]


def test_a_session_without_trades_gives_nulls_not_errors(plain_paths: BotPaths) -> None:
    stats = SessionStats(("open",))
    summary = stats.build_summary(DAY, IDENTITY.bot_identity, "SIM", STARTED, ENDED, {},
                                  results=_results({}))
    for figures in (summary["strategies"]["open"], summary["totals"]):
        assert figures["total_trades"] == 0
        assert figures["realized_pnl"] == 0
        assert figures["fees"] == 0
        for key in ("win_rate", "average_pnl_per_trade", "max_gain", "max_loss",
                    "trades_vs_signals", "average_holding_seconds", "best_ticker",
                    "worst_ticker"):
            assert figures[key] is None, key
    assert summary["unattributed"] is None
    written = json.loads(write_daily_summary(plain_paths, DAY, summary).read_text())
    assert written["totals"]["win_rate"] is None


def test_a_strategy_seen_only_through_a_rejection_or_the_ledger_still_appears(
    results: LedgerResults,
) -> None:
    stats = SessionStats()
    stats.record_rejection("close", "market closed")
    summary = stats.build_summary(DAY, "X", "SIM", STARTED, ENDED, {}, results=results)
    assert summary["strategies"]["close"]["rejections"] == 1
    # a restart forgets the session's counts, not the ledger's money
    assert list(summary["strategies"]) == ["close", "mid", "open"]
    assert summary["strategies"]["open"]["realized_pnl"] == D("8.25")
    assert summary["strategies"]["open"]["signals"] == 0


def test_the_file_is_json_with_exact_decimal_strings(
    session: SessionStats, results: LedgerResults, plain_paths: BotPaths
) -> None:
    path = write_daily_summary(plain_paths, DAY, _summary(session, results))
    assert path == plain_paths.daily_summary_file(DAY)
    written = json.loads(path.read_text())
    assert written["day"] == "2026-11-20"
    assert written["started_at"] == "2026-11-20T14:00:00Z"
    assert written["strategies"]["open"]["max_gain"] == "10.50"
    assert written["strategies"]["open"]["win_rate"] == "0.6667"
    assert written["totals"]["realized_pnl"] == "1.25"
    assert written["risk_triggers"][0]["at"] == "2026-11-20T19:05:00Z"
    # a second write of the day replaces the file whole
    session.record_signal("close")
    write_daily_summary(plain_paths, DAY, _summary(session, results))
    assert json.loads(path.read_text())["strategies"]["close"]["signals"] == 1


def test_a_risk_trigger_of_one_strategy_counts_against_it() -> None:
    stats = SessionStats(("open",))
    stats.record_risk_trigger("max open positions", strategy="open")
    stats.record_risk_trigger("max open positions", strategy="open")
    summary = stats.build_summary(DAY, "X", "SIM", STARTED, ENDED, {}, results=_results({}))
    assert summary["strategies"]["open"]["risk_triggers"] == {"max open positions": 2}
    assert summary["totals"]["risk_triggers"] == {"max open positions": 2}
    assert [event["strategy"] for event in summary["risk_triggers"]] == ["open", "open"]


def test_a_booked_day_gives_a_summary_and_history_that_agree_with_the_ledger(
    book: Booking, make_fill: FillFactory, paths: BotPaths,
) -> None:
    """Partial fills on both sides, two strategies, a position left open."""
    book(make_fill("buy", "3.5", "100.0003", fee="0.02"))
    book(make_fill("buy", "6.25", "100.1", fee="0.04"))
    book(make_fill("sell", "4", "101.37", fee="0.03"))
    book(make_fill("sell", "5.75", "99.9", fee="0.03"))
    book(make_fill("buy", "7", "31", fee="0.05", symbol="KO"), MID_LONG)
    book(make_fill("sell", "2.5", "31.2", fee="0.01", symbol="KO"), MID_LONG)
    results = read_day(paths.ledger_db, ACCOUNTS, DAY)
    records = [record_of_round_trip(trip, side="long", broker="SIM", exit_reason="test",
                                    order_id="O") for trip in results.total.round_trips]
    summary = SessionStats().build_summary(DAY, "X", "SIM", STARTED, ENDED, {},
                                           results=results)
    totals = summary["totals"]
    assert totals["total_trades"] == len(records) == 3
    assert totals["realized_pnl"] == sum((record.PnL for record in records), D(0))
    assert totals["fees"] == D("0.18")
    assert totals["realized_gains"] == results.total.realized_gains
    # the KO shares still held carry 0.05 × 4.5 / 7 of the entry fee
    assert totals["net_pnl"] == totals["realized_pnl"] - D("0.032143")
    for name in ("open", "mid"):
        figures = summary["strategies"][name]
        assert figures["realized_pnl"] == sum(
            (r.PnL for r in records if r.strategy_name == name), D(0))
        assert figures["ticker_pnl"] == {
            ticker: sum((r.PnL for r in records if r.ticker == ticker), D(0))
            for ticker in sorted({r.ticker for r in records if r.strategy_name == name})}


def test_filter_blocks_are_counted_per_strategy_and_in_the_totals() -> None:
    stats = SessionStats(["open", "mid"])
    stats.record_block("mid", "adx_trend")
    stats.record_block("mid", "adx_trend")
    stats.record_block("mid", "fundamentals")
    stats.record_block("open", "price_low")
    summary = stats.build_summary(DAY, "TBOT_US_SIM_BOT01", "SIM", STARTED, STARTED,
                                  {}, results=_results({}))
    assert summary["strategies"]["mid"]["filter_blocks"] == {"adx_trend": 2,
                                                             "fundamentals": 1}
    assert summary["totals"]["filter_blocks"] == {"adx_trend": 2, "fundamentals": 1,
                                                  "price_low": 1}
