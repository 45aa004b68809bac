"""The generated market's mid and close setups, read from the bars as the strategies would.

The demo day is the engine tests' TRADING_DAY under the template's SIM_SEED: a Friday in
EST (the session opens 14:30 UTC, so 15:30 UTC is an hour in and 19:30 UTC 90 minutes
before the close). A summer day (EDT: open 13:30 UTC, close 20:00 UTC) is checked too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.market.calendar import TradingCalendar
from tbot.market.generated_extras import TEMPLATE_LIMITS, simulated_fundamentals
from tbot.market.generated_feed import (
    CloseKind,
    DayKind,
    GeneratedFeed,
    MoveDirection,
)
from tbot.market.universe import is_inverse_etf
from tests.market.setup_checks import (
    mid_entries,
    mid_outcome,
    momentum_fade,
    momentum_side,
    reversal_side,
)

TEMPLATE_SEED = 20261121
DEMO_DAY = date(2026, 11, 20)
SUMMER_DAY = date(2026, 7, 15)
EARLY_CLOSE = date(2026, 11, 27)


def side_of(direction: MoveDirection) -> int:
    return 1 if direction is MoveDirection.UP else -1


@pytest.fixture(scope="module")
def feed(calendar: TradingCalendar) -> GeneratedFeed:
    return GeneratedFeed(TEMPLATE_SEED, calendar)


def assert_mid_setups_play_out(feed: GeneratedFeed, day: date) -> None:
    """Every announced mid setup is an entry in 15:45-15:55, and ends as planned."""
    bars = feed.day_bars(day)
    setups = feed.regime(day).mid_setups
    assert setups, day
    for symbol, setup in setups.items():
        entries = mid_entries(bars[symbol])
        assert entries, (day, symbol)
        for entry, side in entries:
            assert side == side_of(setup.direction), (day, symbol)
            expected = "vwap" if setup.reverts else "stop"
            assert mid_outcome(bars[symbol], entry, side) == expected, (day, symbol, entry)


def assert_close_setups_play_out(feed: GeneratedFeed, day: date) -> None:
    """Every announced close setup shows its shape at 19:35."""
    bars = feed.day_bars(day)
    setups = feed.regime(day).close_setups
    assert setups, day
    for symbol, setup in setups.items():
        side = side_of(setup.direction)
        if setup.kind is CloseKind.MOMENTUM:
            assert momentum_side(bars[symbol]) == side, (day, symbol)
            # It keeps going, or falls back through the close strategy's 2% stop.
            fade = momentum_fade(bars[symbol], side)
            assert (fade > -0.015) if setup.continues else (fade < -0.02), (day, symbol)
        else:
            assert reversal_side(bars[symbol]) == side, (day, symbol)


def test_the_demo_day_has_a_vwap_excursion_in_a_range_bound_market(feed: GeneratedFeed) -> None:
    bars = feed.day_bars(DEMO_DAY)
    # Found from the bars alone, whatever the regime says.
    found = {symbol: mid_entries(series) for symbol, series in bars.items()}
    found = {symbol: entries for symbol, entries in found.items() if entries}
    assert len(found) >= 2
    outcomes = {mid_outcome(bars[s], *entries[0]) for s, entries in found.items()}
    assert {"vwap", "stop"} <= outcomes  # one reverts to VWAP, one fails through the stop
    assert_mid_setups_play_out(feed, DEMO_DAY)


def test_the_demo_day_has_a_close_momentum_and_a_reversing_spike(feed: GeneratedFeed) -> None:
    bars = feed.day_bars(DEMO_DAY)
    momentum = [s for s, series in bars.items() if momentum_side(series)]
    reversal = [s for s, series in bars.items() if reversal_side(series)]
    assert momentum and reversal
    kinds = {setup.kind for setup in feed.regime(DEMO_DAY).close_setups.values()}
    assert kinds == {CloseKind.MOMENTUM, CloseKind.REVERSAL}
    assert_close_setups_play_out(feed, DEMO_DAY)


def test_the_demo_day_vix_lets_the_close_strategy_trade(feed: GeneratedFeed) -> None:
    start = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
    for minute in range(31):  # the close window: 19:30 to 20:00
        level = feed.vix_at(start + timedelta(minutes=minute))
        assert level is not None and level > Decimal(15), minute


def test_a_summer_day_has_the_setups_at_the_same_utc_times(feed: GeneratedFeed) -> None:
    assert feed.day_bars(SUMMER_DAY)["KO"][0].start == datetime(2026, 7, 15, 13, 30, tzinfo=UTC)
    assert_mid_setups_play_out(feed, SUMMER_DAY)
    assert_close_setups_play_out(feed, SUMMER_DAY)


def test_every_session_of_a_month_carries_both_kinds_of_each_setup(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    for day in calendar.sessions_between(date(2026, 10, 1), date(2026, 10, 30)):
        regime = feed.regime(day)
        assert {setup.reverts for setup in regime.mid_setups.values()} == {True, False}, day
        kinds = {setup.kind for setup in regime.close_setups.values()}
        assert kinds == {CloseKind.MOMENTUM, CloseKind.REVERSAL}, day
        assert_mid_setups_play_out(feed, day)
        assert_close_setups_play_out(feed, day)


def test_an_early_close_has_mid_setups_but_no_close_window(feed: GeneratedFeed) -> None:
    regime = feed.regime(EARLY_CLOSE)
    assert regime.close_setups == {}
    assert_mid_setups_play_out(feed, EARLY_CLOSE)


def test_setups_are_on_stocks_the_screens_admit(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    for day in calendar.sessions_between(date(2026, 11, 16), date(2026, 11, 20)):
        regime = feed.regime(day)
        bars = feed.day_bars(day)
        mid, close = set(regime.mid_setups), set(regime.close_setups)
        assert not mid & close and not (mid | close) & set(regime.moves)
        for symbol in mid | close:
            assert not is_inverse_etf(symbol)
            assert TEMPLATE_LIMITS.admits(simulated_fundamentals(symbol))
            assert all(Decimal(5) <= bar.low and bar.high <= Decimal(100) for bar in bars[symbol])


def test_setup_bars_do_not_depend_on_the_other_symbols_carried(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    regime = feed.regime(DEMO_DAY)
    for symbol in (*regime.mid_setups, *regime.close_setups):
        alone = GeneratedFeed(TEMPLATE_SEED, calendar, [symbol])
        assert alone.regime(DEMO_DAY).kind is DayKind.BULLISH
        assert alone.day_bars(DEMO_DAY)[symbol] == feed.day_bars(DEMO_DAY)[symbol]
