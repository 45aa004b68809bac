"""Position checks and cash assertions: the broker's holdings and cash against the ledger's
(and the engine's book), with every difference either explained by an open record break or
named as unexplained.

An explanation is an open break that moves shares or cash: a fill the broker has and the
ledger lacks (broker-only, or still pending), a restated fill (mismatch), a cash activity
not booked yet (unmapped). A local-only fill explains nothing: a missing report is not
evidence that the trade did not happen (the position usually says it did).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from tbot.broker.models import BrokerPosition
from tbot.ledger.amounts import MONEY_PLACES, PRICE_PLACES
from tbot.reconcile.compare import Delta, plain
from tbot.reconcile.statuses import PositionOutcome, RecordStatus

_ZERO = Decimal(0)
_MONEY = Decimal(1).scaleb(-MONEY_PLACES)
_PRICE = Decimal(1).scaleb(-PRICE_PLACES)

COST_TOLERANCE_FRACTION = Decimal("0.0001")
"""Cost basis within 0.01% of the broker's agrees (NautilusTrader's entry-price rule)."""
COST_TOLERANCE_FLOOR = Decimal("0.01")
"""... or within a cent, for small positions."""

EXPLAINING_STATUSES = frozenset(
    {RecordStatus.BROKER_ONLY, RecordStatus.PENDING, RecordStatus.MISMATCH, RecordStatus.UNMAPPED}
)


@dataclass(frozen=True, slots=True)
class Explanation:
    """An open record break and what it moves."""

    row_id: int
    trade_id: str
    status: RecordStatus
    delta: Delta

    def label(self) -> str:
        """``broker-only SIM-F000012 (#41)`` (no number for a break this run opens)."""
        number = f" (#{self.row_id})" if self.row_id > 0 else ""
        return f"{self.status} {self.trade_id}{number}"


@dataclass(frozen=True, slots=True)
class PositionResult:
    """One symbol's check."""

    symbol: str
    broker_quantity: Decimal | None
    broker_average_cost: Decimal | None
    ledger_quantity: Decimal
    ledger_cost_basis: Decimal
    engine_quantity: Decimal | None
    explained_quantity: Decimal
    outcome: PositionOutcome
    reason: str

    @property
    def unexplained(self) -> Decimal:
        """Shares neither side's records account for."""
        broker = self.broker_quantity or _ZERO
        return broker - self.ledger_quantity - self.explained_quantity

    @property
    def fingerprint(self) -> str:
        """A hash of the facts: a new row is written only when they change."""
        return _fingerprint(
            self.outcome.value, plain(self.broker_quantity), plain(self.ledger_quantity),
            plain(self.explained_quantity), plain(self.engine_quantity),
        )

    def delta(self) -> Delta:
        """Broker minus ledger shares (for the break row's `difference`)."""
        return Delta(self.symbol, (self.broker_quantity or _ZERO) - self.ledger_quantity, _ZERO)


@dataclass(frozen=True, slots=True)
class BalanceResult:
    """One currency's cash assertion."""

    currency: str
    account: str
    broker_cash: Decimal
    ledger_cash: Decimal
    in_transit: Decimal
    tolerance: Decimal
    explanations: tuple[Explanation, ...] = field(default=())

    @property
    def difference(self) -> Decimal:
        """Broker cash less the ledger's and less what open breaks explain."""
        return self.broker_cash - self.ledger_cash - self.in_transit

    @property
    def passed(self) -> bool:
        """True when the unexplained difference is within tolerance."""
        return abs(self.difference) <= self.tolerance

    @property
    def fingerprint(self) -> str:
        """A hash of the verdict and the unexplained difference."""
        return _fingerprint(str(self.passed), plain(self.difference))

    def detail(self) -> str:
        """The assertion in one sentence."""
        text = (
            f"broker cash {plain(self.broker_cash)} {self.currency}, ledger {self.account} "
            f"{plain(self.ledger_cash)}"
        )
        if self.explanations:
            named = ", ".join(e.label() for e in self.explanations[:5])
            more = len(self.explanations) - 5
            text += f", open breaks explain {plain(self.in_transit)} ({named}"
            text += f" and {more} more)" if more > 0 else ")"
        verdict = "passes" if self.passed else "FAILS"
        return (f"{text}; unexplained {plain(self.difference)} {verdict} a tolerance of "
                f"{plain(self.tolerance)}")


def explanations_by_symbol(explanations: Iterable[Explanation]) -> dict[str, list[Explanation]]:
    """Open breaks that move shares, by symbol."""
    found: dict[str, list[Explanation]] = {}
    for explanation in explanations:
        if explanation.status in EXPLAINING_STATUSES and explanation.delta.symbol and (
            explanation.delta.quantity != 0
        ):
            found.setdefault(explanation.delta.symbol, []).append(explanation)
    return found


def check_positions(
    broker: Iterable[BrokerPosition],
    ledger: Mapping[str, tuple[Decimal, Decimal]],
    engine: Mapping[str, Decimal] | None,
    explanations: Iterable[Explanation],
    also: Iterable[str] = (),
) -> list[PositionResult]:
    """Compare every symbol held anywhere (broker, ledger, engine), and the symbols in
    `also` (those with an open break: flat everywhere now, they match and the break
    closes), alphabetically."""
    at_broker = {position.symbol: position for position in broker}
    explained = explanations_by_symbol(explanations)
    symbols = sorted(set(at_broker) | set(ledger) | set(engine or {}) | set(also))
    return [
        _check_one(symbol, at_broker.get(symbol), ledger.get(symbol), engine,
                   explained.get(symbol, []))
        for symbol in symbols
    ]


def _check_one(
    symbol: str,
    broker: BrokerPosition | None,
    ledger: tuple[Decimal, Decimal] | None,
    engine: Mapping[str, Decimal] | None,
    explanations: list[Explanation],
) -> PositionResult:
    ledger_quantity, cost_basis = ledger if ledger is not None else (_ZERO, _ZERO)
    broker_quantity = broker.quantity if broker is not None else None
    engine_quantity = None if engine is None else engine.get(symbol, _ZERO)
    explained = sum((e.delta.quantity for e in explanations), _ZERO)
    held = broker_quantity or _ZERO
    notes: list[str] = []
    if held == ledger_quantity:
        outcome = PositionOutcome.MATCHED
        notes.append(f"broker and ledger hold {plain(held)}")
        if broker is not None and held:
            broker_cost = broker.average_cost * held
            tolerance = max(COST_TOLERANCE_FLOOR, abs(cost_basis) * COST_TOLERANCE_FRACTION)
            if abs(broker_cost - cost_basis) > tolerance:
                outcome = PositionOutcome.COST_MISMATCH
                notes.append(
                    f"cost basis differs: broker {plain(broker.average_cost)} a share "
                    f"({plain(broker_cost.quantize(Decimal('0.01')))}), ledger "
                    f"{plain(cost_basis)}, beyond a tolerance of {plain(tolerance)}"
                )
    else:
        if broker_quantity is None or broker_quantity == 0:
            outcome = PositionOutcome.MISSING_AT_BROKER
        elif ledger_quantity == 0:
            outcome = PositionOutcome.MISSING_IN_LEDGER
        else:
            outcome = PositionOutcome.QUANTITY_MISMATCH
        unexplained = held - ledger_quantity - explained
        notes.append(f"broker holds {plain(held)}, the ledger {plain(ledger_quantity)}")
        if explanations:
            notes.append(
                f"{plain(explained)} explained by " + ", ".join(e.label() for e in explanations)
            )
        notes.append(
            "fully explained" if unexplained == 0 else f"{plain(unexplained)} unexplained"
        )
    if engine_quantity is not None and engine_quantity != ledger_quantity:
        notes.append(f"the engine's book holds {plain(engine_quantity)}")
    return PositionResult(
        symbol=symbol,
        broker_quantity=broker_quantity,
        broker_average_cost=(
            broker.average_cost.quantize(_PRICE, ROUND_HALF_EVEN) if broker is not None else None
        ),
        ledger_quantity=ledger_quantity,
        ledger_cost_basis=cost_basis,
        engine_quantity=engine_quantity,
        explained_quantity=explained if outcome is not PositionOutcome.MATCHED else _ZERO,
        outcome=outcome,
        reason="; ".join(notes),
    )


def assert_balance(
    currency: str,
    account: str,
    broker_cash: Decimal,
    ledger_cash: Decimal,
    explanations: Iterable[Explanation],
    tolerance: Decimal,
) -> BalanceResult:
    """The cash assertion for one currency (beancount's `balance`, made automatic)."""
    moving = tuple(
        e for e in explanations if e.status in EXPLAINING_STATUSES and e.delta.cash != 0
    )
    return BalanceResult(
        currency=currency,
        account=account,
        # A broker may keep cash beyond the ledger's places (fractional shares): compare
        # at the ledger's precision; the tolerance covers the rounding.
        broker_cash=broker_cash.quantize(_MONEY, ROUND_HALF_EVEN),
        ledger_cash=ledger_cash,
        in_transit=sum((e.delta.cash for e in moving), _ZERO),
        tolerance=tolerance,
        explanations=moving,
    )


def _fingerprint(*parts: str | None) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()
