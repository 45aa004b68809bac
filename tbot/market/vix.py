"""The VIX level, as the close strategy's gate reads it.

Sources: the broker's market data where it carries the index, a generated series in
simulation. No value (None) means unknown: the gate then blocks entries and alerts, it
never reads a missing VIX as calm or as volatile.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol


class VixSource(Protocol):
    """A VIX level for an instant of a session."""

    def vix_at(self, at: datetime) -> Decimal | None:
        """The latest VIX level known at `at` (aware UTC), None when there is none."""
        ...
