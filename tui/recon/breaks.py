"""The `recon.*` answers as plain data: breaks, one break in full, the sync status, what a
resolution would post, and the latest position and cash checks (docs/protocol.md,
"recon.*").

A malformed answer raises `SnapshotError` naming the field, so the view shows one error
line and keeps what it showed last instead of failing half-way through a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tui.mapping.fields import (
    expect_int,
    expect_list,
    expect_object,
    expect_text,
    optional_int,
)
from tui.model.snapshot import SnapshotError, parse_time

STATUS_METHOD = "recon.status"
BREAKS_METHOD = "recon.breaks"
SHOW_METHOD = "recon.show"
RESOLVE_METHOD = "recon.resolve"
POSITIONS_METHOD = "recon.positions"
SYNC_METHOD = "recon.sync"

BREAK_STATUSES = ("mismatch", "local-only", "broker-only", "pending", "unmapped")
"""The statuses of an open break, in the order the header counts them."""
KINDS = ("fill", "cash", "position", "balance")


def _decimal(value: object, what: str) -> Decimal | None:
    """Exact decimal text (or a whole number), None for null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SnapshotError(f"{what}: expected a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SnapshotError(f"{what}: not a number: {value!r}") from None
    if not number.is_finite():
        raise SnapshotError(f"{what}: not finite: {value!r}")
    return number


def _counts(value: object, what: str) -> dict[str, int]:
    if value is None:
        return {}
    record = expect_object(value, what)
    counts: dict[str, int] = {}
    for name, count in record.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise SnapshotError(f"{what}: count of {name!r} must be a whole number")
        counts[str(name)] = count
    return counts


@dataclass(frozen=True)
class CompareField:
    """One field the broker and the ledger disagree on."""

    field: str
    ledger: str
    broker: str


@dataclass(frozen=True)
class Break:
    """One reconciliation row: an open break (or, filtered by status, a resolved one)."""

    id: int
    kind: str
    trade_id: str
    status: str
    symbol: str
    broker_value: str
    ledger_value: str
    cash_difference: Decimal | None
    """Broker minus ledger, in the account's currency."""
    quantity_difference: Decimal | None
    """Broker minus ledger, in shares."""
    compare_fields: tuple[CompareField, ...]
    detail: str
    record_hash: str
    entry_id: int | None
    broker_record_id: int | None
    sync_run_id: int | None
    at: datetime | None
    age_seconds: int | None
    resolution_action: str
    actor: str
    reason: str

    @property
    def key(self) -> str:
        """The grid's row key."""
        return str(self.id)

    @property
    def subject(self) -> str:
        """What the break is about, shortly: the symbol, a cash activity's type (`MISCFEE`),
        a balance's currency, else the broker's id."""
        if self.symbol:
            return self.symbol
        if self.kind == "cash" and self.broker_value:
            return self.broker_value.split()[0]
        return self.trade_id

    @property
    def needs_account(self) -> bool:
        """Accepting the broker's side books cash against an account the admin names."""
        return self.kind == "balance" or (self.kind == "cash" and self.status == "unmapped")

    @property
    def is_open(self) -> bool:
        """Not resolved (nor ok)."""
        return self.status in BREAK_STATUSES


@dataclass(frozen=True)
class BreakPage:
    """One `recon.breaks` answer."""

    breaks: tuple[Break, ...]
    total: int
    """Rows matching the query, of which `breaks` is one page (newest first)."""
    offset: int
    open_by_kind: dict[str, dict[str, int]]
    """Every open break counted by kind and status (whatever the query)."""

    @property
    def open_total(self) -> int:
        """How many breaks are open."""
        return sum(sum(by_status.values()) for by_status in self.open_by_kind.values())


@dataclass(frozen=True)
class SyncRun:
    """A sync run (or check) as `recon.status`, `recon.runs` and `recon.show` give it."""

    id: int | None
    trigger: str
    outcome: str
    started_at: datetime | None
    ended_at: datetime | None
    actor: str
    counts: dict[str, int]
    spans_not_read: tuple[str, ...]
    """`fill 2026-11-18..2026-11-19: timeout` per span the broker did not answer."""
    new_breaks: int | None
    error: str


@dataclass(frozen=True)
class RunningSync:
    """A sync under way."""

    trigger: str
    started_at: datetime | None
    fetched: dict[str, int]


@dataclass(frozen=True)
class ReconStatus:
    """`recon.status` (offline: the last run read from the ledger)."""

    running: RunningSync | None
    last_sync: SyncRun | None
    last_check: SyncRun | None


@dataclass(frozen=True)
class BrokerRecord:
    """The broker's record of a break, as fetched and kept."""

    id: int
    broker_id: str
    record_hash: str
    raw_payload: object
    occurred_at: datetime | None
    broker_local_time: str
    final: bool
    source: str
    fetched_at: datetime | None


@dataclass(frozen=True)
class Posting:
    """One line of an entry (booked, or one a resolution would post)."""

    account: str
    amount: Decimal
    symbol: str
    quantity: Decimal | None


@dataclass(frozen=True)
class LedgerEntry:
    """The ledger's entry of a break."""

    id: int
    fitid: str
    dtposted: datetime | None
    trntype: str
    memo: str
    source: str
    is_manual: bool
    reversed_by: str
    postings: tuple[Posting, ...]


@dataclass(frozen=True)
class BreakDetail:
    """One `recon.show` answer."""

    brk: Break
    is_open: bool
    latest_id: int
    broker_record: BrokerRecord | None
    ledger_entry: LedgerEntry | None
    history: tuple[Break, ...]
    sync_runs: tuple[SyncRun, ...]


@dataclass(frozen=True)
class PlannedEntry:
    """An entry a resolution posts (or reverses)."""

    fitid: str
    memo: str
    dtposted: datetime | None
    reverses: str
    postings: tuple[Posting, ...]


@dataclass(frozen=True)
class ResolutionPreview:
    """A `recon.resolve` answer: what was (or, for a dry run, would be) posted."""

    break_id: int
    action: str
    kind: str
    trade_id: str
    resolution_id: int | None
    dry_run: bool
    entries: tuple[PlannedEntry, ...]
    posted_entry_ids: tuple[int, ...]


@dataclass(frozen=True)
class PositionCheck:
    """The latest check of one symbol: broker vs ledger vs engine."""

    symbol: str
    checked_at: datetime | None
    broker_quantity: Decimal | None
    ledger_quantity: Decimal | None
    engine_quantity: Decimal | None
    explained_quantity: Decimal | None
    outcome: str
    reason: str


@dataclass(frozen=True)
class CashAssertion:
    """The latest cash assertion of one currency."""

    currency: str
    account: str
    asserted_at: datetime | None
    broker_cash: Decimal | None
    ledger_cash: Decimal | None
    in_transit: Decimal | None
    difference: Decimal | None
    tolerance: Decimal | None
    passed: bool
    detail: str


@dataclass(frozen=True)
class PositionsReport:
    """One `recon.positions` answer."""

    positions: tuple[PositionCheck, ...]
    balances: tuple[CashAssertion, ...]


# -- parsing ------------------------------------------------------------------------------------


def parse_break(value: object, what: str = "break") -> Break:
    """One break row."""
    record = expect_object(value, what)
    difference = record.get("difference") or {}
    if not isinstance(difference, Mapping):
        raise SnapshotError(f"{what}: field 'difference' must be an object")
    fields = tuple(
        CompareField(field=expect_text(item, "field", f"{what} compare field"),
                     ledger=_plain(item.get("ledger")), broker=_plain(item.get("broker")))
        for item in (expect_object(entry, f"{what} compare field")
                     for entry in expect_list(record, "compare_fields", what, optional=True)))
    age = record.get("age_seconds")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int)):
        raise SnapshotError(f"{what}: field 'age_seconds' must be a whole number")
    return Break(
        id=expect_int(record, "id", what),
        kind=expect_text(record, "kind", what),
        trade_id=expect_text(record, "trade_id", what),
        status=expect_text(record, "status", what),
        symbol=expect_text(record, "symbol", what, optional=True),
        broker_value=expect_text(record, "broker_value", what, optional=True),
        ledger_value=expect_text(record, "ledger_value", what, optional=True),
        cash_difference=_decimal(difference.get("cash"), f"{what}.difference.cash"),
        quantity_difference=_decimal(difference.get("quantity"),
                                     f"{what}.difference.quantity"),
        compare_fields=fields,
        detail=expect_text(record, "detail", what, optional=True),
        record_hash=expect_text(record, "record_hash", what, optional=True),
        entry_id=optional_int(record, "entry_id", what),
        broker_record_id=optional_int(record, "broker_record_id", what),
        sync_run_id=optional_int(record, "sync_run_id", what),
        at=parse_time(record.get("at"), f"{what}.at"),
        age_seconds=age,
        resolution_action=expect_text(record, "resolution_action", what, optional=True),
        actor=expect_text(record, "actor", what, optional=True),
        reason=expect_text(record, "reason", what, optional=True),
    )


