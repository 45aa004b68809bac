"""Reading fields of the engine's JSON answers, each failing with a `SnapshotError` that
names the answer and the field (so a view shows one error line, never a traceback)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from tui.model.snapshot import SnapshotError


def expect_object(value: object, what: str) -> Mapping[str, Any]:
    """`value` as a JSON object."""
    if not isinstance(value, Mapping):
        raise SnapshotError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def expect_list(record: Mapping[str, Any], name: str, what: str, *,
                optional: bool = False) -> Sequence[object]:
    """Field `name` as a list (empty when `optional` and absent)."""
    value = record.get(name)
    if value is None and optional:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise SnapshotError(f"{what}: field {name!r} must be a list, got {value!r}")
    return value


def expect_text(record: Mapping[str, Any], name: str, what: str, *,
                optional: bool = False) -> str:
    """Field `name` as text (`""` when `optional` and absent or null)."""
    value = record.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise SnapshotError(f"{what}: field {name!r} must be text, got {value!r}")
    return value


def expect_whole(value: object, what: str) -> int:
    """`value` as a whole number (a JSON boolean is not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{what}: expected a whole number, got {value!r}")
    return value


def expect_int(record: Mapping[str, Any], name: str, what: str, *,
               default: int | None = None) -> int:
    """Field `name` as a whole number (`default` when absent and one is given)."""
    if name not in record and default is not None:
        return default
    return expect_whole(record.get(name), f"{what}.{name}")


def optional_int(record: Mapping[str, Any], name: str, what: str) -> int | None:
    """Field `name` as a whole number, or None when absent or null."""
    value = record.get(name)
    return None if value is None else expect_whole(value, f"{what}.{name}")


def expect_decimal(record: Mapping[str, Any], name: str, what: str) -> Decimal:
    """Field `name`, a decimal string (or a whole number), as an exact finite Decimal."""
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SnapshotError(f"{what}: field {name!r} must be a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SnapshotError(f"{what}: field {name!r} is not a number: {value!r}") from None
    if not number.is_finite():
        raise SnapshotError(f"{what}: field {name!r} is not finite: {value!r}")
    return number
