"""The engine's unit of market time is the minute: bars, phases and order ids align to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MINUTE = timedelta(minutes=1)


def floor_minute(moment: datetime) -> datetime:
    """`moment` truncated to its minute."""
    return moment.replace(second=0, microsecond=0)


def utc_text(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC text with ``Z`` (the control protocol's form)."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")
