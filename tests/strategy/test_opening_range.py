"""The opening-range breakout, driven by hand-made bars over the template's `open` window
(analysis 14:30-14:50, breakout 14:50-15:00, monitoring to 15:30 UTC)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.config.setting_types import ShortType, StrategyName
from tbot.market.bars import Bar
from tbot.strategy.opening_range import OpeningRangeBreakout
from tbot.strategy.signals import (
    Direction,
    EntrySignal,
    ExitReason,
    ExitSignal,
    Signal,
    SkipNote,
)
from tbot.strategy.window import StrategyWindow

from .conftest import (
    ANALYSIS_END,
    BREAKOUT_END,
    DAY,
    MONITORING_END,
    START,
    MakeStrategy,
)
from .tape import MINUTE, deliver, play, series

ANALYSIS_MINUTES = 20


def opening_range(
    symbol: str, low: str = "49", high: str = "51", *, volume: int = 10_000
) -> list[Bar]:
    """Twenty analysis bars alternating low, high (the last close is `high`)."""
    closes = [low, high] * (ANALYSIS_MINUTES // 2)
    return series(symbol, closes, start=START, volume=volume)


def entries(signals: list[Signal]) -> list[EntrySignal]:
    return [s for s in signals if isinstance(s, EntrySignal)]


def exits(signals: list[Signal]) -> list[ExitSignal]:
    return [s for s in signals if isinstance(s, ExitSignal)]


def notes(signals: list[Signal]) -> list[SkipNote]:
    return [s for s in signals if isinstance(s, SkipNote)]


@pytest.fixture
def strategy(make_strategy: MakeStrategy) -> OpeningRangeBreakout:
    """The template strategy (buffer 0.02, prices 5-100, InverseETF) after AAPL's range
    49-51 and SH/PSQ/SQQQ ranges have been recorded."""
    built = make_strategy()
    play(
        built,
        opening_range("AAPL"),
        opening_range("SH", "20", "21"),
        opening_range("PSQ", "30", "31"),
        opening_range("SQQQ", "10", "11"),
    )
    return built


def held(strategy: OpeningRangeBreakout, instrument: str, price: str, quantity: str = "10") -> None:
    strategy.on_entry_filled(instrument, Decimal(quantity), Decimal(price), ANALYSIS_END)


# -- entries ---------------------------------------------------------------------------


def test_close_above_range_high_times_buffer_enters_long(
    strategy: OpeningRangeBreakout,
) -> None:
    signals = play(strategy, series("AAPL", ["50", "52.1"], start=ANALYSIS_END))

    assert signals == [
        EntrySignal(
            strategy=StrategyName.OPEN,
            underlying="AAPL",
            instrument="AAPL",
            direction=Direction.LONG,
            trigger_price=Decimal("52.1"),
            reference_price=Decimal("52.1"),
            at=ANALYSIS_END + 2 * MINUTE,
            reason="AAPL 52.1 > range high 51 x 1.02",
            tag="none",
            leverage_multiplier=1,
        )
    ]


def test_no_signal_during_analysis_even_on_a_spike(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy()
    closes = ["50"] * 10 + ["60"] + ["50"] * 9
    during_analysis = play(strategy, series("AAPL", closes, start=START))
    # The spike widened the range: 61 is not above 60 x 1.02.
    after = deliver(strategy, ANALYSIS_END + 2 * MINUTE, AAPL="61")

    assert during_analysis == []
    assert after == []
    assert strategy.snapshot()["ranges"] == {"AAPL": {"high": "60", "low": "50", "volume": 200_000}}


def test_no_entry_once_the_breakout_phase_is_over(strategy: OpeningRangeBreakout) -> None:
    # The bar of 14:59 is delivered at 15:00 = breakout end: too late to enter.
    assert deliver(strategy, BREAKOUT_END, AAPL="60") == []
    assert deliver(strategy, BREAKOUT_END + 5 * MINUTE, AAPL="60") == []


def test_last_bar_delivered_before_breakout_end_can_still_enter(
    strategy: OpeningRangeBreakout,
) -> None:
    assert len(entries(deliver(strategy, BREAKOUT_END - MINUTE, AAPL="60"))) == 1


def test_close_exactly_at_the_buffered_threshold_does_not_enter(
    strategy: OpeningRangeBreakout,
) -> None:
    at = ANALYSIS_END + MINUTE
    assert deliver(strategy, at, AAPL="52.02") == []  # 51 x 1.02 exactly
    assert deliver(strategy, at + MINUTE, AAPL="48.02") == []  # 49 x 0.98 exactly
    assert len(entries(deliver(strategy, at + 2 * MINUTE, AAPL="52.03"))) == 1


def test_bearish_breakdown_buys_the_pool_etf_that_is_breaking_out_upward(
    strategy: OpeningRangeBreakout,
) -> None:
    at = ANALYSIS_END + MINUTE
    # SH sits inside its range; PSQ is above its range high; SQQQ too, but later in the pool.
    [signal] = deliver(strategy, at, AAPL="48", SH="20.5", PSQ="31.5", SQQQ="11.5")

    assert isinstance(signal, EntrySignal)
    assert (signal.underlying, signal.instrument) == ("AAPL", "PSQ")
    assert signal.direction is Direction.BEARISH
    assert (signal.trigger_price, signal.reference_price) == (Decimal("48"), Decimal("31.5"))
    assert (signal.tag, signal.leverage_multiplier) == ("InverseETF", -1)
    assert signal.reason == "AAPL 48 < range low 49 x 0.98; inverse ETF PSQ at 31.5"


def test_bearish_breakdown_falls_back_to_the_first_usable_etf(
    strategy: OpeningRangeBreakout,
) -> None:
    [signal] = deliver(strategy, ANALYSIS_END + MINUTE, AAPL="48", SH="20.5", PSQ="30.5")
    assert isinstance(signal, EntrySignal)
    assert signal.instrument == "SH"


def test_inverse_etf_failing_the_filters_is_passed_over(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy()
    play(
        strategy,
        opening_range("AAPL"),
        opening_range("SH", "4", "4.5"),  # below MIN_PRICE 5
        opening_range("PSQ", "30", "31", volume=100),  # far below the volume threshold
        opening_range("SQQQ", "10", "11"),
    )
    [signal] = deliver(strategy, ANALYSIS_END + MINUTE, AAPL="48", SH="4.6", PSQ="32", SQQQ="10")

    assert isinstance(signal, EntrySignal)
    assert (signal.instrument, signal.leverage_multiplier) == ("SQQQ", -3)


def test_bearish_breakdown_with_no_usable_etf_is_noted(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy(pool=("SH",))
    play(strategy, opening_range("AAPL"), opening_range("SH", "4", "4.5"))

    [note] = deliver(strategy, ANALYSIS_END + MINUTE, AAPL="48", SH="4.6")

    assert isinstance(note, SkipNote)
    assert note.reason.endswith("no inverse ETF in the pool passes the filters")


@pytest.mark.parametrize(
    ("short_type", "expected"),
    [
        (ShortType.DISABLED, "bearish entries are off (SHORT_TYPE_OPEN=disabled)"),
        (ShortType.LONG_PUT, "SHORT_TYPE_OPEN=LongPut is not supported yet"),
    ],
)
def test_bearish_breakdown_without_inverse_etfs_is_skipped_with_a_note(
    make_strategy: MakeStrategy, short_type: ShortType, expected: str
) -> None:
    strategy = make_strategy(SHORT_TYPE_OPEN=short_type)
    play(strategy, opening_range("AAPL"), opening_range("SH", "20", "21"))
    at = ANALYSIS_END + MINUTE

    first = deliver(strategy, at, AAPL="48", SH="22")
    again = deliver(strategy, at + MINUTE, AAPL="47", SH="22")

    assert first == [
        SkipNote(
            StrategyName.OPEN, "AAPL", at, f"AAPL 48 < range low 49 x 0.98: skipped, {expected}"
        )
    ]
    assert again == []


def test_price_filter_skips_with_one_note(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy()
    # The last analysis bar is delivered at the breakout's start, where filters first apply.
    signals = play(strategy, opening_range("MSFT", "400", "410"))
    at = ANALYSIS_END + MINUTE
    signals += deliver(strategy, at, MSFT="420") + deliver(strategy, at + MINUTE, MSFT="430")

    assert signals == [
        SkipNote(
            StrategyName.OPEN, "MSFT", ANALYSIS_END, "MSFT skipped: price 410 above MAX_PRICE 100"
        )
    ]


def test_price_below_min_price_is_skipped(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy()
    [note] = play(strategy, opening_range("F", "3", "4"))
    assert deliver(strategy, ANALYSIS_END + MINUTE, F="4.5") == []
    assert isinstance(note, SkipNote)
    assert note.reason == "F skipped: price 4 below MIN_PRICE 5"


def test_volume_filter_projects_the_analysis_volume_over_the_day(
    make_strategy: MakeStrategy,
) -> None:
    # 20 bars x 1000 shares over 20 minutes projects to 1000 x 390 = 390000 shares.
    at_threshold = make_strategy(MIN_VOLUME_THRESHOLD=390_000)
    above_threshold = make_strategy(MIN_VOLUME_THRESHOLD=390_001)
    assert play(at_threshold, opening_range("AAPL", volume=1_000)) == []
    refused = play(above_threshold, opening_range("AAPL", volume=1_000))
    passed = deliver(at_threshold, ANALYSIS_END + MINUTE, AAPL="53")
    refused += deliver(above_threshold, ANALYSIS_END + MINUTE, AAPL="53")

    assert len(entries(passed)) == 1
    assert refused == [
        SkipNote(
            StrategyName.OPEN,
            "AAPL",
            ANALYSIS_END,
            "AAPL skipped: projected daily volume 390000 below MIN_VOLUME_THRESHOLD 390001",
        )
    ]


def test_symbol_without_an_opening_range_is_noted_once(strategy: OpeningRangeBreakout) -> None:
    at = ANALYSIS_END + MINUTE
    signals = deliver(strategy, at, F="10") + deliver(strategy, at + MINUTE, F="11")
    assert signals == [SkipNote(StrategyName.OPEN, "F", at, "F skipped: no opening range")]


def test_each_ticker_is_entered_once_per_session(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy()
    play(
        strategy,
        opening_range("AAPL"),
        opening_range("MSFT"),
        opening_range("SH", "20", "21"),
        opening_range("PSQ", "30", "31"),
    )
    at = ANALYSIS_END + MINUTE

    first = deliver(strategy, at, AAPL="53", MSFT="48", SH="20.5", PSQ="30.5")
    # AAPL breaks out again, MSFT breaks down again: AAPL is spent, SH is spent, PSQ is next.
    second = deliver(strategy, at + MINUTE, AAPL="54", MSFT="47", SH="20.5", PSQ="30.5")

    assert [(e.underlying, e.instrument) for e in entries(first)] == [
        ("AAPL", "AAPL"),
        ("MSFT", "SH"),
    ]
    assert second == []


def test_an_inverse_etf_is_not_reused_for_a_second_underlying(
    make_strategy: MakeStrategy,
) -> None:
    strategy = make_strategy()
    play(
        strategy,
        opening_range("AAPL"),
        opening_range("MSFT"),
        opening_range("SH", "20", "21"),
        opening_range("PSQ", "30", "31"),
    )
    at = ANALYSIS_END + MINUTE

    first = deliver(strategy, at, AAPL="48", SH="20.5", PSQ="30.5")
    second = deliver(strategy, at + MINUTE, MSFT="48", SH="20.5", PSQ="30.5")

    assert [e.instrument for e in entries(first + second)] == ["SH", "PSQ"]


# -- exits -----------------------------------------------------------------------------


def test_trailing_stop_follows_the_highest_close_not_the_entry(
    strategy: OpeningRangeBreakout,
) -> None:
    held(strategy, "AAPL", "52")
    at = ANALYSIS_END + MINUTE

    rising = play(strategy, series("AAPL", ["55", "60", "58.81"], start=at))
    # 60 x 0.98 = 58.8: far above the entry at 52, and the stop is hit at exactly 58.8.
    falling = deliver(strategy, at + 4 * MINUTE, AAPL="58.8")

    assert rising == []
    assert falling == [
        ExitSignal(
            strategy=StrategyName.OPEN,
            instrument="AAPL",
            reason=ExitReason.TRAILING_STOP,
            at=at + 4 * MINUTE,
            detail="AAPL 58.8 <= trailing stop 58.80 (peak 60 x 0.98)",
            trigger_price=Decimal("58.8"),
        )
    ]


def test_trailing_stop_starts_from_the_entry_fill_price(strategy: OpeningRangeBreakout) -> None:
    held(strategy, "AAPL", "50")
    at = ANALYSIS_END + MINUTE
    assert deliver(strategy, at, AAPL="49.01") == []
    assert len(exits(deliver(strategy, at + MINUTE, AAPL="49"))) == 1


def test_exit_is_emitted_once_until_the_engine_reports_it_rejected(
    strategy: OpeningRangeBreakout,
) -> None:
    held(strategy, "AAPL", "50")
    at = ANALYSIS_END + MINUTE

    first = deliver(strategy, at, AAPL="45")
    while_working = deliver(strategy, at + MINUTE, AAPL="44")
    strategy.on_exit_rejected("AAPL")
    retried = deliver(strategy, at + 2 * MINUTE, AAPL="44")

    assert len(exits(first)) == 1
    assert while_working == []
    assert len(exits(retried)) == 1


def test_timeout_exits_everything_held_at_monitoring_end(
    strategy: OpeningRangeBreakout,
) -> None:
    held(strategy, "AAPL", "52")
    held(strategy, "SH", "20.5", quantity="3")

    before = deliver(strategy, MONITORING_END - MINUTE, AAPL="53")
    at_end = deliver(strategy, MONITORING_END, AAPL="53.5")
    after = deliver(strategy, MONITORING_END + MINUTE, AAPL="53.5")

    assert before == []
    assert at_end == [
        ExitSignal(
            StrategyName.OPEN, "AAPL", ExitReason.TIMEOUT, MONITORING_END,
            "AAPL: monitoring ended at 15:30 UTC", Decimal("53.5"),
        ),
        ExitSignal(
            StrategyName.OPEN, "SH", ExitReason.TIMEOUT, MONITORING_END,
            "SH: monitoring ended at 15:30 UTC", Decimal("21"),
        ),
    ]  # fmt: skip
    assert after == []


def test_fills_add_up_and_a_full_exit_forgets_the_holding(
    strategy: OpeningRangeBreakout,
) -> None:
    held(strategy, "AAPL", "52", quantity="4")
    held(strategy, "AAPL", "52.5", quantity="2.5")
    assert strategy.holdings() == {"AAPL": Decimal("6.5")}

    strategy.on_exit_filled("AAPL", Decimal("4"), Decimal("53"), ANALYSIS_END)
    assert strategy.holdings() == {"AAPL": Decimal("2.5")}

    strategy.on_exit_filled("AAPL", Decimal("2.5"), Decimal("53"), ANALYSIS_END)
    assert strategy.holdings() == {}
    assert strategy.snapshot()["trailing_stops"] == {}


def test_adopted_position_trails_from_the_last_price(make_strategy: MakeStrategy) -> None:
    restarted = make_strategy()
    restarted.adopt_position(
        "AAPL", Decimal("12"), Decimal("50"), Decimal("40"), BREAKOUT_END + MINUTE
    )
    at = BREAKOUT_END + 2 * MINUTE

    assert restarted.holdings() == {"AAPL": Decimal("12")}
    assert deliver(restarted, at, AAPL="39.21") == []
    [signal] = deliver(restarted, at + MINUTE, AAPL="39.2")  # 40 x 0.98
    assert isinstance(signal, ExitSignal)
    assert signal.reason is ExitReason.TRAILING_STOP


def test_adopted_instrument_is_not_entered_again(strategy: OpeningRangeBreakout) -> None:
    strategy.adopt_position("AAPL", Decimal("5"), Decimal("50"), Decimal("52"), ANALYSIS_END)
    strategy.on_exit_filled("AAPL", Decimal("5"), Decimal("52"), ANALYSIS_END)
    assert deliver(strategy, ANALYSIS_END + MINUTE, AAPL="60") == []


def test_non_positive_fill_quantities_are_refused(strategy: OpeningRangeBreakout) -> None:
    with pytest.raises(ValueError, match="above 0"):
        strategy.on_entry_filled("AAPL", Decimal(0), Decimal("50"), ANALYSIS_END)


# -- self check, snapshot, determinism -----------------------------------------------------


def test_template_settings_pass_the_self_check(make_strategy: MakeStrategy) -> None:
    assert make_strategy().self_check() == []


@pytest.mark.parametrize(
    ("updates", "expected"),
    [
        ({"STRAT_OPEN_BUFFER": Decimal(0)}, "STRAT_OPEN_BUFFER=0: must be above 0"),
        ({"OPEN_ANALYSIS_TIME": 0}, "OPEN_ANALYSIS_TIME=0: the window has no analysis phase"),
        ({"OPEN_BREAKOUT_TIME": 0}, "OPEN_BREAKOUT_TIME=0: the window has no breakout phase"),
        ({"universe": ()}, "the universe is empty"),
        ({"pool": ()}, "SHORT_TYPE_OPEN=InverseETF but the inverse-ETF pool is empty"),
    ],
)
def test_self_check_reports_config_that_cannot_trade(
    make_strategy: MakeStrategy, updates: dict[str, object], expected: str
) -> None:
    [problem] = make_strategy(**updates).self_check()
    assert problem.startswith(expected)


def test_empty_pool_is_fine_when_bearish_entries_are_disabled(
    make_strategy: MakeStrategy,
) -> None:
    assert make_strategy(pool=(), SHORT_TYPE_OPEN=ShortType.DISABLED).self_check() == []


def test_self_check_reports_a_window_clipped_by_an_early_close(
    make_strategy: MakeStrategy, window: StrategyWindow
) -> None:
    clipped = window.clipped_to(START + timedelta(minutes=20))
    assert make_strategy(window=clipped).self_check() == [
        f"the {DAY} window has no breakout phase (clipped by an early close?)",
        f"the {DAY} window has no monitoring phase (clipped by an early close?)",
    ]


def test_snapshot_is_json_ready(strategy: OpeningRangeBreakout) -> None:
    deliver(strategy, ANALYSIS_END + MINUTE, AAPL="53")
    held(strategy, "AAPL", "53")

    snapshot = json.loads(json.dumps(strategy.snapshot()))

    assert snapshot["phase"] == "breakout"
    assert snapshot["ranges"]["AAPL"] == {"high": "51", "low": "49", "volume": 200_000}
    assert snapshot["candidates"] == ["MSFT", "F"]
    assert snapshot["holdings"] == {"AAPL": "10"}
    assert snapshot["trailing_stops"] == {"AAPL": {"peak": "53", "stop": "51.94"}}


def test_same_bars_give_the_same_signals(make_strategy: MakeStrategy) -> None:
    tape = [
        opening_range("AAPL"),
        opening_range("MSFT", "30", "32"),
        opening_range("SH", "20", "21"),
        series("AAPL", ["50", "53", "54"], start=ANALYSIS_END),
        series("MSFT", ["31", "29", "28"], start=ANALYSIS_END),
        series("SH", ["20.5", "21.5", "22"], start=ANALYSIS_END),
    ]
    runs = [play(make_strategy(), *tape) for _ in range(2)]
    assert runs[0] == runs[1]
    assert [type(s) for s in runs[0]] == [EntrySignal, EntrySignal]


def test_watched_symbols_are_the_universe_then_the_pool(make_strategy: MakeStrategy) -> None:
    assert make_strategy().watched_symbols() == ("AAPL", "MSFT", "F", "SH", "PSQ", "SQQQ")


def test_naive_delivery_time_is_refused(strategy: OpeningRangeBreakout) -> None:
    with pytest.raises(ValueError, match="naive"):
        strategy.on_bars({}, ANALYSIS_END.replace(tzinfo=None))


def test_bearish_breakdown_with_short_sell_sells_the_stock_itself(
    make_strategy: MakeStrategy,
) -> None:
    strategy = make_strategy(SHORT_TYPE_OPEN=ShortType.SHORT_SELL)
    play(strategy, opening_range("AAPL"))

    [signal] = deliver(strategy, ANALYSIS_END + MINUTE, AAPL="48")

    assert isinstance(signal, EntrySignal)
    assert (signal.underlying, signal.instrument, signal.direction) == (
        "AAPL", "AAPL", Direction.BEARISH)
    assert (signal.tag, signal.leverage_multiplier) == ("ShortSell", 1)
    assert signal.reason == "AAPL 48 < range low 49 x 0.98; sold short"


def test_a_short_sale_trails_its_stop_above_the_lowest_close(
    make_strategy: MakeStrategy,
) -> None:
    strategy = make_strategy(SHORT_TYPE_OPEN=ShortType.SHORT_SELL)
    play(strategy, opening_range("AAPL"))
    at = ANALYSIS_END + MINUTE
    deliver(strategy, at, AAPL="48")
    strategy.on_entry_filled("AAPL", Decimal(10), Decimal("48"), at)

    falling = deliver(strategy, at + MINUTE, AAPL="45")
    holding = deliver(strategy, at + 2 * MINUTE, AAPL="45.89")  # below 45 x 1.02
    [exit_] = deliver(strategy, at + 3 * MINUTE, AAPL="45.90")

    assert falling == holding == []
    assert isinstance(exit_, ExitSignal) and exit_.reason is ExitReason.TRAILING_STOP
    assert exit_.detail == "AAPL 45.90 >= trailing stop 45.90 (trough 45 x 1.02, short)"


def test_an_adopted_short_keeps_its_stop_above_the_price(make_strategy: MakeStrategy) -> None:
    strategy = make_strategy()
    strategy.adopt_position("AAPL", Decimal(5), Decimal("50"), Decimal("50"), ANALYSIS_END,
                            short=True)
    assert strategy.holdings() == {"AAPL": Decimal(5)}
    assert deliver(strategy, ANALYSIS_END + MINUTE, AAPL="49") == []
    [exit_] = deliver(strategy, ANALYSIS_END + 2 * MINUTE, AAPL="49.98")
    assert isinstance(exit_, ExitSignal) and "short" in exit_.detail
