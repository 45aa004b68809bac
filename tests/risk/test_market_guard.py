"""The market guard: gaps within the session and overnight, wide spreads, what an entry is
told, and slippage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.market.quotes import Quote
from tbot.risk.market_guard import (
    FlagKind,
    MarketGuard,
    MarketLimits,
    slippage_bps,
)

T0 = datetime(2026, 11, 20, 14, 31, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def limits(*, spread: str | None = "150", interval: int = 60) -> MarketLimits:
    return MarketLimits(Decimal(5), None if spread is None else Decimal(spread),
                        timedelta(seconds=interval))


def quote(symbol: str, bid: str, ask: str, at: datetime = T0) -> Quote:
    return Quote(symbol, at, Decimal(bid), Decimal(ask), 100, 100)


def closes(**prices: str) -> dict[str, Decimal]:
    return {symbol: Decimal(price) for symbol, price in prices.items()}


@pytest.fixture
def guard() -> MarketGuard:
    return MarketGuard(limits())


def test_a_gap_between_two_checks_flags_only_that_symbol_for_the_day(guard: MarketGuard) -> None:
    assert guard.observe(closes(AAPL="100", MSFT="200"), None, T0) == []
    (flag,) = guard.observe(closes(AAPL="106", MSFT="201"), None, T0 + MINUTE)
    assert (flag.symbol, flag.kind, flag.size) == ("AAPL", FlagKind.GAP, Decimal("6.00"))
    assert "moved +6.00% in one check" in flag.detail
    assert guard.entry_refusal("AAPL", None, quotes_known=False) == f"market guard: {flag.detail}"
    assert guard.entry_refusal("MSFT", None, quotes_known=False) is None
    # Back to normal prices: still flagged today, and not flagged twice.
    assert guard.observe(closes(AAPL="106.10"), None, T0 + 2 * MINUTE) == []
    assert guard.flag_of("AAPL") == flag


def test_a_move_of_exactly_the_limit_is_not_a_gap(guard: MarketGuard) -> None:
    guard.observe(closes(AAPL="100"), None, T0)
    assert guard.observe(closes(AAPL="105"), None, T0 + MINUTE) == []
    assert guard.observe(closes(AAPL="99.75"), None, T0 + 2 * MINUTE) == []  # -5.0%


def test_a_drop_is_a_gap_too(guard: MarketGuard) -> None:
    guard.observe(closes(AAPL="100"), None, T0)
    (flag,) = guard.observe(closes(AAPL="90"), None, T0 + MINUTE)
    assert flag.size == Decimal("-10.00")


def test_the_first_close_of_a_day_is_judged_against_the_last_of_the_day_before(
    guard: MarketGuard,
) -> None:
    guard.observe(closes(AAPL="100"), None, T0)
    (gap,) = guard.observe(closes(AAPL="106"), None, T0 + MINUTE)
    next_day = T0 + timedelta(days=1)
    (overnight,) = guard.observe(closes(AAPL="95"), None, next_day)  # new day: flags reset
    assert overnight.kind is FlagKind.OVERNIGHT_GAP
    assert "since the previous session's close" in overnight.detail
    assert guard.observe(closes(AAPL="95.5"), None, T0 + timedelta(days=2)) == []
    assert guard.entry_refusal("AAPL", None, quotes_known=False) is None
    assert gap.kind is FlagKind.GAP


def test_a_symbol_never_seen_before_is_not_a_gap(guard: MarketGuard) -> None:
    assert guard.observe(closes(NEW="500"), None, T0) == []


def test_a_wide_spread_flags_until_the_market_is_back(guard: MarketGuard) -> None:
    (flag,) = guard.observe({}, {"SNAP": quote("SNAP", "10.00", "10.20")}, T0)
    assert flag.kind is FlagKind.SPREAD and flag.size == Decimal("198.02")
    assert guard.entry_refusal("SNAP", quote("SNAP", "10.00", "10.01"), quotes_known=True)
    guard.observe({}, {"SNAP": quote("SNAP", "10.00", "10.01")}, T0 + MINUTE)
    assert guard.entry_refusal("SNAP", quote("SNAP", "10.00", "10.01"), quotes_known=True) is None


def test_a_symbol_with_no_quote_keeps_its_spread_flag(guard: MarketGuard) -> None:
    guard.observe({}, {"SNAP": quote("SNAP", "10.00", "10.20")}, T0)
    guard.observe({}, {}, T0 + MINUTE)
    assert guard.flag_of("SNAP") is not None


def test_an_entry_is_judged_on_its_own_quote_and_refused_without_one(
    guard: MarketGuard,
) -> None:
    refusal = guard.entry_refusal("AAPL", quote("AAPL", "100.00", "101.60"), quotes_known=True)
    assert refusal is not None and "spread 158.73 bps" in refusal
    assert guard.entry_refusal("AAPL", quote("AAPL", "100.00", "100.02"),
                               quotes_known=True) is None
    missing = guard.entry_refusal("AAPL", None, quotes_known=True)
    assert missing is not None and "no quote for AAPL" in missing
    # No quote source at all (the liquidity check cannot run): nothing to judge.
    assert guard.entry_refusal("AAPL", None, quotes_known=False) is None


def test_with_the_liquidity_check_off_spreads_are_not_judged() -> None:
    guard = MarketGuard(limits(spread=None))
    assert guard.observe({}, {"SNAP": quote("SNAP", "10.00", "11.00")}, T0) == []
    assert guard.entry_refusal("SNAP", quote("SNAP", "10.00", "11.00"), quotes_known=True) is None


def test_checks_come_due_per_interval() -> None:
    guard = MarketGuard(limits(interval=120))
    assert guard.due(T0)
    guard.observe({}, None, T0)
    assert not guard.due(T0 + MINUTE)
    assert guard.due(T0 + 2 * MINUTE)


def test_the_status_lists_todays_flags_in_order(guard: MarketGuard) -> None:
    guard.observe(closes(AAPL="100", MSFT="100"), None, T0)
    guard.observe(closes(MSFT="110"), None, T0 + MINUTE)
    guard.observe(closes(AAPL="80"), None, T0 + 2 * MINUTE)
    status = guard.status()
    assert [flag["symbol"] for flag in status["flags"]] == ["MSFT", "AAPL"]
    assert status["gap_pct"] == Decimal(5) and status["interval_seconds"] == 60


@pytest.mark.parametrize(("buy", "reference", "price", "expected"), [
    (True, "100", "100.60", "60.00"),
    (True, "100", "99.90", "-10.00"),
    (False, "100", "99.40", "60.00"),
    (False, "50", "50.05", "-10.00"),
])
def test_slippage_is_how_much_worse_than_the_reference(
    buy: bool, reference: str, price: str, expected: str
) -> None:
    assert slippage_bps(buy, Decimal(reference), Decimal(price)) == Decimal(expected)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="PRICE_GAP_ALERT_PCT"):
        MarketLimits(Decimal(0), None, timedelta(seconds=60))
    with pytest.raises(ValueError, match="LIQUIDITY_SPREAD_THRESHOLD_BPS"):
        MarketLimits(Decimal(5), Decimal(0), timedelta(seconds=60))
    with pytest.raises(ValueError, match="reference"):
        slippage_bps(True, Decimal(0), Decimal(1))
