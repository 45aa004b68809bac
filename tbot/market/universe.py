"""The symbols tbot knows without asking anyone: liquid stocks and the inverse ETFs.

The base prices are plausible levels for the generated market, not quotes. Most ordinary
stocks are priced inside the template's MIN_PRICE..MAX_PRICE band (5..100) so the default
screener has something to pick; the few above 100 are there to be filtered out.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from tbot.market.fundamentals import Fundamentals

LIQUID_UNIVERSE: Mapping[str, Decimal] = MappingProxyType(
    {
        "AAL": Decimal("13.40"),
        "BAC": Decimal("46.20"),
        "C": Decimal("82.10"),
        "CMCSA": Decimal("34.80"),
        "CSCO": Decimal("63.50"),
        "F": Decimal("12.10"),
        "INTC": Decimal("36.70"),
        "KO": Decimal("69.90"),
        "NKE": Decimal("71.30"),
        "PFE": Decimal("25.40"),
        "PYPL": Decimal("66.80"),
        "SNAP": Decimal("8.90"),
        "SOFI": Decimal("21.60"),
        "T": Decimal("27.30"),
        "UBER": Decimal("88.40"),
        "WFC": Decimal("76.50"),
        # Above the template's MAX_PRICE=100: kept so price filters have work to do.
        "AAPL": Decimal("231.50"),
        "AMD": Decimal("152.70"),
        "NVDA": Decimal("181.20"),
        "XOM": Decimal("112.60"),
    }
)
"""Liquid large-cap US stocks and a plausible base price for each (USD)."""

INVERSE_ETF_TOP20: tuple[str, ...] = (
    "SQQQ",
    "SPXU",
    "UVXY",
    "SDOW",
    "SRTY",
    "SH",
    "PSQ",
    "DOG",
    "TBF",
    "TBT",
    "TMV",
    "FAZ",
    "ERY",
    "REK",
    "DRIP",
    "YANG",
    "MYY",
    "RWM",
    "QID",
    "DXD",
)
"""The twenty inverse ETFs a bearish signal may buy instead of shorting."""

ETF_POOLS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "open": ("SH", "PSQ", "DOG", "SPXU", "SQQQ", "SDOW", "RWM", "MYY"),
        "mid": ("SQQQ", "SPXU", "SDOW", "SRTY", "QID", "DXD", "RWM", "MYY", "FAZ"),
        "close": ("SPXU", "SQQQ", "UVXY", "TMV", "TBT", "TBF", "ERY", "DRIP", "REK", "YANG"),
    }
)
"""The inverse ETFs each strategy (by its `StrategyName` value) may use for bearish trades."""

LEVERAGE: Mapping[str, int] = MappingProxyType(
    {
        "SH": -1,
        "PSQ": -1,
        "DOG": -1,
        "SPXU": -3,
        "SQQQ": -3,
        "SDOW": -3,
        "RWM": -1,
        "MYY": -1,
        "QID": -2,
        "DXD": -2,
        "SRTY": -3,
        "FAZ": -3,
        "TBF": -1,
        "TBT": -2,
        "TMV": -3,
        "ERY": -2,
        "DRIP": -2,
        "REK": -1,
        "YANG": -3,
        # UVXY is 1.5x long VIX futures: long volatility, not the inverse of an index. It
        # tends to rise when stocks fall, so it is modelled as -2x the market: the sign
        # keeps "negative means bearish instrument" true for every entry.
        "UVXY": -2,
    }
)
"""The signed multiple of its underlying market's daily move each inverse ETF makes."""

