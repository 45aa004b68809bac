"""Clearing a break on the record: always a new row, never an edit.

Three actions, each with the actor (from SO_PEERCRED, or the CLI's user), a reason, and
links to the entries it posted, all written in ONE ledger transaction with the resolved
row:

- `keep-ledger`: the broker is wrong, or it is a known timing difference. Posts nothing.
- `book-manually`: the admin's own balanced entry (postings given), posted as manual.
- `accept-broker`: post the broker's version:
  * a fill the ledger lacks (broker-only): the fill, without a strategy's trade row (it is
    not a strategy's trade, so it stays out of strategy PnL);
  * a restated fill (mismatch in price, fee or time): a reversal of the booked entry and a
    corrected entry (FITID ``<fill>~c<n>``) referencing it; for a purchase already partly
    sold, the cost difference of the sold shares goes to realized gains;
  * a fill the broker does not report (local-only): the reversal of a purchase whose lot is
    still whole (a sale, or a purchase since sold, needs book-manually);
  * an unmapped cash activity, or a failed cash assertion: cash against the account the
    admin names (`account`);
  * a restated cash activity: reversal and corrected entry on the same accounts.
  A pending record is followed up by later syncs and cannot be accepted; a position break
  clears when the record breaks that explain it are resolved (or is kept / booked).

`dry_run` builds everything and posts nothing: what a console shows before it asks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.booking.correction_ids import base_fitid, correction_fitid
from tbot.booking.fifo_lots import LotBook, prorated_cost
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.broker.models import BrokerFill, OrderSide
from tbot.broker.reports import CashReport, FillReport, ReportKind
from tbot.clock import Clock, utc_text
from tbot.config.setting_types import BrokerName
from tbot.errors import TbotError
from tbot.ledger.batch import EntryRef, LedgerBatch, ReversalDraft
from tbot.ledger.drafts import EntryDraft, PostingDraft, TradeDraft
from tbot.ledger.errors import LedgerError
from tbot.reconcile import ledger_view
from tbot.reconcile.compare import broker_notional, plain
from tbot.reconcile.ledger_view import LedgerFill
from tbot.reconcile.statuses import BreakKind, RecordStatus, ResolutionAction

RESOLVE_ACTION = "recon.resolve"
RECON_SOURCE = "reconciliation"
MANUAL_SOURCE = "manual"
_ZERO = Decimal(0)


class ResolutionError(TbotError):
    """A resolve that cannot be done; `code` says why: ``unknown``, ``already_resolved``,
    ``superseded``, ``not_allowed`` (the action does not apply to this break) or
    ``invalid`` (bad input)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ManualPosting:
    """One leg of a book-manually entry (amount > 0 debits, < 0 credits)."""

    account: str
    amount: Decimal
    symbol: str | None = None
    quantity: Decimal | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveRequest:
    """What the admin asked."""

    break_id: int
    action: ResolutionAction
    reason: str
    postings: tuple[ManualPosting, ...] = ()
    memo: str | None = None
    account: str | None = None
    dry_run: bool = False


