"""Session limits: trades per session, open positions across the bot, one trade per ticker,
and the same counters rebuilt after a restart."""

from __future__ import annotations

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.risk.limits import SessionLimits

OPEN, MID = StrategyName.OPEN, StrategyName.MID


@pytest.fixture
def limits() -> SessionLimits:
    return SessionLimits(max_trades=2, max_open_positions=3)


def test_settings_give_the_template_limits(template_bot: BotSettings) -> None:
    limits = SessionLimits.from_settings(template_bot)
    assert (limits.max_trades, limits.max_open_positions) == (4, 5)


def test_a_fresh_session_allows_an_entry(limits: SessionLimits) -> None:
    assert limits.check_entry(OPEN, "AAPL", "AAPL") is None
    assert limits.next_trade_index(OPEN) == 0


def test_max_trades_counts_entries_per_strategy_session(limits: SessionLimits) -> None:
    limits.record_entry(OPEN, "AAPL", "AAPL")
    limits.record_exit("AAPL")
    limits.record_entry(OPEN, "F", "F")
    limits.record_exit("F")

    assert limits.next_trade_index(OPEN) == 2
    assert limits.check_entry(OPEN, "BAC", "BAC") == "MAX_TRADES=2 reached in this open session"
    assert limits.check_entry(MID, "BAC", "BAC") is None


@pytest.mark.parametrize(
    ("underlying", "instrument", "ticker"),
    [("MSFT", "SH", "MSFT"), ("MSFT", "PSQ", "MSFT"), ("INTC", "SH", "SH")],
)
def test_a_ticker_trades_once_per_session_as_underlying_or_instrument(
    limits: SessionLimits, underlying: str, instrument: str, ticker: str
) -> None:
    limits.record_entry(OPEN, "MSFT", "SH")
    limits.record_exit("SH")
    assert limits.check_entry(OPEN, underlying, instrument) == (
        f"{ticker} already traded in this open session"
    )


def test_another_session_may_trade_a_ticker_again_once_it_is_closed(
    limits: SessionLimits,
) -> None:
    limits.record_entry(OPEN, "AAPL", "AAPL")
    assert limits.check_entry(MID, "AAPL", "AAPL") == "AAPL is already an open position"
    limits.record_exit("AAPL")
    assert limits.check_entry(MID, "AAPL", "AAPL") is None


def test_max_open_positions_counts_across_strategies(limits: SessionLimits) -> None:
    limits.record_entry(OPEN, "AAPL", "AAPL")
    limits.record_entry(OPEN, "MSFT", "SH")
    limits.record_entry(MID, "F", "F")

    assert limits.check_entry(MID, "BAC", "BAC") == "MAX_OPEN_POSITIONS=3 reached"
    limits.record_exit("SH")
    assert limits.check_entry(MID, "BAC", "BAC") is None


def test_rebuild_restores_the_counters_from_fills_and_positions(limits: SessionLimits) -> None:
    limits.record_entry(MID, "KO", "KO")  # state from before the restart is replaced
    entry_fills = [
        (OPEN, "AAPL", "AAPL"),
        (OPEN, "AAPL", "AAPL"),  # a second partial fill of the same order
        (OPEN, "MSFT", "SH"),
    ]

    rebuilt = limits.rebuild(entry_fills, ["SH"])

    assert rebuilt is limits
    assert limits.trades_entered(OPEN) == 2
    assert limits.trades_entered(MID) == 0
    assert limits.traded_tickers(OPEN) == {"AAPL", "MSFT", "SH"}
    assert limits.open_positions() == {"SH"}
    assert limits.check_entry(OPEN, "F", "F") == "MAX_TRADES=2 reached in this open session"
    assert limits.check_entry(MID, "KO", "KO") is None


def test_rebuilt_limits_refuse_what_the_original_refused(limits: SessionLimits) -> None:
    limits.record_entry(OPEN, "AAPL", "AAPL")
    limits.record_entry(OPEN, "MSFT", "SH")
    limits.record_exit("AAPL")
    rebuilt = SessionLimits(max_trades=2, max_open_positions=3).rebuild(
        [(OPEN, "AAPL", "AAPL"), (OPEN, "MSFT", "SH")], ["SH"]
    )

    for strategy, underlying, instrument in [
        (OPEN, "AAPL", "AAPL"),
        (OPEN, "F", "F"),
        (MID, "SH", "SH"),
        (MID, "F", "F"),
    ]:
        assert rebuilt.check_entry(strategy, underlying, instrument) == limits.check_entry(
            strategy, underlying, instrument
        )
    assert rebuilt.snapshot() == limits.snapshot()


def test_snapshot_is_json_ready(limits: SessionLimits) -> None:
    limits.record_entry(OPEN, "MSFT", "SH")
    assert limits.snapshot() == {
        "max_trades": 2,
        "max_open_positions": 3,
        "trades": {"open": 1},
        "traded": {"open": ["MSFT", "SH"]},
        "open_positions": ["SH"],
    }
