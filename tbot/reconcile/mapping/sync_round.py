"""Mapping inside a broker sync: every final cash record the ledger does not book goes
through the layers; what a layer decides is posted in the sync's own batch (with its
decision row), the rest waits in the queue. A queued item whose record got booked another
way (a break resolved by hand) is closed as mapped.

The reconciler calls this through `MappingPort`; it writes nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tbot.broker.reports import CashReport
from tbot.ledger.batch import EntryRef, LedgerBatch
from tbot.reconcile.mapping.booking import (
    FitidUsage,
    add_row,
    decision_row,
    entry_draft,
    memo_for,
    queue_row,
)
from tbot.reconcile.mapping.layers import Mapper, Verdict, sides
from tbot.reconcile.mapping.records import MappingRecord, record_from_report
from tbot.reconcile.mapping.store import QueueRow


@dataclass
class SyncRound:
    """The mapping state one sync decides with (read once, before it classifies)."""

    mapper: Mapper
    queue: dict[str, QueueRow]
    usage: dict[str, FitidUsage]
    actor: str
    now: datetime
    broker: str
    currency: str
    adoptable: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """broker id → (counter account, actor, reason) of a queued record an admin booked by
    resolving its break: the sync records that choice as the operator's decision."""
    mapped_cash: Decimal = Decimal(0)
    """What this round's postings add to the cash account (the checks read the ledger
    before the batch is written)."""
    verdicts: list[Verdict] = field(default_factory=list)

    def record_of(self, report: CashReport) -> MappingRecord:
        """The mapping view of one of the sync's cash reports."""
        return record_from_report(report, self.broker, self.currency)

    def map_unbooked(self, record: MappingRecord, batch: LedgerBatch,
                     broker_record: object) -> tuple[EntryRef, str] | None:
        """Post `record` if a layer decides (the entry's ref and the detail), else queue
        it (a row only when its item's state changed) and return None."""
        verdict = self.mapper.decide(record)
        self.verdicts.append(verdict)
        previous = self.queue.get(record.broker_id)
        if not verdict.posts:
            if (previous is None or previous.state != "queued"
                    or previous.reason != verdict.queue_reason
                    or previous.rule_version != verdict.version):
                add_row(batch, "mapping_queue", queue_row(
                    record, state="queued", reason=str(verdict.queue_reason),
                    detail=verdict.detail, now=self.now, suggestions=verdict.suggestions,
                    version=verdict.version,
                    broker_record_id=broker_record if isinstance(broker_record, int) else None))
            return None
        assert verdict.debit is not None and verdict.credit is not None
        usage = self.usage.get(record.broker_id, FitidUsage(False, 0, 0))
        how = (f"mapped by {verdict.rule.id} ({verdict.layer}, version {verdict.version})"
               if verdict.rule is not None else
               f"mapped by the learned model {verdict.model} at {verdict.confidence:.4f}")
        batch.entries.append(entry_draft(
            record, usage.next_posting(record.broker_id), verdict.debit, verdict.credit,
            record.currency, memo_for(record, how)))
        entry = EntryRef(len(batch.entries) - 1)
        decision = add_row(batch, "mapping_decisions", decision_row(
            record, layer=str(verdict.layer), action="post", actor=self.actor,
            reason=verdict.detail, now=self.now, account=verdict.account,
            debit=verdict.debit, credit=verdict.credit, entry=entry, version=verdict.version,
            rule_key=verdict.rule.id if verdict.rule is not None else None,
            model=verdict.model, confidence=verdict.confidence))
        if previous is not None:
            add_row(batch, "mapping_queue", queue_row(
                record, state="mapped", reason="decided", detail=verdict.detail, now=self.now,
                version=verdict.version, decision=decision, entry=entry))
        self.mapped_cash += record.amount
        return entry, verdict.detail

    def close_booked(self, record: MappingRecord, entry_id: int, batch: LedgerBatch) -> None:
        """A record the ledger books while its item still waits: the item is mapped. When
        an admin booked it by resolving its break, that choice is recorded as an operator
        decision (the model learns from it like any other)."""
        previous = self.queue.get(record.broker_id)
        if previous is None or previous.state != "queued":
            return
        adopted = self.adoptable.get(record.broker_id)
        if adopted is None:
            add_row(batch, "mapping_queue", queue_row(
                record, state="mapped", reason="booked-elsewhere",
                detail=f"booked by entry #{entry_id} outside the queue", now=self.now,
                version=previous.rule_version, entry=entry_id))
            return
        account, actor, reason = adopted
        debit, credit = sides(record, self.mapper.cash_account, account)
        decision = add_row(batch, "mapping_decisions", decision_row(
            record, layer="operator", action="adopt", actor=actor, reason=reason,
            now=self.now, account=account, debit=debit, credit=credit, entry=entry_id,
            version=self.mapper.version))
        add_row(batch, "mapping_queue", queue_row(
            record, state="mapped", reason="decided",
            detail=f"booked to {account} by {actor} resolving its break: {reason}",
            now=self.now, version=self.mapper.version, decision=decision, entry=entry_id))

    def settle(self, record: MappingRecord, resolution_id: int, batch: LedgerBatch) -> None:
        """An admin resolved the record's break without booking it (keep-ledger): no layer
        may post it now, and its item leaves the queue."""
        previous = self.queue.get(record.broker_id)
        if previous is None or previous.state != "queued":
            return
        add_row(batch, "mapping_queue", queue_row(
            record, state="settled", reason="kept-unbooked",
            detail=f"its break was resolved without a posting (#{resolution_id})",
            now=self.now, version=previous.rule_version))
