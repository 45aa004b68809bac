"""The drawdown guard attached to the engine: when to check, what to say, what to do.

The engine calls four things: `restore` at start-up, `check` with each minute's equity,
`on_fill` after each booked fill, and `tick` every time its loop goes round (the interval
check, the end of the countdown, the return to flat). Everything else goes back through
`DrawdownHooks`, which names exactly what the guard may touch: the equity, the audit
trail, the bus, the trading state and the close-all.

Time is the engine's clock: simulated time in a simulation, so the warning lasts
AUTO_CLOSE_WARNING_SECONDS of the simulated market, like everything else there.

Persistence: every move of the guard, and every new peak worth writing (see
`PEAK_RECORD_STEP`), is an audit row (`risk.drawdown.*`, subject `drawdown_guard`) whose
details carry the guard's whole state, so the latest row alone restores it. A restart in
the middle of a countdown closes at the original deadline (at once if it has passed);
after the close-all the engine restarts HALTED until an admin's `risk.reset`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from tbot.ledger.errors import LedgerError
from tbot.risk.drawdown_guard import (
    DrawdownGuard,
    DrawdownLimits,
    GuardPhase,
    GuardTransition,
)

log = logging.getLogger("tbot.engine.drawdown")

AUDIT_PREFIX: Final = "risk.drawdown."
AUDIT_SUBJECT: Final = "drawdown_guard"
GUARD_NAME: Final = "drawdown"


@dataclass(frozen=True)
class DrawdownHooks:
    """What the guard needs from the engine, and nothing more."""

    now: Callable[[], datetime]
    read_equity: Callable[[], Awaitable[Decimal | None]]
    """Ask the broker for the account again; its equity (None if it did not answer)."""
    read_latest: Callable[[], Awaitable[Mapping[str, Any] | None]]
    """The details of the guard's latest audit row (None if it has none)."""
    audit: Callable[[str, str, Mapping[str, object]], Awaitable[object]]
    """Append an audit row: action, subject, details."""
    alert: Callable[[Mapping[str, object]], None]
    """Log an alert's message (at its level) and publish it on `alerts`."""
    announce: Callable[[str, Mapping[str, object]], None]
    """A `state` event: the reason and the guard's block."""
    pause: Callable[[str], None]
    """REDUCING with this reason (no new entries while the countdown runs)."""
    halt: Callable[[str], None]
    """HALTED with this reason."""
    close_all: Callable[[str], Awaitable[list[str]]]
    """Cancel working entries and close every position; the closing orders' ids."""
    is_flat: Callable[[], bool]


def latest_guard_record(connection: sqlite3.Connection) -> dict[str, Any] | None:
    """The details of the newest `risk.drawdown.*` audit row (run on a read connection)."""
    row = connection.execute(
        "SELECT details FROM audit_trail WHERE action LIKE ? ORDER BY id DESC LIMIT 1",
        (AUDIT_PREFIX + "%",),
    ).fetchone()
    if row is None:
        return None
    details = json.loads(row[0])
    return details if isinstance(details, dict) else None


