"""The generated market besides bars: its VIX, its quotes and its companies' fundamentals."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from tbot.market.calendar import TradingCalendar
from tbot.market.fundamentals import Fundamentals, FundamentalsSource
from tbot.market.generated_extras import (
    TEMPLATE_LIMITS,
    FundamentalLimits,
    GeneratedFundamentals,
    simulated_fundamentals,
)
from tbot.market.generated_feed import DayKind, GeneratedFeed
from tbot.market.quotes import Quote, QuoteSource
from tbot.market.universe import INVERSE_ETF_TOP20, LIQUID_UNIVERSE
from tbot.market.vix import VixSource

SEED = 20261121
FRIDAY = date(2026, 11, 20)
THANKSGIVING = date(2026, 11, 26)
MINUTE = timedelta(minutes=1)
INVENTED = tuple(f"S{number:04d}" for number in range(1, 501))


@pytest.fixture(scope="module")
def feed(calendar: TradingCalendar) -> GeneratedFeed:
    return GeneratedFeed(SEED, calendar)


@pytest.fixture(scope="module")
def year(feed: GeneratedFeed, calendar: TradingCalendar) -> dict[date, tuple[Decimal, ...]]:
    """The VIX of every session of 2026, minute by minute."""
    days = calendar.sessions_between(date(2026, 1, 1), date(2026, 12, 31))
    return {day: feed.vix().day_levels(day) for day in days}


def close_window(day: date) -> list[datetime]:
    start = datetime(day.year, day.month, day.day, 19, 30, tzinfo=UTC)
    return [start + k * MINUTE for k in range(11)]


# -- VIX ------------------------------------------------------------------------------------


def test_the_feed_is_a_vix_source_with_cent_levels(feed: GeneratedFeed) -> None:
    source: VixSource = feed
    level = source.vix_at(datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    assert isinstance(level, Decimal) and level.as_tuple().exponent == -2
    assert level == feed.vix().vix_at(datetime(2026, 11, 20, 16, 0, tzinfo=UTC))


def test_vix_is_deterministic_from_seed_and_day(calendar: TradingCalendar) -> None:
    one = GeneratedFeed(SEED, calendar, ["BAC"]).vix().day_levels(FRIDAY)
    again = GeneratedFeed(SEED, calendar, ["SQQQ", "ZZZZ"]).vix().day_levels(FRIDAY)
    other = GeneratedFeed(SEED + 1, calendar, ["BAC"]).vix().day_levels(FRIDAY)
    assert one == again and one != other
    assert len(one) == 390


def test_vix_is_plausible_and_mean_reverting(year: dict[date, tuple[Decimal, ...]]) -> None:
    levels = [float(level) for day in year.values() for level in day]
    assert min(levels) >= 11 and max(levels) <= 40
    assert 15 <= statistics.median(levels) <= 25
    for day in year.values():
        steps = [abs(after - before) for before, after in pairwise(day)]
        assert max(steps) <= Decimal("1.5")  # no jumps from minute to minute
    closes = [float(day[-1]) for day in year.values()]
    assert max(closes) - min(closes) > 8  # it wanders from week to week


def test_vix_is_higher_on_bearish_days(
    feed: GeneratedFeed, year: dict[date, tuple[Decimal, ...]]
) -> None:
    by_kind: dict[DayKind, list[float]] = {}
    for day, levels in year.items():
        by_kind.setdefault(feed.regime(day).kind, []).append(float(levels[-1]))
    bearish = statistics.mean(by_kind[DayKind.BEARISH])
    assert bearish > statistics.mean(by_kind[DayKind.BULLISH]) + 2
    assert bearish > statistics.mean(by_kind[DayKind.QUIET]) + 2


def test_some_quiet_days_keep_the_vix_below_15_in_the_close_window(
    feed: GeneratedFeed, year: dict[date, tuple[Decimal, ...]], calendar: TradingCalendar
) -> None:
    calm = []
    for day in year:
        session = calendar.session(day)
        assert session is not None
        if session.early_close:
            continue
        levels = [feed.vix_at(at) for at in close_window(day)]
        if all(level is not None and level < 15 for level in levels):
            calm.append(day)
        elif feed.regime(day).kind is not DayKind.QUIET:
            # A day with breakouts is never too calm for the close strategy.
            assert all(level is not None and level >= 15 for level in levels), day
    assert 0.05 * len(year) <= len(calm) <= 0.3 * len(year)
    assert all(feed.regime(day).kind is DayKind.QUIET for day in calm)


def test_vix_outside_the_session_is_the_last_close(feed: GeneratedFeed) -> None:
    thursday = feed.vix().day_levels(date(2026, 11, 19))
    friday = feed.vix().day_levels(FRIDAY)
    wednesday = feed.vix().day_levels(date(2026, 11, 25))
    assert feed.vix_at(datetime(2026, 11, 20, 14, 0, tzinfo=UTC)) == thursday[-1]
    assert feed.vix_at(datetime(2026, 11, 20, 14, 30, tzinfo=UTC)) == friday[0]
    assert feed.vix_at(datetime(2026, 11, 20, 14, 35, tzinfo=UTC)) == friday[4]
    assert feed.vix_at(datetime(2026, 11, 20, 22, 0, tzinfo=UTC)) == friday[-1]
    assert feed.vix_at(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) == friday[-1]
    assert feed.vix_at(datetime(2026, 11, 26, 16, 0, tzinfo=UTC)) == wednesday[-1]
    assert feed.vix().day_levels(THANKSGIVING) == ()


# -- quotes ---------------------------------------------------------------------------------


def test_the_feed_is_a_quote_source_around_each_close(feed: GeneratedFeed) -> None:
    source: QuoteSource = feed
    at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    quotes, bars = source.quotes(at), feed.minute(at)
    assert set(quotes) == set(bars)
    for symbol, quote in quotes.items():
        assert quote.symbol == symbol and quote.at == at
        assert quote.bid <= bars[symbol].close <= quote.ask


def test_quotes_are_on_the_cent_grid_with_bid_below_ask(feed: GeneratedFeed) -> None:
    opens = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    for index in range(0, 390, 7):
        for quote in feed.quotes(opens + index * MINUTE).values():
            assert Decimal("0.01") <= quote.bid < quote.ask
            assert quote.bid.as_tuple().exponent == quote.ask.as_tuple().exponent == -2
            assert quote.bid_size > 0 and quote.ask_size > 0
            assert quote.bid_size % 100 == 0 and quote.ask_size % 100 == 0


def test_spreads_are_a_few_cents_for_liquid_stocks_and_wider_for_thin_names(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    opens = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    minutes = [opens + index * MINUTE for index in range(0, 390, 13)]
    sofi = [feed.quotes(at)["SOFI"] for at in minutes]  # a $20 stock
    assert all(Decimal("0.01") <= quote.spread <= Decimal("0.06") for quote in sofi)
    built_in = [float(q.spread_bps) for at in minutes for q in feed.quotes(at).values()]
    assert statistics.median(built_in) < 25 and max(built_in) < 60

    invented = GeneratedFeed(SEED, calendar, INVENTED[:200])
    spreads: dict[str, list[float]] = {}
    for at in minutes:
        for symbol, quote in invented.quotes(at).items():
            spreads.setdefault(symbol, []).append(float(quote.spread_bps))
    medians = sorted(statistics.median(values) for values in spreads.values())
    assert medians[-1] > 4 * medians[0]  # thin names trade much wider
    assert medians[-1] > 60
    # LIQUIDITY_SPREAD_THRESHOLD_BPS=150 has thin names to refuse now and then.
    assert max(max(values) for values in spreads.values()) > 150


def test_no_quotes_outside_the_session(feed: GeneratedFeed) -> None:
    assert feed.quotes(datetime(2026, 11, 20, 14, 29, tzinfo=UTC)) == {}
    assert feed.quotes(datetime(2026, 11, 26, 16, 0, tzinfo=UTC)) == {}
    with pytest.raises(ValueError, match="whole minutes"):
        feed.quotes(datetime(2026, 11, 20, 15, 0, 30, tzinfo=UTC))


@pytest.mark.parametrize(("bid", "ask"), [("10.00", "10.00"), ("10.01", "10.00"), ("0", "0.01")])
def test_a_crossed_or_empty_book_is_not_a_quote(bid: str, ask: str) -> None:
    at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="bid < ask"):
        Quote("F", at, Decimal(bid), Decimal(ask), 100, 100)


def test_quote_spread_in_basis_points() -> None:
    at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    quote = Quote("F", at, Decimal("19.99"), Decimal("20.01"), 100, 200)
    assert quote.spread == Decimal("0.02") and quote.mid == Decimal(20)
    assert quote.spread_bps == Decimal(10)


# -- fundamentals ---------------------------------------------------------------------------


def test_the_feed_is_a_fundamentals_source_for_its_symbols(
    feed: GeneratedFeed, calendar: TradingCalendar
) -> None:
    source: FundamentalsSource = feed
    figures = source.fundamentals(["BAC", "SQQQ", "NOTCARRIED"], FRIDAY)
    assert set(figures) == {"BAC", "SQQQ"}
    assert figures["BAC"] == simulated_fundamentals("BAC")
    other = GeneratedFeed(SEED + 5, calendar).fundamentals(["BAC"], date(2026, 1, 5))
    assert other["BAC"] == figures["BAC"]  # the same whatever the seed and day


def test_invented_fundamentals_are_deterministic_per_name() -> None:
    source = GeneratedFundamentals()
    first = source.fundamentals(INVENTED, FRIDAY)
    assert first == GeneratedFundamentals().fundamentals(list(reversed(INVENTED)), FRIDAY)
    assert first["S0001"] != first["S0002"]
    for figures in first.values():
        assert isinstance(figures, Fundamentals)
        assert figures.pe_ratio is not None and figures.pe_ratio > 0
        assert figures.debt_to_equity is not None and figures.debt_to_equity >= 0
        assert figures.market_cap is not None and figures.market_cap > 0


def test_most_stocks_pass_the_template_limits_and_each_limit_refuses_some() -> None:
    pe, debt, low, high = Decimal(50), Decimal("2.5"), Decimal("2e9"), Decimal("1e10")
    assert FundamentalLimits(pe, debt, low, high) == TEMPLATE_LIMITS
    for names, least_share in ((list(LIQUID_UNIVERSE), 0.5), (INVENTED, 0.7)):
        figures = [simulated_fundamentals(name) for name in names]
        passing = [f for f in figures if TEMPLATE_LIMITS.admits(f)]
        assert least_share * len(names) <= len(passing) < len(names)
        assert any(f.pe_ratio is not None and f.pe_ratio > pe for f in figures)
        assert any(f.debt_to_equity is not None and f.debt_to_equity > debt for f in figures)
        assert any(f.market_cap is not None and f.market_cap < low for f in figures)
        assert any(f.market_cap is not None and f.market_cap > high for f in figures)


def test_inverse_etfs_have_no_company_figures() -> None:
    for etf in INVERSE_ETF_TOP20:
        assert simulated_fundamentals(etf) == Fundamentals(etf, None, None, None)
