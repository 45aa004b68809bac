"""The simulated broker's own settings: the account, its fees and fill model, what it lends
for short sales, fault mode."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from tbot.broker.sim.faults import SimFault, parse_faults

ACCOUNT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9./-]*$")
DEFAULT_HARD_TO_BORROW: frozenset[str] = frozenset({"SNAP", "SOFI"})
"""Stocks of the generated market the simulated broker has no shares to lend: a short sale
of them is refused, the same on every run (inverse ETFs are never lent either)."""


@dataclass(frozen=True)
class SimBrokerSettings:
    """What the simulated account is and how it fills.

    `fee_per_share`, `min_fee`: fee = max(min_fee, shares * fee_per_share), half up to the
    cent, per execution. `slippage_bps`: buys fill that many basis points above the bar's
    open, sells below. `max_volume_participation`: the fraction of a bar's volume that may
    fill (the rest of an order waits for later bars). `faults`: the fault mode's tricks.
    `hard_to_borrow`: symbols with no shares to borrow, whose short sales are refused.
    Invalid values raise ValueError; money and fractions must be `Decimal`, never float.
    """

    account_id: str
    starting_cash: Decimal
    fee_per_share: Decimal
    slippage_bps: Decimal
    max_volume_participation: Decimal
    faults: frozenset[SimFault] = field(default_factory=frozenset)
    currency: str = "USD"
    min_fee: Decimal = Decimal("0")
    hard_to_borrow: frozenset[str] = DEFAULT_HARD_TO_BORROW

    def __post_init__(self) -> None:
        if not ACCOUNT_ID_PATTERN.match(self.account_id):
            raise ValueError(
                f"account_id {self.account_id!r} must be letters, digits, '_', '.' or '-'"
            )
        if not CURRENCY_PATTERN.match(self.currency):
            raise ValueError(f"currency {self.currency!r} must be a three-letter ISO code")
        _require_decimal("starting_cash", self.starting_cash, minimum=Decimal(0))
        _require_decimal("fee_per_share", self.fee_per_share, minimum=Decimal(0))
        _require_decimal("min_fee", self.min_fee, minimum=Decimal(0))
        _require_decimal("slippage_bps", self.slippage_bps, minimum=Decimal(0))
        if self.slippage_bps >= Decimal(10000):
            raise ValueError(f"slippage_bps {self.slippage_bps} must be below 10000")
        _require_decimal(
            "max_volume_participation", self.max_volume_participation, minimum=Decimal(0)
        )
        if not Decimal(0) < self.max_volume_participation <= Decimal(1):
            raise ValueError(
                f"max_volume_participation {self.max_volume_participation} must be in (0, 1]"
            )
        # The config parses SIM_FAULTS into its own enum; normalise to ours so membership
        # tests and the fault log speak one vocabulary.
        object.__setattr__(self, "faults", parse_faults(self.faults))
        if isinstance(self.hard_to_borrow, str):
            raise ValueError("hard_to_borrow must be a collection of symbols, not one string")
        symbols = frozenset(self.hard_to_borrow)
        for symbol in symbols:
            if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol):
                raise ValueError(f"hard_to_borrow symbol {symbol!r} must be upper-case, "
                                 "e.g. SNAP")
        object.__setattr__(self, "hard_to_borrow", symbols)


def _require_decimal(name: str, value: object, *, minimum: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} {value} must be at least {minimum}")