def _plain(value: object) -> str:
    return "" if value is None else str(value)


def parse_breaks(result: object) -> BreakPage:
    """A `recon.breaks` result."""
    what = BREAKS_METHOD
    record = expect_object(result, what)
    rows = tuple(parse_break(row, f"{what} break {index}")
                 for index, row in enumerate(expect_list(record, "breaks", what)))
    by_kind = expect_object(record.get("open_by_kind") or {}, f"{what}.open_by_kind")
    return BreakPage(
        breaks=rows,
        total=expect_int(record, "total", what, default=len(rows)),
        offset=expect_int(record, "offset", what, default=0),
        open_by_kind={str(kind): _counts(counts, f"{what}.open_by_kind.{kind}")
                      for kind, counts in by_kind.items()},
    )


def _spans(value: object, what: str) -> tuple[str, ...]:
    spans: list[str] = []
    for index, span in enumerate(value if isinstance(value, list) else ()):
        if isinstance(span, Mapping):
            since = str(span.get("since") or "")[:10]
            until = str(span.get("until") or "")[:10]
            error = f": {span['error']}" if span.get("error") else ""
            spans.append(f"{span.get('listing', '?')} {since}..{until}{error}")
        elif isinstance(span, str):
            spans.append(span)
        else:
            raise SnapshotError(f"{what}: span {index} must be an object")
    return tuple(spans)


