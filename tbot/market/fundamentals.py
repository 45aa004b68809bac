"""Company fundamentals as the entry filters read them, and the sources that supply them.

A source answers for a list of symbols on one trading day. The simulated market invents
plausible figures for its generated symbols; Finnhub supplies real ones. A figure the
source does not have is None (the guard decides what a missing figure means), never zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tbot.errors import TbotError


class FundamentalsUnavailable(TbotError):
    """The source could not answer (no key, unreachable, refused); the message says why
    without any secret in it."""


@dataclass(frozen=True, slots=True)
class Fundamentals:
    """One company's figures on one day. `market_cap` is in USD (not millions)."""

    symbol: str
    pe_ratio: Decimal | None
    debt_to_equity: Decimal | None
    market_cap: Decimal | None


@runtime_checkable
class FundamentalsSource(Protocol):
    """Where the fundamentals guard and the screener get their figures."""

    def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
        """Figures for each of `symbols` on `day`; a symbol the source does not know is
        left out. Raises FundamentalsUnavailable when the source cannot answer at all."""
        ...
