"""A generated market over invented symbol names (the strategy benchmark's S0001..S0500)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest

from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import CloseKind, DayKind, GeneratedFeed
from tests.market.setup_checks import mid_entries, mid_outcome, momentum_side, reversal_side

SEED = 20261121
DAY = date(2026, 11, 18)
NAMES = tuple(f"S{number:04d}" for number in range(1, 501))


@pytest.fixture(scope="module")
def feed(calendar: TradingCalendar) -> GeneratedFeed:
    return GeneratedFeed(SEED, calendar, NAMES)


def test_five_hundred_invented_names_generate_a_day_quickly(calendar: TradingCalendar) -> None:
    feed = GeneratedFeed(SEED + 2, calendar, NAMES)
    started = time.perf_counter()
    bars = feed.day_bars(DAY)
    elapsed = time.perf_counter() - started
    # About 0.6 s on a laptop; the bound leaves room for a busy CI machine.
    assert elapsed < 4.0
    assert len(bars) == 500 and all(len(series) == 390 for series in bars.values())


def test_invented_names_get_plausible_profiles(feed: GeneratedFeed) -> None:
    bars = feed.day_bars(DAY)
    opens = [series[0].open for series in bars.values()]
    assert all(Decimal(9) < price < Decimal(96) for price in opens)
    assert len(set(opens)) > 450
    daily = sorted(sum(bar.volume for bar in series) for series in bars.values())
    assert daily[0] > 1_000_000  # MIN_VOLUME_THRESHOLD: every name is tradable
    assert daily[-1] > 10 * daily[0]  # but some trade far more than others


def test_a_name_trades_the_same_whatever_else_the_feed_carries(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    regime = feed.regime(DAY)
    names = [
        *[s for s in regime.moves if s in NAMES][:2],
        *[s for s in regime.mid_setups if s in NAMES][:2],
        *[s for s in regime.close_setups if s in NAMES][:2],
    ]
    assert len(names) == 6
    alone = GeneratedFeed(SEED, calendar, [*names, "BAC"])
    for name in names:
        assert alone.day_bars(DAY)[name] == feed.day_bars(DAY)[name]
    assert GeneratedFeed(SEED + 1, calendar, names).day_bars(DAY)[names[0]] != (
        feed.day_bars(DAY)[names[0]]
    )


def test_invented_names_carry_breakouts_and_setups_of_their_own(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    days = calendar.sessions_between(date(2026, 11, 16), date(2026, 11, 20))
    for day in days:
        regime = feed.regime(day)
        invented_moves = [s for s in regime.moves if s in NAMES]
        if regime.kind is DayKind.QUIET:
            assert not invented_moves
        else:
            assert 20 <= len(invented_moves) <= 90
        # The regime also names the built-in universe's plans, carried or not.
        assert 10 <= len([s for s in regime.mid_setups if s in NAMES]) <= 45
        assert 10 <= len([s for s in regime.close_setups if s in NAMES]) <= 45
    regime = feed.regime(DAY)
    bars = feed.day_bars(DAY)
    mid = [(s, setup) for s, setup in regime.mid_setups.items() if s in NAMES]
    close = [(s, setup) for s, setup in regime.close_setups.items() if s in NAMES]
    for symbol, setup in mid[:6]:
        entries = mid_entries(bars[symbol])
        assert entries, symbol
        assert mid_outcome(bars[symbol], *entries[0]) == ("vwap" if setup.reverts else "stop")
    for symbol, plan in close[:6]:
        reading = momentum_side if plan.kind is CloseKind.MOMENTUM else reversal_side
        assert reading(bars[symbol]) != 0, symbol
