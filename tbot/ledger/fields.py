"""Peewee column types for exact money and aware UTC time.

Peewee's own DecimalField is stored with NUMERIC affinity on SQLite and can come back as a
float, and its DateTimeField accepts naive datetimes; these two replace them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from peewee import Field

from tbot.ledger.amounts import from_scaled, to_scaled
from tbot.ledger.timestamps import format_utc, parse_utc


class ScaledDecimalField(Field):
    """A Decimal stored as the signed 64-bit integer ``int(value * 10**places)``.

    Writing refuses floats (TypeError), NaN/Infinity, values with more than `places`
    decimal places and values out of range (AmountError); nothing is rounded.
    """

    field_type = "BIGINT"

    def __init__(self, places: int, **kwargs: Any) -> None:
        if not 0 <= places <= 18:
            raise ValueError(f"places must be between 0 and 18, not {places}")
        self.places = places
        super().__init__(**kwargs)

    def db_value(self, value: Decimal | int | str | None) -> int | None:
        """The scaled integer for `value` (None stays NULL)."""
        if value is None:
            return None
        return to_scaled(value, self.places)

    def python_value(self, value: int | None) -> Decimal | None:
        """The Decimal for a stored integer, with exactly `places` places."""
        if value is None:
            return None
        return from_scaled(int(value), self.places)


class UtcTimestampField(Field):
    """An aware datetime stored as fixed-width UTC text (see `tbot.ledger.timestamps`).

    Naive datetimes are refused (ValueError); aware ones in another zone are converted.
    """

    field_type = "TEXT"

    def db_value(self, value: datetime | None) -> str | None:
        """The stored text of `value` (None stays NULL)."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"{type(value).__name__} given where an aware datetime is required")
        return format_utc(value)

    def python_value(self, value: str | None) -> datetime | None:
        """The aware UTC datetime of stored text."""
        if value is None:
            return None
        return parse_utc(value)
