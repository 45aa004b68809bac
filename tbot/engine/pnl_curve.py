"""Today's PnL curve: one sample per market minute, for the console's intraday chart.

The engine samples total PnL (realized less fees plus unrealized) and equity each minute it
marks positions, so a console opened at 11:00 still charts the day from the open. The
curve lives in memory: after an engine restart it starts again at the restart (the ledger
keeps the realized figures; the unrealized ones of the past minutes are not recoverable).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final

MAX_POINTS: Final = 1_440
"""One a minute for a whole day, the most a session (even an extended one) can have."""


@dataclass(frozen=True)
class PnlSample:
    """Total PnL and equity at the end of one minute (engine clock)."""

    at: datetime
    total: Decimal
    equity: Decimal | None


class PnlCurve:
    """The current day's samples, oldest first; a new day starts an empty curve."""

    def __init__(self) -> None:
        self.day: date | None = None
        self._samples: deque[PnlSample] = deque(maxlen=MAX_POINTS)

    def start_day(self, day: date) -> None:
        """Forget the previous day's samples."""
        self.day = day
        self._samples.clear()

    def record(self, at: datetime, total: Decimal, equity: Decimal | None) -> None:
        """Add the sample of the minute ending `at`; a second sample of the same minute
        replaces the first, and time never runs backwards within a curve."""
        sample = PnlSample(at, total, equity)
        if self._samples and self._samples[-1].at >= at:
            if self._samples[-1].at == at:
                self._samples[-1] = sample
            return
        self._samples.append(sample)

    def record_summary(
        self, at: datetime, summary: Mapping[str, object], equity: Decimal | None
    ) -> None:
        """`record` the day's total from a `pnl.summary` result."""
        today = summary.get("today")
        total = today.get("total") if isinstance(today, Mapping) else None
        if not isinstance(total, Decimal):
            raise TypeError(f"a pnl summary without a Decimal today.total: {summary!r}")
        self.record(at, total, equity)

    def __len__(self) -> int:
        return len(self._samples)

    def as_wire(self, currency: str) -> dict[str, object]:
        """The `pnl.history` result."""
        return {
            "currency": currency,
            "day": self.day,
            "points": [
                {"at": sample.at, "total": sample.total, "equity": sample.equity}
                for sample in self._samples
            ],
        }
