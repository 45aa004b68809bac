"""The `mid` strategy (VWAP mean reversion) on hand-built tapes: a quiet, trendless
morning around 50 and then a stretch away from the VWAP, as the engine delivers it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.market.bars import Bar
from tbot.strategy.signals import Direction, EntrySignal, ExitReason, ExitSignal, SkipNote
from tbot.strategy.vwap_reversion import VwapReversion
from tbot.strategy.window import StrategyWindow, window_from_settings

from .conftest import DAY, LEVERAGE
from .tape import MINUTE, deliver, play

OPEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
START = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
BREAKOUT = START + timedelta(minutes=15)
BREAKOUT_END = BREAKOUT + timedelta(minutes=10)
MONITORING_END = BREAKOUT_END + timedelta(minutes=30)
POOL = ("SQQQ", "PSQ")


@pytest.fixture
def mid_window(template_bot: BotSettings) -> StrategyWindow:
    built = window_from_settings(template_bot, StrategyName.MID, DAY)
    assert (built.start, built.analysis_end, built.breakout_end, built.monitoring_end) == (
        START, BREAKOUT, BREAKOUT_END, MONITORING_END)
    return built


@pytest.fixture
def make(template_bot: BotSettings, mid_window: StrategyWindow):  # type: ignore[no-untyped-def]
    def build(**updates: object) -> VwapReversion:
        bot = template_bot.model_copy(update=updates)
        return VwapReversion(bot, mid_window, ("AAPL", "MSFT"), POOL,
                             leverage_of=LEVERAGE.get)  # type: ignore[arg-type]
    return build


def bars(symbol: str, closes: list[str], *, start: datetime = OPEN,
         volume: int = 50_000) -> list[Bar]:
    """One bar a minute from `start`; open = previous close, high/low the two."""
    out: list[Bar] = []
    previous = Decimal(closes[0])
    for offset, text in enumerate(closes):
        close = Decimal(text)
        out.append(Bar(symbol, start + offset * MINUTE, previous, max(previous, close),
                       min(previous, close), close, volume))
        previous = close
    return out


def quiet(minutes: int, level: str = "50", swing: str = "0.10") -> list[str]:
    """A trendless tape: two incommensurate waves of about `swing` around `level`, so
    bars make both higher highs and lower lows (ADX stays low)."""
    base, step = Decimal(level), float(swing)
    cent = Decimal("0.01")
    return [str(base + Decimal(step * (math.sin(i * 1.3) + 0.6 * math.sin(i * 0.37)))
                .quantize(cent)) for i in range(minutes)]


def minutes_until(moment: datetime) -> int:
    return (moment - OPEN) // MINUTE


def entries(signals: list) -> list[EntrySignal]:  # type: ignore[type-arg]
    return [s for s in signals if isinstance(s, EntrySignal)]


def test_a_stretch_below_vwap_in_a_quiet_market_buys_at_that_minute(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    drop_at = BREAKOUT + 2 * MINUTE
    tape = [*quiet(minutes_until(drop_at)), "48.80"]
    signals = play(strategy, bars("AAPL", tape, volume=200_000))
    [entry] = entries(signals)
    assert (entry.underlying, entry.instrument, entry.direction) == ("AAPL", "AAPL",
                                                                     Direction.LONG)
    assert entry.at == drop_at + MINUTE
    assert entry.trigger_price == Decimal("48.80")
    assert "from VWAP" in entry.reason and "ADX" in entry.reason


def test_no_entry_outside_the_breakout_phase(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    # A stretch in the analysis phase that is over by the breakout, and one after it.
    early = [*quiet(minutes_until(BREAKOUT - 4 * MINUTE)), "48.80", "48.70"]
    calm = quiet(minutes_until(BREAKOUT_END) - len(early))
    signals = play(strategy, bars("AAPL", early + calm + ["48.00", "47.90"], volume=200_000))
    assert entries(signals) == []


def test_a_stretch_above_vwap_is_bearish_through_the_pool(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    spike_at = BREAKOUT + MINUTE
    tape = [*quiet(minutes_until(spike_at)), "51.30"]
    etf = quiet(len(tape), "30", "0.02")
    signals = play(strategy, bars("AAPL", tape, volume=200_000),
                   bars("SQQQ", etf, volume=200_000))
    [entry] = entries(signals)
    assert (entry.instrument, entry.direction, entry.tag) == ("SQQQ", Direction.BEARISH,
                                                              "InverseETF")


def test_a_trending_market_is_noted_not_traded(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    drop_at = BREAKOUT + MINUTE
    rising = [str(Decimal("40") + Decimal("0.05") * i) for i in range(minutes_until(drop_at))]
    # Far above the day's VWAP after a steady climb: a stretch, but a trend (ADX high).
    signals = play(strategy, bars("AAPL", [*rising, str(Decimal(rising[-1]) + 1)],
                                  volume=200_000))
    assert entries(signals) == []
    [note] = [s for s in signals if isinstance(s, SkipNote)]
    assert "MID_ADX_MAX" in note.reason and "trending" in note.reason


def test_the_adx_filter_switched_off_lets_the_trend_trade(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make(ENABLE_ADX_FILTER=False, SHORT_TYPE_MID="disabled")
    drop_at = BREAKOUT + MINUTE
    rising = [str(Decimal("40") + Decimal("0.05") * i) for i in range(minutes_until(drop_at))]
    signals = play(strategy, bars("AAPL", [*rising, str(Decimal(rising[-1]) + 1)],
                                  volume=200_000))
    notes = [s.reason for s in signals if isinstance(s, SkipNote)]
    assert any("SHORT_TYPE_MID=disabled" in n for n in notes)  # judged bearish
    assert not any("MID_ADX_MAX" in n for n in notes)


def test_a_stretch_inside_a_wide_band_is_noted(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make(ENABLE_ADX_FILTER=False)
    drop_at = BREAKOUT + MINUTE
    # Swings of ±3%: a 2.4% stretch stays inside the 2σ band.
    tape = [*quiet(minutes_until(drop_at), swing="1.50"), "48.80"]
    signals = play(strategy, bars("AAPL", tape, volume=200_000))
    assert entries(signals) == []
    [note] = [s for s in signals if isinstance(s, SkipNote)]
    assert "inside the 2σ band" in note.reason


def exits_after_entry(make, after: list[str]) -> list[ExitSignal]:  # type: ignore[no-untyped-def]
    strategy = make()
    drop_at = BREAKOUT + 2 * MINUTE
    tape = [*quiet(minutes_until(drop_at)), "48.80"]
    play(strategy, bars("AAPL", tape, volume=200_000))
    strategy.on_entry_filled("AAPL", Decimal(10), Decimal("48.80"), drop_at + MINUTE)
    signals = play(strategy, bars("AAPL", after, start=drop_at + MINUTE, volume=200_000))
    return [s for s in signals if isinstance(s, ExitSignal)]


def test_the_vwap_touch_exits(make) -> None:  # type: ignore[no-untyped-def]
    [exit_] = exits_after_entry(make, ["49.20", "49.60", "50.05"])
    assert exit_.reason is ExitReason.VWAP_TOUCH
    assert exit_.trigger_price == Decimal("50.05")


def test_the_stop_exits_at_one_and_a_half_percent(make) -> None:  # type: ignore[no-untyped-def]
    # 48.80 x 0.985 = 48.068: 48.07 holds, 48.06 stops.
    [exit_] = exits_after_entry(make, ["48.50", "48.07", "48.06"])
    assert exit_.reason is ExitReason.STOP_LOSS
    assert exit_.trigger_price == Decimal("48.06")


def test_the_end_of_monitoring_exits(make) -> None:  # type: ignore[no-untyped-def]
    drop_at = BREAKOUT + 2 * MINUTE
    waiting = ["48.90"] * ((MONITORING_END - drop_at) // MINUTE)
    [exit_] = exits_after_entry(make, waiting)
    assert exit_.reason is ExitReason.TIMEOUT
    assert exit_.at == MONITORING_END


def test_self_check_names_a_threshold_of_zero(make) -> None:  # type: ignore[no-untyped-def]
    assert make().self_check() == []
    problems = make(STRAT_MID_VWAP_THRESHOLD=Decimal(0)).self_check()
    assert any("STRAT_MID_VWAP_THRESHOLD=0" in p for p in problems)


def test_a_stock_far_from_its_open_is_left_out_of_the_window(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    drop_at = BREAKOUT + 2 * MINUTE
    # Opens at 50, trades around 56 from the tenth minute: +12% > MAX_GAP_PCT_MID 0.1.
    tape = ["50.00"] * 10 + quiet(minutes_until(drop_at) - 10, "56") + ["54.50"]
    signals = play(strategy, bars("AAPL", tape, volume=200_000))
    assert entries(signals) == []
    [note] = [s for s in signals if isinstance(s, SkipNote)]
    assert note.at == START + MINUTE
    assert "left out of the window" in note.reason and "MAX_GAP_PCT_MID 0.1" in note.reason


def test_a_symbol_blocked_by_an_outside_check_never_enters(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    strategy.block(["AAPL", "NOT-WATCHED"])
    drop_at = BREAKOUT + 2 * MINUTE
    signals = play(strategy, bars("AAPL", [*quiet(minutes_until(drop_at)), "48.80"],
                                  volume=200_000))
    assert entries(signals) == []


def test_minutes_a_symbol_misses_are_skipped_not_read_as_zero(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    drop_at = BREAKOUT + 2 * MINUTE
    tape = bars("AAPL", [*quiet(minutes_until(drop_at)), "48.80"], volume=200_000)
    # Every seventh minute has no AAPL bar (and MSFT never trades at all).
    gappy = [bar for i, bar in enumerate(tape) if i % 7 != 3 or bar.start >= BREAKOUT]
    signals = play(strategy, gappy)
    [entry] = entries(signals)
    assert (entry.instrument, entry.at) == ("AAPL", drop_at + MINUTE)
    assert not any(getattr(s, "symbol", None) == "MSFT" for s in signals)


def test_an_adopted_position_leaves_on_its_own_stop(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    strategy.adopt_position("AAPL", Decimal(4), Decimal("50"), Decimal("50"), BREAKOUT)
    assert deliver(strategy, BREAKOUT + MINUTE, AAPL="49.26") == []  # stop 49.25
    [exit_] = deliver(strategy, BREAKOUT + 2 * MINUTE, AAPL="49.25")
    assert exit_.reason is ExitReason.STOP_LOSS and "(adopted)" in exit_.detail
