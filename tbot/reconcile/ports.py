"""The narrow doors reconciliation uses: to the broker, to the ledger, and to the engine.

The engine and the offline CLI each provide them (`tbot.reconcile.adapters`), so the same
sync, checks and resolutions run in both, and nothing here reaches into an `Engine`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tbot.broker.models import AccountSnapshot, BrokerFill, BrokerPosition, Page
from tbot.broker.reports import CashReport, FillReport, RefusedReport
from tbot.ledger.batch import BatchResult, LedgerBatch

if TYPE_CHECKING:
    from tbot.reconcile.mapping.sync_round import SyncRound

T = TypeVar("T")


class BrokerPort(Protocol):
    """What reconciliation reads from the broker. Every call retries what may pass and
    raises `BrokerError` when it fails for good."""

    async def fill_reports(
        self, since: Any, until: Any, page_token: str | None, page_size: int
    ) -> Page[FillReport | RefusedReport]:
        """One page of fill reports."""
        ...

    async def cash_reports(
        self, since: Any, until: Any, page_token: str | None, page_size: int
    ) -> Page[CashReport | RefusedReport]:
        """One page of cash reports."""
        ...

    async def positions(self) -> list[BrokerPosition]:
        """Every open position (a failure is an exception, never an empty list)."""
        ...

    async def account(self) -> AccountSnapshot:
        """Cash and equity now."""
        ...

    def credential_fingerprint(self) -> str:
        """SHA-256 of the credential in use (never the credential)."""
        ...


class LedgerPort(Protocol):
    """Reads and the one atomic write, on the ledger's own thread."""

    async def read(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """`function(connection)` on a read-only connection."""
        ...

    async def commit(
        self, batch: LedgerBatch, *, actor: str, action: str, subject: str,
        details: Mapping[str, Any],
    ) -> BatchResult:
        """Write `batch` all or nothing (entries, reversals, reconciliation rows)."""
        ...


class EnginePort(Protocol):
    """What the running engine lends reconciliation (the CLI's offline port has no book)."""

    def is_own_order(self, client_order_id: str) -> bool:
        """True when the engine placed the order (its client order id says so)."""
        ...

    async def book_own_fill(self, fill: BrokerFill) -> int | None:
        """Book a fill of our own order that the ledger lacks, as the engine books any
        fill; the entry id, or None when the ledger refused it."""
        ...

    def book_positions(self) -> Mapping[str, Decimal] | None:
        """The engine's position book (quantity by symbol), None when there is no engine."""
        ...

    async def ledger_corrected(self, symbols: frozenset[str]) -> None:
        """A resolution posted entries that move `symbols`' lots or the cash: reload."""
        ...


class MappingPort(Protocol):
    """The mapping room as a sync meets it: the state to map one run's cash records with,
    and word of what the run wrote."""

    async def sync_round(self, broker_ids: Sequence[str], actor: str, *,
                         unbooked: Sequence[str] = ()) -> SyncRound:
        """Read what mapping `broker_ids` needs (rules, model, queue states; FITIDs of the
        `unbooked` ones)."""
        ...

    def round_written(self, round_: SyncRound) -> None:
        """The run's batch, with the round's rows, is in the ledger."""
        ...