def parse_run(value: object, what: str = "sync run") -> SyncRun:
    """A sync run: the `recon.status` result shape (`run_id`) or the `recon.runs` one
    (`id`)."""
    record = expect_object(value, what)
    run_id = optional_int(record, "run_id" if "run_id" in record else "id", what)
    new_breaks = record.get("new_breaks")
    return SyncRun(
        id=run_id,
        trigger=expect_text(record, "trigger", what, optional=True),
        outcome=expect_text(record, "outcome", what, optional=True),
        started_at=parse_time(record.get("started_at"), f"{what}.started_at"),
        ended_at=parse_time(record.get("ended_at"), f"{what}.ended_at"),
        actor=expect_text(record, "actor", what, optional=True),
        counts=_counts(record.get("counts"), f"{what}.counts"),
        spans_not_read=_spans(record.get("spans_not_read"), what),
        new_breaks=len(new_breaks) if isinstance(new_breaks, list) else None,
        error=expect_text(record, "error", what, optional=True),
    )


def parse_status(result: object) -> ReconStatus:
    """A `recon.status` result."""
    what = STATUS_METHOD
    record = expect_object(result, what)
    running = record.get("running")
    progress = None
    if running is not None:
        running_record = expect_object(running, f"{what}.running")
        progress = RunningSync(
            trigger=expect_text(running_record, "trigger", f"{what}.running", optional=True),
            started_at=parse_time(running_record.get("started_at"), f"{what}.running"),
            fetched=_counts(running_record.get("fetched"), f"{what}.running.fetched"),
        )
    last_sync, last_check = record.get("last_sync"), record.get("last_check")
    return ReconStatus(
        running=progress,
        last_sync=None if last_sync is None else parse_run(last_sync, f"{what}.last_sync"),
        last_check=None if last_check is None else parse_run(last_check,
                                                              f"{what}.last_check"),
    )


def _posting(value: object, what: str) -> Posting:
    record = expect_object(value, what)
    amount = _decimal(record.get("amount"), f"{what}.amount")
    if amount is None:
        raise SnapshotError(f"{what}: field 'amount' is required")
    return Posting(account=expect_text(record, "account", what), amount=amount,
                   symbol=expect_text(record, "symbol", what, optional=True),
                   quantity=_decimal(record.get("quantity"), f"{what}.quantity"))


def _postings(record: Mapping[str, Any], what: str) -> tuple[Posting, ...]:
    return tuple(_posting(item, f"{what} posting {index}") for index, item in
                 enumerate(expect_list(record, "postings", what, optional=True)))


def parse_show(result: object) -> BreakDetail:
    """A `recon.show` result."""
    what = SHOW_METHOD
    record = expect_object(result, what)
    raw_record = record.get("broker_record")
    broker = None
    if raw_record is not None:
        kept = expect_object(raw_record, f"{what}.broker_record")
        broker = BrokerRecord(
            id=expect_int(kept, "id", f"{what}.broker_record"),
            broker_id=expect_text(kept, "broker_id", f"{what}.broker_record", optional=True),
            record_hash=expect_text(kept, "record_hash", f"{what}.broker_record",
                                    optional=True),
            raw_payload=kept.get("raw_payload"),
            occurred_at=parse_time(kept.get("occurred_at"), f"{what}.broker_record"),
            broker_local_time=expect_text(kept, "broker_local_time", f"{what}.broker_record",
                                          optional=True),
            final=kept.get("final") is True,
            source=expect_text(kept, "source", f"{what}.broker_record", optional=True),
            fetched_at=parse_time(kept.get("fetched_at"), f"{what}.broker_record"),
        )
    raw_entry = record.get("ledger_entry")
    entry = None
    if raw_entry is not None:
        booked = expect_object(raw_entry, f"{what}.ledger_entry")
        entry = LedgerEntry(
            id=expect_int(booked, "id", f"{what}.ledger_entry"),
            fitid=expect_text(booked, "fitid", f"{what}.ledger_entry", optional=True),
            dtposted=parse_time(booked.get("dtposted"), f"{what}.ledger_entry"),
            trntype=expect_text(booked, "trntype", f"{what}.ledger_entry", optional=True),
            memo=expect_text(booked, "memo", f"{what}.ledger_entry", optional=True),
            source=expect_text(booked, "source", f"{what}.ledger_entry", optional=True),
            is_manual=booked.get("is_manual") is True,
            reversed_by=expect_text(booked, "reversed_by", f"{what}.ledger_entry",
                                    optional=True),
            postings=_postings(booked, f"{what}.ledger_entry"),
        )
    shown = parse_break(record.get("break"), f"{what}.break")
    return BreakDetail(
        brk=shown,
        is_open=record.get("is_open") is True,
        latest_id=expect_int(record, "latest_id", what, default=shown.id),
        broker_record=broker,
        ledger_entry=entry,
        history=tuple(parse_break(row, f"{what} history {index}") for index, row in
                      enumerate(expect_list(record, "history", what, optional=True))),
        sync_runs=tuple(parse_run(run, f"{what} sync run {index}") for index, run in
                        enumerate(expect_list(record, "sync_runs", what, optional=True))),
    )