INVERSE_ETF_BASE_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {
        "SQQQ": Decimal("15.80"),
        "SPXU": Decimal("16.40"),
        "UVXY": Decimal("38.90"),
        "SDOW": Decimal("14.70"),
        "SRTY": Decimal("19.60"),
        "SH": Decimal("40.20"),
        "PSQ": Decimal("33.10"),
        "DOG": Decimal("27.40"),
        "TBF": Decimal("22.30"),
        "TBT": Decimal("35.60"),
        "TMV": Decimal("36.20"),
        "FAZ": Decimal("5.80"),
        "ERY": Decimal("22.90"),
        "REK": Decimal("16.90"),
        "DRIP": Decimal("9.70"),
        "YANG": Decimal("29.80"),
        "MYY": Decimal("18.20"),
        "RWM": Decimal("18.60"),
        "QID": Decimal("24.50"),
        "DXD": Decimal("26.70"),
    }
)
"""A plausible base price for each inverse ETF (USD), for the generated market."""




def _figures(symbol: str, pe: str, debt_to_equity: str, market_cap: float) -> Fundamentals:
    return Fundamentals(symbol, Decimal(pe), Decimal(debt_to_equity), Decimal(int(market_cap)))


SIMULATED_FUNDAMENTALS: Mapping[str, Fundamentals] = MappingProxyType(
    {
        figures.symbol: figures
        for figures in (
            # Scaled so the template's small/mid-cap band (MIN/MAX_MARKET_CAP_* 2e9..1e10)
            # admits most of the stocks priced inside MIN_PRICE..MAX_PRICE; the stocks
            # above MAX_PRICE keep mega-cap figures.
            _figures("BAC", "13.2", "1.10", 9.2e9),
            _figures("C", "11.8", "1.60", 8.1e9),
            _figures("CMCSA", "10.9", "1.20", 7.4e9),
            _figures("CSCO", "18.5", "0.60", 9.6e9),
            _figures("KO", "24.8", "1.70", 9.9e9),
            _figures("NKE", "31.5", "0.80", 8.8e9),
            _figures("PFE", "17.2", "0.70", 9.3e9),
            _figures("PYPL", "16.4", "0.50", 7.2e9),
            _figures("SOFI", "44.0", "0.40", 2.4e9),
            _figures("T", "13.9", "1.30", 9.7e9),
            _figures("WFC", "12.4", "1.00", 9.4e9),
            # Each of the fundamentals guard's tests has stocks to refuse:
            _figures("INTC", "96.0", "0.50", 9.1e9),  # P/E above MAX_PE_RATIO=50
            _figures("AAL", "9.5", "4.80", 8.6e9),  # debt/equity above MAX_DEBT_EQUITY=2.5
            _figures("F", "7.1", "3.20", 6.3e9),  # debt/equity above 2.5
            _figures("SNAP", "62.0", "1.00", 1.7e9),  # P/E above 50, market cap below 2e9
            _figures("UBER", "38.0", "0.90", 1.45e10),  # market cap above 1e10
            _figures("AAPL", "35.0", "1.90", 3.4e12),
            _figures("AMD", "48.0", "0.10", 2.5e11),
            _figures("NVDA", "46.0", "0.20", 4.4e12),
            _figures("XOM", "14.2", "0.20", 4.7e11),
        )
    }
)
"""Simulated company figures of the liquid stocks (not real ones), for the generated
market's fundamentals source. The inverse ETFs have none: a fund has no P/E."""


def base_price(symbol: str) -> Decimal | None:
    """The built-in base price of a liquid stock or an inverse ETF; None for other names."""
    return LIQUID_UNIVERSE.get(symbol) or INVERSE_ETF_BASE_PRICES.get(symbol)


def is_inverse_etf(symbol: str) -> bool:
    """True for the inverse ETFs of `INVERSE_ETF_TOP20`."""
    return symbol in LEVERAGE


def leverage_multiplier(symbol: str) -> int:
    """How many times its underlying's move an instrument makes, as a positive whole
    number: 3 for SQQQ, 1 for an ordinary stock. This is what a trade records (the ledger
    and the booking code require it to be at least 1); the direction is `market_exposure`.
    """
    return abs(LEVERAGE.get(symbol, 1))


def market_exposure(symbol: str) -> int:
    """The signed multiple of the market's move an instrument makes: -3 for SQQQ, 1 for an
    ordinary stock (whose own beta is the generator's business)."""
    return LEVERAGE.get(symbol, 1)
