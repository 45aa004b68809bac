"""Fault mode: the deliberate misbehaviour of the simulated broker that exercises
reconciliation (a fill the engine never saw, a fill missing from the reports, a restated
price, a fill reported pending for a while, cash movements the engine did not cause, cash
and positions that change with nothing reported at all).

Each enabled fault fires once per simulated UTC day, the first time it can, so a run is
reproducible and a day's breaks are countable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tbot.broker.models import OrderSide
from tbot.broker.sim.execution import CENT
from tbot.config.setting_types import SimFault

FILL_FAULTS: tuple[SimFault, ...] = (
    SimFault.DROP_FILL, SimFault.RESTATE_PRICE, SimFault.PENDING_FILL,
)
"""Faults applied to the day's first real fills, in this order (one fill each)."""
CASH_FAULTS: tuple[SimFault, ...] = (SimFault.DIVIDEND, SimFault.DEPOSIT, SimFault.UNKNOWN_FEE)
"""Faults that post a cash activity, in this order."""
SILENT_FAULTS: tuple[SimFault, ...] = (SimFault.CASH_DRIFT, SimFault.UNKNOWN_POSITION)
"""Faults that change the account with nothing reported, in this order, after the cash
faults and at the same time of day."""
CASH_FAULT_TIME = time(15, 0, tzinfo=UTC)
"""Cash (and silent) faults fire on the first `on_bars` call at or after this time of the
simulated day."""

RESTATEMENT = Decimal("0.01")
"""How far a restated price moves against the trader."""
PHANTOM_QUANTITY = Decimal(1)
PENDING_PERIOD = timedelta(minutes=30)
"""How long a pending fill is reported ``pending`` after it was filled."""
CASH_DRIFT_AMOUNT = Decimal("-0.37")
"""The silent cash adjustment of the cash_drift fault."""
TRANSFER_IN_QUANTITY = Decimal(5)
"""The shares the unknown_position fault transfers in."""
DEPOSIT_AMOUNT = Decimal("1000.00")
UNKNOWN_FEE_TYPE = "MISCFEE"
UNKNOWN_FEE_AMOUNT = Decimal("-12.34")
DIVIDEND_PER_SHARE = Decimal("0.25")
UNHELD_DIVIDEND_AMOUNT = Decimal("10.00")
"""A dividend on a symbol the account does not hold (nothing to scale it by)."""


def parse_faults(values: Iterable[object]) -> frozenset[SimFault]:
    """`values` as `SimFault`s; accepts the config's own enum or plain names, refuses any
    other name with ValueError."""
    faults: set[SimFault] = set()
    for value in values:
        try:
            faults.add(SimFault(str(value)))
        except ValueError:
            known = ", ".join(fault.value for fault in SimFault)
            raise ValueError(f"unknown simulated-broker fault {value!r} (known: {known})") from None
    return frozenset(faults)


class DailyFaults:
    """The faults still due on one simulated day: enabled and not yet fired that day."""

    def __init__(self, enabled: frozenset[SimFault], fired: Iterable[SimFault]) -> None:
        self._due = set(enabled) - set(fired)

    def is_due(self, fault: SimFault) -> bool:
        """True when `fault` is enabled and has not fired on this day."""
        return fault in self._due

    def mark_fired(self, fault: SimFault) -> None:
        """Record that `fault` has fired; it is not due again on this day."""
        self._due.discard(fault)

    def take(self, fault: SimFault) -> bool:
        """True (and marked fired) when `fault` is due; False otherwise."""
        if fault not in self._due:
            return False
        self._due.discard(fault)
        return True


def cash_faults_may_fire(at: datetime) -> bool:
    """True when `at` is at or after the daily time of the cash faults."""
    return at.astimezone(UTC).timetz() >= CASH_FAULT_TIME


def restated_price(price: Decimal, side: OrderSide) -> Decimal:
    """The price a restated fill is reported at: a cent worse for the trader (a sell near zero
    moves up instead, so the price stays positive)."""
    if side is OrderSide.BUY or price <= RESTATEMENT:
        return price + RESTATEMENT
    return price - RESTATEMENT


def dividend_amount(held_quantity: Decimal | None) -> Decimal:
    """The dividend paid on a holding of `held_quantity` (None: a symbol not held)."""
    if held_quantity is None:
        return UNHELD_DIVIDEND_AMOUNT
    amount = (held_quantity * DIVIDEND_PER_SHARE).quantize(CENT, rounding=ROUND_HALF_UP)
    return max(amount, CENT)


@dataclass(frozen=True, slots=True)
class CashMovement:
    """The cash activity a cash fault posts (the broker gives it an id and a time)."""

    activity_type: str
    amount: Decimal
    description: str
    symbol: str | None = None


def cash_movement_for(
    fault: SimFault, holdings: Sequence[tuple[str, Decimal]], priced_symbols: Sequence[str]
) -> CashMovement | None:
    """What cash fault `fault` posts, given the holdings (symbol, quantity) and the symbols
    with a last price, both alphabetical. None when it cannot fire yet: a dividend needs a
    held symbol, or at least one with a price."""
    if fault is SimFault.DIVIDEND:
        if holdings:
            symbol, quantity = holdings[0]
            amount = dividend_amount(quantity)
        elif priced_symbols:
            symbol, amount = priced_symbols[0], dividend_amount(None)
        else:
            return None
        return CashMovement("DIV", amount, f"Simulated dividend on {symbol}", symbol)
    if fault is SimFault.DEPOSIT:
        return CashMovement("CSD", DEPOSIT_AMOUNT, "Simulated deposit")
    if fault is SimFault.UNKNOWN_FEE:
        return CashMovement(
            UNKNOWN_FEE_TYPE, UNKNOWN_FEE_AMOUNT, "Simulated fee of a type no mapping knows"
        )
    raise ValueError(f"{fault} is not a cash fault")


def transfer_in_symbol(held: Sequence[str], priced_symbols: Sequence[str]) -> str | None:
    """The symbol the unknown_position fault transfers in: the alphabetically first one with
    a last price that is not held. None when there is none yet (the fault waits)."""
    holding = set(held)
    return next((symbol for symbol in sorted(priced_symbols) if symbol not in holding), None)
