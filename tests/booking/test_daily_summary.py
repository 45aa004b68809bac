"""The daily summary: figures on a hand-computed session, nulls when nothing traded, and
the JSON file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tbot.booking.daily_summary import SessionStats, write_daily_summary
from tbot.config.paths import BotPaths

from .conftest import IDENTITY, RecordFactory

D = Decimal
DAY = date(2026, 11, 20)
STARTED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
ENDED = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
FEE = D("0.03")


@pytest.fixture
def session(make_record: RecordFactory) -> SessionStats:
    """open: 4 signals, 3 round trips (AAPL +10.50 in 600 s, MSFT −4.25 in 300 s,
    AAPL +2.00 in 1200 s), 0.03 fee per fill; mid: 2 signals, TSLA −7 in 60 s and one
    rejection; close: nothing; and the daily loss limit fired for the whole bot."""
    stats = SessionStats(("open", "mid", "close"))
    for _ in range(4):
        stats.record_signal("open")
    for ticker, pnl, held in (("AAPL", "10.50", 600), ("MSFT", "-4.25", 300),
                              ("AAPL", "2.00", 1200)):
        stats.record_entry("open", fee=FEE)
        stats.record_exit(make_record("open", ticker, pnl, held), fee=FEE)
    stats.record_signal("mid")
    stats.record_signal("mid")
    stats.record_entry("mid")
    stats.record_exit(make_record("mid", "TSLA", "-7", 60))
    stats.record_rejection("mid", "insufficient buying power")
    stats.record_risk_trigger("daily loss limit", at=datetime(2026, 11, 20, 19, 5, tzinfo=UTC),
                              detail="loss 250.00 reached DAILY_LOSS_LIMIT")
    return stats


def _summary(stats: SessionStats) -> dict[str, Any]:
    return stats.build_summary(DAY, IDENTITY.bot_identity, "SIM", STARTED, ENDED,
                               {"orders_submitted": 5, "fills": 8})


def test_per_strategy_figures_match_the_hand_computed_session(session: SessionStats) -> None:
    opened = _summary(session)["strategies"]["open"]
    assert opened == {
        "signals": 4,
        "entries": 3,
        "total_trades": 3,
        "wins": 2,
        "losses": 1,
        "win_rate": D("0.6667"),
        "realized_pnl": D("8.25"),
        "fees": D("0.18"),
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
    }
    mid = _summary(session)["strategies"]["mid"]
    assert (mid["win_rate"], mid["max_gain"], mid["max_loss"]) == (D(0), None, D(-7))
    assert (mid["best_ticker"], mid["worst_ticker"]) == ("TSLA", "TSLA")
    assert mid["rejection_reasons"] == {"insufficient buying power": 1}


def test_totals_span_every_strategy(session: SessionStats) -> None:
    totals = _summary(session)["totals"]
    assert (totals["signals"], totals["entries"], totals["total_trades"]) == (6, 4, 4)
    assert (totals["wins"], totals["losses"], totals["win_rate"]) == (2, 2, D("0.5"))
    assert totals["realized_pnl"] == D("1.25")
    assert totals["average_pnl_per_trade"] == D("0.3125")
    assert (totals["max_gain"], totals["max_loss"]) == (D("10.50"), D(-7))
    assert totals["trades_vs_signals"] == D("0.6667")
    assert totals["average_holding_seconds"] == D(540)  # (600 + 300 + 1200 + 60) / 4
    assert (totals["best_ticker"], totals["worst_ticker"]) == ("AAPL", "TSLA")
    assert totals["rejections"] == 1


def test_the_summary_carries_identity_times_triggers_and_counters(
    session: SessionStats,
) -> None:
    summary = _summary(session)
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


def test_a_session_without_trades_gives_nulls_not_errors(plain_paths: BotPaths) -> None:
    stats = SessionStats(("open",))
    summary = stats.build_summary(DAY, IDENTITY.bot_identity, "SIM", STARTED, ENDED, {})
    for figures in (summary["strategies"]["open"], summary["totals"]):
        assert figures["total_trades"] == 0
        assert figures["realized_pnl"] == 0
        for key in ("win_rate", "average_pnl_per_trade", "max_gain", "max_loss",
                    "trades_vs_signals", "average_holding_seconds", "best_ticker",
                    "worst_ticker"):
            assert figures[key] is None, key
    written = json.loads(write_daily_summary(plain_paths, DAY, summary).read_text())
    assert written["totals"]["win_rate"] is None


def test_a_strategy_seen_only_through_a_rejection_still_appears() -> None:
    stats = SessionStats()
    stats.record_rejection("close", "market closed")
    summary = stats.build_summary(DAY, "X", "SIM", STARTED, ENDED, {})
    assert summary["strategies"]["close"]["rejections"] == 1


def test_the_file_is_json_with_exact_decimal_strings(
    session: SessionStats, plain_paths: BotPaths
) -> None:
    path = write_daily_summary(plain_paths, DAY, _summary(session))
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
    write_daily_summary(plain_paths, DAY, _summary(session))
    assert json.loads(path.read_text())["strategies"]["close"]["signals"] == 1


def test_a_risk_trigger_of_one_strategy_counts_against_it() -> None:
    stats = SessionStats(("open",))
    stats.record_risk_trigger("max open positions", strategy="open")
    stats.record_risk_trigger("max open positions", strategy="open")
    summary = stats.build_summary(DAY, "X", "SIM", STARTED, ENDED, {})
    assert summary["strategies"]["open"]["risk_triggers"] == {"max open positions": 2}
    assert summary["totals"]["risk_triggers"] == {"max open positions": 2}
    assert [event["strategy"] for event in summary["risk_triggers"]] == ["open", "open"]
