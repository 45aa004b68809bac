"""The alert record: what happened, to which bot, when, and why, as a person reads it.

An `Alert` is built from an engine event (or by `tbot alerts test`) and is immutable. Its
`dedup_key` says when two alerts are "the same" for the dispatcher's window: the kind,
what it is about (strategy, symbol, a fill id) and what it says. Time is not part of the
key: a repeat is a repeat whatever its minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final

from apprise import NotifyType

from tbot.clock import utc_text

MISSING: Final = "-"
# A title is one line in a pager or a mail list: the rest is in the body.
TITLE_LIMIT: Final = 120


class Severity(StrEnum):
    """How urgent an alert is (the engine's `alerts` levels)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Orders severities: a repeat at a higher severity is not a repeat."""
        return _RANKS[self]

    @classmethod
    def parse(cls, value: object) -> Severity:
        """The severity named by `value`; an unknown level counts as an error (a person
        should rather see too much than miss a new kind of failure)."""
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls.ERROR


_RANKS: Final[dict[Severity, int]] = {
    Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3,
}

# How apprise colours or prioritises a message on services that care (Slack, PagerDuty).
_NOTIFY_TYPES: Final[dict[Severity, NotifyType]] = {
    Severity.INFO: NotifyType.INFO,
    Severity.WARNING: NotifyType.WARNING,
    Severity.ERROR: NotifyType.FAILURE,
    Severity.CRITICAL: NotifyType.FAILURE,
}


class AlertKind(StrEnum):
    """What an alert reports; the NOTIFY_ON_* settings choose kinds."""

    FILL = "fill"  # an entry fill (NOTIFY_ON_FILL)
    EXIT = "exit"  # an exit fill, with its realized PnL (NOTIFY_ON_EXIT)
    FAILURE = "failure"  # an engine alert at warning or above, a halt (NOTIFY_ON_FAILURE)
    NOTICE = "notice"  # an engine alert at info level: not sent to a person
    TEST = "test"  # `tbot alerts test`


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. `pnl_scope` says what `pnl` measures ("this exit, realized",
    "today, all strategies"...); `ref` tells apart alerts that read alike (a fill id)."""

    at: datetime
    bot: str
    severity: Severity
    kind: AlertKind
    text: str
    strategy: str | None = None
    symbol: str | None = None
    pnl: Decimal | None = None
    pnl_scope: str = ""
    trigger: str | None = None
    ref: str | None = None

    def dedup_key(self) -> tuple[str, ...]:
        """Alerts with equal keys are repeats of each other (severity aside)."""
        return (
            self.kind.value,
            self.ref or "",
            self.strategy or "",
            self.symbol or "",
            self.trigger or "",
            self.text,
        )

    @property
    def notify_type(self) -> NotifyType:
        """apprise's message type for this severity."""
        return _NOTIFY_TYPES[self.severity]

    def title(self) -> str:
        """One line: severity, bot, and the start of the text."""
        headline = self.text.splitlines()[0] if self.text else self.kind.value
        title = f"[{self.severity.value.upper()}] {self.bot}: {headline}"
        return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"

    def body(self) -> str:
        """The text, then every field on its own `name: value` line (a missing one is
        `-`), so a person and a mail filter read the same thing."""
        pnl = MISSING
        if self.pnl is not None:
            pnl = money_text(self.pnl) + (f" ({self.pnl_scope})" if self.pnl_scope else "")
        fields = (
            ("time", utc_text(self.at)),
            ("bot", self.bot),
            ("severity", self.severity.value),
            ("kind", self.kind.value),
            ("strategy", self.strategy or MISSING),
            ("symbol", self.symbol or MISSING),
            ("pnl", pnl),
            ("trigger", self.trigger or MISSING),
        )
        return self.text + "\n\n" + "\n".join(f"{name}: {value}" for name, value in fields)


def money_text(value: Decimal) -> str:
    """Exact fixed-point text with at least two places (``12.50``, ``-0.000125``): an alert
    shows the ledger's figure, never a rounded one."""
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