def parse_resolution(result: object) -> ResolutionPreview:
    """A `recon.resolve` result (a dry run's or a real one's)."""
    what = RESOLVE_METHOD
    record = expect_object(result, what)
    entries = []
    for index, item in enumerate(expect_list(record, "entries", what, optional=True)):
        entry = expect_object(item, f"{what} entry {index}")
        entries.append(PlannedEntry(
            fitid=expect_text(entry, "fitid", f"{what} entry {index}", optional=True),
            memo=expect_text(entry, "memo", f"{what} entry {index}", optional=True),
            dtposted=parse_time(entry.get("dtposted"), f"{what} entry {index}.dtposted"),
            reverses=_plain(entry.get("reverses")),
            postings=_postings(entry, f"{what} entry {index}"),
        ))
    posted = expect_list(record, "posted_entry_ids", what, optional=True)
    if not all(isinstance(number, int) and not isinstance(number, bool) for number in posted):
        raise SnapshotError(f"{what}: posted_entry_ids must be whole numbers")
    return ResolutionPreview(
        break_id=expect_int(record, "break_id", what),
        action=expect_text(record, "action", what),
        kind=expect_text(record, "kind", what, optional=True),
        trade_id=expect_text(record, "trade_id", what, optional=True),
        resolution_id=optional_int(record, "resolution_id", what),
        dry_run=record.get("dry_run") is True,
        entries=tuple(entries),
        posted_entry_ids=tuple(int(number) for number in posted),  # type: ignore[call-overload]
    )


def parse_positions(result: object) -> PositionsReport:
    """A `recon.positions` result."""
    what = POSITIONS_METHOD
    record = expect_object(result, what)
    checks = []
    for index, item in enumerate(expect_list(record, "positions", what)):
        name = f"{what} position {index}"
        check = expect_object(item, name)
        checks.append(PositionCheck(
            symbol=expect_text(check, "symbol", name),
            checked_at=parse_time(check.get("checked_at"), f"{name}.checked_at"),
            broker_quantity=_decimal(check.get("broker_quantity"), f"{name}.broker_quantity"),
            ledger_quantity=_decimal(check.get("ledger_quantity"), f"{name}.ledger_quantity"),
            engine_quantity=_decimal(check.get("engine_quantity"), f"{name}.engine_quantity"),
            explained_quantity=_decimal(check.get("explained_quantity"),
                                        f"{name}.explained_quantity"),
            outcome=expect_text(check, "outcome", name, optional=True),
            reason=expect_text(check, "reason", name, optional=True),
        ))
    balances = []
    for index, item in enumerate(expect_list(record, "balances", what)):
        name = f"{what} balance {index}"
        cash = expect_object(item, name)
        balances.append(CashAssertion(
            currency=expect_text(cash, "currency", name),
            account=expect_text(cash, "account", name, optional=True),
            asserted_at=parse_time(cash.get("asserted_at"), f"{name}.asserted_at"),
            broker_cash=_decimal(cash.get("broker_cash"), f"{name}.broker_cash"),
            ledger_cash=_decimal(cash.get("ledger_cash"), f"{name}.ledger_cash"),
            in_transit=_decimal(cash.get("in_transit"), f"{name}.in_transit"),
            difference=_decimal(cash.get("difference"), f"{name}.difference"),
            tolerance=_decimal(cash.get("tolerance"), f"{name}.tolerance"),
            passed=cash.get("passed") is True,
            detail=expect_text(cash, "detail", name, optional=True),
        ))
    return PositionsReport(positions=tuple(checks), balances=tuple(balances))
