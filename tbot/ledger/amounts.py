"""Exact money: Decimal in Python, scaled signed 64-bit integers in SQLite.

A value is stored as ``int(value * 10**places)``. Anything that would need rounding to fit
(more places than the scale, NaN/Infinity, beyond 64 bits) is refused, never rounded, and a
float is refused outright: it has already lost exactness before it reaches us.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded

from tbot.ledger.errors import AmountError

MONEY_PLACES = 6
"""Money amounts are kept in micro-units: broker fees of fractions of a cent exist."""
QUANTITY_PLACES = 9
"""Share quantities: fractional shares to 9 places."""
PRICE_PLACES = 9
"""Prices per share."""
LEVERAGE_PLACES = 6
"""Leverage multipliers of leveraged ETFs (1, 2, 3, 1.5...)."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Wide enough for every in-range value at any of our scales; trapping Inexact/Rounded means
# a value too long to scale exactly raises instead of being silently rounded.
_EXACT = Context(prec=60, traps=[Inexact, Rounded, InvalidOperation])


def to_decimal(value: Decimal | int | str) -> Decimal:
    """`value` as a Decimal; floats (and bools) are refused with a TypeError."""
    kind = type(value)
    if kind is Decimal:
        return value  # type: ignore[return-value]
    if kind is int:
        return Decimal(value)
    if kind is str:
        try:
            return Decimal(value.strip())  # type: ignore[union-attr]
        except InvalidOperation:
            raise AmountError(f"{value!r} is not a decimal number") from None
    if isinstance(value, float):
        raise TypeError(f"float {value!r} refused for money: pass a Decimal or a str")
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{kind.__name__} {value!r} refused for money: pass a Decimal or a str")
    return Decimal(value)  # subclasses of Decimal or int


def to_scaled(value: Decimal | int | str, places: int) -> int:
    """The integer SQLite stores for `value` at `places` decimal places.

    Raises AmountError for NaN/Infinity, values that need more than `places` places, and
    values whose scaled integer does not fit signed 64 bits; TypeError for floats.
    """
    number = to_decimal(value)
    if not number.is_finite():
        raise AmountError(f"{number} is not a finite amount")
    if number and number.adjusted() + places > 18:  # >= 10**19 once scaled: beyond int64
        raise AmountError(f"{number} is too large to store at {places} decimal places")
    try:
        scaled = number.scaleb(places, _EXACT)
        integral = int(scaled)
    except (Inexact, Rounded, InvalidOperation):
        raise AmountError(f"{number} has too many digits to store exactly") from None
    if integral != scaled:
        raise AmountError(f"{number} has more than {places} decimal places")
    if not INT64_MIN <= integral <= INT64_MAX:
        raise AmountError(f"{number} is too large to store at {places} decimal places")
    return integral


def from_scaled(stored: int, places: int) -> Decimal:
    """The Decimal a stored scaled integer stands for, with exactly `places` places."""
    return Decimal(stored).scaleb(-places)


def format_money(amount: Decimal | int | str) -> str:
    """`amount` for people: thousands separators, at least 2 places, more only when needed.

    ``format_money(Decimal("1234.5")) == "1,234.50"``;
    ``format_money(Decimal("-0.000125")) == "-0.000125"``.
    """
    number = to_decimal(amount)
    if not number.is_finite():
        raise AmountError(f"{number} is not a finite amount")
    if number == 0:
        number = Decimal(0)  # no "-0.00"
    exponent = number.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{number:,.{places}f}"