class DrawdownWatch:
    """Runs one `DrawdownGuard` inside the engine."""

    def __init__(self, limits: DrawdownLimits, hooks: DrawdownHooks) -> None:
        self.guard = DrawdownGuard(limits)
        self._hooks = hooks
        self._next_check: datetime | None = None
        # A close-all restored from the audit trail (a restart while closing) is sent again.
        self._closes_sent = True
        self.last_close_orders: list[str] = []

    # -- engine calls ----------------------------------------------------------------------
    async def restore(self, equity: Decimal | None) -> None:
        """At start-up: the guard as its latest audit row left it, then a first check. A
        countdown resumes toward its deadline; a close-all or its halt is in force again."""
        record = await self._hooks.read_latest()
        if record is not None:
            try:
                self.guard = DrawdownGuard.from_record(self.guard.limits, record)
            except (KeyError, ValueError, ArithmeticError) as error:
                # Fail closed: a record we cannot read must not leave trading unguarded
                # silently; the guard starts over from today's equity and says so.
                self._alert("error", f"drawdown guard: its last audit row cannot be read "
                                     f"({error}); the peak starts again at today's equity")
        guard = self.guard
        if guard.phase is GuardPhase.WARNING:
            self._hooks.pause(guard.reason())
        elif guard.phase in (GuardPhase.CLOSING, GuardPhase.HALTED):
            self._hooks.halt(guard.reason())
            self._closes_sent = guard.phase is GuardPhase.HALTED
        if guard.triggered:
            self._hooks.announce(f"drawdown guard restored {guard.phase}: {guard.why()}",
                                 self.status())
            log.warning("drawdown guard restored %s: %s", guard.phase, guard.reason())
        await self.check(equity)

    async def check(self, equity: Decimal | None) -> None:
        """Check one equity figure (each minute, each fill, each interval)."""
        now = self._hooks.now()
        self._next_check = now + self.guard.limits.check_interval
        if equity is None:
            return
        change = self.guard.observe(equity, now)
        if change is not None:
            await self._warn(change)
            return
        peak = self.guard.peak_to_record()
        if peak is not None:
            await self._record("peak", {})
            self.guard.mark_recorded()

    async def on_fill(self) -> None:
        """After a booked fill: the account again, and a check (unless triggered)."""
        if self.guard.phase is GuardPhase.ARMED:
            await self.check(await self._hooks.read_equity())

    async def tick(self) -> None:
        """Each turn of the engine's loop: the close-all when the countdown has run out,
        HALTED once flat, or the interval's check when it is due."""
        now = self._hooks.now()
        guard = self.guard
        if guard.closing_due(now):
            await self._close(guard.start_closing(now))
        elif guard.phase is GuardPhase.CLOSING:
            if not self._closes_sent:
                self._closes_sent = True
                self.last_close_orders = await self._hooks.close_all(guard.reason())
            if self._hooks.is_flat():
                await self._finish(guard.finish(now))
        elif guard.phase is GuardPhase.ARMED and (
                self._next_check is None or now >= self._next_check):
            await self.check(await self._hooks.read_equity())

    def wake_before(self, moment: datetime) -> datetime:
        """`moment`, or earlier when the guard needs the loop sooner (its deadline, its
        next check)."""
        guard = self.guard
        if guard.phase is GuardPhase.WARNING and guard.deadline is not None:
            return min(moment, guard.deadline)
        if guard.phase is GuardPhase.ARMED and self._next_check is not None:
            return min(moment, self._next_check)
        return moment

    @property
    def busy(self) -> bool:
        """True while counting down or closing: the engine must not sleep through it."""
        return self.guard.phase in (GuardPhase.WARNING, GuardPhase.CLOSING)

    def refusal(self, command: str) -> str | None:
        """Why an operator's `command` (resume, reset) is refused now, or None: nothing
        cancels or delays a countdown once it has started."""
        if self.guard.phase is GuardPhase.WARNING:
            return self.guard.countdown_refusal(command)
        return None

    async def rearm(self, actor: str) -> None:
        """After an admin's `risk.reset`: ARMED again, the peak restarted at today's
        equity (the old one would trip the guard again at once)."""
        if self.guard.phase is GuardPhase.ARMED:
            return
        equity = await self._hooks.read_equity()
        change = self.guard.rearm(equity, self._hooks.now())
        if change is None:
            return
        self._closes_sent = True
        self.guard.mark_recorded()
        await self._record("armed", {"actor": actor})
        self._hooks.announce(f"drawdown guard re-armed by {actor}: peak {equity}",
                             self.status())

    async def record_peak_at_stop(self) -> None:
        """A clean stop writes the exact peak (between steps it is only in memory)."""
        if self.guard.phase is GuardPhase.ARMED and self.guard.unrecorded_peak() is not None:
            await self._record("peak", {})
            self.guard.mark_recorded()

    def reconfigure(self, limits: DrawdownLimits) -> None:
        """New settings (config.reload) for the checks to come; a countdown already
        running keeps its deadline."""
        self.guard.limits = limits

    def status(self) -> dict[str, object]:
        """The `guards.drawdown` block of `engine.status` (and of the guard's events)."""
        return {"name": GUARD_NAME, **self.guard.snapshot()}

    # -- the moves -------------------------------------------------------------------------
    async def _warn(self, change: GuardTransition) -> None:
        guard = self.guard
        reason = guard.reason()
        self._hooks.pause(reason)
        self.guard.mark_recorded()
        message = (f"drawdown guard: closing every position and halting in "
                   f"{int(guard.limits.warning.total_seconds())} s — {guard.why()}")
        breach = guard.breach
        assert breach is not None
        self._hooks.alert({
            "level": "critical", "message": message, "trigger": breach.trigger.value,
            "guard": GUARD_NAME, "countdown_seconds": int(guard.limits.warning.total_seconds()),
            "deadline": guard.deadline, "equity": breach.equity, "peak": breach.peak,
            "drawdown_pct": breach.drawdown_pct.quantize(Decimal("0.01")),
        })
        self._hooks.announce(f"drawdown guard warning: {guard.why()}", self.status())
        await self._record("warning", {})

    async def _close(self, change: GuardTransition) -> None:
        reason = self.guard.reason()
        # HALTED first: from here the gate passes nothing but the halt's own close-all.
        self._hooks.halt(reason)
        self.last_close_orders = await self._hooks.close_all(reason)
        self._closes_sent = True
        message = (f"drawdown guard: {len(self.last_close_orders)} close orders sent, "
                   f"trading HALTED until an admin's risk.reset")
        self._hooks.alert({"level": "error", "message": message, "guard": GUARD_NAME,
                           "trigger": self.guard.breach.trigger.value
                           if self.guard.breach else None})
        self._hooks.announce(f"drawdown guard closing: {self.guard.why()}", self.status())
        await self._record("closing", {"close_orders": self.last_close_orders})
        if self._hooks.is_flat():
            await self._finish(self.guard.finish(self._hooks.now()))

    async def _finish(self, change: GuardTransition) -> None:
        self._hooks.announce(f"drawdown guard halted: every position closed; "
                             f"{self.guard.why()}", self.status())
        await self._record("halted", {})

    async def _record(self, event: str, extra: Mapping[str, object]) -> None:
        """The guard's audit row. A ledger that refuses it must not stop the guard: it
        acts anyway, and says the row is missing."""
        details = {**self.guard.as_record(), **extra}
        try:
            await self._hooks.audit(AUDIT_PREFIX + event, AUDIT_SUBJECT, details)
        except LedgerError as error:
            log.exception("could not audit the drawdown guard's %s", event)
            self._alert("error", f"drawdown guard {event}: the audit row was not written "
                                 f"({error})")

    def _alert(self, level: str, message: str) -> None:
        self._hooks.alert({"level": level, "message": message, "guard": GUARD_NAME})
