"""Running reconciliation for one bot: one sync at a time, at most one per
`SYNC_MIN_INTERVAL_SECONDS`, checks in between, resolutions in turn, and the `recon`
events subscribers see.

The engine's own runs (start-up, end of day) wait for a running sync; a person's request
while a sync runs (or too soon after one) is told so, with when to try again. Resolutions wait
for a running sync, so a sync never writes over a state it read before a resolution.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tbot.clock import utc_text
from tbot.engine.event_bus import RECON_CHECK_TOPIC
from tbot.errors import TbotError
from tbot.reconcile.resolution import Resolution, Resolver, ResolveRequest
from tbot.reconcile.statuses import SyncTrigger
from tbot.reconcile.sync import Reconciler, SyncResult, SyncWindow

log = logging.getLogger("tbot.reconcile")

Publish = Callable[[str, Mapping[str, object]], None]


class SyncBusyError(TbotError):
    """A sync is running, or one ran less than the minimum interval ago."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass
class SyncProgress:
    """What a running sync has done so far."""

    trigger: SyncTrigger
    started_at: datetime
    fetched: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready progress."""
        return {"trigger": self.trigger.value, "started_at": utc_text(self.started_at),
                "fetched": dict(self.fetched)}


class ReconService:
    """Sync, checks and resolutions for one bot, serialised."""

    def __init__(
        self,
        reconciler: Reconciler,
        resolver: Resolver,
        *,
        min_interval_seconds: float,
        publish: Publish | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.resolver = resolver
        self.min_interval = float(min_interval_seconds)
        self.publish: Publish = publish or (lambda topic, data: None)
        self._lock = asyncio.Lock()
        self._last_sync_monotonic: float | None = None
        self.running: SyncProgress | None = None
        self.last_result: SyncResult | None = None
        self.last_check: SyncResult | None = None

    # -- syncs -----------------------------------------------------------------------------
    def refusal(self) -> SyncBusyError | None:
        """Why a sync asked for now would be refused (None: it may start)."""
        if self.running is not None:
            return SyncBusyError(
                f"a {self.running.trigger} sync is running since "
                f"{utc_text(self.running.started_at)}", self.min_interval)
        wait = self._wait_seconds()
        if wait > 0:
            return SyncBusyError(
                f"a sync ran less than {self.min_interval:g} s ago; try again in {wait:.1f} s",
                wait)
        return None

    def _wait_seconds(self) -> float:
        if self._last_sync_monotonic is None:
            return 0.0
        return max(0.0, self._last_sync_monotonic + self.min_interval - time.monotonic())

    async def sync(
        self,
        trigger: SyncTrigger,
        window: SyncWindow | None = None,
        *,
        actor: str | None = None,
        wait: bool = False,
    ) -> SyncResult:
        """Run one sync. With `wait` (the engine's own runs) it waits for a running one to
        end; otherwise SyncBusyError when one runs or ran too recently."""
        if not wait:
            refusal = self.refusal()
            if refusal is not None:
                raise refusal
        async with self._lock:
            # The engine's own runs come on its schedule: they wait for a running sync
            # (the lock) but not for the rate limit, which guards against requests.
            if not wait and (refusal := self.refusal()) is not None:
                raise refusal
            self._last_sync_monotonic = time.monotonic()
            progress = SyncProgress(trigger, self.reconciler.clock.now())
            self.running = progress
            self.publish("recon", {"event": "sync_started", **progress.as_dict()})
            try:
                result = await self.reconciler.sync(
                    trigger, window, actor=actor,
                    progress=lambda listing, count: progress.fetched.__setitem__(listing, count),
                )
            finally:
                self.running = None
                self._last_sync_monotonic = time.monotonic()
        self.last_result = result
        self._announce(result, "sync_finished")
        return result

    def start_sync(self, trigger: SyncTrigger, window: SyncWindow | None = None, *,
                   actor: str | None = None) -> asyncio.Task[SyncResult]:
        """Start a sync in the background (refused at once when it could not start)."""
        refusal = self.refusal()
        if refusal is not None:
            raise refusal
        task = asyncio.create_task(self.sync(trigger, window, actor=actor))
        task.add_done_callback(_log_failure)
        return task

    async def check(self, trigger: SyncTrigger = SyncTrigger.SCHEDULE, *,
                    always: bool = False) -> SyncResult | None:
        """Positions and cash now; skipped (None) while a sync or a resolution runs."""
        if self._lock.locked():
            return None
        async with self._lock:
            result = await self.reconciler.check(trigger, always=always)
        self.last_check = result
        self.publish(RECON_CHECK_TOPIC, {
            "trigger": result.trigger.value, "outcome": result.outcome.value,
            "counts": dict(result.counts), "seconds": round(result.seconds, 3)})
        if result.new_breaks or result.closed:
            self._announce(result, "check_finished")
        return result

    # -- resolutions -----------------------------------------------------------------------
    async def resolve(self, request: ResolveRequest, actor: str) -> Resolution:
        """Resolve one break (waits for a running sync)."""
        async with self._lock:
            resolution = await self.resolver.resolve(request, actor)
            if not resolution.dry_run and resolution.posted_entry_ids:
                await self.reconciler.engine.ledger_corrected(resolution.symbols)
        if not resolution.dry_run:
            self.publish("recon", {"event": "break_resolved", **resolution.as_dict(),
                                   "actor": actor})
        return resolution

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """`recon.status`: the running sync's progress and the last results."""
        return {
            "running": None if self.running is None else self.running.as_dict(),
            "last_sync": None if self.last_result is None else self.last_result.as_dict(),
            "last_check": None if self.last_check is None else self.last_check.as_dict(),
            "min_interval_seconds": self.min_interval,
        }

    def _announce(self, result: SyncResult, event: str) -> None:
        self.publish("recon", {
            "event": event,
            "run_id": result.run_id,
            "trigger": result.trigger.value,
            "outcome": result.outcome.value,
            "counts": dict(result.counts),
            "new_breaks": list(result.new_breaks),
            "closed": list(result.closed),
            "spans_not_read": list(result.spans_not_read),
            "seconds": round(result.seconds, 3),
        })


def _log_failure(task: asyncio.Task[SyncResult]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, SyncBusyError):
        log.error("background sync failed: %s", error)
