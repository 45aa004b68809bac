"""The built-in universe: liquid stocks, the inverse ETFs, their pools and leverage."""

from __future__ import annotations

from decimal import Decimal

from tbot.config.setting_types import StrategyName
from tbot.market.universe import (
    ETF_POOLS,
    INVERSE_ETF_BASE_PRICES,
    INVERSE_ETF_TOP20,
    LEVERAGE,
    LIQUID_UNIVERSE,
    is_inverse_etf,
    leverage_multiplier,
    market_exposure,
)


def test_inverse_etf_top20_is_exactly_the_agreed_list() -> None:
    assert INVERSE_ETF_TOP20 == (
        "SQQQ", "SPXU", "UVXY", "SDOW", "SRTY", "SH", "PSQ", "DOG", "TBF", "TBT",
        "TMV", "FAZ", "ERY", "REK", "DRIP", "YANG", "MYY", "RWM", "QID", "DXD",
    )  # fmt: skip


def test_etf_pools_are_keyed_by_strategy_and_hold_the_agreed_etfs() -> None:
    assert set(ETF_POOLS) == {name.value for name in StrategyName}
    assert ETF_POOLS["open"] == ("SH", "PSQ", "DOG", "SPXU", "SQQQ", "SDOW", "RWM", "MYY")
    assert ETF_POOLS["mid"] == (
        "SQQQ", "SPXU", "SDOW", "SRTY", "QID", "DXD", "RWM", "MYY", "FAZ",
    )  # fmt: skip
    assert ETF_POOLS["close"] == (
        "SPXU", "SQQQ", "UVXY", "TMV", "TBT", "TBF", "ERY", "DRIP", "REK", "YANG",
    )  # fmt: skip
    for pool in ETF_POOLS.values():
        assert set(pool) <= set(INVERSE_ETF_TOP20)


def test_every_inverse_etf_has_a_negative_exposure_and_a_base_price() -> None:
    assert set(LEVERAGE) == set(INVERSE_ETF_TOP20) == set(INVERSE_ETF_BASE_PRICES)
    assert all(value < 0 for value in LEVERAGE.values())
    assert (LEVERAGE["SH"], LEVERAGE["QID"], LEVERAGE["SQQQ"]) == (-1, -2, -3)


def test_leverage_multiplier_is_positive_and_one_for_stocks() -> None:
    assert leverage_multiplier("SQQQ") == 3
    assert leverage_multiplier("SH") == 1
    assert leverage_multiplier("UVXY") == 2
    assert leverage_multiplier("AAPL") == 1
    assert all(leverage_multiplier(symbol) >= 1 for symbol in INVERSE_ETF_TOP20)


def test_market_exposure_keeps_the_sign() -> None:
    assert market_exposure("SPXU") == -3
    assert market_exposure("UVXY") == -2
    assert market_exposure("BAC") == 1


def test_is_inverse_etf() -> None:
    assert is_inverse_etf("SQQQ")
    assert not is_inverse_etf("AAPL")
    assert not is_inverse_etf("UNKNOWN")


def test_universe_has_about_twenty_liquid_stocks_and_no_etfs() -> None:
    assert 18 <= len(LIQUID_UNIVERSE) <= 25
    assert not set(LIQUID_UNIVERSE) & set(INVERSE_ETF_TOP20)


def test_base_prices_are_cents_and_mostly_inside_the_template_price_band() -> None:
    prices = [*LIQUID_UNIVERSE.values(), *INVERSE_ETF_BASE_PRICES.values()]
    assert all(isinstance(p, Decimal) and p > 0 and p.as_tuple().exponent == -2 for p in prices)
    in_band = [p for p in LIQUID_UNIVERSE.values() if Decimal(5) <= p <= Decimal(100)]
    assert len(in_band) >= 0.75 * len(LIQUID_UNIVERSE)
    assert all(Decimal(5) <= p <= Decimal(100) for p in INVERSE_ETF_BASE_PRICES.values())
