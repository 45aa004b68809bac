"""The engine's errors, classified and written down where an operator looks.

The seed's error handler: every exception the engine catches instead of dying is
classified (`ErrorKind`: network, broker, logic, config), its full traceback appended to
`error_tracebacks.log` with a timestamp, and a JSON line with the seed's fields (strategy,
broker, error_type, error_code, raw_exception) appended to `unresolved_orders.log`. What to
do about it (retry the minute, stop a strategy, escalate) is the caller's; the journal only
counts consecutive failures so the caller can escalate after `API_RETRY_LIMIT`.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from tbot.booking.strategy_logs import StrategyLogs
from tbot.broker.errors import BrokerError, BrokerUnavailableError
from tbot.clock import Clock, utc_text
from tbot.config.problems import ConfigError


class ErrorKind(StrEnum):
    """The seed's four classes of error."""

    NETWORK = "network"
    """The broker or a data source could not be reached, or timed out."""
    BROKER = "broker"
    """The broker answered, and refused (a reject, a bad request, a margin call)."""
    LOGIC = "logic"
    """Our own code went wrong: a bug to fix, never retried blindly forever."""
    CONFIG = "config"
    """A setting or secret the engine cannot work with."""


def classify(error: BaseException) -> ErrorKind:
    """The class of `error` (its causes are not looked through: the engine raises its own
    errors with the cause already worded)."""
    if isinstance(error, BrokerUnavailableError | ConnectionError | TimeoutError):
        return ErrorKind.NETWORK
    if isinstance(error, BrokerError):
        return ErrorKind.BROKER
    if isinstance(error, ConfigError):
        return ErrorKind.CONFIG
    return ErrorKind.LOGIC


class ErrorJournal:
    """Writes errors down and counts the consecutive ones."""

    def __init__(self, tracebacks: Path, logs: StrategyLogs, clock: Clock, broker: str) -> None:
        self._tracebacks = tracebacks
        self._logs = logs
        self._clock = clock
        self._broker = broker
        self.consecutive = 0
        self.total = 0

    def record(self, error: BaseException, *, where: str,
               strategy: str | None = None) -> ErrorKind:
        """Write `error` (caught in `where`) to both logs; its class."""
        kind = classify(error)
        self.consecutive += 1
        self.total += 1
        at = self._clock.now()
        self._append_traceback(at, kind, where, error)
        self._logs.unresolved(
            "error", strategy=strategy, broker=self._broker, error_type=kind.value,
            error_code=type(error).__name__, raw_exception=repr(error)[:2000], where=where,
            consecutive=self.consecutive)
        return kind

    def cleared(self) -> None:
        """A minute went through: the next failure is the first of its run again."""
        self.consecutive = 0

    def _append_traceback(self, at: datetime, kind: ErrorKind, where: str,
                          error: BaseException) -> None:
        text = "".join(traceback.format_exception(error))
        # Through the strategy logs' writer: the same rotation by day and size.
        self._logs.append_block(self._tracebacks,
                                f"=== {utc_text(at)} {kind.value} error in {where}\n{text}")
