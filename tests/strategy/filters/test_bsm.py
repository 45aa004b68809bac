"""Black-Scholes-Merton prices against published reference values, their edge cases and
identities, and the mispricing filter."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tbot.config.bot_settings import BotSettings
from tbot.strategy.filters.bsm import BsmFilter, OptionType, bsm_price, normal_cdf

# -- published reference values ----------------------------------------------------------


def test_hull_example_15_6() -> None:
    # Hull, Options, Futures and Other Derivatives, Example 15.6 (8th ed.): S=42, K=40,
    # r=10%, σ=20%, six months: c = 4.76, p = 0.81.
    call = bsm_price("call", 42, 40, 0.5, 0.10, 0.20)
    put = bsm_price("put", 42, 40, 0.5, 0.10, 0.20)
    assert round(call, 2) == 4.76 and round(put, 2) == 0.81
    assert call == pytest.approx(4.7594, abs=5e-5) and put == pytest.approx(0.8086, abs=5e-5)


def test_hull_index_option_with_a_dividend_yield() -> None:
    # Hull, Example 17.1 (8th ed.): European call on an index at 930, K=900, r=8%, q=3%,
    # σ=20%, two months: c = 51.83.
    assert round(bsm_price(OptionType.CALL, 930, 900, 2 / 12, 0.08, 0.20, 0.03), 2) == 51.83


def test_haug_black_scholes_call() -> None:
    # Haug, The Complete Guide to Option Pricing Formulas (2nd ed.), 1.1.1: S=60, K=65,
    # T=0.25, r=8%, σ=30%: c = 2.1334.
    assert bsm_price("call", 60, 65, 0.25, 0.08, 0.30) == pytest.approx(2.1334, abs=5e-5)


def test_haug_generalized_black_scholes_put() -> None:
    # Haug, 1.1.6 (generalized BSM): S=75, K=70, T=0.5, r=10%, b=5% (so q = r - b = 5%),
    # σ=35%: p = 4.0870.
    assert bsm_price("put", 75, 70, 0.5, 0.10, 0.35, 0.05) == pytest.approx(4.0870, abs=5e-5)


def test_normal_cdf_at_known_points() -> None:
    assert normal_cdf(0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1) == pytest.approx(0.15865525393145707, abs=1e-12)


# -- identities on random inputs ---------------------------------------------------------

prices = st.floats(min_value=1.0, max_value=1_000.0)
option_inputs = st.tuples(
    prices,  # spot
    prices,  # strike
    st.floats(min_value=0.01, max_value=3.0),  # years
    st.floats(min_value=-0.01, max_value=0.15),  # rate
    st.floats(min_value=0.05, max_value=1.5),  # volatility
    st.floats(min_value=0.0, max_value=0.08),  # dividend yield
)


@given(option_inputs)
def test_put_call_parity_with_dividends(inputs: tuple[float, ...]) -> None:
    s, k, t, r, sigma, q = inputs
    call = bsm_price("call", s, k, t, r, sigma, q)
    put = bsm_price("put", s, k, t, r, sigma, q)
    forward_minus_strike = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert call - put == pytest.approx(forward_minus_strike, rel=1e-9, abs=1e-9 * (s + k))


@given(option_inputs)
def test_prices_stay_within_their_no_arbitrage_bounds(inputs: tuple[float, ...]) -> None:
    s, k, t, r, sigma, q = inputs
    call = bsm_price("call", s, k, t, r, sigma, q)
    put = bsm_price("put", s, k, t, r, sigma, q)
    slack = 1e-9 * (s + k)
    assert max(s * math.exp(-q * t) - k * math.exp(-r * t), 0) - slack <= call
    assert call <= s * math.exp(-q * t) + slack
    assert max(k * math.exp(-r * t) - s * math.exp(-q * t), 0) - slack <= put
    assert put <= k * math.exp(-r * t) + slack


def test_more_volatility_is_worth_more() -> None:
    values = [bsm_price("call", 100, 100, 1, 0.05, sigma) for sigma in (0.1, 0.2, 0.4)]
    assert values == sorted(values) and len(set(values)) == 3


# -- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("years", [0, -0.1])
def test_at_expiry_the_option_is_worth_its_intrinsic_value(years: float) -> None:
    assert bsm_price("call", 42, 40, years, 0.1, 0.2) == 2
    assert bsm_price("put", 42, 40, years, 0.1, 0.2) == 0
    assert bsm_price("put", 38, 40, years, 0.1, 0.2) == 2


def test_without_volatility_the_price_is_the_discounted_intrinsic_value() -> None:
    forward_gap = 42 * math.exp(-0.02 * 0.5) - 40 * math.exp(-0.1 * 0.5)
    assert bsm_price("call", 42, 40, 0.5, 0.1, 0, 0.02) == pytest.approx(forward_gap)
    assert bsm_price("put", 42, 40, 0.5, 0.1, 0, 0.02) == 0
    assert bsm_price("put", 42, 40, 0.5, 0.1, -0.3) == 0  # negative σ: same as none


def test_zero_spot_or_strike_does_not_divide_by_zero() -> None:
    assert bsm_price("call", 0, 40, 1, 0.05, 0.2) == 0
    assert bsm_price("put", 0, 40, 1, 0.05, 0.2) == pytest.approx(40 * math.exp(-0.05))
    assert bsm_price("call", 42, 0, 1, 0.05, 0.2, 0.01) == pytest.approx(42 * math.exp(-0.01))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("call", -1, 40, 1, 0.05, 0.2), "must not be negative"),
        (("put", 42, -40, 1, 0.05, 0.2), "must not be negative"),
        (("call", math.nan, 40, 1, 0.05, 0.2), "spot must be a finite number"),
        (("call", 42, 40, math.inf, 0.05, 0.2), "years must be a finite number"),
        (("straddle", 42, 40, 1, 0.05, 0.2), "not a valid OptionType"),
    ],
)
def test_bad_inputs_are_refused(arguments: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bsm_price(*arguments)  # type: ignore[arg-type]


def test_decimal_inputs_are_accepted() -> None:
    assert bsm_price("CALL", Decimal(42), Decimal(40), Decimal("0.5"), Decimal("0.1"),
                     Decimal("0.2")) == pytest.approx(4.7594, abs=5e-5)  # fmt: skip


# -- the filter ------------------------------------------------------------------------------


@pytest.fixture
def bsm_filter() -> BsmFilter:
    return BsmFilter(enabled=True, max_deviation=Decimal("0.15"), risk_free_rate=Decimal("0.10"))


def test_a_fair_premium_is_allowed_with_its_figures(bsm_filter: BsmFilter) -> None:
    verdict = bsm_filter.check("call", 42, 40, 0.5, 0.20, Decimal("4.90"))
    assert verdict.allowed and verdict.filter == "bsm" and not verdict.alert
    assert verdict.reason == "premium 4.90 is 3.0% over the model value 4.76 (≤ 15.0%)"
    assert verdict.context["model_value"] == "4.7594"


def test_an_overpriced_premium_is_blocked(bsm_filter: BsmFilter) -> None:
    verdict = bsm_filter.check("call", 42, 40, 0.5, 0.20, Decimal("5.60"))
    assert not verdict.allowed
    assert verdict.reason == "premium 5.60 is 17.7% over the model value 4.76 (limit 15.0%)"


def test_an_underpriced_premium_is_blocked(bsm_filter: BsmFilter) -> None:
    verdict = bsm_filter.check("put", 42, 40, 0.5, 0.20, Decimal("0.50"))
    assert not verdict.allowed and "under the model value 0.81" in verdict.reason


def test_a_deviation_equal_to_the_limit_passes() -> None:
    model = bsm_price("call", 42, 40, 0.5, 0.10, 0.20)
    lenient = BsmFilter(True, Decimal("0.5"), Decimal("0.10"))
    assert lenient.check("call", 42, 40, 0.5, 0.20, model * 1.5).allowed


def test_a_worthless_option_by_the_model_is_blocked_and_says_why(bsm_filter: BsmFilter) -> None:
    verdict = bsm_filter.check("call", 30, 40, 0, 0.20, Decimal("0.05"))
    assert not verdict.allowed
    assert verdict.reason.startswith("model value is 0 (call strike 40, spot 30)")


@pytest.mark.parametrize("premium", [0, -1, math.nan])
def test_a_premium_that_is_not_a_price_is_blocked(bsm_filter: BsmFilter, premium: float) -> None:
    verdict = bsm_filter.check("call", 42, 40, 0.5, 0.2, premium)
    assert not verdict.allowed


def test_inputs_that_cannot_be_priced_are_blocked(bsm_filter: BsmFilter) -> None:
    verdict = bsm_filter.check("call", -42, 40, 0.5, 0.2, 1)
    assert not verdict.allowed and verdict.reason.startswith("cannot price the option:")


def test_disabled_allows_and_says_so() -> None:
    verdict = BsmFilter(False, Decimal("0.15"), Decimal("0.045")).check("call", -1, 1, 1, 1, -5)
    assert verdict.allowed and verdict.reason == "BSM filter off"


def test_from_settings_and_self_check(template_bot: BotSettings) -> None:
    bsm = BsmFilter.from_settings(template_bot)
    assert (bsm.enabled, bsm.max_deviation, bsm.risk_free_rate) == (
        True, Decimal("0.15"), Decimal("0.045"),
    )  # fmt: skip
    assert bsm.self_check() == []
    assert BsmFilter(True, Decimal(0), Decimal("4.5")).self_check() == [
        "bsm: MAX_BSM_DEVIATION=0 refuses every option; use a fraction above 0 such as 0.15",
        "bsm: risk-free rate 4.5 is not an annual fraction (0.045 for 4.5%)",
    ]
