"""Entries waiting for an operator's approval, when `TRADE_CONFIRMATION_REQUIRED=true`.

An entry signal that passed the risk gate waits here instead of going to the broker. It
leaves the queue one of four ways:

- **approved** by an operator (`entries.approve`): the engine then judges it again, as a
  fresh signal, against the risk gate and the market guard, and against its price;
- **rejected** by an operator (`entries.reject`), with a reason;
- **expired**: its breakout window ended before anyone approved it;
- **price moved**: the instrument's price moved more than `MAX_SLIPPAGE_BPS` from the
  price the strategy decided at (either way: an entry sent later at a different price is
  not the entry the strategy chose, and approving it would be chasing).

Exits, the kill switch and the guards' closes never wait here. Every way out is logged and
audited by the engine; this module only keeps the queue and judges prices and deadlines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tbot.clock import ensure_utc
from tbot.errors import TbotError
from tbot.strategy.signals import EntrySignal


class ApprovalError(TbotError):
    """An approval or rejection that names no waiting entry."""


class Outcome(StrEnum):
    """How an entry left the queue."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PRICE_MOVED = "price_moved"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """One entry waiting: `key` is the client order id it will be sent under."""

    key: str
    signal: EntrySignal
    queued_at: datetime
    expires_at: datetime

    def as_dict(self, now: datetime) -> dict[str, object]:
        """The `entries.pending` row, with the seconds left before it expires."""
        signal = self.signal
        left = max((self.expires_at - ensure_utc(now)).total_seconds(), 0.0)
        return {
            "id": self.key,
            "strategy": signal.strategy.value,
            "underlying": signal.underlying,
            "instrument": signal.instrument,
            "direction": signal.direction,
            "tag": signal.tag,
            "trigger_price": signal.trigger_price,
            "reference_price": signal.reference_price,
            "reason": signal.reason,
            "queued_at": self.queued_at,
            "expires_at": self.expires_at,
            "seconds_left": int(left),
        }


@dataclass(frozen=True, slots=True)
class Dropped:
    """An entry that left the queue without an operator: why, in words."""

    entry: PendingEntry
    outcome: Outcome
    detail: str


class ApprovalQueue:
    """The waiting entries, by key, in the order they arrived."""

    def __init__(self, max_move_bps: Decimal) -> None:
        self.max_move_bps = max_move_bps
        self._waiting: dict[str, PendingEntry] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, key: str, signal: EntrySignal, now: datetime,
            expires_at: datetime) -> PendingEntry | None:
        """Queue `signal` under `key` until `expires_at`; None when that key waits already
        (a strategy that signals the same entry again adds nothing)."""
        if key in self._waiting:
            return None
        entry = PendingEntry(key, signal, ensure_utc(now), ensure_utc(expires_at))
        self._waiting[key] = entry
        return entry

    def pending(self) -> list[PendingEntry]:
        """Every waiting entry, oldest first."""
        return list(self._waiting.values())

    def waiting_for(self, instrument: str) -> list[PendingEntry]:
        """The waiting entries in `instrument`."""
        return [e for e in self._waiting.values() if e.signal.instrument == instrument]

    def take(self, key: str) -> PendingEntry:
        """Remove and return the entry `key` (to approve or reject it)."""
        entry = self._waiting.pop(key, None)
        if entry is None:
            waiting = ", ".join(self._waiting) or "none"
            raise ApprovalError(f"no entry {key!r} is waiting for approval (waiting: {waiting})")
        return entry

    def price_refusal(self, entry: PendingEntry, price: Decimal | None) -> str | None:
        """Why `entry` may no longer go at `price` (the instrument's latest), or None. No
        price known is a refusal too: approving blind is what the queue is there to stop."""
        reference = entry.signal.reference_price
        if price is None:
            return f"no price for {entry.signal.instrument} since the entry was queued"
        if reference <= 0:
            return f"the entry's reference price {reference} is not a price"
        moved = abs(price - reference) / reference * 10_000
        if moved > self.max_move_bps:
            return (f"{entry.signal.instrument} is at {price}, "
                    f"{moved.quantize(Decimal('0.1'))} bps from the {reference} it was "
                    f"chosen at (MAX_SLIPPAGE_BPS {self.max_move_bps})")
        return None

    def sweep(self, now: datetime, prices: Mapping[str, Decimal]) -> list[Dropped]:
        """Drop the entries whose window has ended, or whose price (in `prices`, the
        latest per instrument; an instrument absent has not traded since) has moved
        beyond the rule. Returns what was dropped, oldest first."""
        moment = ensure_utc(now)
        dropped: list[Dropped] = []
        for key, entry in list(self._waiting.items()):
            if moment >= entry.expires_at:
                detail = (f"not approved before its window's breakout phase ended at "
                          f"{entry.expires_at:%H:%M}Z")
                dropped.append(Dropped(entry, Outcome.EXPIRED, detail))
            else:
                price = prices.get(entry.signal.instrument)
                refusal = None if price is None else self.price_refusal(entry, price)
                if refusal is None:
                    continue
                dropped.append(Dropped(entry, Outcome.PRICE_MOVED, refusal))
            del self._waiting[key]
        return dropped

    def clear(self) -> list[PendingEntry]:
        """Empty the queue (the engine halts or stops); what was waiting."""
        waiting = list(self._waiting.values())
        self._waiting.clear()
        return waiting
