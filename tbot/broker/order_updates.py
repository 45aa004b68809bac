"""Order updates a broker pushes (Alpaca's trade-updates stream, IBKR's order events): the
broker-neutral event, and the stream protocol the engine drives.

A pushed update is a fast hint, not the record: streams drop events and never replay them.
The engine therefore writes each update through to its order handling before the stream
may read the next one, and catches up through REST (open orders, fill activities) whenever
the stream (re)connects, when an update cannot be read, and every few minutes anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol

from tbot.broker.models import BrokerOrder

EXECUTION_EVENTS: Final = frozenset({"fill", "partial_fill"})
"""Events that report shares changing hands (their fills are booked from the broker's fill
records, keyed like the sync's)."""


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One pushed change to one of the account's orders."""

    event: str
    """The broker's event name as sent (``new``, ``partial_fill``, ``fill``, ``canceled``,
    ``expired``, ``rejected``, ``pending_new``...); names this code does not know pass
    through unchanged."""
    order: BrokerOrder
    """The order as of this event."""
    at: datetime
    """When the broker says it happened (aware UTC)."""
    key: str
    """Identifies the event: a duplicate delivery carries the same key."""
    execution_quantity: Decimal | None = None
    """Shares executed by this event (fills only)."""
    execution_price: Decimal | None = None

    @property
    def reports_execution(self) -> bool:
        """True when shares changed hands in this event."""
        return self.event in EXECUTION_EVENTS


@dataclass(frozen=True, slots=True)
class UnreadableUpdate:
    """A pushed message that could not be read as an `OrderUpdate` (missing fields, an
    order that does not parse): the catch-up recovers what it said."""

    reason: str
    raw: object


Deliver = Callable[[OrderUpdate | UnreadableUpdate], None]
"""Hands one update to the engine and returns once it has been handled (write-through);
called on the stream's own thread, one update at a time, in arrival order."""


class OrderUpdateStream(Protocol):
    """A broker's push channel of order updates, run on its own thread."""

    def start(self, deliver: Deliver, on_connected: Callable[[], None]) -> None:
        """Connect (and keep reconnecting) in the background. `deliver` gets each update;
        `on_connected` is called on the stream's thread after every (re)connection, once
        the subscription is in place, so the caller can catch up on what it missed."""
        ...

    @property
    def connected(self) -> bool:
        """True while the stream is connected and subscribed."""
        ...

    @property
    def needs_catch_up(self) -> bool:
        """True once an update was lost to the stream (`deliver` or `on_connected` raised);
        the engine sets it back to False before it catches up."""
        ...

    @needs_catch_up.setter
    def needs_catch_up(self, value: bool) -> None: ...

    def close(self) -> None:
        """Stop the stream and its thread (idempotent)."""
        ...
