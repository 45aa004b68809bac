"""Peewee column types for exact money, aware UTC time and canonical JSON text.

Peewee's own DecimalField is stored with NUMERIC affinity on SQLite and can come back as a
float, and its DateTimeField accepts naive datetimes; the first two replace them. The third
keeps JSON in TEXT columns in one canonical form, so the same value always hashes the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from peewee import Field

from tbot.ledger.amounts import from_scaled, to_scaled
from tbot.ledger.canonical import canonical_json
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


class CanonicalJsonField(Field):
    """A JSON object or list stored as canonical JSON text (sorted keys, compact, UTF-8).

    `container` is `dict` or `list`: the one top-level shape the column holds. Writing takes
    that value (Decimals and datetimes become their text; floats are refused with a
    TypeError unless `floats`) or text that is already its canonical JSON; anything else is
    a ValueError. Reading gives the parsed value.
    """

    field_type = "TEXT"

    def __init__(
        self,
        container: type[dict[str, Any]] | type[list[Any]],
        *,
        floats: bool = False,
        **kwargs: Any,
    ) -> None:
        if container not in (dict, list):
            raise ValueError(f"container must be dict or list, not {container!r}")
        self.container = container
        self.floats = floats
        super().__init__(**kwargs)

    @property
    def shape(self) -> str:
        """What the column holds, for messages: "a JSON object" or "a JSON list"."""
        return "a JSON object" if self.container is dict else "a JSON list"

    def db_value(self, value: object) -> str | None:
        """The canonical text of `value` (None stays NULL)."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValueError(f"{value[:40]!r} is not JSON text") from None
            if not isinstance(parsed, self.container):
                raise ValueError(f"the JSON text is not {self.shape}")
            text = canonical_json(parsed, floats=self.floats)
            if text != value:
                raise ValueError("JSON text must be canonical (sorted keys, compact); "
                                 "pass the value itself to have it written canonically")
            return text
        is_object = isinstance(value, Mapping)
        is_list = isinstance(value, list | tuple)
        if (self.container is dict and not is_object) or (self.container is list and not is_list):
            raise ValueError(f"{type(value).__name__} given where {self.shape} is required")
        return canonical_json(value, floats=self.floats)

    def python_value(self, value: str | None) -> Any:
        """The parsed JSON of stored text."""
        if value is None:
            return None
        return json.loads(value)


class TextOrJsonField(Field):
    """TEXT that is kept exactly as given, or, when given a mapping or a list, its canonical
    JSON (floats refused unless `floats`). Reading gives the stored text."""

    field_type = "TEXT"

    def __init__(self, *, floats: bool = False, **kwargs: Any) -> None:
        self.floats = floats
        super().__init__(**kwargs)

    def db_value(self, value: object) -> str | None:
        """`value` itself if text, its canonical JSON if a mapping or list (None: NULL)."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, Mapping | list | tuple):
            return canonical_json(value, floats=self.floats)
        raise TypeError(f"{type(value).__name__} given where text or a JSON value is required")

    def python_value(self, value: str | None) -> str | None:
        """The stored text."""
        return value
