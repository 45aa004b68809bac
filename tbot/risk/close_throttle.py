"""At most one close order per symbol per `CLOSE_MIN_INTERVAL_SECONDS`, whoever asks.

A close that the broker rejects, or that fills only in part before it is canceled, leaves a
position behind; whatever asked for it (a strategy's exit, a guard, the kill switch, an
operator) would ask again at once, and a broker that keeps refusing would receive a close a
minute per asker, or worse (the seed's "close spam"). The throttle remembers when each
symbol's last close was sent. A close asked for too soon is not dropped: it is kept
(`deferred`) and sent by the engine once the interval has passed, if the position is still
open and no close is working by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tbot.clock import ensure_utc


@dataclass(frozen=True, slots=True)
class DeferredClose:
    """A close asked for during the interval: sent when `due`, if still needed."""

    symbol: str
    purpose: str
    reason: str
    due: datetime


class CloseThrottle:
    """The last close sent per symbol, and the closes waiting for their interval."""

    def __init__(self, interval: timedelta) -> None:
        if interval < timedelta(0):
            raise ValueError("the close interval cannot be negative")
        self.interval = interval
        self._sent: dict[str, datetime] = {}
        self._deferred: dict[str, DeferredClose] = {}

    def next_allowed(self, symbol: str) -> datetime | None:
        """When a close of `symbol` may be sent again (None: now)."""
        sent = self._sent.get(symbol)
        return None if sent is None else sent + self.interval

    def refusal(self, symbol: str, now: datetime) -> str | None:
        """Why a close of `symbol` may not be sent at `now`, or None when it may."""
        allowed = self.next_allowed(symbol)
        if allowed is None or ensure_utc(now) >= allowed:
            return None
        sent = self._sent[symbol]
        return (f"a close of {symbol} was sent at {sent:%H:%M:%S}Z; the next may go at "
                f"{allowed:%H:%M:%S}Z (CLOSE_MIN_INTERVAL_SECONDS="
                f"{int(self.interval.total_seconds())})")

    def record(self, symbol: str, now: datetime) -> None:
        """A close of `symbol` was sent at `now` (a deferred one is served by it)."""
        self._sent[symbol] = ensure_utc(now)
        self._deferred.pop(symbol, None)

    def defer(self, symbol: str, purpose: str, reason: str) -> DeferredClose:
        """Keep a refused close until its interval has passed. A guard's close replaces a
        strategy's exit waiting for the same symbol (it says more about why)."""
        due = self.next_allowed(symbol)
        assert due is not None, "only a refused close is deferred"
        waiting = self._deferred.get(symbol)
        if waiting is None or purpose != "exit" or waiting.purpose == "exit":
            waiting = DeferredClose(symbol, purpose, reason, due)
            self._deferred[symbol] = waiting
        return waiting

    def due(self, now: datetime) -> list[DeferredClose]:
        """The deferred closes whose interval has passed, taken out of the throttle (the
        caller sends them, or finds they are no longer needed)."""
        moment = ensure_utc(now)
        ready = [close for close in self._deferred.values() if close.due <= moment]
        for close in ready:
            del self._deferred[close.symbol]
        return sorted(ready, key=lambda close: (close.due, close.symbol))

    def deferred(self) -> list[DeferredClose]:
        """Every close waiting, soonest first."""
        return sorted(self._deferred.values(), key=lambda close: (close.due, close.symbol))

    def forget(self, symbol: str) -> None:
        """Drop a waiting close of `symbol` (the position closed meanwhile)."""
        self._deferred.pop(symbol, None)
