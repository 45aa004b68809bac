"""The one source of the current time. Every timestamp tbot writes comes through a Clock.

Times are aware UTC datetimes, always. Nothing else in the package calls `datetime.now()`;
the engine injects a real or simulated clock, tests inject a frozen one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can say what time it is, in aware UTC."""

    def now(self) -> datetime:
        """The current instant as an aware UTC datetime."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current wall-clock instant in UTC."""
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to: for tests and reproducible runs."""

    def __init__(self, at: datetime) -> None:
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        """The frozen instant."""
        return self._at

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`."""
        self._at += delta

    def set(self, at: datetime) -> None:
        """Jump to `at`."""
        self._at = ensure_utc(at)


class SwitchableClock:
    """A clock that reads another clock, which can be swapped once it is known (the engine's
    simulated clock resumes from the broker's saved time, after the broker is open)."""

    def __init__(self, target: Clock) -> None:
        self.target = target

    def now(self) -> datetime:
        """The target clock's time."""
        return self.target.now()


def ensure_utc(moment: datetime) -> datetime:
    """Return `moment` converted to UTC; naive datetimes are refused, never guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"naive datetime {moment.isoformat()} given where an aware UTC one is required"
        )
    return moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """`moment` as ISO 8601 UTC text with ``Z`` (``2026-11-20T14:51:00.250000Z``; no
    fraction when there is none): the form of the control protocol and the report files."""
    if moment.tzinfo is not UTC:  # tbot's own clocks give UTC: skip the conversion
        moment = ensure_utc(moment)
    return moment.isoformat().replace("+00:00", "Z")


def utc_stamp(moment: datetime) -> str:
    """A compact, sortable, filename-safe UTC stamp such as ``20261121T142501Z``."""
    return ensure_utc(moment).strftime("%Y%m%dT%H%M%SZ")
