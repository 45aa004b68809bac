"""`sync_broker_ledger`: every broker record of a window accounted for in the ledger.

Life of a sync:

1. Read the ledger side first (booked fills of the window, the latest reconciliation state
   of every record, the broker records already kept): anything the engine books while the
   broker is being read is then found as "already booked", never as a false local-only.
2. Fetch every fill and cash report of the window through the adapter's paging. A page
   that still fails after the broker port's retries ends that listing: the run is
   `partial`, the span not read is recorded, and nothing is concluded from its absence.
3. Classify each record by the broker's id: `ok`, `mismatch` (with the fields that differ),
   `broker-only` (a fill of our own order the engine missed is booked as usual and is
   `ok`), `pending` (not final at the broker; followed up by later syncs), `unmapped`
   (cash activity for the mapping queue), and, only over a complete listing, `local-only`.
   A record the adapter refused (a missing field, a naive time...) is kept with its reason
   and does not stop the rest.
4. Check positions and cash (`checks`).
5. Write it all in ONE ledger transaction: the run, the new broker records, a log row for
   every record whose state changed (none for an unchanged one), the position checks and
   the cash assertions. A crash before the commit leaves nothing; a re-run redoes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.broker.errors import BrokerError
from tbot.broker.models import BrokerFill, BrokerPosition, CashActivity, Page
from tbot.broker.reports import (
    CashReport,
    FillReport,
    RefusedReport,
    ReportKind,
    canonical_json,
)
from tbot.clock import Clock, utc_text
from tbot.ledger.batch import EntryRef, LedgerBatch, RowRef
from tbot.reconcile import ledger_view
from tbot.reconcile.checks import (
    BalanceResult,
    Explanation,
    PositionResult,
    assert_balance,
    check_positions,
)
from tbot.reconcile.compare import (
    Delta,
    FieldDifference,
    cash_delta,
    compare_cash,
    compare_fill,
    fill_delta,
    plain,
)
from tbot.reconcile.ledger_view import LatestState, LedgerCash, LedgerFill
from tbot.reconcile.mapping.sync_round import SyncRound
from tbot.reconcile.ports import BrokerPort, EnginePort, LedgerPort, MappingPort
from tbot.reconcile.statuses import BreakKind, RecordStatus, RunOutcome, SyncTrigger

log = logging.getLogger("tbot.reconcile")

T = TypeVar("T")

SYNC_ACTION = "recon.sync"
CHECK_ACTION = "recon.check"
PAGE_SIZE = 500
INCLUSIVE_END = timedelta(seconds=1)
_ZERO = Decimal(0)

Progress = Callable[[str, int], None]
"""Called with (listing, records fetched so far) as pages arrive."""


@dataclass(frozen=True, slots=True)
class SyncWindow:
    """The span of broker time a sync reads: since <= time < until."""

    since: datetime
    until: datetime

    @classmethod
    def lookback(cls, now: datetime, days: int) -> SyncWindow:
        """The last `days` days up to and including `now` (a record stamped this very
        instant is in; a broker cannot report one later than now)."""
        return cls(now - timedelta(days=days), now + INCLUSIVE_END)


@dataclass(frozen=True, slots=True)
class ReconSettings:
    """The knobs of sync and checks (from `.env_bot`)."""

    lookback_days: int = 30
    cash_tolerance: Decimal = Decimal("0.01")
    currency: str = "USD"
    page_size: int = PAGE_SIZE


@dataclass
class SyncResult:
    """What a sync (or a check) did, as `recon.sync` and `tbot recon sync` report it."""

    trigger: SyncTrigger
    outcome: RunOutcome
    window: SyncWindow | None
    started_at: datetime
    ended_at: datetime
    run_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    refused: list[dict[str, str | None]] = field(default_factory=list)
    booked: list[str] = field(default_factory=list)
    """Fills of our own orders the ledger lacked, booked by this run."""
    spans_not_read: list[dict[str, str]] = field(default_factory=list)
    rows_written: int = 0
    new_breaks: list[int] = field(default_factory=list)
    accepted_positions: set[str] = field(default_factory=set)
    """Symbols whose difference stands resolved by an admin (kept or booked)."""
    breaks_detail: list[str] = field(default_factory=list)
    """A line per new break: ``broker-only fill SIM-F000012: a fill of an order...``."""
    closed: list[int] = field(default_factory=list)
    positions: list[PositionResult] = field(default_factory=list)
    balances: list[BalanceResult] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def unexplained_positions(self) -> list[PositionResult]:
        """Checks whose share difference no open break explains and no admin has accepted
        (a position break resolved on these very facts)."""
        return [p for p in self.positions
                if p.unexplained != 0 and p.symbol not in self.accepted_positions]

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready result."""
        return {
            "run_id": self.run_id,
            "trigger": self.trigger.value,
            "outcome": self.outcome.value,
            "window": None if self.window is None else {
                "since": utc_text(self.window.since), "until": utc_text(self.window.until)},
            "started_at": utc_text(self.started_at),
            "ended_at": utc_text(self.ended_at),
            "counts": dict(sorted(self.counts.items())),
            "refused": self.refused,
            "booked": self.booked,
            "spans_not_read": self.spans_not_read,
            "rows_written": self.rows_written,
            "new_breaks": self.new_breaks,
            "breaks_detail": self.breaks_detail,
            "closed": self.closed,
            "positions": [
                {
                    "symbol": p.symbol,
                    "outcome": p.outcome.value,
                    "broker_quantity": plain(p.broker_quantity),
                    "ledger_quantity": plain(p.ledger_quantity),
                    "engine_quantity": plain(p.engine_quantity),
                    "unexplained": plain(p.unexplained),
                    "reason": p.reason,
                }
                for p in self.positions
            ],
            "balances": [
                {
                    "currency": b.currency,
                    "broker_cash": plain(b.broker_cash),
                    "ledger_cash": plain(b.ledger_cash),
                    "in_transit": plain(b.in_transit),
                    "difference": plain(b.difference),
                    "tolerance": plain(b.tolerance),
                    "passed": b.passed,
                }
                for b in self.balances
            ],
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


_NO_DELTA = Delta()


@dataclass
class _LedgerSide:
    fills: dict[str, LedgerFill]
    entry_ids: dict[str, int]
    states: dict[tuple[str, str], LatestState]
    records: dict[tuple[str, str, str], int]
    positions: dict[str, tuple[Decimal, Decimal]]
    cash_balance: Decimal


@dataclass(slots=True)
class _Outcome:
    """One record's classification, before it is written."""

    kind: BreakKind
    trade_id: str
    status: RecordStatus
    detail: str
    record_hash: str | None = None
    record_index: int | None = None  # into the batch's broker_records
    record_id: int | None = None  # a broker record kept by an earlier run
    entry_id: int | EntryRef | None = None
    symbol: str | None = None
    fields: list[FieldDifference] = field(default_factory=list)
    broker_value: str | None = None
    ledger_value: str | None = None
    delta: Delta = _NO_DELTA
    # The two sides, worded only for a row that is written as a break (an `ok` row needs
    # no words: a 100,000-record first sync writes 100,000 of them).
    broker_fill: BrokerFill | None = None
    ledger_fill: LedgerFill | None = None
    broker_cash: CashActivity | None = None
    ledger_cash: LedgerCash | None = None

    def word(self) -> None:
        """Fill in broker_value / ledger_value from the two sides."""
        if self.broker_fill is not None:
            self.broker_value = _fill_text(self.broker_fill)
        if self.ledger_fill is not None:
            self.ledger_value = _ledger_fill_text(self.ledger_fill)
        if self.broker_cash is not None:
            self.broker_value = _cash_text(self.broker_cash)
        if self.ledger_cash is not None:
            self.ledger_value = plain(self.ledger_cash.amount)


class _Rows:
    """The batch being built, with the run as row 0 of `sync_runs` when there is one."""

    def __init__(self, run: bool, now: datetime) -> None:
        self.now = now
        self.batch = LedgerBatch()
        self.run_ref = RowRef("sync_runs", 0) if run else None
        self.log_rows: list[dict[str, object]] = []

    def add(self, table: str, row: dict[str, object]) -> int:
        rows = self.batch.rows.setdefault(table, [])
        rows.append(row)
        return len(rows) - 1


class Reconciler:
    """Sync and checks over the three ports. One instance serves one bot; callers (the
    service) make sure only one sync or check runs at a time."""

    def __init__(
        self,
        broker: BrokerPort,
        ledger: LedgerPort,
        engine: EnginePort,
        accounts: BrokerAccounts,
        clock: Clock,
        settings: ReconSettings,
        *,
        actor: str = "engine",
        mapping: MappingPort | None = None,
    ) -> None:
        self.mapping = mapping
        self.broker = broker
        self.ledger = ledger
        self.engine = engine
        self.accounts = accounts
        self.clock = clock
        self.settings = settings
        self.actor = actor

    # -- the full sync ---------------------------------------------------------------------
    async def sync(
        self,
        trigger: SyncTrigger,
        window: SyncWindow | None = None,
        *,
        actor: str | None = None,
        progress: Progress | None = None,
    ) -> SyncResult:
        """Sync one window (default: the last `lookback_days`) and check positions and cash;
        see the module docstring. Raises only for a ledger that refuses the write."""
        started = self.clock.now()
        started_monotonic = time.perf_counter()
        window = window or SyncWindow.lookback(started, self.settings.lookback_days)
        result = SyncResult(trigger, RunOutcome.COMPLETE, window, started, started)
        side = await self.ledger.read(lambda c: self._read_side(c, window))
        fills, fills_missing = await self._fetch(
            ReportKind.FILL, self.broker.fill_reports, window, progress, result)
        cash, cash_missing = await self._fetch(
            ReportKind.CASH, self.broker.cash_reports, window, progress, result)
        rows = _Rows(run=True, now=self.clock.now())
        outcomes: list[_Outcome] = []
        # First pass: a record whose hash, status and ledger entry are those of its last
        # `ok` row is unchanged (the common case of a re-sync): nothing to compare.
        reported: set[str] = set()
        to_compare: list[FillReport] = []
        cash_to_compare: list[CashReport] = []
        refused: list[RefusedReport] = []
        for report in (*fills, *cash):
            if isinstance(report, RefusedReport):
                refused.append(report)
                continue
            kind = report.kind
            if kind is ReportKind.FILL:
                reported.add(report.broker_id)
            if self._unchanged(BreakKind(kind.value), report, side):
                result.counts["ok"] = result.counts.get("ok", 0) + 1
            elif isinstance(report, FillReport):
                to_compare.append(report)
            else:
                cash_to_compare.append(report)
        # Then the ledger's side of the rest, in one read.
        candidates = [] if fills_missing else [
            entry_id for broker_id, entry_id in side.entry_ids.items()
            if broker_id not in reported
        ]
        wanted = [side.entry_ids[r.broker_id] for r in to_compare
                  if r.broker_id in side.entry_ids] + candidates
        keep: dict[str, list[str]] = {
            ReportKind.FILL.value: [r.broker_id for r in to_compare],
            ReportKind.CASH.value: [r.broker_id for r in cash_to_compare],
        }
        for report in refused:
            keep[report.kind.value].append(report.broker_id or "")

        def ledger_side(connection: Any) -> tuple[Any, Any, Any]:
            return (
                ledger_view.fills_by_entry_ids(connection, self.accounts, wanted),
                ledger_view.ledger_cash_entries(
                    connection, self.accounts.cash, (r.broker_id for r in cash_to_compare)),
                {key: row_id for kind, ids in keep.items()
                 for key, row_id in ledger_view.stored_records(connection, kind, ids).items()},
            )

        side.fills, booked_cash, side.records = await self.ledger.read(ledger_side)
        for report in refused:
            self._refused(report, side, rows, result)
        for report in to_compare:
            outcomes.append(await self._classify_fill(report, side, rows, result))
        if not fills_missing:
            outcomes.extend(self._local_only(side, reported))
        round_ = (await self.mapping.sync_round(
            [r.broker_id for r in cash_to_compare], actor or self.actor,
            unbooked=[r.broker_id for r in cash_to_compare if r.broker_id not in booked_cash])
            if self.mapping is not None and cash_to_compare else None)
        for report in cash_to_compare:
            outcomes.append(self._classify_cash(report, booked_cash, side, rows, result,
                                                round_))
        if fills_missing or cash_missing:
            result.outcome = RunOutcome.PARTIAL
        explanations = self._explanations(side, outcomes)
        # Fills of ours booked just now moved the ledger: positions and cash read again.
        side.positions, side.cash_balance = await self.ledger.read(self._holdings)
        if round_ is not None:  # posted in this run's batch, not in the ledger yet
            side.cash_balance += round_.mapped_cash
        await self._checks(trigger, side, explanations, rows, outcomes, result, always=True)
        for outcome in outcomes:
            if outcome.kind in (BreakKind.FILL, BreakKind.CASH):  # records, not checks
                status = outcome.status.value
                result.counts[status] = result.counts.get(status, 0) + 1
        self._log_changes(outcomes, side.states, rows, result)
        result.ended_at = self.clock.now()
        rows.batch.rows.setdefault("sync_runs", []).insert(0, self._run_row(result, actor))
        await self._commit(rows, result, SYNC_ACTION, actor)
        if round_ is not None and self.mapping is not None:
            self.mapping.round_written(round_)
        result.seconds = time.perf_counter() - started_monotonic
        return result

    # -- the periodic checks -----------------------------------------------------------------
    async def check(self, trigger: SyncTrigger, *, always: bool = False) -> SyncResult:
        """Positions and cash only, against the open breaks of the last syncs. Writes a
        row only where a symbol's or a currency's state changed (every row with `always`)."""
        started = self.clock.now()
        started_monotonic = time.perf_counter()
        result = SyncResult(trigger, RunOutcome.COMPLETE, None, started, started)
        side = await self.ledger.read(lambda c: self._read_side(c, None))
        explanations = await self.ledger.read(_open_explanations)
        rows = _Rows(run=False, now=self.clock.now())
        outcomes: list[_Outcome] = []
        await self._checks(trigger, side, explanations, rows, outcomes, result, always=always)
        self._log_changes(outcomes, side.states, rows, result)
        result.ended_at = self.clock.now()
        if rows.batch.rows:
            await self._commit(rows, result, CHECK_ACTION, None)
        result.seconds = time.perf_counter() - started_monotonic
        return result

    # -- reading ---------------------------------------------------------------------------
    def _read_side(self, connection: Any, window: SyncWindow | None) -> _LedgerSide:
        return _LedgerSide(
            fills={},
            entry_ids=(
                ledger_view.live_entry_ids(connection, window.since, window.until)
                if window is not None else {}
            ),
            # A check needs only the positions' and the currencies' states (the fill and
            # cash breaks that explain them are read on their own): not the whole log.
            states=ledger_view.latest_states(
                connection, None if window is not None else (BreakKind.POSITION,
                                                              BreakKind.BALANCE)),
            records={},  # read for the records that need keeping only
            # A sync reads the holdings right before its checks (after booking fills).
            positions={} if window is not None else ledger_view.ledger_positions(
                connection, self.accounts.equities),
            cash_balance=_ZERO if window is not None else ledger_view.account_balance(
                connection, self.accounts.cash),
        )

    def _holdings(self, connection: Any) -> tuple[dict[str, tuple[Decimal, Decimal]], Decimal]:
        return (ledger_view.ledger_positions(connection, self.accounts.equities),
                ledger_view.account_balance(connection, self.accounts.cash))

    async def _fetch(
        self,
        kind: ReportKind,
        fetch: Callable[[datetime, datetime, str | None, int], Awaitable[Page[T]]],
        window: SyncWindow,
        progress: Progress | None,
        result: SyncResult,
    ) -> tuple[list[T], bool]:
        """Every page of one listing; (records, True when a span could not be read).
        A record served twice (the same page again) counts once."""
        items: dict[tuple[str | None, str], T] = {}
        token: str | None = None
        read_until = window.since
        while True:
            try:
                page = await fetch(window.since, window.until, token, self.settings.page_size)
            except BrokerError as error:
                result.spans_not_read.append({
                    "listing": kind.value,
                    "since": utc_text(read_until),
                    "until": utc_text(window.until),
                    "error": error.message,
                })
                log.warning("sync: the %s listing stopped at %s: %s", kind.value,
                            utc_text(read_until), error.message)
                return list(items.values()), True
            for item in page.items:
                # The newest version of a record wins; a refused payload is kept per hash.
                if isinstance(item, RefusedReport):
                    key = (item.broker_id, item.provenance.sha256)
                else:
                    key = (item.broker_id, "")  # type: ignore[attr-defined]
                items[key] = item
                moment = _record_time(item)
                if moment is not None and moment > read_until:
                    read_until = moment
            if progress is not None:
                progress(kind.value, len(items))
            if page.next_token is None:
                return list(items.values()), False
            token = page.next_token

    # -- classifying -----------------------------------------------------------------------
    def _keep_record(self, report: FillReport | CashReport | RefusedReport, side: _LedgerSide,
                     rows: _Rows, occurred: datetime | None, refused: str | None
                     ) -> tuple[int | None, int | None]:
        """(existing row id, batch index) of the broker record `report`, added once."""
        broker_id = report.broker_id or ""
        key = (report.kind.value, broker_id, report.provenance.sha256)
        existing = side.records.get(key)
        if existing is not None:
            return existing, None
        provenance = report.provenance
        index = rows.add("broker_records", {
            "sync_run_id": rows.run_ref,
            "kind": report.kind.value,
            "broker_id": broker_id,
            "record_hash": provenance.sha256,
            "raw_payload": provenance.canonical or canonical_json(provenance.raw),
            "json_metadata": dict(getattr(report, "metadata", {}) or {}),
            "broker_local_time": provenance.broker_local_time,
            "occurred_at_utc": occurred,
            "final": 0 if refused else int(bool(getattr(report, "final", False))),
            "refused_reason": refused,
            "source": provenance.source,
            "fetched_at_utc": rows.now,
        })
        side.records[key] = -1  # another copy in this run is the same record
        return None, index

    @staticmethod
    def _unchanged(kind: BreakKind, report: FillReport | CashReport, side: _LedgerSide) -> bool:
        state = side.states.get((kind.value, report.broker_id))
        return (
            report.final
            and state is not None
            and state.status is RecordStatus.OK
            and state.record_hash == report.provenance.sha256
            and state.entry_id is not None
            and side.entry_ids.get(report.broker_id) == state.entry_id
        )

    async def _classify_fill(self, report: FillReport, side: _LedgerSide, rows: _Rows,
                             result: SyncResult) -> _Outcome:
        fill = report.fill
        record_id, index = self._keep_record(report, side, rows, fill.filled_at, None)
        outcome = _Outcome(
            kind=BreakKind.FILL, trade_id=fill.fill_id, status=RecordStatus.OK, detail="",
            record_hash=report.provenance.sha256, record_index=index,
            record_id=record_id if record_id and record_id > 0 else None,
            symbol=fill.symbol, broker_fill=fill,
        )
        booked = side.fills.get(fill.fill_id)
        if booked is None and report.final and self.engine.is_own_order(fill.client_order_id):
            entry_id = await self.engine.book_own_fill(fill)
            if entry_id is not None:
                # Worded as any match: a run killed after this booking and re-run must
                # leave the same record as one clean run (the entry's memo says it).
                outcome.entry_id = entry_id
                outcome.detail = "matches the ledger"
                result.booked.append(fill.fill_id)
                return outcome
            outcome.status = RecordStatus.BROKER_ONLY
            outcome.detail = ("a fill of our own order the ledger lacked; the ledger refused "
                              "it (see the engine's alerts)")
        elif booked is None:
            if not report.final:
                outcome.status = RecordStatus.PENDING
                outcome.detail = "pending at the broker and not in the ledger yet"
            else:
                outcome.status = RecordStatus.BROKER_ONLY
                outcome.detail = (f"a fill of an order the engine never placed "
                                  f"(client order id {fill.client_order_id!r})")
        else:
            outcome.entry_id = booked.entry_id
            outcome.ledger_fill = booked
            _judge_booked(outcome, compare_fill(booked, fill), final=report.final)
        if outcome.status is not RecordStatus.OK:
            outcome.delta = fill_delta(booked, fill)
        return outcome

    def _local_only(self, side: _LedgerSide, seen: set[str]) -> list[_Outcome]:
        outcomes = []
        for broker_id, booked in side.fills.items():
            if broker_id in seen:
                continue
            outcomes.append(_Outcome(
                kind=BreakKind.FILL, trade_id=broker_id, status=RecordStatus.LOCAL_ONLY,
                detail=("booked in the ledger, absent from the broker's complete report of "
                        "the window"),
                entry_id=booked.entry_id, symbol=booked.symbol,
                ledger_fill=booked, delta=fill_delta(booked, None),
            ))
        return outcomes

    def _classify_cash(self, report: CashReport, booked_cash: Mapping[str, LedgerCash],
                       side: _LedgerSide, rows: _Rows, result: SyncResult,
                       round_: SyncRound | None) -> _Outcome:
        activity = report.activity
        record_id, index = self._keep_record(report, side, rows, activity.occurred_at, None)
        outcome = _Outcome(
            kind=BreakKind.CASH, trade_id=activity.activity_id, status=RecordStatus.OK,
            detail="", record_hash=report.provenance.sha256, record_index=index,
            record_id=record_id if record_id and record_id > 0 else None,
            symbol=activity.symbol, broker_cash=activity,
        )
        booked = booked_cash.get(activity.activity_id)
        record = round_.record_of(report) if round_ is not None else None
        state = side.states.get((BreakKind.CASH.value, activity.activity_id))
        settled = (state is not None and state.status is RecordStatus.RESOLVED
                   and state.resolved_status is RecordStatus.UNMAPPED
                   and state.resolved_hash == report.provenance.sha256)
        if booked is None and report.final and activity.amount == 0:
            # Nothing to book (a split, a journal of shares): a share change shows in the
            # position check, and a zero-amount entry would be refused by the ledger.
            outcome.detail = "moves no cash: nothing to book"
            return outcome
        if booked is None and settled and round_ is not None and record is not None:
            round_.settle(record, state.row_id, rows.batch)  # type: ignore[union-attr]
        elif booked is None and report.final and round_ is not None and record is not None:
            broker_record = (RowRef("broker_records", index) if index is not None
                             else outcome.record_id)
            mapped = round_.map_unbooked(record, rows.batch, broker_record)
            if mapped is not None:
                outcome.entry_id, outcome.detail = mapped
                result.counts["mapped"] = result.counts.get("mapped", 0) + 1
                return outcome
        if booked is None:
            outcome.status = RecordStatus.UNMAPPED if report.final else RecordStatus.PENDING
            outcome.detail = (
                f"{activity.activity_type} cash activity not booked: waiting for a mapping"
                if report.final else "pending at the broker")
        else:
            if round_ is not None and record is not None:
                round_.close_booked(record, booked.entry_id, rows.batch)
            outcome.entry_id = booked.entry_id
            outcome.ledger_cash = booked
            _judge_booked(outcome, compare_cash(booked, activity), final=report.final)
        if outcome.status is not RecordStatus.OK:
            outcome.delta = cash_delta(booked, activity)
        return outcome

    def _refused(self, report: RefusedReport, side: _LedgerSide, rows: _Rows,
                 result: SyncResult) -> None:
        self._keep_record(report, side, rows, None, report.reason)
        result.refused.append(
            {"listing": report.kind.value, "broker_id": report.broker_id, "reason": report.reason}
        )
        result.counts["refused"] = result.counts.get("refused", 0) + 1

    # -- positions and cash ----------------------------------------------------------------
    def _explanations(self, side: _LedgerSide, outcomes: list[_Outcome]) -> list[Explanation]:
        """Open breaks after this sync: this run's outcomes, and earlier breaks of records
        this run did not see (outside the window) that are still open."""
        found = [
            Explanation(-1, o.trade_id, o.status, o.delta)
            for o in outcomes if o.status.is_break and not self._stays_resolved(o, side.states)
        ]
        return found

    async def _checks(self, trigger: SyncTrigger, side: _LedgerSide,
                      explanations: list[Explanation], rows: _Rows, outcomes: list[_Outcome],
                      result: SyncResult, *, always: bool) -> None:
        try:
            broker_positions: list[BrokerPosition] | None = await self.broker.positions()
        except BrokerError as error:
            broker_positions = None
            result.outcome = RunOutcome.PARTIAL
            result.spans_not_read.append({"listing": "positions", "since": "", "until": "",
                                          "error": error.message})
        try:
            account = await self.broker.account()
        except BrokerError as error:
            account = None
            result.outcome = RunOutcome.PARTIAL
            result.spans_not_read.append({"listing": "account", "since": "", "until": "",
                                          "error": error.message})
        now = self.clock.now()
        if broker_positions is not None:
            still_open = [trade_id for (kind, trade_id), state in side.states.items()
                          if kind == BreakKind.POSITION.value and state.status.is_break]
            checks = check_positions(broker_positions, side.positions,
                                     self.engine.book_positions(), explanations, still_open)
            result.positions = checks
            for check in checks:
                state = side.states.get((BreakKind.POSITION.value, check.symbol))
                status = check.outcome.status
                # A symbol that has always matched has no log state: unchanged while it
                # matches (a check writes only what changed; a full sync writes all).
                changed = (_changes(state, status, check.fingerprint) if state is not None
                           else status is not RecordStatus.OK)
                if not changed and state is not None and state.status is RecordStatus.RESOLVED:
                    result.accepted_positions.add(check.symbol)
                if changed or always:
                    rows.add("position_checks", {
                        "checked_at_utc": now, "sync_run_id": rows.run_ref,
                        "trigger": trigger.value, "symbol": check.symbol,
                        "broker_quantity": check.broker_quantity,
                        "broker_average_cost": check.broker_average_cost,
                        "ledger_quantity": check.ledger_quantity,
                        "ledger_cost_basis": check.ledger_cost_basis,
                        "engine_quantity": check.engine_quantity,
                        "explained_quantity": check.explained_quantity,
                        "outcome": check.outcome.value,
                        "divergence_reason": check.reason,
                    })
                if state is None and status is RecordStatus.OK:
                    continue  # a symbol that always matched needs no log row
                outcomes.append(_Outcome(
                    kind=BreakKind.POSITION, trade_id=check.symbol, status=status,
                    detail=check.reason, record_hash=check.fingerprint, symbol=check.symbol,
                    broker_value=plain(check.broker_quantity),
                    ledger_value=plain(check.ledger_quantity), delta=check.delta(),
                    fields=[] if status is RecordStatus.OK else [FieldDifference(
                        "quantity" if check.broker_quantity != check.ledger_quantity
                        else "cost_basis",
                        plain(check.ledger_quantity), plain(check.broker_quantity))],
                ))
        if account is not None:
            balance = assert_balance(account.currency, self.accounts.cash, account.cash,
                                     side.cash_balance, explanations,
                                     self.settings.cash_tolerance)
            result.balances = [balance]
            state = side.states.get((BreakKind.BALANCE.value, balance.currency))
            status = RecordStatus.OK if balance.passed else RecordStatus.MISMATCH
            changed = (_changes(state, status, balance.fingerprint) if state is not None
                       else status is not RecordStatus.OK)
            if changed or always:
                rows.add("balance_assertions", {
                    "asserted_at_utc": now, "sync_run_id": rows.run_ref,
                    "trigger": trigger.value, "currency_code": balance.currency,
                    "account_code": balance.account, "broker_cash": balance.broker_cash,
                    "ledger_cash": balance.ledger_cash, "in_transit": balance.in_transit,
                    "difference": balance.difference, "tolerance": balance.tolerance,
                    "passed": int(balance.passed), "detail": balance.detail(),
                })
            if state is not None or status is not RecordStatus.OK:
                outcomes.append(_Outcome(
                    kind=BreakKind.BALANCE, trade_id=balance.currency, status=status,
                    detail=balance.detail(), record_hash=balance.fingerprint,
                    broker_value=plain(balance.broker_cash),
                    ledger_value=plain(balance.ledger_cash),
                    delta=Delta(None, _ZERO, balance.difference),
                    fields=[] if balance.passed else [FieldDifference(
                        "cash", plain(balance.ledger_cash + balance.in_transit),
                        plain(balance.broker_cash))],
                ))

    # -- writing ---------------------------------------------------------------------------
    @staticmethod
    def _stays_resolved(outcome: _Outcome, states: Mapping[tuple[str, str], LatestState]
                        ) -> bool:
        state = states.get((outcome.kind.value, outcome.trade_id))
        return (
            state is not None
            and state.status is RecordStatus.RESOLVED
            and state.resolved_status is outcome.status
            and state.resolved_hash == outcome.record_hash
        )

    def _log_changes(self, outcomes: list[_Outcome],
                     states: Mapping[tuple[str, str], LatestState], rows: _Rows,
                     result: SyncResult) -> None:
        now = self.clock.now()
        for outcome in outcomes:
            state = states.get((outcome.kind.value, outcome.trade_id))
            if not _changes(state, outcome.status, outcome.record_hash):
                continue
            if self._stays_resolved(outcome, states):
                continue
            if state is None and outcome.status is RecordStatus.OK and outcome.kind in (
                BreakKind.POSITION, BreakKind.BALANCE
            ):
                continue
            if outcome.status.is_break:
                outcome.word()
            broker_record: object = (
                RowRef("broker_records", outcome.record_index)
                if outcome.record_index is not None else outcome.record_id
            )
            index = rows.add("reconciliation_log", {
                "kind": outcome.kind.value,
                "trade_id": outcome.trade_id,
                "status": outcome.status.value,
                "compare_fields": [d.as_dict() for d in outcome.fields],
                "sync_run_id": rows.run_ref,
                "timestamp_utc": now,
                "record_hash": outcome.record_hash,
                "broker_record_id": broker_record,
                "entry_id": outcome.entry_id,
                "symbol": outcome.symbol,
                "broker_value": outcome.broker_value,
                "ledger_value": outcome.ledger_value,
                "difference": outcome.delta.as_dict() if outcome.status.is_break else {},
                "detail": outcome.detail,
            })
            rows.log_rows.append({"index": index, "status": outcome.status,
                                  "was_break": state is not None and state.status.is_break})
            if outcome.status.is_break:
                result.breaks_detail.append(
                    f"{outcome.status} {outcome.kind} {outcome.trade_id}: {outcome.detail}")

    def _run_row(self, result: SyncResult, actor: str | None) -> dict[str, object]:
        window = result.window
        assert window is not None
        return {
            "trigger": result.trigger.value,
            "window_start_utc": window.since,
            "window_end_utc": window.until,
            "started_at_utc": result.started_at,
            "ended_at_utc": result.ended_at,
            "actor": actor or self.actor,
            "credential_fingerprint": self.broker.credential_fingerprint(),
            "outcome": result.outcome.value,
            "counts": dict(sorted(result.counts.items())),
            "records_seen": sum(v for k, v in result.counts.items()
                                if k in {s.value for s in RecordStatus}),
            "records_refused": result.counts.get("refused", 0),
            "spans_not_read": result.spans_not_read,
            "error": result.error,
        }

    async def _commit(self, rows: _Rows, result: SyncResult, action: str,
                      actor: str | None) -> None:
        details = {
            "trigger": result.trigger.value,
            "outcome": result.outcome.value,
            "counts": dict(sorted(result.counts.items())),
        }
        written = await self.ledger.commit(
            rows.batch, actor=actor or self.actor, action=action,
            subject=result.trigger.value, details=details,
        )
        run_ids = written.row_ids.get("sync_runs", [])
        result.run_id = run_ids[0] if run_ids else None
        log_ids = written.row_ids.get("reconciliation_log", [])
        result.rows_written = sum(len(ids) for ids in written.row_ids.values())
        for row in rows.log_rows:
            row_id = log_ids[int(row["index"])]  # type: ignore[call-overload]
            if row["status"].is_break:  # type: ignore[union-attr]
                result.new_breaks.append(row_id)
            elif row["was_break"]:
                result.closed.append(row_id)



def _judge_booked(outcome: _Outcome, differences: list[FieldDifference], *,
                  final: bool) -> None:
    """The status of a record the ledger books: pending, mismatch (naming each field) or
    ok."""
    outcome.fields = differences
    if not final:
        outcome.status = RecordStatus.PENDING
        outcome.detail = "booked; pending at the broker until it is final"
    elif differences:
        outcome.status = RecordStatus.MISMATCH
        outcome.detail = "the broker reports it differently: " + ", ".join(
            f"{d.field} {d.ledger} in the ledger, {d.broker} at the broker"
            for d in differences)
    else:
        outcome.detail = "matches the ledger"


def _changes(state: LatestState | None, status: RecordStatus, record_hash: str | None) -> bool:
    """True when (status, hash) differs from the record's latest row."""
    if state is None:
        return True
    if state.status is RecordStatus.RESOLVED:
        return not (state.resolved_status is status and state.resolved_hash == record_hash)
    return state.status is not status or state.record_hash != record_hash


def _open_explanations(connection: Any) -> list[Explanation]:
    """The open record breaks (fills and cash) with what they move, from the log."""
    import json

    explanations = []
    for row in ledger_view.open_break_rows(connection, (BreakKind.FILL, BreakKind.CASH)):
        try:
            delta = Delta.from_dict(json.loads(row["difference"] or "{}"))
        except ValueError:
            delta = Delta()
        explanations.append(Explanation(int(row["id"]), str(row["trade_id"]),
                                        RecordStatus(row["status"]), delta))
    return explanations


def _record_time(item: object) -> datetime | None:
    if isinstance(item, FillReport):
        return item.fill.filled_at
    if isinstance(item, CashReport):
        return item.activity.occurred_at
    return None


def _fill_text(fill: BrokerFill) -> str:
    return (f"{fill.side.value} {plain(fill.quantity)} {fill.symbol} @ {plain(fill.price)} "
            f"fee {plain(fill.fee)}")


def _ledger_fill_text(fill: LedgerFill) -> str:
    price = plain(fill.price) if fill.price is not None else f"~{plain(fill.notional)} total"
    return f"{fill.side} {plain(fill.quantity)} {fill.symbol} @ {price} fee {plain(fill.fee)}"


def _cash_text(activity: CashActivity) -> str:
    on = f" {activity.symbol}" if activity.symbol else ""
    return f"{activity.activity_type}{on} {plain(activity.amount)}"
