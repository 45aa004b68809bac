"""The generated market: deterministic, liquid-looking, with real breakouts on most days."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from tbot.market.bars import Bar, BarFeed
from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import (
    DayKind,
    GeneratedFeed,
    MoveDirection,
    default_symbols,
)
from tbot.market.universe import INVERSE_ETF_TOP20, LIQUID_UNIVERSE

SEED = 20261120
FRIDAY = date(2026, 11, 20)
THANKSGIVING = date(2026, 11, 26)
EARLY_CLOSE = date(2026, 11, 27)
MINUTE = timedelta(minutes=1)

# The OPEN strategy's template settings, which the planned breakouts are built to meet.
RANGE_MINUTES, BREAKOUT_MINUTES, BUFFER = 20, 10, Decimal("0.02")
TRAILING_STOP, MONITORING_END_MINUTE = Decimal("0.02"), 60


@pytest.fixture(scope="module")
def feed(calendar: TradingCalendar) -> GeneratedFeed:
    return GeneratedFeed(SEED, calendar)


@pytest.fixture(scope="module")
def month(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> dict[date, Mapping[str, Sequence[Bar]]]:
    """Every session of October 2026 (21 days), generated once for the module."""
    days = calendar.sessions_between(date(2026, 10, 1), date(2026, 10, 31))
    return {day: feed.day_bars(day) for day in days}


def breakouts(bars_by_symbol: Mapping[str, Sequence[Bar]]) -> dict[str, MoveDirection]:
    """Symbols whose close leaves the first-20-minute range by 2% within minutes 20-30."""
    found: dict[str, MoveDirection] = {}
    for symbol, bars in bars_by_symbol.items():
        opening = bars[:RANGE_MINUTES]
        high = max(bar.high for bar in opening)
        low = min(bar.low for bar in opening)
        for bar in bars[RANGE_MINUTES : RANGE_MINUTES + BREAKOUT_MINUTES]:
            if bar.close > high * (1 + BUFFER):
                found[symbol] = MoveDirection.UP
                break
            if bar.close < low * (1 - BUFFER):
                found[symbol] = MoveDirection.DOWN
                break
    return found


def trailing_stop_fires(bars: Sequence[Bar], direction: MoveDirection) -> bool:
    """Whether a 2% trailing stop, entered at the breakout, fires before minute 60."""
    opening = bars[:RANGE_MINUTES]
    if direction is MoveDirection.UP:
        level = max(bar.high for bar in opening) * (1 + BUFFER)
        entry = next(i for i in range(RANGE_MINUTES, 30) if bars[i].close > level)
    else:
        level = min(bar.low for bar in opening) * (1 - BUFFER)
        entry = next(i for i in range(RANGE_MINUTES, 30) if bars[i].close < level)
    best = bars[entry].close
    for bar in bars[entry + 1 : MONITORING_END_MINUTE]:
        if direction is MoveDirection.UP:
            best = max(best, bar.close)
            if bar.close < best * (1 - TRAILING_STOP):
                return True
        else:
            best = min(best, bar.close)
            if bar.close > best * (1 + TRAILING_STOP):
                return True
    return False


def test_it_is_a_bar_feed(feed: GeneratedFeed) -> None:
    as_protocol: BarFeed = feed
    assert as_protocol.symbols == tuple(sorted(default_symbols()))


def test_default_symbols_are_the_liquid_universe_and_every_inverse_etf() -> None:
    assert set(default_symbols()) == set(LIQUID_UNIVERSE) | set(INVERSE_ETF_TOP20)


def test_same_seed_gives_the_same_bars_whatever_order_minutes_are_asked_in(
    calendar: TradingCalendar,
) -> None:
    forwards = GeneratedFeed(SEED, calendar).day_bars(FRIDAY)
    backwards_feed = GeneratedFeed(SEED, calendar)
    opens_at = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    for index in reversed(range(390)):
        minute = backwards_feed.minute(opens_at + index * MINUTE)
        for symbol, bar in minute.items():
            assert bar == forwards[symbol][index]


def test_bars_of_a_symbol_do_not_depend_on_the_other_symbols_carried(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    alone = GeneratedFeed(SEED, calendar, ["BAC", "SQQQ"]).day_bars(FRIDAY)
    assert alone["BAC"] == feed.day_bars(FRIDAY)["BAC"]
    assert alone["SQQQ"] == feed.day_bars(FRIDAY)["SQQQ"]


def test_bars_survive_the_day_cache(calendar: TradingCalendar) -> None:
    feed = GeneratedFeed(SEED, calendar, ["BAC"])
    first = feed.day_bars(date(2026, 11, 2))
    for day in calendar.sessions_between(date(2026, 11, 3), date(2026, 11, 13)):
        feed.day_bars(day)  # more days than the cache keeps
    assert feed.day_bars(date(2026, 11, 2)) == first


def test_another_seed_gives_another_market(calendar: TradingCalendar) -> None:
    one = GeneratedFeed(1, calendar, ["BAC"]).day_bars(FRIDAY)["BAC"]
    two = GeneratedFeed(2, calendar, ["BAC"]).day_bars(FRIDAY)["BAC"]
    assert [bar.close for bar in one] != [bar.close for bar in two]


def test_every_minute_of_the_session_has_a_bar_for_every_symbol(feed: GeneratedFeed) -> None:
    day = feed.day_bars(FRIDAY)
    opens_at = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert set(day) == set(feed.symbols)
    for symbol, bars in day.items():
        assert [bar.start for bar in bars] == [opens_at + i * MINUTE for i in range(390)]
        assert {bar.symbol for bar in bars} == {symbol}


def test_early_close_ends_the_bars_at_1800_utc(feed: GeneratedFeed) -> None:
    bars = feed.day_bars(EARLY_CLOSE)["BAC"]
    assert len(bars) == 210
    assert bars[-1].start == datetime(2026, 11, 27, 17, 59, tzinfo=UTC)
    assert feed.minute(datetime(2026, 11, 27, 18, 0, tzinfo=UTC)) == {}


def test_no_bars_outside_the_session_or_on_a_holiday(feed: GeneratedFeed) -> None:
    assert feed.minute(datetime(2026, 11, 20, 14, 29, tzinfo=UTC)) == {}
    assert feed.minute(datetime(2026, 11, 20, 21, 0, tzinfo=UTC)) == {}
    assert feed.minute(datetime(2026, 11, 26, 15, 0, tzinfo=UTC)) == {}
    assert feed.day_bars(THANKSGIVING) == {}
    assert not feed.has_day(THANKSGIVING)
    assert feed.has_day(FRIDAY)


def test_minute_accepts_other_offsets_but_not_naive_or_partial_minutes(
    feed: GeneratedFeed,
) -> None:
    new_york = datetime.fromisoformat("2026-11-20T09:45:00-05:00")
    assert feed.minute(new_york) == feed.minute(datetime(2026, 11, 20, 14, 45, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        feed.minute(datetime(2026, 11, 20, 14, 45))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="whole minutes"):
        feed.minute(datetime(2026, 11, 20, 14, 45, 30, tzinfo=UTC))


def test_prices_are_positive_cents_and_bars_are_well_formed(
    month: dict[date, Mapping[str, Sequence[Bar]]],
) -> None:
    for day_bars in month.values():
        for bars in day_bars.values():
            for bar in bars:
                for price in (bar.open, bar.high, bar.low, bar.close):
                    assert isinstance(price, Decimal)
                    assert price > 0
                    assert price.as_tuple().exponent == -2
                assert bar.high >= max(bar.open, bar.close)
                assert bar.low <= min(bar.open, bar.close)
                assert isinstance(bar.volume, int) and bar.volume > 0
            for before, after in pairwise(bars):
                assert after.open == before.close


def test_overnight_gaps_are_small(
    month: dict[date, Mapping[str, Sequence[Bar]]],
) -> None:
    days = sorted(month)
    for today, tomorrow in pairwise(days):
        for symbol, bars in month[today].items():
            gap = abs(month[tomorrow][symbol][0].open / bars[-1].close - 1)
            assert gap < Decimal("0.05"), (symbol, today)


def test_volume_is_liquid_and_u_shaped(month: dict[date, Mapping[str, Sequence[Bar]]]) -> None:
    # MIN_VOLUME_THRESHOLD=1000000 a day, scaled to a 20-minute analysis phase.
    twenty_minute_need = 1_000_000 / (390 / 20)
    for day_bars in month.values():
        for bars in day_bars.values():
            assert sum(bar.volume for bar in bars[:20]) > 5 * twenty_minute_need
            ends = [bar.volume for bar in (*bars[:30], *bars[-30:])]
            middle = [bar.volume for bar in bars[180:240]]
            assert sum(ends) / len(ends) > 2 * sum(middle) / len(middle)


def test_a_month_has_both_breakout_days_and_quiet_days(
    month: dict[date, Mapping[str, Sequence[Bar]]],
) -> None:
    found = {day: breakouts(day_bars) for day, day_bars in month.items()}
    breakout_days = [day for day, symbols in found.items() if symbols]
    quiet_days = [day for day, symbols in found.items() if not symbols]
    assert len(breakout_days) >= 8
    assert len(quiet_days) >= 2


def test_planned_breakouts_happen_and_quiet_days_stay_quiet(
    feed: GeneratedFeed, month: dict[date, Mapping[str, Sequence[Bar]]]
) -> None:
    for day, day_bars in month.items():
        regime = feed.regime(day)
        found = breakouts(day_bars)
        if regime.kind is DayKind.QUIET:
            assert found == {}, day
            continue
        assert 1 <= len(regime.moves) <= 4
        for symbol, move in regime.moves.items():
            assert found.get(symbol) is move.direction, (day, symbol)


def test_bearish_days_lift_the_3x_inverse_etfs_out_of_their_range(
    feed: GeneratedFeed, month: dict[date, Mapping[str, Sequence[Bar]]]
) -> None:
    bearish = [day for day in month if feed.regime(day).kind is DayKind.BEARISH]
    assert bearish
    for day in bearish:
        found = breakouts(month[day])
        for etf in ("SQQQ", "SPXU", "SDOW"):
            assert found.get(etf) is MoveDirection.UP, (day, etf)
        assert all(found.get(s) is not MoveDirection.UP for s in LIQUID_UNIVERSE), day


def test_some_breakouts_retrace_through_a_trailing_stop_and_others_keep_going(
    feed: GeneratedFeed, month: dict[date, Mapping[str, Sequence[Bar]]]
) -> None:
    outcomes: dict[bool, list[bool]] = {True: [], False: []}
    for day, day_bars in month.items():
        for symbol, move in feed.regime(day).moves.items():
            fired = trailing_stop_fires(day_bars[symbol], move.direction)
            outcomes[move.retraces].append(fired)
    assert outcomes[True] and all(outcomes[True])
    assert outcomes[False] and not any(outcomes[False])


def test_most_sessions_carry_breakouts(feed: GeneratedFeed, calendar: TradingCalendar) -> None:
    days = calendar.sessions_between(date(2026, 1, 1), date(2026, 6, 30))
    kinds = [feed.regime(day).kind for day in days]
    share = sum(kind is not DayKind.QUIET for kind in kinds) / len(kinds)
    assert 0.6 <= share <= 0.8
    assert DayKind.BULLISH in kinds and DayKind.BEARISH in kinds


def test_a_fresh_day_for_forty_symbols_generates_quickly(calendar: TradingCalendar) -> None:
    feed = GeneratedFeed(SEED + 1, calendar)
    assert len(feed.symbols) == 40
    started = time.perf_counter()
    feed.day_bars(date(2026, 11, 18))
    elapsed = time.perf_counter() - started
    # About 0.15 s on a laptop; the bound leaves room for a busy CI machine.
    assert elapsed < 1.5
    started = time.perf_counter()
    for index in range(390):
        feed.minute(datetime(2026, 11, 18, 14, 30, tzinfo=UTC) + index * MINUTE)
    assert time.perf_counter() - started < 0.05


def test_unknown_symbols_trade_like_ordinary_stocks(calendar: TradingCalendar) -> None:
    bars = GeneratedFeed(SEED, calendar, ["ZZZZ"]).day_bars(FRIDAY)["ZZZZ"]
    assert len(bars) == 390
    assert Decimal(5) < bars[0].open < Decimal(100)


def test_an_empty_symbol_list_is_refused(calendar: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="at least one symbol"):
        GeneratedFeed(SEED, calendar, [])
