"""The built-in universe's reference data for the generated market: base prices and the
simulated company figures."""

from __future__ import annotations

from decimal import Decimal

from tbot.market.universe import (
    INVERSE_ETF_BASE_PRICES,
    LIQUID_UNIVERSE,
    SIMULATED_FUNDAMENTALS,
    base_price,
)


def test_base_price_covers_the_built_in_names_only() -> None:
    assert base_price("BAC") == LIQUID_UNIVERSE["BAC"]
    assert base_price("SQQQ") == INVERSE_ETF_BASE_PRICES["SQQQ"]
    assert base_price("S0001") is None


def test_every_liquid_stock_has_simulated_figures_and_no_etf_does() -> None:
    assert set(SIMULATED_FUNDAMENTALS) == set(LIQUID_UNIVERSE)
    for symbol, figures in SIMULATED_FUNDAMENTALS.items():
        assert figures.symbol == symbol
        assert figures.pe_ratio is not None and figures.pe_ratio > 0
        assert figures.debt_to_equity is not None and figures.debt_to_equity >= 0
        assert figures.market_cap is not None and figures.market_cap >= Decimal("1e9")
    assert not set(SIMULATED_FUNDAMENTALS) & set(INVERSE_ETF_BASE_PRICES)
