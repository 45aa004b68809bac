"""Every error the ledger reports to a person. All subclass `LedgerError` (a `TbotError`).

Messages name the FITID, account, file or row concerned so an operator can act on them;
they never carry secrets (the ledger holds none).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from tbot.errors import EXIT_BAD_INPUT, TbotError


class LedgerError(TbotError):
    """Base of every ledger error."""

    exit_code = EXIT_BAD_INPUT


class AmountError(LedgerError, ValueError):
    """A money, quantity or price value that cannot be stored exactly (too many decimal
    places, NaN/Infinity, outside the signed 64-bit range of its scaled integer)."""


class InvalidEntryError(LedgerError):
    """A draft entry that breaks a rule other than balance or accounts (fewer than two
    postings, a zero amount, a naive `dtposted`, a bad trade field...)."""

    def __init__(self, fitid: str, problem: str) -> None:
        self.fitid = fitid
        self.problem = problem
        super().__init__(f"entry {fitid!r} refused: {problem}")


class UnbalancedEntryError(LedgerError):
    """The postings of one currency or more do not sum to exactly zero."""

    def __init__(self, fitid: str, imbalance: Mapping[str, Decimal]) -> None:
        from tbot.ledger.amounts import format_money  # late import: amounts imports errors

        self.fitid = fitid
        self.imbalance = dict(imbalance)
        per_currency = ", ".join(
            f"{currency} {format_money(amount)}" for currency, amount in sorted(imbalance.items())
        )
        super().__init__(
            f"entry {fitid!r} refused: postings do not balance "
            f"(debits minus credits: {per_currency})"
        )


class UnknownAccountError(LedgerError):
    """A posting names an account that is not in the chart of accounts."""

    def __init__(self, fitid: str, account: str) -> None:
        self.fitid = fitid
        self.account = account
        super().__init__(f"entry {fitid!r} refused: account {account!r} is not in the chart")


class NonPostableAccountError(LedgerError):
    """A posting names a parent (summary) account or a control/memo account."""

    def __init__(self, fitid: str, account: str, reason: str) -> None:
        self.fitid = fitid
        self.account = account
        self.reason = reason
        super().__init__(
            f"entry {fitid!r} refused: account {account!r} takes no postings ({reason})"
        )


class DuplicateFitidError(LedgerError):
    """The FITID is already in the ledger, or appears twice in one batch."""

    def __init__(self, fitid: str, where: str) -> None:
        self.fitid = fitid
        super().__init__(f"entry {fitid!r} refused: FITID {where}")


class EntryNotFoundError(LedgerError):
    """No entry carries the FITID asked for."""

    def __init__(self, fitid: str) -> None:
        self.fitid = fitid
        super().__init__(f"no ledger entry has FITID {fitid!r}")


class AlreadyReversedError(LedgerError):
    """The entry has already been reversed; a second reversal is refused."""

    def __init__(self, fitid: str, reversed_by: str) -> None:
        self.fitid = fitid
        self.reversed_by = reversed_by
        super().__init__(f"entry {fitid!r} was already reversed by entry {reversed_by!r}")


class LedgerLockedError(LedgerError):
    """Another process holds the writer lock of this bot's ledgers (the operation is
    refused, exit status 2 like any refused request)."""

    def __init__(self, lock_file: Path, holder_pid: int | None) -> None:
        self.lock_file = lock_file
        self.holder_pid = holder_pid
        holder = f"pid {holder_pid}" if holder_pid is not None else "a process of unknown pid"
        super().__init__(
            f"the ledger already has a writer ({holder}); lock file {lock_file}"
        )


class LedgerFileError(LedgerError):
    """A ledger or COA file that is missing, already exists, or is not what it should be."""


class InvalidRowError(LedgerError):
    """A reconciliation row of a batch that cannot be written: an unknown column, a value
    of the wrong type, a reference to no row, or a constraint SQLite refused."""

    def __init__(self, table: str, index: int, problem: str) -> None:
        self.table = table
        self.index = index
        self.problem = problem
        super().__init__(f"batch row {table}[{index}] refused: {problem}")
