"""`sync_broker_ledger`: every broker record of a window accounted for in the ledger.

Life of a sync:

1. Read the ledger side first (the live entries of the window, which records are unchanged
   since their last `ok` row): the broker is read only once this read's snapshot is fixed,
   so anything the engine books while the broker is being read is found as "already
   booked", never as a false local-only. (The read itself goes on beside the first page.)
2. Read every fill and cash report of the window through the adapter's paging
   (`listing`). Each batch of fill pages is worked on as it arrives, while the broker
   thread fetches the next: unchanged records are skipped on their hash, the others are
   compared with the ledger (one read per batch) and their rows prepared. A page that
   still fails after the broker port's retries ends that listing: the run is `partial`,
   the span not read is recorded, and nothing is concluded from its absence.
3. Classify each record by the broker's id: `ok`, `mismatch` (with the fields that differ),
   `broker-only` (a fill of our own order the engine missed is booked as usual and is
   `ok`), `pending` (not final at the broker; followed up by later syncs), `unmapped`
   (cash activity for the mapping queue), and, only over a complete listing, `local-only`.
   A record the adapter refused (a missing field, a naive time...) is kept with its reason
   and does not stop the rest. Nothing is written while the pages arrive, and a record
   served twice is judged on its newest version.
4. Check positions and cash (`checks`).
5. Write it all in ONE ledger transaction: the run, the new broker records, a log row for
   every record whose state changed (none for an unchanged one), the position checks and
   the cash assertions. A crash before the commit leaves nothing; a re-run redoes it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.broker.errors import BrokerError
from tbot.broker.models import AccountSnapshot, BrokerFill, BrokerPosition, CashActivity
from tbot.broker.reports import (
    CashReport,
    FillReport,
    RefusedReport,
    ReportKind,
    canonical_json,
)
from tbot.clock import Clock, utc_text
from tbot.ledger.batch import ConvertedRow, EntryRef, LedgerBatch, RowRef, convert_row
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
from tbot.reconcile.full_collections import postponed_full_collections
from tbot.reconcile.ledger_view import LatestState, LedgerCash, LedgerFill
from tbot.reconcile.listing import Key, read_listing
from tbot.reconcile.mapping.sync_round import SyncRound
from tbot.reconcile.ports import BrokerPort, EnginePort, LedgerPort, MappingPort
from tbot.reconcile.statuses import BreakKind, RecordStatus, RunOutcome, SyncTrigger

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
_RUN_REF = RowRef("sync_runs", 0)
_BREAKS = frozenset(status for status in RecordStatus if status.is_break)


@dataclass
class _LedgerSide:
    fills: dict[str, LedgerFill]
    entry_ids: dict[str, int]
    states: dict[tuple[str, str], LatestState]
    records: dict[tuple[str, str, str], int]
    positions: dict[str, tuple[Decimal, Decimal]]
    cash_balance: Decimal
    unchanged: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per kind: trade id -> hash of a record unchanged since its last `ok` row."""


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
    # A fill judged as its page arrived: its rows are prepared then (the broker record
    # and the log row, or None when its state did not change), linked when the run is
    # written. `book`: a fill of our own order the ledger lacks, booked at that point.
    report: FillReport | None = None
    book: bool = False
    prepared: bool = False
    record_row: ConvertedRow | None = None
    log_row: ConvertedRow | None = None

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
        self.run_ref = _RUN_REF if run else None
        self.log_rows: list[dict[str, object]] = []

    def add(self, table: str, row: dict[str, object] | ConvertedRow) -> int:
        rows = self.batch.rows.setdefault(table, [])
        rows.append(row)
        return len(rows) - 1


