"""Exact money: Decimal <-> scaled 64-bit integers, never float, never silently rounded."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from peewee import AutoField, Model, SqliteDatabase

from tbot.ledger.amounts import (
    MONEY_PLACES,
    QUANTITY_PLACES,
    format_money,
    from_scaled,
    to_decimal,
    to_scaled,
)
from tbot.ledger.errors import AmountError
from tbot.ledger.fields import ScaledDecimalField


class Holding(Model):
    """A throwaway table with one money and one quantity column."""

    id = AutoField()
    amount = ScaledDecimalField(MONEY_PLACES)
    quantity = ScaledDecimalField(QUANTITY_PLACES, null=True)


@pytest.fixture
def holdings(tmp_path: Path) -> Iterator[SqliteDatabase]:
    """A real SQLite file with the Holding table bound to it."""
    database = SqliteDatabase(str(tmp_path / "amounts.db"))
    with database.bind_ctx([Holding]):
        database.create_tables([Holding])
        yield database
    database.close()


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("0.000001"),
        Decimal("-0.000001"),
        Decimal("9223372036854.775807"),  # the largest 6-place amount in 64 bits
        Decimal("-9223372036854.775808"),
        Decimal("-1234.5"),
        Decimal("1E+3"),
        Decimal("1.000000000"),  # trailing zeros beyond the scale are not extra places
        Decimal("0"),
    ],
)
def test_money_round_trips_exactly_through_sqlite(
    holdings: SqliteDatabase, amount: Decimal
) -> None:
    row = Holding.create(amount=amount)
    stored = holdings.execute_sql("SELECT amount FROM holding WHERE id = ?", (row.id,))
    assert isinstance(stored.fetchone()[0], int)
    back = Holding.get_by_id(row.id).amount
    assert isinstance(back, Decimal)
    assert back == amount


@pytest.mark.parametrize(
    "quantity",
    [Decimal("0.000000001"), Decimal("123.456789012"), Decimal("-0.5"), None],
)
def test_quantity_round_trips_at_nine_places(
    holdings: SqliteDatabase, quantity: Decimal | None
) -> None:
    row = Holding.create(amount=Decimal(1), quantity=quantity)
    assert Holding.get_by_id(row.id).quantity == quantity


def test_money_comes_back_with_its_full_scale(holdings: SqliteDatabase) -> None:
    row = Holding.create(amount=Decimal("1E+3"))
    assert str(Holding.get_by_id(row.id).amount) == "1000.000000"


def test_float_is_refused_with_a_type_error(holdings: SqliteDatabase) -> None:
    with pytest.raises(TypeError, match="pass a Decimal or a str"):
        Holding.create(amount=0.1)
    assert Holding.select().count() == 0


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_nan_and_infinity_are_refused(holdings: SqliteDatabase, value: str) -> None:
    with pytest.raises(AmountError):
        Holding.create(amount=Decimal(value))
    assert Holding.select().count() == 0


def test_too_many_places_is_refused_not_rounded(holdings: SqliteDatabase) -> None:
    with pytest.raises(AmountError, match="more than 6 decimal places"):
        Holding.create(amount=Decimal("0.0000001"))
    assert Holding.select().count() == 0


def test_a_tenth_quantity_place_is_refused() -> None:
    with pytest.raises(AmountError, match="more than 9 decimal places"):
        to_scaled(Decimal("1.0000000001"), QUANTITY_PLACES)


def test_more_digits_than_arithmetic_precision_is_refused_not_rounded() -> None:
    # 33 significant digits: default Decimal arithmetic (28 digits) would round this to 1.
    with pytest.raises(AmountError):
        to_scaled(Decimal("1.00000000000000000000000000000001"), MONEY_PLACES)


@pytest.mark.parametrize("value", [Decimal("9223372036854.775808"), Decimal("1E+20")])
def test_values_beyond_64_bits_are_refused(value: Decimal) -> None:
    with pytest.raises(AmountError, match="too large"):
        to_scaled(value, MONEY_PLACES)


def test_to_decimal_refuses_float() -> None:
    with pytest.raises(TypeError):
        to_decimal(1.5)  # type: ignore[arg-type]


def test_to_decimal_refuses_bool() -> None:
    with pytest.raises(TypeError):
        to_decimal(True)  # type: ignore[arg-type]


def test_to_decimal_accepts_str_and_int() -> None:
    assert to_decimal(" 12.50 ") == Decimal("12.5")
    assert to_decimal(7) == Decimal(7)


def test_to_decimal_names_text_that_is_not_a_number() -> None:
    with pytest.raises(AmountError, match="'twelve'"):
        to_decimal("twelve")


def test_from_scaled_inverts_to_scaled() -> None:
    assert from_scaled(to_scaled("-1234.567891", MONEY_PLACES), MONEY_PLACES) == Decimal(
        "-1234.567891"
    )


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1234.5"), "1,234.50"),
        (Decimal("0"), "0.00"),
        (Decimal("-0"), "0.00"),
        (Decimal("0.000125"), "0.000125"),
        (Decimal("-1234567.891"), "-1,234,567.891"),
        (Decimal("1E+3"), "1,000.00"),
        (Decimal("12.100000"), "12.10"),
        ("5", "5.00"),
    ],
)
def test_format_money_shows_two_places_or_as_many_as_needed(
    amount: Decimal | str, text: str
) -> None:
    assert format_money(amount) == text
