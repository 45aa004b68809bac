"""The one result every entry filter gives, and the shape every filter has.

A filter answers allow or block, and always says why in a sentence a person can read in
the strategy log ("VIX 18.2 ≥ 15"), also when it allows. `alert` marks the verdicts an
operator must hear about now (a missing VIX, fundamentals that could not be fetched), as
opposed to an ordinary block of one candidate. Verdicts go to the strategy log and the
daily summary, never to the ledger: only executed trades are booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class FilterVerdict:
    """Allow or block, from filter `filter`, with its reason.

    `context` holds the figures behind the decision (as text, ready for a JSON log line);
    it takes no part in hashing.
    """

    allowed: bool
    filter: str
    reason: str
    alert: bool = False
    context: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def allow(
        cls, filter_name: str, reason: str, *, alert: bool = False, **context: object
    ) -> FilterVerdict:
        """An allowing verdict; `context` values are turned into text."""
        return cls(True, filter_name, reason, alert, {k: str(v) for k, v in context.items()})

    @classmethod
    def block(
        cls, filter_name: str, reason: str, *, alert: bool = False, **context: object
    ) -> FilterVerdict:
        """A blocking verdict; `context` values are turned into text."""
        return cls(False, filter_name, reason, alert, {k: str(v) for k, v in context.items()})

    @property
    def blocked(self) -> bool:
        """Not allowed."""
        return not self.allowed

    def __str__(self) -> str:
        word = "allowed" if self.allowed else "blocked"
        return f"{self.filter}: {word}: {self.reason}" + (" [ALERT]" if self.alert else "")


class EntryFilter(Protocol):
    """What every entry filter has besides its own `check(...)` (whose arguments differ
    from filter to filter)."""

    @property
    def name(self) -> str:
        """The filter's name, as verdicts carry it."""
        ...

    @property
    def enabled(self) -> bool:
        """Whether the filter judges at all; a disabled filter allows and says so."""
        ...

    def self_check(self) -> list[str]:
        """Problems that make the filter unable to do its job (empty: fine), for start-up
        checks: a threshold that can never pass, a source missing while enabled..."""
        ...
