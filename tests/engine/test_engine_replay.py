"""`tbot engine --bars`: a replayed market trades like the generated one; a bad file stops
the engine before it starts, with the file's problems."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import GeneratedFeed
from tbot.market.replay_feed import ReplayFeed
from tbot.market.universe import is_inverse_etf
from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import ledger_rows, run_tbot

TEMPLATE_SEED = 20261121


def write_day(path: Path) -> Path:
    feed = GeneratedFeed(TEMPLATE_SEED, TradingCalendar())
    bars = [bar for series in feed.day_bars(date.fromisoformat(TRADING_DAY)).values()
            for bar in series]
    ReplayFeed.write_csv(path, bars)
    return path


def test_a_replayed_day_trades_and_books(home, tmp_path, start_engine):
    bars = write_day(tmp_path / "bars.csv")
    engine = start_engine(home, "--sim", "--bars", str(bars), "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(120) == 0, engine.output()
    [(sells,)] = ledger_rows(home, "SELECT COUNT(*) FROM trades WHERE trntype = 'SELL'")
    assert sells >= 1


def test_a_malformed_bar_file_is_refused_with_its_line(home, tmp_path):
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,symbol,open,high,low,close,volume\n"
                    "2026-11-20T14:30:00Z,AAPL,10,9,11,10,100\n")
    result = run_tbot("engine", "--home", home, "--sim", "--bars", bars)
    assert result.returncode == 2
    assert "line 2" in result.stderr and "Traceback" not in result.stderr


def own_symbols_day(path: Path) -> Path:
    """The template day's market with every stock renamed (Z + its name): symbols no list
    in the code knows."""
    feed = GeneratedFeed(TEMPLATE_SEED, TradingCalendar())
    bars = [replace(bar, symbol=bar.symbol if is_inverse_etf(bar.symbol) else f"Z{bar.symbol}")
            for series in feed.day_bars(date.fromisoformat(TRADING_DAY)).values()
            for bar in series]
    ReplayFeed.write_csv(path, bars)
    return path


def test_a_replay_of_ones_own_symbols_trades_them(home, tmp_path, start_engine):
    bars = own_symbols_day(tmp_path / "bars.csv")
    engine = start_engine(home, "--sim", "--bars", str(bars), "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(120) == 0, engine.output()
    symbols = {s for (s,) in ledger_rows(home, "SELECT DISTINCT symbol FROM trades")}
    assert symbols and all(s.startswith("Z") or is_inverse_etf(s) for s in symbols)
    # A replayed file has no VIX: the close strategy's gate cannot see, so its self-check
    # fails, the window is skipped, and the engine says why.
    assert "strategy close failed its self-check and will not trade" in engine.output()
    assert "no VIX source" in engine.output()
    strategies = {s for (s,) in ledger_rows(home, "SELECT DISTINCT strategy FROM trades")}
    assert "close" not in strategies


def test_the_engine_says_what_the_feed_and_the_universe_disagree_on(home, tmp_path,
                                                                    start_engine):
    bars = own_symbols_day(tmp_path / "bars.csv")
    replace_setting(home, "TRADING_UNIVERSE", "ZBAC,NOPE")
    engine = start_engine(home, "--sim", "--bars", str(bars), "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(120) == 0, engine.output()
    output = engine.output()
    assert "watched but not delivered by the feed today: NOPE" in output
    assert "in the feed but watched by no strategy: ZAAL" in output