@dataclass
class Resolution:
    """What a resolve posted (or, in a dry run, would post)."""

    break_id: int
    action: ResolutionAction
    kind: str
    trade_id: str
    resolution_id: int | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    posted_entry_ids: list[int] = field(default_factory=list)
    symbols: frozenset[str] = frozenset()
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready result."""
        return {
            "break_id": self.break_id,
            "action": self.action.value,
            "kind": self.kind,
            "trade_id": self.trade_id,
            "resolution_id": self.resolution_id,
            "dry_run": self.dry_run,
            "entries": self.entries,
            "posted_entry_ids": self.posted_entry_ids,
        }


@dataclass
class _Plan:
    entries: list[EntryDraft | ReversalDraft] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)


class Resolver:
    """Builds and writes resolutions over the ledger and broker ports."""

    def __init__(self, ledger: Any, broker: Any, accounts: BrokerAccounts,
                 broker_name: BrokerName, clock: Clock, *, currency: str = "USD") -> None:
        self.ledger = ledger
        self.broker = broker
        self.accounts = accounts
        self.broker_name = broker_name
        self.clock = clock
        self.currency = currency

    async def resolve(self, request: ResolveRequest, actor: str) -> Resolution:
        """Resolve break `request.break_id`; ResolutionError when it cannot be."""
        reason = (request.reason or "").strip()
        if not reason:
            raise ResolutionError("invalid", "a reason is required to resolve a break")
        if len(reason) > 500:
            raise ResolutionError("invalid", "the reason is longer than 500 characters")
        row = await self.ledger.read(lambda c: _current_break(c, request.break_id))
        kind, trade_id = str(row["kind"]), str(row["trade_id"])
        plan = await self.ledger.read(lambda c: self._plan(c, row, request))
        resolution = Resolution(
            request.break_id, request.action, kind, trade_id,
            entries=[describe_draft(draft) for draft in plan.entries],
            symbols=frozenset(plan.symbols), dry_run=request.dry_run,
        )
        if request.dry_run:
            return resolution
        batch = LedgerBatch(entries=list(plan.entries))
        batch.rows["reconciliation_log"] = [{
            "kind": kind,
            "trade_id": trade_id,
            "status": RecordStatus.RESOLVED.value,
            "compare_fields": json.loads(str(row["compare_fields"] or "[]")),
            "sync_run_id": None,
            "timestamp_utc": self.clock.now(),
            "record_hash": row["record_hash"],
            "broker_record_id": row["broker_record_id"],
            "entry_id": row["entry_id"],
            "symbol": row["symbol"],
            "broker_value": row["broker_value"],
            "ledger_value": row["ledger_value"],
            "difference": json.loads(str(row["difference"] or "{}")),
            "detail": f"{request.action.value} by {actor}: {reason}",
            "resolves_id": request.break_id,
            "resolution_action": request.action.value,
            "actor": actor,
            "reason": reason,
            "posted_entry_ids": [EntryRef(i) for i in range(len(plan.entries))],
        }]
        try:
            written = await self.ledger.commit(
                batch, actor=actor, action=RESOLVE_ACTION, subject=f"break #{request.break_id}",
                details={"break_id": request.break_id, "action": request.action.value,
                         "kind": kind, "trade_id": trade_id, "reason": reason},
            )
        except LedgerError as error:
            raise ResolutionError(
                "invalid", f"the ledger refused the resolution: {error}") from None
        resolution.resolution_id = written.row_ids["reconciliation_log"][0]
        resolution.posted_entry_ids = [entry.entry_id for entry in written.entries]
        return resolution

    # -- planning --------------------------------------------------------------------------
    def _plan(self, connection: sqlite3.Connection, row: Mapping[str, Any],
              request: ResolveRequest) -> _Plan:
        action = request.action
        if action is ResolutionAction.KEEP_LEDGER:
            return _Plan()
        if action is ResolutionAction.BOOK_MANUALLY:
            return self._manual(row, request)
        kind, status = BreakKind(row["kind"]), RecordStatus(row["status"])
        if status is RecordStatus.PENDING:
            raise ResolutionError("not_allowed", "a pending record is followed up by later "
                                  "syncs until the broker calls it final; keep-ledger if it "
                                  "never settles")
        if kind is BreakKind.POSITION:
            raise ResolutionError("not_allowed", "a position break clears when the record "
                                  "breaks that explain it are resolved; otherwise keep-ledger "
                                  "or book-manually")
        if kind is BreakKind.BALANCE:
            return self._accept_balance(row, request)
        if kind is BreakKind.CASH:
            return self._accept_cash(connection, row, request, status)
        return self._accept_fill(connection, row, status)

    def _manual(self, row: Mapping[str, Any], request: ResolveRequest) -> _Plan:
        if not request.postings:
            raise ResolutionError("invalid", "book-manually needs the entry's postings")
        postings = tuple(
            PostingDraft(p.account, p.amount, self.currency, quantity=p.quantity,
                         symbol=p.symbol, memo=p.memo)
            for p in request.postings
        )
        memo = (request.memo or "").strip() or f"booked manually for break #{row['id']}"
        draft = EntryDraft(
            fitid=f"recon-{row['id']}", dtposted=self.clock.now(), trntype="OTHER",
            memo=memo, postings=postings, source=MANUAL_SOURCE,
        )
        return _Plan([draft], {p.symbol for p in request.postings if p.symbol})

    def _accept_balance(self, row: Mapping[str, Any], request: ResolveRequest) -> _Plan:
        account = _require_account(request)
        difference = Decimal(str(json.loads(str(row["difference"] or "{}")).get("cash") or 0))
        if difference == 0:
            raise ResolutionError("not_allowed", "the assertion shows no cash difference")
        draft = EntryDraft(
            fitid=f"recon-{row['id']}", dtposted=self.clock.now(),
            trntype="CREDIT" if difference > 0 else "DEBIT",
            memo=f"cash difference at the broker accepted (break #{row['id']})",
            postings=(PostingDraft(self.accounts.cash, difference, self.currency),
                      PostingDraft(account, -difference, self.currency)),
            source=RECON_SOURCE,
        )
        return _Plan([draft])

    def _accept_cash(self, connection: sqlite3.Connection, row: Mapping[str, Any],
                     request: ResolveRequest, status: RecordStatus) -> _Plan:
        report = self._broker_report(connection, row)
        if not isinstance(report, CashReport):
            raise ResolutionError("not_allowed", "the broker record is not a cash activity")
        activity = report.activity
        if status is RecordStatus.UNMAPPED:
            account = _require_account(request)
            draft = EntryDraft(
                fitid=activity.activity_id, dtposted=activity.occurred_at,
                trntype="CREDIT" if activity.amount > 0 else "DEBIT",
                memo=f"{activity.activity_type} {plain(activity.amount)}: "
                     f"{activity.description}"[:500],
                postings=(PostingDraft(self.accounts.cash, activity.amount, self.currency),
                          PostingDraft(account, -activity.amount, self.currency)),
                source=RECON_SOURCE,
            )
            return _Plan([draft])
        booked = ledger_view.ledger_cash_entries(connection, self.accounts.cash,
                                                 [activity.activity_id])
        entry = booked.get(activity.activity_id)
        if entry is None:
            raise ResolutionError("not_allowed", "the ledger no longer books this activity")
        others = [(a, v) for a, v in ledger_view.entry_postings(connection, entry.entry_id)
                  if a != self.accounts.cash]
        if len(others) != 1:
            raise ResolutionError("not_allowed", "the booked entry has more than one counter "
                                  "account: book the correction manually")
        number = ledger_view.corrections_of(connection, activity.activity_id) + 1
        corrected = EntryDraft(
            fitid=correction_fitid(activity.activity_id, number),
            dtposted=activity.occurred_at,
            trntype="CREDIT" if activity.amount > 0 else "DEBIT",
            memo=f"corrected to the broker's {plain(activity.amount)} (break #{row['id']})",
            postings=(PostingDraft(self.accounts.cash, activity.amount, self.currency),
                      PostingDraft(others[0][0], -activity.amount, self.currency)),
            source=RECON_SOURCE,
        )
        return _Plan([self._reversal(entry.fitid, row, number), corrected])

    def _accept_fill(self, connection: sqlite3.Connection, row: Mapping[str, Any],
                     status: RecordStatus) -> _Plan:
        trade_id = str(row["trade_id"])
        booked = ledger_view.ledger_fill(connection, self.accounts, trade_id)
        lots = LotBook.from_connection(connection, self.accounts.equities)
        if status is RecordStatus.LOCAL_ONLY:
            if booked is None:
                raise ResolutionError("not_allowed", "the ledger no longer books this fill")
            if booked.side != OrderSide.BUY.value:
                raise ResolutionError(
                    "not_allowed", "a sale cannot be withdrawn without the lots it closed: "
                    "keep-ledger, or book the correction manually")
            if lots.remaining_fraction(booked.symbol, base_fitid(booked.fitid)) != 1:
                raise ResolutionError(
                    "not_allowed", f"the shares of {booked.fitid} have been sold since: "
                    "keep-ledger, or book the correction manually")
            return _Plan([self._reversal(booked.fitid, row, 1)], {booked.symbol})
        report = self._broker_report(connection, row)
        if not isinstance(report, FillReport):
            raise ResolutionError("not_allowed", "the broker record is not a fill")
        fill = report.fill
        if status is RecordStatus.BROKER_ONLY:
            if booked is not None:
                raise ResolutionError("not_allowed", "the ledger books this fill already")
            return _Plan([self._broker_only_entry(fill, lots, row)], {fill.symbol})
        if booked is None:
            raise ResolutionError("not_allowed", "the ledger no longer books this fill")
        return self._restatement(connection, row, booked, fill, lots)

    def _broker_only_entry(self, fill: BrokerFill, lots: LotBook,
                           row: Mapping[str, Any]) -> EntryDraft:
        booker = FillBooker(self.broker_name, lots, currency=self.currency)
        try:
            draft = booker.entry_for_fill(fill, FillContext(strategy="open", side="long"))
        except LedgerError as error:
            raise ResolutionError("not_allowed", f"the fill cannot be booked: {error}") from None
        memo = (f"broker-only fill accepted (break #{row['id']}): {fill.side.value} "
                f"{plain(fill.quantity)} {fill.symbol} @ {plain(fill.price)}")
        # No trade row: it is not a strategy's trade.
        return replace(draft, trade=None, memo=memo, source=RECON_SOURCE)

    def _restatement(self, connection: sqlite3.Connection, row: Mapping[str, Any],
                     booked: LedgerFill, fill: BrokerFill, lots: LotBook) -> _Plan:
        if (fill.symbol, fill.side.value, fill.quantity) != (
            booked.symbol, booked.side, booked.quantity
        ):
            raise ResolutionError(
                "not_allowed", "the broker restates the symbol, side or quantity: that moves "
                "lots; book the correction manually")
        number = ledger_view.corrections_of(connection, fill.fill_id) + 1
        trade = ledger_view.trade_facts(connection, booked.entry_id)
        accounts, currency = self.accounts, self.currency
        fee = fill.fee.quantize(Decimal("0.000001"))
        notional = broker_notional(fill)
        postings: list[PostingDraft] = []
        trade_draft: TradeDraft | None = None
        if booked.side == OrderSide.BUY.value:
            remaining = lots.lot(booked.symbol, base_fitid(booked.fitid))
            held = remaining.quantity if remaining is not None else _ZERO
            change = notional - booked.equity_amount
            kept = prorated_cost(change, held, booked.quantity) if held else _ZERO
            # What the reversal and this entry leave on the equities account must be exactly
            # the lot's change (`kept`); the rest belongs to shares already sold.
            booked_equities = sum(
                (amount for account, amount in
                 ledger_view.entry_postings(connection, booked.entry_id)
                 if account == accounts.equities), _ZERO)
            sold_part = notional - booked_equities - kept
            postings.append(PostingDraft(accounts.equities, notional, currency,
                                         quantity=fill.quantity, symbol=fill.symbol))
            if fee:
                postings.append(PostingDraft(accounts.fees, fee, currency))
            postings.append(PostingDraft(accounts.cash, -(notional + fee), currency))
            if sold_part:
                postings.append(PostingDraft(accounts.equities, -sold_part, currency,
                                             symbol=fill.symbol,
                                             memo="restated cost of shares already sold"))
                postings.append(PostingDraft(accounts.realized_gains, sold_part, currency))
            if trade is not None:
                trade_draft = TradeDraft(
                    trntype="BUY", strategy=str(trade["strategy"]), symbol=fill.symbol,
                    side=str(trade["side"]), size=fill.quantity, entry_price=fill.price,
                    pnl=-fee, broker=self.broker_name.value, tag=str(trade["tag"]),
                    leverage_multiplier=Decimal(str(trade["leverage_multiplier"])),
                    currency=currency,
                )
            trntype = "BUY"
        else:
            cost_basis = -booked.equity_amount
            gain = notional - cost_basis
            if notional - fee:
                postings.append(PostingDraft(accounts.cash, notional - fee, currency))
            if fee:
                postings.append(PostingDraft(accounts.fees, fee, currency))
            postings.append(PostingDraft(accounts.equities, -cost_basis, currency,
                                         quantity=-fill.quantity, symbol=fill.symbol))
            if gain:
                postings.append(PostingDraft(accounts.realized_gains, -gain, currency))
            if trade is not None:
                trade_draft = TradeDraft(
                    trntype="SELL", strategy=str(trade["strategy"]), symbol=fill.symbol,
                    side=str(trade["side"]), size=fill.quantity,
                    entry_price=Decimal(str(trade["entry_price"])), exit_price=fill.price,
                    pnl=gain - fee, broker=self.broker_name.value, tag=str(trade["tag"]),
                    leverage_multiplier=Decimal(str(trade["leverage_multiplier"])),
                    currency=currency,
                )
            trntype = "SELL"
        corrected = EntryDraft(
            fitid=correction_fitid(fill.fill_id, number), dtposted=fill.filled_at,
            trntype=trntype,
            memo=(f"restated by the broker (break #{row['id']}): {fill.side.value} "
                  f"{plain(fill.quantity)} {fill.symbol} @ {plain(fill.price)} "
                  f"(fee {plain(fee)}), was {plain(booked.price)}"),
            postings=tuple(postings), source=RECON_SOURCE, trade=trade_draft,
        )
        return _Plan([self._reversal(booked.fitid, row, number), corrected], {fill.symbol})

    def _reversal(self, fitid: str, row: Mapping[str, Any], number: int) -> ReversalDraft:
        return ReversalDraft(
            fitid=fitid,
            new_fitid=f"{fitid.split('~')[0]}~r{number}",
            memo=f"reversed on accepting the broker's version (break #{row['id']})",
            dtposted=self.clock.now(),
        )

    def _broker_report(self, connection: sqlite3.Connection,
                       row: Mapping[str, Any]) -> FillReport | CashReport:
        record_id = row["broker_record_id"]
        record = ledger_view.broker_record(connection, int(record_id)) if record_id else None
        if record is None:
            raise ResolutionError("not_allowed", "the break has no broker record to accept")
        kind = ReportKind(str(record["kind"]))
        report = self.broker.normalize(kind, json.loads(str(record["raw_payload"])))
        if not isinstance(report, FillReport | CashReport):
            raise ResolutionError("not_allowed", "the broker record cannot be read back: "
                                  f"{getattr(report, 'reason', report)}")
        return report


def _current_break(connection: sqlite3.Connection, break_id: int) -> dict[str, Any]:
    row = ledger_view.break_row(connection, break_id)
    if row is None:
        raise ResolutionError("unknown", f"there is no break #{break_id}")
    latest = ledger_view.latest_row_id(connection, str(row["kind"]), str(row["trade_id"]))
    status = RecordStatus(str(row["status"]))
    if latest != break_id:
        newest = ledger_view.break_row(connection, int(latest or 0))
        newest_status = RecordStatus(str(newest["status"])) if newest else None
        if newest_status is not None and not newest_status.is_break:
            raise ResolutionError(
                "already_resolved", f"break #{break_id} is no longer open: #{latest} says "
                f"{newest_status} ({newest['detail'] if newest else ''})")
        raise ResolutionError(
            "superseded", f"break #{break_id} was superseded by #{latest}; resolve that one")
    if not status.is_break:
        raise ResolutionError(
            "already_resolved" if status is RecordStatus.RESOLVED else "not_allowed",
            f"#{break_id} is not an open break (status {status})")
    return row


def _require_account(request: ResolveRequest) -> str:
    account = (request.account or "").strip()
    if not account:
        raise ResolutionError("invalid", "accept-broker here needs the account to book the "
                              "cash against (account)")
    return account


def describe_draft(draft: EntryDraft | ReversalDraft) -> dict[str, Any]:
    """What a draft will post, for a person to confirm."""
    if isinstance(draft, ReversalDraft):
        return {"fitid": draft.new_fitid, "reverses": draft.fitid, "memo": draft.memo,
                "dtposted": utc_text(draft.dtposted)}
    return {
        "fitid": draft.fitid,
        "dtposted": utc_text(draft.dtposted),
        "trntype": draft.trntype,
        "memo": draft.memo,
        "postings": [
            {"account": p.account, "amount": plain(p.amount), "symbol": p.symbol,
             "quantity": plain(p.quantity)}
            for p in draft.postings
        ],
    }


def parse_postings(raw: Sequence[Mapping[str, Any]]) -> tuple[ManualPosting, ...]:
    """Postings given as JSON objects (account, amount as text, symbol, quantity, memo)."""
    postings = []
    for index, item in enumerate(raw):
        try:
            amount = Decimal(str(item["amount"]))
            quantity = item.get("quantity")
            postings.append(ManualPosting(
                account=str(item["account"]),
                amount=amount,
                symbol=item.get("symbol"),
                quantity=None if quantity in (None, "") else Decimal(str(quantity)),
                memo=item.get("memo"),
            ))
        except (KeyError, ArithmeticError, TypeError) as error:
            raise ResolutionError("invalid", f"posting {index + 1}: {error!r}") from None
    return tuple(postings)
