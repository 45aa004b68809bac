"""The minute bar and the feed protocol every market-data source implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from tbot.market.feed_health import FeedHealth


@dataclass(frozen=True, slots=True)
class Bar:
    """One minute of trading in one symbol. `start` is the aware UTC minute it opens."""

    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


class BarFeed(Protocol):
    """A source of minute bars for whole trading days.

    Feeds are deterministic: asking twice for the same minute gives the same bars, so an
    engine restarted mid-session sees exactly the market it saw before.
    """

    @property
    def symbols(self) -> Sequence[str]:
        """Every symbol the feed can produce bars for."""
        ...

    def minute(self, at: datetime) -> Mapping[str, Bar]:
        """The bars of the minute starting at `at` (aware UTC, whole minute), by symbol.

        Empty outside market hours, on days the feed has no data, and for symbols that did
        not trade that minute.
        """
        ...

    def has_day(self, day: date) -> bool:
        """True when the feed has (or can generate) bars for `day`."""
        ...


class LiveBarFeed(BarFeed, Protocol):
    """A feed of today's market as it happens (a broker's data stream): bars arrive a
    little after their minute ends, and the feed can fall silent."""

    publish_lag: timedelta
    """How long after a minute ends its bars are expected; the engine waits that long."""

    def start(self) -> None:
        """Read today's minutes so far and start receiving new ones (blocking)."""
        ...

    def health(self) -> FeedHealth:
        """How the feed is doing now (thread-safe)."""
        ...

    def close(self) -> None:
        """Stop receiving and release connections (idempotent)."""
        ...
