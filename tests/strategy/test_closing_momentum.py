"""The `close` strategy (end-of-day momentum and fade) on hand-built tapes, with a VIX
source the test controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.strategy.closing_momentum import ClosingMomentum
from tbot.strategy.signals import Direction, EntrySignal, ExitReason, ExitSignal, SkipNote
from tbot.strategy.window import StrategyWindow, window_from_settings

from .conftest import DAY, LEVERAGE
from .tape import MINUTE, play
from .test_vwap_reversion import bars, quiet

OPEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
START = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
BREAKOUT = START + timedelta(minutes=5)
BREAKOUT_END = BREAKOUT + timedelta(minutes=5)
CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
POOL = ("SPXU", "SQQQ")


class Vix:
    """A VIX source: one level all day, or none."""

    def __init__(self, level: str | None) -> None:
        self.level = None if level is None else Decimal(level)

    def vix_at(self, at: datetime) -> Decimal | None:
        return self.level


@pytest.fixture
def close_window(template_bot: BotSettings) -> StrategyWindow:
    built = window_from_settings(template_bot, StrategyName.CLOSE, DAY)
    assert (built.start, built.analysis_end, built.breakout_end) == (START, BREAKOUT,
                                                                      BREAKOUT_END)
    return built


@pytest.fixture
def make(template_bot: BotSettings, close_window: StrategyWindow):  # type: ignore[no-untyped-def]
    def build(vix: str | None = "20", window: StrategyWindow = close_window,
              **updates: object) -> ClosingMomentum:
        bot = template_bot.model_copy(update=updates)
        return ClosingMomentum(bot, window, ("AAPL", "MSFT"), POOL, vix=Vix(vix),
                               leverage_of=LEVERAGE.get)  # type: ignore[arg-type]
    return build


def day_then(late: list[str], *, drift: str = "0", volume: int = 20_000,
             late_volume: int = 60_000) -> list:  # type: ignore[type-arg]
    """A day from 50 drifting by `drift` a minute until the window, then `late` closes
    (from the window's start) on higher volume."""
    minutes = (START - OPEN) // MINUTE
    step = Decimal(drift)
    early = [str(Decimal("50") + step * i) for i in range(minutes)]
    return (bars("AAPL", early, volume=volume)
            + bars("AAPL", late, start=START, volume=late_volume))


def entries(signals: list) -> list[EntrySignal]:  # type: ignore[type-arg]
    return [s for s in signals if isinstance(s, EntrySignal)]


def test_momentum_continues_an_up_day_into_the_close(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    # 50 → ~52.99 by 19:30 (+6%), then on up through the analysis and into the breakout.
    late = ["53.00", "53.05", "53.10", "53.15", "53.20", "53.30"]
    signals = play(strategy, day_then(late, drift="0.01"))
    [entry] = entries(signals)
    assert (entry.instrument, entry.direction) == ("AAPL", Direction.LONG)
    # Judged from the first delivery of the breakout phase (the last analysis bar's).
    assert (entry.at, entry.trigger_price) == (BREAKOUT, Decimal("53.20"))
    assert "momentum" in entry.reason


def test_a_spike_that_reverses_is_faded_bearish(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    late = ["50.00", "50.40", "50.80", "50.90", "50.70", "50.30"]  # +1.8% spike, half back
    signals = play(strategy, day_then(late), bars("SPXU", quiet(400, "16", "0.01"),
                                                  volume=200_000))
    [entry] = entries(signals)
    assert (entry.underlying, entry.instrument, entry.direction) == (
        "AAPL", "SPXU", Direction.BEARISH)
    assert "fade" in entry.reason


def test_a_late_move_on_ordinary_volume_is_noted(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make()
    late = ["53.00", "53.05", "53.10", "53.15", "53.20", "53.30"]
    signals = play(strategy, day_then(late, drift="0.01", late_volume=20_000))
    assert entries(signals) == []
    [note] = [s for s in signals if isinstance(s, SkipNote)]
    assert "relative volume 1.00 below" in note.reason


def test_a_calm_vix_blocks_with_its_reason(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make(vix="12.5")
    late = ["53.00", "53.05", "53.10", "53.15", "53.20", "53.30"]
    signals = play(strategy, day_then(late, drift="0.01"))
    assert entries(signals) == []
    [note] = [s for s in signals if isinstance(s, SkipNote)]
    assert "12.5" in note.reason and not note.alert


def test_no_vix_value_blocks_and_asks_for_an_alert(make) -> None:  # type: ignore[no-untyped-def]
    strategy = make(vix=None)
    late = ["53.00", "53.05", "53.10", "53.15", "53.20", "53.30"]
    signals = play(strategy, day_then(late, drift="0.01"))
    assert entries(signals) == []
    [note] = [s for s in signals if isinstance(s, SkipNote)]
    assert note.alert and "no VIX value" in note.reason


def held_after_momentum(make, after: list[str]) -> list[ExitSignal]:  # type: ignore[no-untyped-def]
    strategy = make()
    late = ["53.00", "53.05", "53.10", "53.15", "53.20", "53.30"]
    play(strategy, day_then(late, drift="0.01"))
    strategy.on_entry_filled("AAPL", Decimal(5), Decimal("53.30"), BREAKOUT + MINUTE)
    signals = play(strategy, bars("AAPL", after, start=START + 6 * MINUTE))
    return [s for s in signals if isinstance(s, ExitSignal)]


def test_the_two_percent_stop_exits(make) -> None:  # type: ignore[no-untyped-def]
    # Entry trigger 53.20: the stop is 52.136.
    [exit_] = held_after_momentum(make, ["53.00", "52.14", "52.13"])
    assert exit_.reason is ExitReason.STOP_LOSS


def test_the_hard_exit_comes_before_an_early_close(make, close_window) -> None:  # type: ignore[no-untyped-def]
    early = close_window.clipped_to(datetime(2026, 11, 20, 19, 50, tzinfo=UTC))
    strategy = make(window=early)
    late = ["53.00", "53.05", "53.10", "53.15", "53.20", "53.30"]
    play(strategy, day_then(late, drift="0.01"))
    strategy.on_entry_filled("AAPL", Decimal(5), Decimal("53.30"), BREAKOUT + MINUTE)
    signals = play(strategy, bars("AAPL", ["53.40"] * 14, start=START + 6 * MINUTE))
    [exit_] = [s for s in signals if isinstance(s, ExitSignal)]
    assert exit_.reason is ExitReason.SESSION_END
    assert exit_.at == datetime(2026, 11, 20, 19, 48, tzinfo=UTC)  # 2 minutes before


def test_self_check_refuses_a_retrace_above_one(make) -> None:  # type: ignore[no-untyped-def]
    assert make().self_check() == []
    problems = make(STRAT_CLOSE_FADE_RETRACE=Decimal("1.5")).self_check()
    assert any("STRAT_CLOSE_FADE_RETRACE" in p for p in problems)
