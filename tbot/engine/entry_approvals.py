"""`TRADE_CONFIRMATION_REQUIRED`: entries wait for an operator, in the engine.

The queue and its rules are `tbot.engine.approval_queue`; this module is where the engine
meets it: an entry that passed the risk gate and the market guard is queued
(`queue_entry`, from `order_flow.on_entry_signal`), said in the strategy's log and as an
alert (a person has to act); every market minute the queue drops what expired or moved
(`sweep`); an operator's approval takes the entry out and checks its price once more
(`take_for_approval`) before `order_flow` judges it again and sends it; a rejection is
logged (`reject`). The control methods (`entries.pending`, `entries.approve`,
`entries.reject`) are audited by the control server, with who and when.

Exits, the kill switch and the guards' closes never pass through here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tbot.engine.approval_queue import ApprovalError, Dropped, PendingEntry
from tbot.strategy.signals import EntrySignal

if TYPE_CHECKING:
    from tbot.engine.engine import Engine

UNWINDOWED_WAIT = timedelta(minutes=15)
"""How long an entry signaled outside any live window waits (none does in normal runs)."""


def queue_entry(engine: Engine, signal: EntrySignal, key: str) -> PendingEntry | None:
    """Queue an entry until its window's breakout phase ends; None when it waits already."""
    live = engine.live.get((signal.strategy.value, signal.at.date()))
    expires_at = live.window.breakout_end if live is not None else signal.at + UNWINDOWED_WAIT
    entry = engine.approvals.add(key, signal, engine.clock.now(), expires_at)
    if entry is None:
        return None
    engine.logs.log(signal.strategy.value, "AWAITING-APPROVAL", symbol=signal.instrument,
                    coid=key, price=signal.reference_price, expires=expires_at)
    engine.publish("alerts", {
        "level": "warning", "trigger": "approval_needed",
        "strategy": signal.strategy.value, "symbol": signal.instrument,
        "message": (f"entry {key} waits for an operator's approval until "
                    f"{expires_at:%H:%M}Z: {signal.direction} {signal.instrument} at about "
                    f"{signal.reference_price} ({signal.reason})")})
    return entry


def sweep(engine: Engine, at: datetime) -> list[Dropped]:
    """Drop the entries whose window ended or whose price moved; log each."""
    dropped = engine.approvals.sweep(engine.clock.now(), engine.last_prices)
    for gone in dropped:
        _log_dropped(engine, gone.entry, gone.outcome.value.upper().replace("_", "-"),
                     gone.detail)
    return dropped


def take_for_approval(engine: Engine, key: str) -> tuple[PendingEntry, str | None]:
    """Take entry `key` out of the queue for an approval: the entry, and why it may no
    longer go (its price moved, or no price is known), or None. Raises ApprovalError for a
    key that is not waiting."""
    entry = engine.approvals.take(key)
    refusal = engine.approvals.price_refusal(entry, engine.last_prices.get(
        entry.signal.instrument))
    if refusal is not None:
        _log_dropped(engine, entry, "APPROVAL-REFUSED", refusal)
    return entry, refusal


def reject(engine: Engine, key: str, actor: str, reason: str) -> PendingEntry:
    """An operator's rejection of entry `key`."""
    entry = engine.approvals.take(key)
    engine.logs.log(entry.signal.strategy.value, "REJECTED-BY-OPERATOR",
                    symbol=entry.signal.instrument, coid=key, by=actor, reason=reason)
    return entry


def drop_all(engine: Engine, why: str) -> int:
    """Empty the queue (a halt): each entry logged as dropped; how many there were."""
    waiting = engine.approvals.clear()
    for entry in waiting:
        _log_dropped(engine, entry, "APPROVAL-DROPPED", why)
    return len(waiting)


def _log_dropped(engine: Engine, entry: PendingEntry, event: str, detail: str) -> None:
    engine.logs.log(entry.signal.strategy.value, event, symbol=entry.signal.instrument,
                    coid=entry.key, detail=detail)
    engine.publish("alerts", {
        "level": "info", "trigger": "approval_dropped",
        "strategy": entry.signal.strategy.value, "symbol": entry.signal.instrument,
        "message": f"entry {entry.key} dropped: {detail}"})


__all__ = ["ApprovalError", "drop_all", "queue_entry", "reject", "sweep", "take_for_approval"]
