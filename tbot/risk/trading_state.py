"""Whether the bot may trade, and why not: ACTIVE, REDUCING or HALTED.

The states follow NautilusTrader's RiskEngine: ACTIVE trades normally; REDUCING (an
operator's pause) lets only orders that reduce positions through; HALTED lets nothing
through except the halt's own flattening (the kill switch, the daily-loss limit, the
drawdown guard). A halt is
lifted only by an explicit reset, never by a resume, so a pause can never undo a halt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Self

from tbot.clock import ensure_utc
from tbot.config.bot_settings import BotSettings
from tbot.errors import TbotError
from tbot.strategy.signals import ExitReason

DISABLED_BY_SETTINGS = "DISABLE_ALL_TRADES=true"

# The orders a halt itself sends to flatten the book; every other order waits for a reset.
HALT_FLATTENING_REASONS = frozenset(
    {ExitReason.KILL_SWITCH, ExitReason.DAILY_LOSS_LIMIT, ExitReason.DRAWDOWN_GUARD,
     ExitReason.DATA_FAILURE}
)


class TradingState(StrEnum):
    """What orders the risk gate lets through."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class TradingStateError(TbotError):
    """A transition that the current state refuses (e.g. resuming a halted bot)."""


@dataclass(frozen=True, slots=True)
class StateChange:
    """One transition, for the audit trail and the `risk.state` event."""

    before: TradingState
    after: TradingState
    reason: str
    at: datetime


class TradingStateMachine:
    """The bot's trading state, how it got there and since when."""

    def __init__(self, initial: TradingState, reason: str, at: datetime) -> None:
        self._state = initial
        self._reason = reason
        self._since = ensure_utc(at)
        self._history: list[StateChange] = []

    @classmethod
    def from_settings(cls, bot: BotSettings, at: datetime) -> Self:
        """HALTED when DISABLE_ALL_TRADES=true, otherwise ACTIVE."""
        if bot.DISABLE_ALL_TRADES:
            return cls(TradingState.HALTED, DISABLED_BY_SETTINGS, at)
        return cls(TradingState.ACTIVE, "started", at)

    @property
    def state(self) -> TradingState:
        """The state in force."""
        return self._state

    @property
    def reason(self) -> str:
        """Why the state is what it is."""
        return self._reason

    @property
    def since(self) -> datetime:
        """When the state was entered."""
        return self._since

    @property
    def history(self) -> tuple[StateChange, ...]:
        """Every transition since construction, oldest first."""
        return tuple(self._history)

    def pause(self, reason: str, at: datetime) -> StateChange | None:
        """ACTIVE → REDUCING: no new entries, exits still go out. Nothing changes when
        already REDUCING or HALTED (a halt is stricter than a pause)."""
        if self._state is not TradingState.ACTIVE:
            return None
        return self._move(TradingState.REDUCING, reason, at)

    def resume(self, at: datetime, reason: str = "resumed") -> StateChange | None:
        """REDUCING → ACTIVE. Refused when HALTED: only `reset` lifts a halt."""
        if self._state is TradingState.HALTED:
            raise TradingStateError(
                f"trading is halted by {self._reason}: use risk.reset to lift the halt"
            )
        if self._state is TradingState.ACTIVE:
            return None
        return self._move(TradingState.ACTIVE, reason, at)

    def halt(self, reason: str, at: datetime) -> StateChange | None:
        """Any state → HALTED. A second halt keeps the first reason and changes nothing."""
        if self._state is TradingState.HALTED:
            return None
        return self._move(TradingState.HALTED, reason, at)

    def reset(self, at: datetime, reason: str = "reset") -> StateChange | None:
        """HALTED → ACTIVE. Refused when REDUCING (a pause is lifted with `resume`)."""
        if self._state is TradingState.REDUCING:
            raise TradingStateError(
                f"trading is paused by {self._reason}, not halted: use risk.resume"
            )
        if self._state is TradingState.ACTIVE:
            return None
        return self._move(TradingState.ACTIVE, reason, at)

    def allows_entry(self) -> bool:
        """True when new positions may be opened: only in ACTIVE."""
        return self._state is TradingState.ACTIVE

    def allows_exit(self, reason: ExitReason) -> bool:
        """True when an exit for `reason` may be sent: always in ACTIVE and REDUCING; in
        HALTED only the halt's own flattening (kill switch, daily-loss limit, drawdown guard)."""
        if self._state is TradingState.HALTED:
            return reason in HALT_FLATTENING_REASONS
        return True

    def snapshot(self) -> dict[str, object]:
        """JSON-ready state for `engine.status`."""
        return {
            "state": self._state.value,
            "reason": self._reason,
            "since": self._since.isoformat(),
        }

    def _move(self, after: TradingState, reason: str, at: datetime) -> StateChange:
        change = StateChange(self._state, after, reason, ensure_utc(at))
        self._state, self._reason, self._since = after, reason, change.at
        self._history.append(change)
        return change
