"""The `recon.*` control methods: who may ask what of reconciliation, over the socket.

Reads are open to every role (auditors and viewers read everything); `recon.sync` and
`recon.resolve` need admin (the seed: only admins initiate a sync or clear a break). The
engine's own scheduled runs need no caller.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tbot.clock import Clock
from tbot.control.methods import Caller, MethodSpec, NoParams, RpcError
from tbot.control.roles import Role
from tbot.control.wire import INVALID_PARAMS, REFUSED
from tbot.ledger.errors import LedgerError
from tbot.reconcile import queries
from tbot.reconcile.open_breaks import OpenBreakCounts
from tbot.reconcile.ports import LedgerPort
from tbot.reconcile.resolution import ResolutionError, ResolveRequest, parse_postings
from tbot.reconcile.service import ReconService, SyncBusyError
from tbot.reconcile.statuses import ResolutionAction, SyncTrigger
from tbot.reconcile.sync import SyncWindow

T = TypeVar("T")

STATUSES = Literal["ok", "mismatch", "local-only", "broker-only", "pending", "unmapped",
                   "resolved"]
KINDS = Literal["fill", "cash", "position", "balance"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncParams(_Params):
    """`recon.sync`: the window (default the last SYNC_LOOKBACK_DAYS)."""

    since: date | datetime | None = None
    until: date | datetime | None = None


class PageParams(_Params):
    """A page of a listing."""

    limit: int = Field(default=100, ge=1, le=queries.MAX_PAGE)
    offset: int = Field(default=0, ge=0)


class BreaksParams(PageParams):
    """`recon.breaks`: open breaks (or the latest rows in `status`), filtered."""

    status: STATUSES | None = None
    kind: KINDS | None = None
    symbol: str | None = Field(default=None, min_length=1, max_length=32)
    search: str | None = Field(default=None, min_length=1, max_length=queries.MAX_SEARCH)
    """Case-insensitive text in the symbol, trade id, detail, kind or status."""


class ShowParams(_Params):
    """`recon.show`."""

    id: int = Field(ge=1)


class PostingParams(_Params):
    """One leg of a book-manually entry: amount > 0 debits, < 0 credits (exact text)."""

    account: str = Field(min_length=1, max_length=16)
    amount: str = Field(min_length=1, max_length=40)
    symbol: str | None = Field(default=None, max_length=32)
    quantity: str | None = Field(default=None, max_length=40)
    memo: str | None = Field(default=None, max_length=200)


class ResolveParams(_Params):
    """`recon.resolve`."""

    id: int = Field(ge=1)
    action: Literal["accept-broker", "keep-ledger", "book-manually"]
    reason: str = Field(min_length=1, max_length=500)
    account: str | None = Field(default=None, max_length=16)
    postings: list[PostingParams] = Field(default_factory=list, max_length=50)
    memo: str | None = Field(default=None, max_length=500)
    dry_run: bool = False


def window_of(since: date | datetime | None, until: date | datetime | None,
              clock: Clock, lookback_days: int) -> SyncWindow | None:
    """The window asked for (dates are whole UTC days; `until` a date is inclusive)."""
    if since is None and until is None:
        return None
    end = _moment(until, end=True) if until is not None else clock.now()
    start = _moment(since, end=False) if since is not None else (
        SyncWindow.lookback(end, lookback_days).since)
    if start >= end:
        raise ValueError(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
    return SyncWindow(start, end)


def _moment(value: date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone: give one (e.g. Z)")
        return value.astimezone(UTC)
    moment = datetime.combine(value, time(0), tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment


class ReconMethods:
    """Binds the `recon.*` methods to one bot's reconciliation service and ledger."""

    def __init__(self, service: ReconService, ledger: LedgerPort, clock: Clock,
                 lookback_days: int) -> None:
        self.service = service
        self.ledger = ledger
        self.clock = clock
        self.lookback_days = lookback_days
        self.open_counts = OpenBreakCounts()
        """Follows the open breaks as the log grows: a page's totals without a recount."""

    def specs(self) -> list[MethodSpec]:
        """The method table entries."""
        return [
            MethodSpec("recon.sync", "sync the ledger with the broker now (in the background)",
                       self.sync, SyncParams, Role.ADMIN, True),
            MethodSpec("recon.status", "the running sync's progress and the last results",
                       self.status, NoParams, Role.VIEWER, False),
            MethodSpec("recon.runs", "sync runs, newest first", self.runs, PageParams,
                       Role.VIEWER, False),
            MethodSpec("recon.breaks", "open reconciliation breaks, newest first",
                       self.breaks, BreaksParams, Role.VIEWER, False),
            MethodSpec("recon.show", "one break in full: broker record, ledger side, history",
                       self.show, ShowParams, Role.VIEWER, False),
            MethodSpec("recon.resolve", "resolve a break: accept-broker, keep-ledger or "
                       "book-manually", self.resolve, ResolveParams, Role.ADMIN, True),
            MethodSpec("recon.positions", "the latest position checks and cash assertions",
                       self.positions, NoParams, Role.VIEWER, False),
        ]

    async def _read(self, function: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.ledger.read(function)
        except (sqlite3.Error, LedgerError) as error:
            raise RpcError(REFUSED, f"the ledger could not be read: {error}") from None

    async def sync(self, params: SyncParams, caller: Caller) -> dict[str, Any]:
        try:
            window = window_of(params.since, params.until, self.clock, self.lookback_days)
        except ValueError as error:
            raise RpcError(INVALID_PARAMS, str(error)) from None
        try:
            self.service.start_sync(SyncTrigger.MANUAL, window, actor=f"control:{caller.name}")
        except SyncBusyError as error:
            raise RpcError(REFUSED, error.message,
                           {"retry_after": round(error.retry_after, 1)}) from None
        return {"started": True, "status": self.service.status()}

    async def status(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        return self.service.status()

    async def runs(self, params: PageParams, caller: Caller) -> dict[str, Any]:
        return await self._read(
            lambda c: queries.list_runs(c, limit=params.limit, offset=params.offset))

    async def breaks(self, params: BreaksParams, caller: Caller) -> dict[str, Any]:
        now = self.clock.now()
        return await self._read(lambda c: queries.list_breaks(
            c, now, status=params.status, kind=params.kind, symbol=params.symbol,
            search=params.search, limit=params.limit, offset=params.offset,
            counts=self.open_counts))

    async def show(self, params: ShowParams, caller: Caller) -> dict[str, Any]:
        now = self.clock.now()
        try:
            return await self.ledger.read(lambda c: queries.show_break(c, params.id, now))
        except ResolutionError as error:
            raise RpcError(REFUSED, error.message, {"code": error.code}) from None

    async def resolve(self, params: ResolveParams, caller: Caller) -> dict[str, Any]:
        try:
            request = ResolveRequest(
                break_id=params.id,
                action=ResolutionAction(params.action),
                reason=params.reason,
                postings=parse_postings([p.model_dump() for p in params.postings]),
                memo=params.memo,
                account=params.account,
                dry_run=params.dry_run,
            )
            resolution = await self.service.resolve(request, f"control:{caller.name}")
        except ResolutionError as error:
            raise RpcError(REFUSED, error.message, {"code": error.code}) from None
        return resolution.as_dict()

    async def positions(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        return await self._read(queries.latest_positions)
