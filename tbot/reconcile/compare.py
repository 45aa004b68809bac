"""Field-by-field comparison of a broker record with its ledger entry, and the signed
differences (shares, cash) a break stands for.

A difference is always broker minus ledger. Quantities and money are compared as exact
numbers (``101.23`` equals ``101.230000``); times to the second, since the ledger keeps
microseconds and brokers often do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from tbot.broker.models import BrokerFill, CashActivity, OrderSide
from tbot.ledger.amounts import MONEY_PLACES
from tbot.reconcile.ledger_view import LedgerCash, LedgerFill

_MONEY = Decimal(1).scaleb(-MONEY_PLACES)
_ZERO = Decimal(0)


def plain(number: Decimal | None) -> str | None:
    """`number` as plain text without trailing zeros (None stays None)."""
    if number is None:
        return None
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """One field that differs: what the ledger says and what the broker says."""

    field: str
    ledger: str | None
    broker: str | None

    def as_dict(self) -> dict[str, str | None]:
        """The JSON shape stored in `compare_fields`."""
        return {"field": self.field, "ledger": self.ledger, "broker": self.broker}


@dataclass(frozen=True, slots=True)
class Delta:
    """What a break moves, broker minus ledger: shares of `symbol` and cash."""

    symbol: str | None = None
    quantity: Decimal = _ZERO
    cash: Decimal = _ZERO

    def as_dict(self) -> dict[str, str | None]:
        """The JSON shape stored in a reconciliation row's `difference`."""
        return {"symbol": self.symbol, "quantity": plain(self.quantity), "cash": plain(self.cash)}

    @classmethod
    def from_dict(cls, value: object) -> Delta:
        """The delta stored in `difference` (an empty one for anything else)."""
        if not isinstance(value, dict):
            return cls()
        try:
            return cls(
                symbol=value.get("symbol") if isinstance(value.get("symbol"), str) else None,
                quantity=Decimal(str(value.get("quantity") or "0")),
                cash=Decimal(str(value.get("cash") or "0")),
            )
        except ArithmeticError:
            return cls()


def broker_notional(fill: BrokerFill) -> Decimal:
    """quantity x price rounded half-even to money places, as the ledger books it."""
    with localcontext() as exact:
        exact.prec = 60
        return (fill.quantity * fill.price).quantize(_MONEY, ROUND_HALF_EVEN)


def broker_cash_effect(fill: BrokerFill) -> Decimal:
    """The change the fill makes to the broker's cash."""
    fee = fill.fee.quantize(_MONEY, ROUND_HALF_EVEN)
    notional = broker_notional(fill)
    return -(notional + fee) if fill.side is OrderSide.BUY else notional - fee


def signed_quantity(side: str, quantity: Decimal) -> Decimal:
    """`quantity` with the sign of its effect on the position."""
    return quantity if str(side) == OrderSide.BUY.value else -quantity


def compare_fill(ledger: LedgerFill, fill: BrokerFill) -> list[FieldDifference]:
    """Every field on which the ledger's entry and the broker's fill disagree."""
    fee = fill.fee.quantize(_MONEY, ROUND_HALF_EVEN)
    if (  # the common case, all equal, decided without building anything
        ledger.price is not None
        and ledger.price == fill.price
        and ledger.quantity == fill.quantity
        and ledger.fee == fee
        and ledger.symbol == fill.symbol
        and ledger.side == fill.side.value
        and int(ledger.posted_at.timestamp()) == int(fill.filled_at.timestamp())
    ):
        return []
    differences: list[FieldDifference] = []

    def check(name: str, mine: object, theirs: object, same: bool) -> None:
        if not same:
            differences.append(FieldDifference(name, _text(mine), _text(theirs)))

    check("symbol", ledger.symbol, fill.symbol, ledger.symbol == fill.symbol)
    check("side", ledger.side, fill.side.value, ledger.side == fill.side.value)
    check("quantity", ledger.quantity, fill.quantity, ledger.quantity == fill.quantity)
    if ledger.price is not None:
        check("price", ledger.price, fill.price, ledger.price == fill.price)
    else:
        notional = broker_notional(fill)
        check("notional", ledger.notional, notional, ledger.notional == notional)
    check("fee", ledger.fee, fee, ledger.fee == fee)
    same_second = ledger.posted_at.replace(microsecond=0) == fill.filled_at.replace(microsecond=0)
    check("filled_at", ledger.posted_at.isoformat(), fill.filled_at.isoformat(), same_second)
    return differences


def fill_delta(ledger: LedgerFill | None, fill: BrokerFill | None) -> Delta:
    """Shares and cash the broker's fill moves beyond what the ledger's entry moves."""
    symbol = fill.symbol if fill is not None else (ledger.symbol if ledger else None)
    quantity = _ZERO
    cash = _ZERO
    if fill is not None:
        quantity += signed_quantity(fill.side.value, fill.quantity)
        cash += broker_cash_effect(fill)
    if ledger is not None:
        quantity -= signed_quantity(ledger.side, ledger.quantity)
        cash -= ledger.cash_effect
    return Delta(symbol=symbol, quantity=quantity, cash=cash)


def compare_cash(ledger: LedgerCash, activity: CashActivity) -> list[FieldDifference]:
    """Every field on which the ledger's entry and the broker's cash activity disagree."""
    differences: list[FieldDifference] = []
    if ledger.amount != activity.amount:
        differences.append(FieldDifference("amount", plain(ledger.amount), plain(activity.amount)))
    if ledger.posted_at.replace(microsecond=0) != activity.occurred_at.replace(microsecond=0):
        differences.append(
            FieldDifference("occurred_at", ledger.posted_at.isoformat(),
                            activity.occurred_at.isoformat())
        )
    return differences


def cash_delta(ledger: LedgerCash | None, activity: CashActivity | None) -> Delta:
    """Cash the broker's activity moves beyond what the ledger's entry moves."""
    cash = (activity.amount if activity is not None else _ZERO) - (
        ledger.amount if ledger is not None else _ZERO
    )
    return Delta(symbol=None, cash=cash)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return plain(value)
    return str(value)
