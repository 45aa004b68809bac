"""Entry filters ("enhancements"): small checks that may block an entry, never create one.

Each has a toggle, a `self_check()` for start-up, and answers with a `FilterVerdict` that
says why, also when it allows. Blocks go to the strategy log and the daily summary, never
to the ledger.

- `bsm.BsmFilter`: an option's premium against its Black-Scholes-Merton value.
- `vix_gate.VixGate`: the close strategy's minimum VIX; fails closed with an alert.
- `imbalance_gate.ImbalanceGate`: the close strategy's auction-imbalance check (IBKR).
- `fundamentals_guard.FundamentalsGuard`: P/E, debt/equity, market cap, and the screener's
  price, volume and gap checks.
"""

from tbot.strategy.filters.bsm import BsmFilter, OptionType, bsm_price
from tbot.strategy.filters.fundamentals_guard import (
    FundamentalsGuard,
    FundamentalsLimits,
    ScreenLimits,
    ScreenQuote,
    ScreenResult,
)
from tbot.strategy.filters.imbalance_gate import (
    Imbalance,
    ImbalanceGate,
    ImbalanceSide,
    ImbalanceSource,
    SimulatedImbalanceSource,
)
from tbot.strategy.filters.verdict import EntryFilter, FilterVerdict
from tbot.strategy.filters.vix_gate import VixGate

__all__ = [
    "BsmFilter",
    "EntryFilter",
    "FilterVerdict",
    "FundamentalsGuard",
    "FundamentalsLimits",
    "Imbalance",
    "ImbalanceGate",
    "ImbalanceSide",
    "ImbalanceSource",
    "OptionType",
    "ScreenLimits",
    "ScreenQuote",
    "ScreenResult",
    "SimulatedImbalanceSource",
    "VixGate",
    "bsm_price",
]