@dataclass
class _FillPages:
    """The fill listing as its pages are worked on: the ledger's side (once read), a
    verdict per record key in the listing's order (None: unchanged; else its prepared
    outcome), the ids reported and the refused payloads (kept by key and hash)."""

    side_read: asyncio.Future[_LedgerSide]
    verdicts: dict[Key, _Outcome | None] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)
    """The broker ids of the fills reported (refused payloads aside)."""
    refused: dict[Key, RefusedReport] = field(default_factory=dict)


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
        with postponed_full_collections():
            return await self._sync(trigger, window, actor, progress)

    async def _sync(self, trigger: SyncTrigger, window: SyncWindow | None, actor: str | None,
                    progress: Progress | None) -> SyncResult:
        started = self.clock.now()
        started_monotonic = time.perf_counter()
        window = window or SyncWindow.lookback(started, self.settings.lookback_days)
        result = SyncResult(trigger, RunOutcome.COMPLETE, window, started, started)
        pages = _FillPages(await self._start_side_read(window))
        fills = await read_listing(
            ReportKind.FILL, self.broker.fill_reports, window.since, window.until,
            self.settings.page_size, lambda batch: self._fill_pages(pages, batch),
            progress=progress)
        cash_items: dict[Key, CashReport | RefusedReport] = {}

        async def keep_cash(batch: list[tuple[Key, CashReport | RefusedReport]]) -> None:
            cash_items.update(batch)  # judged with the mapping round, once all are read

        cash = await read_listing(
            ReportKind.CASH, self.broker.cash_reports, window.since, window.until,
            self.settings.page_size, keep_cash, progress=progress)
        for listing in (fills, cash):
            if listing.span_not_read is not None:
                result.spans_not_read.append(listing.span_not_read)
        side = await pages.side_read
        rows = _Rows(run=True, now=self.clock.now())
        # Every record in the order the broker sent it: unchanged ones (the common case of
        # a re-sync) were recognised on their hash as their page arrived; the other fills
        # were judged then (`pages.verdicts` is in the listing's order); cash is judged
        # here, beside the mapping round.
        refused = list(pages.refused.values())
        reported = pages.reported
        to_write = [verdict for verdict in pages.verdicts.values() if verdict is not None]
        unchanged = len(pages.verdicts) - len(to_write)
        cash_to_compare: list[CashReport] = []
        cash_unchanged = side.unchanged.get(ReportKind.CASH.value, {})
        for report in cash_items.values():
            if isinstance(report, RefusedReport):
                refused.append(report)
            elif report.final and cash_unchanged.get(report.broker_id) == \
                    report.provenance.sha256:
                unchanged += 1
            else:
                cash_to_compare.append(report)
        if unchanged:
            result.counts["ok"] = unchanged
        # Then the ledger's side of the rest, in one read.
        candidates = [] if fills.missing else [
            entry_id for broker_id, entry_id in side.entry_ids.items()
            if broker_id not in reported
        ]
        cash_ids = [r.broker_id for r in cash_to_compare]
        keep: dict[str, list[str]] = {ReportKind.CASH.value: list(cash_ids),
                                      ReportKind.FILL.value: []}
        for report in refused:
            keep[report.kind.value].append(report.broker_id or "")

        def ledger_side(connection: Any) -> tuple[Any, Any, Any, Any]:
            local = ledger_view.fills_by_entry_ids(connection, self.accounts, candidates)
            states = ledger_view.latest_states_of(connection, BreakKind.FILL.value, local)
            states.update(ledger_view.latest_states_of(connection, BreakKind.CASH.value,
                                                       cash_ids))
            return (
                local,
                ledger_view.ledger_cash_entries(connection, self.accounts.cash, cash_ids),
                {key: row_id for kind, ids in keep.items() if ids
                 for key, row_id in ledger_view.stored_records(connection, kind, ids).items()},
                states,
            )

        local_fills, booked_cash, records, states = await self.ledger.read(ledger_side)
        side.records.update(records)
        side.states.update(states)
        for report in refused:
            self._refused(report, side, rows, result)
        outcomes: list[_Outcome] = []
        for outcome in to_write:
            if outcome.book:
                assert outcome.report is not None
                outcome = await self._classify_fill(outcome.report, side, rows, result)
            else:
                self._keep_prepared(outcome, side, rows)
            outcomes.append(outcome)
        if not fills.missing:
            outcomes.extend(self._local_only(local_fills, reported))
        round_ = (await self.mapping.sync_round(
            cash_ids, actor or self.actor,
            unbooked=[r.broker_id for r in cash_to_compare if r.broker_id not in booked_cash])
            if self.mapping is not None and cash_to_compare else None)
        for report in cash_to_compare:
            outcomes.append(self._classify_cash(report, booked_cash, side, rows, result,
                                                round_))
        if fills.missing or cash.missing:
            result.outcome = RunOutcome.PARTIAL
        explanations = self._explanations(side, outcomes)
        # Fills of ours booked just now moved the ledger: positions and cash read again
        # (while the broker's positions and account are asked for).
        (side.positions, side.cash_balance), (broker_positions, account) = \
            await asyncio.gather(self.ledger.read(self._holdings), self._broker_state(result))
        if round_ is not None:  # posted in this run's batch, not in the ledger yet
            side.cash_balance += round_.mapped_cash
        self._checks(trigger, side, explanations, rows, outcomes, result, broker_positions,
                     account, always=True)
        counts = result.counts
        for outcome in outcomes:
            if outcome.kind in (BreakKind.FILL, BreakKind.CASH):  # records, not checks
                status = outcome.status.value
                counts[status] = counts.get(status, 0) + 1
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
        side = await self.ledger.read(self._read_check_side)
        explanations = await self.ledger.read(_open_explanations)
        rows = _Rows(run=False, now=self.clock.now())
        outcomes: list[_Outcome] = []
        broker_positions, account = await self._broker_state(result)
        self._checks(trigger, side, explanations, rows, outcomes, result, broker_positions,
                     account, always=always)
        self._log_changes(outcomes, side.states, rows, result)
        result.ended_at = self.clock.now()
        if rows.batch.rows:
            await self._commit(rows, result, CHECK_ACTION, None)
        result.seconds = time.perf_counter() - started_monotonic
        return result

    # -- reading ---------------------------------------------------------------------------
    def _read_check_side(self, connection: Any) -> _LedgerSide:
        """What a check needs: the positions' and the currencies' states (the fill and cash
        breaks that explain them are read on their own), the holdings and the cash."""
        return _LedgerSide(
            fills={}, entry_ids={},
            states=ledger_view.latest_states(connection, (BreakKind.POSITION,
                                                          BreakKind.BALANCE)),
            records={},
            positions=ledger_view.ledger_positions(connection, self.accounts.equities),
            cash_balance=ledger_view.account_balance(connection, self.accounts.cash),
        )

    async def _start_side_read(self, window: SyncWindow) -> asyncio.Future[_LedgerSide]:
        """Start reading a sync's side of the ledger and return once its snapshot is fixed
        (its first statement has run inside one read transaction): the broker may be read
        from then on, while the rest of the read goes on. Raises what the read raises
        before that point."""
        loop = asyncio.get_running_loop()
        fixed = asyncio.Event()

        def read(connection: sqlite3.Connection) -> _LedgerSide:
            connection.execute("BEGIN")  # one snapshot for everything below
            try:
                connection.execute("SELECT MAX(id) FROM ledger_entries").fetchone()
                loop.call_soon_threadsafe(fixed.set)
                entry_ids = ledger_view.live_entry_ids(connection, window.since, window.until)
                return _LedgerSide(
                    fills={}, entry_ids=entry_ids,
                    # Records' states are read per batch of pages, for the records that
                    # are not unchanged; the checks' states are few.
                    states=ledger_view.latest_states(connection, (BreakKind.POSITION,
                                                                  BreakKind.BALANCE)),
                    records={},  # read for the records that need keeping only
                    # Read right before the checks (after booking fills).
                    positions={}, cash_balance=_ZERO,
                    unchanged=ledger_view.unchanged_hashes(connection, entry_ids),
                )
            finally:
                connection.rollback()

        reading = asyncio.ensure_future(self.ledger.read(read))
        # Awaited by the first batch of pages; a sync that fails before that (its listing
        # raised) must not leave this read's own failure unreported as "never retrieved".
        reading.add_done_callback(_seen)
        waiting = asyncio.ensure_future(fixed.wait())
        try:
            await asyncio.wait((reading, waiting), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if reading.done() and not fixed.is_set():
            reading.result()  # the read failed before its snapshot: raise that
        return reading

    def _holdings(self, connection: Any) -> tuple[dict[str, tuple[Decimal, Decimal]], Decimal]:
        return (ledger_view.ledger_positions(connection, self.accounts.equities),
                ledger_view.account_balance(connection, self.accounts.cash))

    async def _fill_pages(self, pages: _FillPages,
                          batch: list[tuple[Key, FillReport | RefusedReport]]) -> None:
        """One batch of fill pages, as it arrives: an unchanged record is recognised on its
        hash; the others are compared with what one ledger read returns for them, and
        their rows prepared. Writes nothing (a record served again is judged again)."""
        side = await pages.side_read
        unchanged = side.unchanged.get(ReportKind.FILL.value, {})
        verdicts = pages.verdicts
        reported = pages.reported
        compare: list[tuple[Key, FillReport]] = []
        for key, report in batch:
            if isinstance(report, RefusedReport):
                pages.refused[key] = report  # kept with its reason when the run is written
                continue
            broker_id = report.fill.fill_id
            reported.add(broker_id)
            # Every verdict is placed now, so that `verdicts` keeps the listing's order.
            verdicts[key] = None
            if not (report.final and unchanged.get(broker_id) == report.provenance.sha256):
                compare.append((key, report))
        if not compare:
            return
        ids = [report.fill.fill_id for _, report in compare]
        entry_ids = side.entry_ids
        wanted = [entry_ids[broker_id] for broker_id in ids if broker_id in entry_ids]
        kind = ReportKind.FILL.value

        def read(connection: Any) -> tuple[Any, Any, Any]:
            return (ledger_view.fills_by_entry_ids(connection, self.accounts, wanted),
                    ledger_view.stored_records(connection, kind, ids),
                    ledger_view.latest_states_of(connection, kind, ids))

        facts, records, states = await self.ledger.read(read)
        side.fills.update(facts)
        side.records.update(records)
        side.states.update(states)
        for key, report in compare:
            verdicts[key] = self._judge_fill(report, side)

    # -- classifying -----------------------------------------------------------------------
    @staticmethod
    def _record_row(report: FillReport | CashReport | RefusedReport, occurred: datetime | None,
                    refused: str | None, now: datetime | None) -> dict[str, object]:
        """The broker_records row of `report` (the payload as the broker sent it)."""
        provenance = report.provenance
        return {
            "sync_run_id": _RUN_REF,
            "kind": report.kind.value,
            "broker_id": report.broker_id or "",
            "record_hash": provenance.sha256,
            "raw_payload": provenance.canonical or canonical_json(provenance.raw),
            "json_metadata": dict(getattr(report, "metadata", {}) or {}),
            "broker_local_time": provenance.broker_local_time,
            "occurred_at_utc": occurred,
            "final": 0 if refused else int(bool(getattr(report, "final", False))),
            "refused_reason": refused,
            "source": provenance.source,
            "fetched_at_utc": now,
        }

    def _keep_record(self, report: FillReport | CashReport | RefusedReport, side: _LedgerSide,
                     rows: _Rows, occurred: datetime | None, refused: str | None
                     ) -> tuple[int | None, int | None]:
        """(existing row id, batch index) of the broker record `report`, added once."""
        key = (report.kind.value, report.broker_id or "", report.provenance.sha256)
        existing = side.records.get(key)
        if existing is not None:
            return existing, None
        index = rows.add("broker_records",
                         self._record_row(report, occurred, refused, rows.now))
        side.records[key] = -1  # another copy in this run is the same record
        return None, index

    @staticmethod
    def _keep_prepared(outcome: _Outcome, side: _LedgerSide, rows: _Rows) -> None:
        """`_keep_record` for a fill judged as its page arrived (its row already built)."""
        key = (BreakKind.FILL.value, outcome.trade_id, outcome.record_hash or "")
        existing = side.records.get(key)
        if existing is not None:
            outcome.record_id = existing if existing > 0 else None
            return
        row = outcome.record_row
        assert row is not None
        outcome.record_index = rows.add("broker_records", row)
        side.records[key] = -1

    def _judge_fill(self, report: FillReport, side: _LedgerSide) -> _Outcome:
        """A fill's outcome against the ledger's side, with its rows prepared; one of our
        own orders the ledger lacks is only marked `book` (booked when the run is written,
        in the listing's order)."""
        fill = report.fill
        outcome = _Outcome(
            kind=BreakKind.FILL, trade_id=fill.fill_id, status=RecordStatus.OK, detail="",
            record_hash=report.provenance.sha256, symbol=fill.symbol, broker_fill=fill,
            report=report,
        )
        booked = side.fills.get(fill.fill_id)
        if booked is None and report.final and self.engine.is_own_order(fill.client_order_id):
            outcome.book = True
            return outcome
        self._judge_fill_against(outcome, report, booked)
        outcome.prepared = True
        # Converted to stored form now, while the next page is awaited: a first sync of
        # 100,000 fills would otherwise convert 200,000 rows after its last page.
        # Both stamped now: this is when the record was fetched and compared.
        now = self.clock.now()
        outcome.record_row = convert_row("broker_records", self._record_row(
            report, fill.filled_at, None, now))
        log_row = self._log_row(outcome, side.states.get((BreakKind.FILL.value, fill.fill_id)))
        if log_row is not None:
            log_row["timestamp_utc"] = now
            outcome.log_row = convert_row("reconciliation_log", log_row)
        # Its rows say all that is left to say: let the payload go now, not at the end.
        outcome.report = outcome.broker_fill = outcome.ledger_fill = None
        return outcome

    @staticmethod
    def _judge_fill_against(outcome: _Outcome, report: FillReport,
                            booked: LedgerFill | None) -> None:
        """Status, detail, fields and delta of a fill the ledger books as `booked` (None:
        not at all, and not to be booked now)."""
        fill = report.fill
        if booked is None:
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
            outcome.delta = fill_delta(None, fill)
            return outcome
        self._judge_fill_against(outcome, report, booked)
        return outcome

    def _local_only(self, booked_fills: Mapping[str, LedgerFill], seen: set[str]
                    ) -> list[_Outcome]:
        outcomes = []
        for broker_id, booked in booked_fills.items():
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
        return [
            Explanation(-1, o.trade_id, o.status, o.delta)
            for o in outcomes if o.status in _BREAKS and not self._stays_resolved(o, side.states)
        ]

    async def _broker_state(self, result: SyncResult
                            ) -> tuple[list[BrokerPosition] | None, AccountSnapshot | None]:
        """The broker's positions and account now; one that cannot be read is None, a
        span not read, and makes the run partial."""
        try:
            broker_positions: list[BrokerPosition] | None = await self.broker.positions()
        except BrokerError as error:
            broker_positions = None
            result.outcome = RunOutcome.PARTIAL
            result.spans_not_read.append({"listing": "positions", "since": "", "until": "",
                                          "error": error.message})
        try:
            account: AccountSnapshot | None = await self.broker.account()
        except BrokerError as error:
            account = None
            result.outcome = RunOutcome.PARTIAL
            result.spans_not_read.append({"listing": "account", "since": "", "until": "",
                                          "error": error.message})
        return broker_positions, account

    def _checks(self, trigger: SyncTrigger, side: _LedgerSide,
                explanations: list[Explanation], rows: _Rows, outcomes: list[_Outcome],
                result: SyncResult, broker_positions: list[BrokerPosition] | None,
                account: AccountSnapshot | None, *, always: bool) -> None:
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

    def _log_row(self, outcome: _Outcome, state: LatestState | None,
                 run_ref: RowRef | None = _RUN_REF) -> dict[str, object] | None:
        """The reconciliation_log row `outcome` writes, None when its state did not change.
        Its time and its broker record are set when it joins the batch (`_log_changes`)."""
        status = outcome.status
        if not _changes(state, status, outcome.record_hash):
            return None
        if state is not None and state.status is RecordStatus.RESOLVED and (
                state.resolved_status is status
                and state.resolved_hash == outcome.record_hash):
            return None  # stays resolved
        if state is None and status is RecordStatus.OK and outcome.kind in (
            BreakKind.POSITION, BreakKind.BALANCE
        ):
            return None
        is_break = status in _BREAKS
        if is_break:
            outcome.word()
        return {
            "kind": outcome.kind.value,
            "trade_id": outcome.trade_id,
            "status": status.value,
            "compare_fields": [d.as_dict() for d in outcome.fields] if outcome.fields else [],
            "sync_run_id": run_ref,
            "timestamp_utc": None,
            "record_hash": outcome.record_hash,
            "broker_record_id": None,
            "entry_id": outcome.entry_id,
            "symbol": outcome.symbol,
            "broker_value": outcome.broker_value,
            "ledger_value": outcome.ledger_value,
            # As the writer stores an empty mapping (text: its quick path).
            "difference": outcome.delta.as_dict() if is_break else "{}",
            "detail": outcome.detail,
        }

    def _log_changes(self, outcomes: list[_Outcome],
                     states: Mapping[tuple[str, str], LatestState], rows: _Rows,
                     result: SyncResult) -> None:
        """A log row for every outcome whose state changed, in the outcomes' order."""
        now = self.clock.now()
        log_rows = rows.batch.rows.setdefault("reconciliation_log", [])
        for outcome in outcomes:
            state = states.get((outcome.kind.value, outcome.trade_id))
            row: dict[str, object] | ConvertedRow | None = (
                outcome.log_row if outcome.prepared
                else self._log_row(outcome, state, rows.run_ref))
            if row is None:
                continue
            broker_record = (RowRef("broker_records", outcome.record_index)
                             if outcome.record_index is not None else outcome.record_id)
            if isinstance(row, ConvertedRow):  # stamped when its page was compared
                row.set("broker_record_id", broker_record)
            else:
                row["timestamp_utc"] = now
                row["broker_record_id"] = broker_record
            log_rows.append(row)
            is_break = outcome.status in _BREAKS
            was_break = state is not None and state.status in _BREAKS
            if is_break or was_break:  # what `_commit` reports as new or closed
                rows.log_rows.append({"index": len(log_rows) - 1, "status": outcome.status,
                                      "was_break": was_break})
            if is_break:
                result.breaks_detail.append(
                    f"{outcome.status} {outcome.kind} {outcome.trade_id}: {outcome.detail}")
        if not log_rows:
            del rows.batch.rows["reconciliation_log"]

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


def _seen(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception retrieved (whoever awaits it still gets it)."""
    if not future.cancelled():
        future.exception()


def _fill_text(fill: BrokerFill) -> str:
    return (f"{fill.side.value} {plain(fill.quantity)} {fill.symbol} @ {plain(fill.price)} "
            f"fee {plain(fill.fee)}")


def _ledger_fill_text(fill: LedgerFill) -> str:
    price = plain(fill.price) if fill.price is not None else f"~{plain(fill.notional)} total"
    return f"{fill.side} {plain(fill.quantity)} {fill.symbol} @ {price} fee {plain(fill.fee)}"


def _cash_text(activity: CashActivity) -> str:
    on = f" {activity.symbol}" if activity.symbol else ""
    return f"{activity.activity_type}{on} {plain(activity.amount)}"
