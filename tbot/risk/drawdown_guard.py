"""The drawdown guard's logic: equity against its peak, and the countdown to closing.

Pure and clock-free (every call is told the time), so it is tested without an engine; the
engine's attachment (`tbot.engine.drawdown_watch`) feeds it equity, persists it in the
audit trail and acts on its transitions.

Phases, one way only until an admin's reset re-arms it::

    ARMED ──breach──► WARNING(deadline) ──deadline──► CLOSING ──flat──► HALTED ──reset──► ARMED

A breach is equity at `MAX_DRAWDOWN_PCT` or more below its peak, or equity below
`MIN_EQUITY` (0 switches either check off). Once WARNING, nothing moves the deadline or
goes back: a recovering market, a resume or a new peak change nothing (the peak is
tracked only while ARMED). Re-arming (after `risk.reset`) starts a new peak at the equity
of that moment: the old peak would re-trigger at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

from tbot.clock import ensure_utc, utc_text
from tbot.config.bot_settings import BotSettings
from tbot.errors import TbotError

HUNDRED = Decimal(100)
ZERO = Decimal(0)

PEAK_RECORD_STEP = Decimal("0.001")
"""A new peak is written to the audit trail once it is this fraction (0.1%) above the last
one written: a rising day costs a handful of audit rows (each one a ledger backup), not
one a minute. After a crash the peak read back is at most this much below the true one;
a clean stop writes the exact peak."""

DISPLAY_PLACES = Decimal("0.01")


class GuardPhase(StrEnum):
    """Where the guard is on its one-way path."""

    ARMED = "armed"
    WARNING = "warning"
    CLOSING = "closing"
    HALTED = "halted"


class Trigger(StrEnum):
    """What tripped the guard."""

    MAX_DRAWDOWN = "max_drawdown"
    MIN_EQUITY = "min_equity"


class GuardTriggeredError(TbotError):
    """A request the guard refuses because its countdown is running."""


@dataclass(frozen=True, slots=True)
class DrawdownLimits:
    """The guard's settings: `max_drawdown_pct` in percent and `min_equity` in USD (0 is
    off), the warning before closing and the interval between checks."""

    max_drawdown_pct: Decimal
    min_equity: Decimal
    warning: timedelta
    check_interval: timedelta

    @classmethod
    def from_settings(cls, bot: BotSettings) -> Self:
        """MAX_DRAWDOWN_PCT, MIN_EQUITY, AUTO_CLOSE_WARNING_SECONDS, DRAWDOWN_CHECK_INTERVAL."""
        return cls(
            max_drawdown_pct=bot.MAX_DRAWDOWN_PCT,
            min_equity=bot.MIN_EQUITY,
            warning=timedelta(seconds=bot.AUTO_CLOSE_WARNING_SECONDS),
            check_interval=timedelta(seconds=bot.DRAWDOWN_CHECK_INTERVAL),
        )


def drawdown_pct(equity: Decimal, peak: Decimal) -> Decimal:
    """How far `equity` is below `peak`, in percent of the peak (0 when at or above it, or
    when the peak is not positive: no drawdown can be measured from nothing)."""
    if peak <= ZERO or equity >= peak:
        return ZERO
    return (peak - equity) / peak * HUNDRED


@dataclass(frozen=True, slots=True)
class Breach:
    """The check that tripped the guard, with the figures it saw."""

    trigger: Trigger
    equity: Decimal
    peak: Decimal
    drawdown_pct: Decimal
    at: datetime

    def describe(self, limits: DrawdownLimits) -> str:
        """One line an operator reads: which limit, which figures."""
        equity, peak = _cents(self.equity), _cents(self.peak)
        if self.trigger is Trigger.MIN_EQUITY:
            return f"equity {equity} below MIN_EQUITY {limits.min_equity}"
        shown = self.drawdown_pct.quantize(DISPLAY_PLACES)
        return (f"drawdown {shown}% from peak {peak} (equity {equity}) reached "
                f"MAX_DRAWDOWN_PCT {limits.max_drawdown_pct}%")

    def as_record(self) -> dict[str, object]:
        """JSON-ready (Decimals and aware datetimes) for the audit trail and events."""
        return {"trigger": self.trigger.value, "breach_equity": self.equity,
                "breach_peak": self.peak, "breach_drawdown_pct": self.drawdown_pct,
                "breached_at": self.at}


@dataclass(frozen=True, slots=True)
class GuardTransition:
    """One move of the guard, for its event and its audit row."""

    before: GuardPhase | None
    after: GuardPhase
    at: datetime
    reason: str


class DrawdownGuard:
    """Peak tracking, breach detection and the countdown state machine."""

    def __init__(
        self,
        limits: DrawdownLimits,
        *,
        peak: Decimal | None = None,
        phase: GuardPhase = GuardPhase.ARMED,
        breach: Breach | None = None,
        deadline: datetime | None = None,
    ) -> None:
        if phase in (GuardPhase.WARNING, GuardPhase.CLOSING) and (
                breach is None or deadline is None):
            raise ValueError(f"a guard in {phase} needs its breach and deadline")
        self.limits = limits
        self._peak = peak
        self._recorded_peak = peak
        self._phase = phase
        self._breach = breach
        self._deadline = ensure_utc(deadline) if deadline is not None else None
        self._equity: Decimal | None = None
        self._checked_at: datetime | None = None

    # -- reading -------------------------------------------------------------------------
    @property
    def phase(self) -> GuardPhase:
        """The guard's phase."""
        return self._phase

    @property
    def peak(self) -> Decimal | None:
        """The highest equity seen while armed (None before the first figure)."""
        return self._peak

    @property
    def equity(self) -> Decimal | None:
        """The last equity checked."""
        return self._equity

    @property
    def breach(self) -> Breach | None:
        """What tripped the guard (None while armed)."""
        return self._breach

    @property
    def deadline(self) -> datetime | None:
        """When the countdown ends: the close-all (None while armed)."""
        return self._deadline

    @property
    def triggered(self) -> bool:
        """True from the warning on, until an admin's reset re-arms the guard."""
        return self._phase is not GuardPhase.ARMED

    def reason(self) -> str:
        """`drawdown guard: drawdown 21.30% from peak ...`: the halt's reason."""
        if self._breach is None:
            return "drawdown guard: armed"
        return f"drawdown guard: {self.why()}"

    def why(self) -> str:
        """The breach in figures, without the guard's name (empty while armed)."""
        return self._breach.describe(self.limits) if self._breach is not None else ""

    def current_drawdown(self) -> Decimal | None:
        """The last equity's drawdown from the peak, in percent (None before a figure)."""
        if self._equity is None or self._peak is None:
            return None
        return drawdown_pct(self._equity, self._peak)

    # -- moving --------------------------------------------------------------------------
    def observe(self, equity: Decimal, at: datetime) -> GuardTransition | None:
        """Check one equity figure: a new peak (while armed), or a breach that starts the
        countdown (ARMED → WARNING). Returns the transition, if any."""
        at = ensure_utc(at)
        self._equity, self._checked_at = equity, at
        if self._phase is not GuardPhase.ARMED:
            return None  # triggered: nothing undoes or moves the countdown
        if self._peak is None or equity > self._peak:
            self._peak = equity
        breach = self._find_breach(equity, self._peak, at)
        if breach is None:
            return None
        self._breach = breach
        self._deadline = at + self.limits.warning
        return self._move(GuardPhase.WARNING, at, self.reason())

    def closing_due(self, at: datetime) -> bool:
        """True when the countdown has run out and the close-all must go now."""
        return (self._phase is GuardPhase.WARNING and self._deadline is not None
                and ensure_utc(at) >= self._deadline)

    def start_closing(self, at: datetime) -> GuardTransition:
        """WARNING → CLOSING: the close-all is being sent."""
        if self._phase is not GuardPhase.WARNING:
            raise GuardTriggeredError(f"the drawdown guard is {self._phase}, not counting down")
        return self._move(GuardPhase.CLOSING, ensure_utc(at), self.reason())

    def finish(self, at: datetime) -> GuardTransition:
        """CLOSING → HALTED: every position is closed."""
        if self._phase is not GuardPhase.CLOSING:
            raise GuardTriggeredError(f"the drawdown guard is {self._phase}, not closing")
        return self._move(GuardPhase.HALTED, ensure_utc(at), self.reason())

    def rearm(self, equity: Decimal | None, at: datetime) -> GuardTransition | None:
        """After an admin's reset: ARMED again with the peak restarted at `equity`. Refused
        while the countdown runs (nothing cancels it); nothing to do when armed."""
        if self._phase is GuardPhase.WARNING:
            raise GuardTriggeredError(self.countdown_refusal("risk.reset"))
        if self._phase is GuardPhase.ARMED:
            return None
        self._peak = equity
        self._equity = equity
        self._breach = None
        self._deadline = None
        return self._move(GuardPhase.ARMED, ensure_utc(at), "re-armed after risk.reset")

    def countdown_refusal(self, command: str) -> str:
        """Why `command` is refused while the guard counts down or closes."""
        when = utc_text(self._deadline.replace(microsecond=0)) if self._deadline else "now"
        return (f"{command} refused: the drawdown guard closes every position at {when} and "
                f"halts ({self.reason()}); no command can cancel or delay it")

    # -- persistence ---------------------------------------------------------------------
    def peak_to_record(self) -> Decimal | None:
        """The peak, when it has risen enough above the last one written to be written
        again (`PEAK_RECORD_STEP`); None otherwise."""
        peak = self._peak
        if peak is None:
            return None
        recorded = self._recorded_peak
        if recorded is None or peak >= recorded * (1 + PEAK_RECORD_STEP):
            return peak
        return None

    def unrecorded_peak(self) -> Decimal | None:
        """The peak, if it differs from the last one written at all (a clean stop)."""
        return self._peak if self._peak != self._recorded_peak else None

    def mark_recorded(self) -> None:
        """The current peak is in the audit trail."""
        self._recorded_peak = self._peak

    def as_record(self) -> dict[str, object]:
        """Everything a restart needs, JSON-ready: each audit row of the guard carries it,
        so the latest row alone restores the guard."""
        record: dict[str, object] = {"phase": self._phase.value, "peak": self._peak,
                                     "equity": self._equity}
        if self._breach is not None:
            record.update(self._breach.as_record())
        if self._deadline is not None:
            record["deadline"] = self._deadline
        return record

    @classmethod
    def from_record(cls, limits: DrawdownLimits, record: Mapping[str, Any]) -> Self:
        """The guard as `as_record` wrote it (values as the audit trail's JSON gives them
        back: Decimals and times as text)."""
        phase = GuardPhase(str(record["phase"]))
        peak = _decimal(record.get("peak"))
        breach = None
        if record.get("trigger") is not None:
            equity, breach_peak = _decimal(record["breach_equity"]), _decimal(record["breach_peak"])
            if equity is None or breach_peak is None:
                raise ValueError(f"a drawdown guard record without its breach: {record!r}")
            breach = Breach(
                trigger=Trigger(str(record["trigger"])),
                equity=equity,
                peak=breach_peak,
                drawdown_pct=drawdown_pct(equity, breach_peak),
                at=_time(record["breached_at"]),
            )
        deadline = _time(record["deadline"]) if record.get("deadline") else None
        guard = cls(limits, peak=peak, phase=phase, breach=breach, deadline=deadline)
        guard._equity = _decimal(record.get("equity"))
        return guard

    def snapshot(self) -> dict[str, object]:
        """JSON-ready for `engine.status` (`guards.drawdown`) and the guard's events."""
        current = self.current_drawdown()
        return {
            "phase": self._phase.value,
            "equity": self._equity,
            "peak": self._peak,
            "drawdown_pct": current.quantize(DISPLAY_PLACES) if current is not None else None,
            "max_drawdown_pct": self.limits.max_drawdown_pct,
            "min_equity": self.limits.min_equity,
            "warning_seconds": int(self.limits.warning.total_seconds()),
            "trigger": self._breach.trigger.value if self._breach is not None else None,
            "deadline": self._deadline,
            "reason": self.reason() if self._breach is not None else None,
            "checked_at": self._checked_at,
        }

    # -- internals -----------------------------------------------------------------------
    def _find_breach(self, equity: Decimal, peak: Decimal, at: datetime) -> Breach | None:
        limits = self.limits
        # The floor first: it is absolute, and names the plainer reason.
        if limits.min_equity > ZERO and equity < limits.min_equity:
            return Breach(Trigger.MIN_EQUITY, equity, peak, drawdown_pct(equity, peak), at)
        down = drawdown_pct(equity, peak)
        if limits.max_drawdown_pct > ZERO and down >= limits.max_drawdown_pct:
            return Breach(Trigger.MAX_DRAWDOWN, equity, peak, down, at)
        return None

    def _move(self, after: GuardPhase, at: datetime, reason: str) -> GuardTransition:
        change = GuardTransition(self._phase, after, at, reason)
        self._phase = after
        return change


def _cents(amount: Decimal) -> Decimal:
    """An amount as a person reads it in a message (the figures stay exact elsewhere)."""
    return amount.quantize(DISPLAY_PLACES)


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def _time(value: object) -> datetime:
    text = str(value)
    return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
