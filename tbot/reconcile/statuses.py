"""The words reconciliation records: statuses, kinds, triggers, outcomes and actions.

They are the values the ledger's reconciliation tables accept (their CHECK constraints),
the protocol's and the CLI's vocabulary.
"""

from __future__ import annotations

from enum import StrEnum


class RecordStatus(StrEnum):
    """The reconciliation state of one broker record, position or cash assertion."""

    OK = "ok"
    MISMATCH = "mismatch"
    LOCAL_ONLY = "local-only"
    BROKER_ONLY = "broker-only"
    PENDING = "pending"
    UNMAPPED = "unmapped"
    RESOLVED = "resolved"

    @property
    def is_break(self) -> bool:
        """True for a state that needs a person: anything but ok and resolved."""
        return self not in (RecordStatus.OK, RecordStatus.RESOLVED)


class BreakKind(StrEnum):
    """What a reconciliation row is about."""

    FILL = "fill"
    CASH = "cash"
    POSITION = "position"
    BALANCE = "balance"


class SyncTrigger(StrEnum):
    """Why a sync or a check ran."""

    STARTUP = "startup"
    SCHEDULE = "schedule"
    END_OF_DAY = "end_of_day"
    MANUAL = "manual"


class RunOutcome(StrEnum):
    """How a sync run ended."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    """Some span could not be read: nothing is concluded from its absence."""
    FAILED = "failed"


class PositionOutcome(StrEnum):
    """The result of comparing one symbol's position."""

    MATCHED = "matched"
    QUANTITY_MISMATCH = "quantity_mismatch"
    COST_MISMATCH = "cost_mismatch"
    MISSING_AT_BROKER = "missing_at_broker"
    MISSING_IN_LEDGER = "missing_in_ledger"

    @property
    def status(self) -> RecordStatus:
        """The reconciliation status a check with this outcome records."""
        return _POSITION_STATUS[self]


_POSITION_STATUS = {
    PositionOutcome.MATCHED: RecordStatus.OK,
    PositionOutcome.QUANTITY_MISMATCH: RecordStatus.MISMATCH,
    PositionOutcome.COST_MISMATCH: RecordStatus.MISMATCH,
    PositionOutcome.MISSING_AT_BROKER: RecordStatus.LOCAL_ONLY,
    PositionOutcome.MISSING_IN_LEDGER: RecordStatus.BROKER_ONLY,
}


class ResolutionAction(StrEnum):
    """How an admin clears a break."""

    ACCEPT_BROKER = "accept-broker"
    """Post the broker's version into the ledger."""
    KEEP_LEDGER = "keep-ledger"
    """The broker is wrong, or it is a known timing difference (a reason is required)."""
    BOOK_MANUALLY = "book-manually"
    """The admin posts the entry the break needs."""
