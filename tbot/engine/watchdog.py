"""The watchdog: what the engine does when the broker or its market data fails.

The seed's emergency matrix, as built:

- **Broker API failure** (a call still failing after `API_RETRY_LIMIT` retries): trading is
  suspended, REDUCING with the watchdog's reason, and the working entry orders are
  canceled (as far as the broker answers). Exits still go out. Trading resumes by itself
  once the broker has answered again for `BROKER_RECOVERY_SECONDS` (engine clock): the
  watchdog probes it every `PROBE_SECONDS` while suspended. It resumes only its own
  suspension: an operator's pause or any halt is never lifted by it.
- **Market data failure** (a live feed silent for `DATA_STALE_SECONDS` in a session):
  HALTED, then `DATA_FAILURE_ACTION`: `halt` keeps the positions, `flatten` closes them,
  `shutdown` stops the engine with exit 1 so systemd restarts it. A halt is an admin's to
  lift (`risk.reset`), after the data is back.

Every transition is a `state` event, an alert and an audit row (`watchdog.*`). The watchdog
reaches the engine only through `WatchdogHooks`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tbot.broker.errors import BrokerError
from tbot.config.setting_types import DataFailureAction

log = logging.getLogger("tbot.engine.watchdog")

PROBE_SECONDS = 30
"""How often a suspended engine asks the broker whether it is back."""
SUSPEND_PREFIX = "watchdog: broker unavailable"


@dataclass(frozen=True)
class WatchdogHooks:
    """What the watchdog may do to the engine."""

    now: Callable[[], datetime]
    trading_state: Callable[[], tuple[str, str]]
    """(state, reason) of the trading state machine."""
    suspend: Callable[[str], bool]
    """ACTIVE → REDUCING with this reason; False when the state was not ACTIVE."""
    resume: Callable[[str], None]
    """REDUCING → ACTIVE with this reason."""
    halt: Callable[[str], None]
    """Any state → HALTED with this reason."""
    cancel_entries: Callable[[], Awaitable[int]]
    """Cancel every working entry order; how many were canceled."""
    flatten: Callable[[str], Awaitable[list[str]]]
    """Close every position (the halt's own flattening); the orders' client ids."""
    probe: Callable[[], Awaitable[bool]]
    """Ask the broker something cheap; whether it answered."""
    broker_healthy: Callable[[], bool]
    stop: Callable[[str, int], None]
    """Stop the engine with this reason and exit status."""
    alert: Callable[[Mapping[str, object]], None]
    audit: Callable[[str, Mapping[str, object]], Awaitable[None]]
    """An audit row: action (``watchdog.*``) and details."""
    announce: Callable[[str], None]
    """A `state` event with this reason."""


class Watchdog:
    """The broker and market-data failure responses."""

    def __init__(self, recovery: timedelta, data_action: DataFailureAction,
                 hooks: WatchdogHooks) -> None:
        self.recovery = recovery
        self.data_action = data_action
        self._hooks = hooks
        self.suspended_since: datetime | None = None
        self.suspended_reason: str | None = None
        self._healthy_since: datetime | None = None
        self._next_probe: datetime | None = None
        self._cancel_again = False
        self.data_failed_at: datetime | None = None

    def status(self) -> dict[str, object]:
        """The `guards.watchdog` block of `engine.status`."""
        resume_at = (self._healthy_since + self.recovery
                     if self.suspended_since is not None and self._healthy_since is not None
                     else None)
        return {
            "name": "watchdog",
            "broker_suspended": self.suspended_since is not None,
            "suspended_since": self.suspended_since,
            "reason": self.suspended_reason,
            "resumes_at": resume_at,
            "recovery_seconds": int(self.recovery.total_seconds()),
            "data_failure_action": self.data_action.value,
            "data_failed_at": self.data_failed_at,
        }

    # -- the broker ------------------------------------------------------------------------
    async def broker_failed(self, error: BrokerError) -> None:
        """A broker call failed for good: suspend trading (once) and cancel the entries."""
        hooks = self._hooks
        self._healthy_since = None
        if self.suspended_since is not None:
            return
        reason = f"{SUSPEND_PREFIX} ({error.message})"
        if not hooks.suspend(reason):
            return  # already paused or halted: nothing for the watchdog to own
        now = hooks.now()
        self.suspended_since = now
        self.suspended_reason = reason
        self._next_probe = now + timedelta(seconds=PROBE_SECONDS)
        # A broker that is down may not take the cancels either: asked again once it
        # answers (an entry must not fill into a suspension).
        self._cancel_again = True
        canceled = await hooks.cancel_entries()
        message = (f"trading suspended: the broker failed ({error.message}); "
                   f"{canceled} working entr{'y' if canceled == 1 else 'ies'} canceled; "
                   f"resumes after {int(self.recovery.total_seconds())} s of answers")
        log.error("%s", message)
        hooks.alert({"level": "error", "trigger": "broker", "guard": "watchdog",
                     "message": message})
        hooks.announce(reason)
        await hooks.audit("watchdog.suspend", {"reason": reason, "canceled": canceled})

    async def tick(self) -> None:
        """Each turn of the engine's loop: probe a suspended broker, resume when it has
        been healthy for long enough."""
        if self.suspended_since is None:
            return
        hooks = self._hooks
        now = hooks.now()
        state, reason = hooks.trading_state()
        if state != "reducing" or not reason.startswith(SUSPEND_PREFIX):
            # Someone else moved the state (a halt, a reset, an operator's resume): the
            # suspension is no longer the watchdog's to lift.
            self._clear()
            return
        if self._next_probe is not None and now >= self._next_probe:
            self._next_probe = now + timedelta(seconds=PROBE_SECONDS)
            await hooks.probe()
        if not hooks.broker_healthy():
            self._healthy_since = None
            return
        if self._cancel_again:
            self._cancel_again = False
            await hooks.cancel_entries()
        if self._healthy_since is None:
            self._healthy_since = now
        if now - self._healthy_since < self.recovery:
            return
        suspended_for = now - self.suspended_since
        message = (f"trading resumed: the broker has answered for "
                   f"{int(self.recovery.total_seconds())} s (suspended "
                   f"{int(suspended_for.total_seconds())} s)")
        hooks.resume("watchdog: the broker is back")
        log.warning("%s", message)
        hooks.alert({"level": "warning", "trigger": "broker", "guard": "watchdog",
                     "message": message})
        hooks.announce("watchdog: the broker is back")
        await hooks.audit("watchdog.resume", {"suspended_seconds":
                                              int(suspended_for.total_seconds())})
        self._clear()

    def _clear(self) -> None:
        self._cancel_again = False
        self.suspended_since = None
        self.suspended_reason = None
        self._healthy_since = None
        self._next_probe = None

    # -- market data -----------------------------------------------------------------------
    async def data_failed(self, why: str) -> None:
        """The live market data stopped: halt, then DATA_FAILURE_ACTION (once per
        failure)."""
        if self.data_failed_at is not None:
            return
        hooks = self._hooks
        self.data_failed_at = hooks.now()
        action = self.data_action
        reason = f"watchdog: market data failed ({why})"
        hooks.halt(reason)
        closing: list[str] = []
        if action is DataFailureAction.FLATTEN:
            closing = await hooks.flatten(reason)
        what = {DataFailureAction.HALT: "trading HALTED, positions kept",
                DataFailureAction.FLATTEN: f"trading HALTED, {len(closing)} close orders sent",
                DataFailureAction.SHUTDOWN: "trading HALTED, the engine stops (exit 1) for "
                                            "systemd to restart it"}[action]
        message = f"market data failed ({why}): {what} (DATA_FAILURE_ACTION={action.value})"
        log.error("%s", message)
        hooks.alert({"level": "critical", "trigger": "market_data", "guard": "watchdog",
                     "message": message})
        hooks.announce(reason)
        await hooks.audit("watchdog.data_failure", {"reason": why, "action": action.value,
                                                    "close_orders": closing})
        if action is DataFailureAction.SHUTDOWN:
            hooks.stop(reason, 1)

    def data_back(self) -> None:
        """The market data flows again: the halt stays (an admin lifts it); a later failure
        is acted on again."""
        self.data_failed_at = None
