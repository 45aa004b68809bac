"""How a live market-data feed is doing, as the engine and `engine.status` report it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tbot.clock import utc_text


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A live feed's health at one instant. Generated and replayed feeds have none."""

    feed: str
    """The source, e.g. ``alpaca:iex``."""
    healthy: bool
    reason: str | None = None
    """Why it is not healthy (no bars for N s in session, disconnected...)."""
    connected: bool = True
    last_bar_at: datetime | None = None
    """Start of the newest minute a bar arrived for."""
    gaps_today: int = 0
    """(minute, symbol) pairs of today's session that had no bar when processed."""
    reconnects: int = 0
    backfilled_minutes: int = 0
    """Minutes read from history (start-up and reconnects) rather than the stream."""

    def as_dict(self) -> dict[str, object]:
        """The `market_data` block of `engine.status`."""
        return {
            "feed": self.feed,
            "healthy": self.healthy,
            "reason": self.reason,
            "connected": self.connected,
            "last_bar_at": utc_text(self.last_bar_at) if self.last_bar_at else None,
            "gaps_today": self.gaps_today,
            "reconnects": self.reconnects,
            "backfilled_minutes": self.backfilled_minutes,
        }
