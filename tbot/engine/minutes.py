"""The engine's unit of market time is the minute: bars, phases and order ids align to it."""

from __future__ import annotations

from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)


def floor_minute(moment: datetime) -> datetime:
    """`moment` truncated to its minute."""
    return moment.replace(second=0, microsecond=0)

