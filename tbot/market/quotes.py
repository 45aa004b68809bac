"""Top-of-book quotes (best bid and ask), as the liquidity checks read them.

A quote source answers per minute, like a bar feed: `quotes(at)` gives the quotes that
stand at the close of the minute starting at `at`, by symbol. A symbol without a quote that
minute is absent, never a zero quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Quote:
    """The best bid and ask of one symbol in one minute (`at`, aware UTC, the minute's
    start: the quote stands at that minute's close). Prices are exact Decimals; sizes are
    shares. A valid quote has 0 < bid < ask."""

    symbol: str
    at: datetime
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int

    def __post_init__(self) -> None:
        if not 0 < self.bid < self.ask:
            raise ValueError(
                f"{self.symbol} quote bid {self.bid} ask {self.ask}: need 0 < bid < ask"
            )
        if self.bid_size < 0 or self.ask_size < 0:
            raise ValueError(f"{self.symbol} quote sizes must not be negative")

    @property
    def spread(self) -> Decimal:
        """Ask minus bid."""
        return self.ask - self.bid

    @property
    def mid(self) -> Decimal:
        """Halfway between bid and ask."""
        return (self.bid + self.ask) / 2

    @property
    def spread_bps(self) -> Decimal:
        """The spread in basis points of the mid price (as LIQUIDITY_SPREAD_THRESHOLD_BPS)."""
        return self.spread / self.mid * _BPS


class QuoteSource(Protocol):
    """A source of top-of-book quotes, one set per minute."""

    def quotes(self, at: datetime) -> Mapping[str, Quote]:
        """The quotes standing at the close of the minute starting at `at` (aware UTC,
        whole minute), by symbol; empty when the market is closed."""
        ...
