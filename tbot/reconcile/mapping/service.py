"""The mapping room's service: the queue, assignments, rules and their versions.

Reads are plain SQL on the ledger's read connection (`store`); every change is ONE ledger
batch (`LedgerPort.commit`) holding the entries it posts, the decision and queue rows, the
version and rule rows, and the reconciliation row it clears, with an audit row naming the
actor. A change therefore either happened whole or not at all; retrying it finds the new
state and posts nothing twice (the FITID is the broker's id, unique in the ledger).

Life of an assignment (`assign`): read the item's newest state, the decision in force and
the ledger's booking of the record; refuse an account that takes no postings, or an item
another person mapped to another account (unless `reclassify`); post (or, when an entry
already books the record, adopt it), record the decision (layer ``operator``), mark the item
mapped, clear its unmapped break, and, with `save_rule`, add the generalising rule as a
new active version. The engine publishes a ``mapping`` event after each change.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tbot.clock import Clock, utc_text
from tbot.errors import TbotError
from tbot.ledger.batch import EntryRef, LedgerBatch, RowRef
from tbot.ledger.chart import STANDARD_CHART, Chart
from tbot.ledger.errors import LedgerError
from tbot.reconcile import ledger_view
from tbot.reconcile.compare import plain
from tbot.reconcile.mapping import store
from tbot.reconcile.mapping.booking import (
    add_row,
    cleared_break_row,
    decision_row,
    entry_draft,
    fitid_usage,
    memo_for,
    queue_row,
    record_of,
    reversal,
)
from tbot.reconcile.mapping.defaults import DEFAULT_VERSION_REASON, default_rules
from tbot.reconcile.mapping.documents import (
    DocumentError,
    export_document,
    read_document,
)
from tbot.reconcile.mapping.layers import Mapper, sides
from tbot.reconcile.mapping.learning import MappingModel
from tbot.reconcile.mapping.records import MappingRecord
from tbot.reconcile.mapping.rules import (
    Rule,
    RuleError,
    RuleSet,
    diff_rule_sets,
    rule_from_dict,
)
from tbot.reconcile.mapping.sync_round import SyncRound
from tbot.reconcile.ports import LedgerPort
from tbot.reconcile.resolution import describe_draft

T = TypeVar("T")
Publish = Callable[[str, dict[str, Any]], None]

MAPPING_TOPIC = "mapping"
MAX_PAGE = 500
PREVIEW_EXAMPLES = 5
"""Examples a rule preview names (of the queue first, then of the past decisions)."""
SYSTEM_AUTHOR = "tbot"


class MappingError(TbotError):
    """A mapping request that cannot be done; `code` says why: ``unknown``, ``invalid``,
    ``already_assigned``, ``not_allowed`` or ``refused`` (an import or rule that fails
    validation)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """Who this bot is and how it maps."""

    broker: str
    cash_account: str
    currency: str
    bot_identity: str
    threshold: float = 0.95


class MappingService:
    """One bot's mapping room, over its ledger."""

    def __init__(self, ledger: LedgerPort, clock: Clock, settings: MappingSettings, *,
                 publish: Publish | None = None, chart: Chart = STANDARD_CHART) -> None:
        self.ledger = ledger
        self.clock = clock
        self.settings = settings
        self.chart = chart
        self.publish: Publish = publish or (lambda topic, data: None)
        self._lock = asyncio.Lock()
        self._model_key: tuple[int, int] | None = None
        self._model: MappingModel | None = None

    # -- reading --------------------------------------------------------------------------
    async def _read(self, function: Callable[[sqlite3.Connection], T]) -> T:
        return await self.ledger.read(function)

    def _active(self, connection: sqlite3.Connection) -> tuple[store.VersionRow, RuleSet]:
        version = store.active_version(connection)
        if version is None:
            raise MappingError("not_allowed", "the ledger has no mapping version yet: the "
                               "engine (or any tbot mapping command) writes the defaults first")
        return version, store.rules_of(connection, version)

    def _model_for(self, connection: sqlite3.Connection) -> MappingModel:
        """The model of the decision history, rebuilt only when the history changed."""
        key = connection.execute(
            "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM mapping_decisions").fetchone()
        key = (int(key[0]), int(key[1]))
        if self._model is None or self._model_key != key:
            self._model = MappingModel.build(store.precedents(connection))
            self._model_key = key
        return self._model

    def _mapper(self, connection: sqlite3.Connection) -> Mapper:
        version, rules = self._active(connection)
        return Mapper(rules, version.version, self._model_for(connection),
                      cash_account=self.settings.cash_account,
                      threshold=self.settings.threshold, chart=self.chart)

    # -- set-up -----------------------------------------------------------------------------
    async def ensure_defaults(self) -> int:
        """Write version 1 (the shipped defaults) into a ledger that has no version yet;
        the active version's number either way."""
        async with self._lock:
            active = await self._read(store.active_version)
            if active is not None:
                return active.version
            if await self._read(store.newest_version_number):
                raise MappingError("not_allowed", "the ledger has mapping versions but none "
                                   "active: activate one (tbot mapping activate N)")
            rules = default_rules()
            batch = LedgerBatch()
            self._add_version(batch, 1, "create", True, rules, SYSTEM_AUTHOR,
                              DEFAULT_VERSION_REASON)
            await self._commit(batch, SYSTEM_AUTHOR, "mapping.create", "version 1",
                               {"version": 1, "rules": len(rules)})
            return 1

    # -- the sync's round -----------------------------------------------------------------
    async def sync_round(self, broker_ids: Sequence[str], actor: str, *,
                         unbooked: Sequence[str] = ()) -> SyncRound:
        """The state one sync maps `broker_ids` with (see `SyncRound`); FITIDs are looked
        up only for the `unbooked` ones, the only ones a layer may post."""
        await self.ensure_defaults()
        ids = sorted(set(broker_ids))

        def read(connection: sqlite3.Connection) -> SyncRound:
            queue = store.queue_states(connection, ids)
            return SyncRound(
                mapper=self._mapper(connection),
                queue=queue,
                adoptable=self._adoptable(
                    connection, [b for b, item in queue.items() if item.state == "queued"]),
                usage={broker_id: fitid_usage(connection, broker_id)
                       for broker_id in sorted(set(unbooked))},
                actor=actor, now=self.clock.now(), broker=self.settings.broker,
                currency=self.settings.currency)

        return await self._read(read)

    def _adoptable(self, connection: sqlite3.Connection, queued: list[str]
                   ) -> dict[str, tuple[str, str, str]]:
        """Queued records an admin booked by resolving their break (accept-broker with an
        account): (counter account, actor, reason) each."""
        found: dict[str, tuple[str, str, str]] = {}
        if not queued:
            return found
        booked = ledger_view.ledger_cash_entries(connection, self.settings.cash_account, queued)
        for broker_id, entry in booked.items():
            latest = ledger_view.latest_row_id(connection, "cash", broker_id)
            row = ledger_view.break_row(connection, latest) if latest is not None else None
            counter = _counter_account(connection, entry.entry_id, self.settings.cash_account)
            if (row is None or row["status"] != "resolved" or counter is None
                    or row["resolution_action"] != "accept-broker"):
                continue
            found[broker_id] = (counter, str(row["actor"]), str(row["reason"]))
        return found

    def round_written(self, round_: SyncRound) -> None:
        """Tell subscribers what a sync's round changed."""
        posted = [v for v in round_.verdicts if v.posts]
        queued = [v for v in round_.verdicts if not v.posts]
        if posted or queued:
            self.publish(MAPPING_TOPIC, {
                "change": "sync", "posted": [v.record.broker_id for v in posted],
                "queued": [v.record.broker_id for v in queued]})

    # -- queue reads ------------------------------------------------------------------------
    async def queue(self, *, state: str = "queued", search: str | None = None,
                    activity_type: str | None = None, limit: int = 100,
                    offset: int = 0) -> dict[str, Any]:
        """A page of queue items (newest first) with their current suggestions."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            total, page = store.queue_page(connection, state=state, search=search,
                                           activity_type=activity_type, limit=limit,
                                           offset=offset)
            firsts = _first_ids(connection, [i.broker_id for i in page])
            mapper = self._mapper(connection) if any(i.state == "queued" for i in page) else None
            return {
                "total": total, "limit": limit, "offset": offset,
                "items": [self._item(i, firsts[i.broker_id], mapper) for i in page],
            }

        return await self._read(read)

    async def waiting_count(self) -> int:
        """How many items wait for a person."""
        return len(await self._read(store.waiting))

    async def show(self, item_id: int) -> dict[str, Any]:
        """One item in full: its record, states, decisions and current suggestions."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            item, first = _item_by_id(connection, item_id)
            mapper = self._mapper(connection)
            shown = self._item(item, first, mapper if item.state == "queued" else None)
            shown["history"] = [_state(row) for row in store.queue_history(
                connection, item.broker_id)]
            shown["decisions"] = [d.as_dict() for d in store.decisions_of(
                connection, item.broker_id)]
            shown["raw_payload"] = _raw_payload(connection, item)
            shown["rule_version"] = mapper.version
            return shown

        return await self._read(read)

    def _item(self, item: store.QueueRow, first_id: int, mapper: Mapper | None
              ) -> dict[str, Any]:
        record = record_of(item)
        return {
            "id": first_id,
            "broker_id": item.broker_id,
            "state": item.state,
            "reason": item.reason,
            "detail": item.detail,
            **{k: v for k, v in record.fields().items() if k != "broker_id"},
            "suggestions": (mapper.suggest(record) if mapper is not None
                            else stored_suggestions(item.suggestions)),
            "decision_id": item.decision_id,
            "entry_id": item.entry_id,
            "since": utc_text(item.created_at),
        }

    # -- assignments ------------------------------------------------------------------------
    async def assign(self, item_id: int, account: str, *, actor: str, reason: str = "",
                     save_rule: Mapping[str, Any] | None = None, reclassify: bool = False,
                     dry_run: bool = False) -> dict[str, Any]:
        """Map item `item_id` to `account` (the counter account of its cash); see the
        module docstring. Returns what was (or, dry, would be) posted and recorded."""
        account = (account or "").strip()
        refusal = self.chart.refusal_reason(account) if account else "missing"
        if refusal is not None:
            raise MappingError("invalid", f"account {account!r} takes no postings ({refusal})")
        if account == self.settings.cash_account:
            raise MappingError("invalid", f"{account} is the broker's cash account itself: "
                               "name the account the cash comes from or goes to")
        async with self._lock:
            plan = await self._read(
                lambda c: self._plan_assign(c, item_id, account, actor, reason, save_rule,
                                            reclassify))
            if dry_run or plan.get("unchanged"):
                plan.pop("batch", None)
                return plan
            batch: LedgerBatch = plan.pop("batch")
            written = await self._commit(batch, actor, "mapping.assign", f"item #{item_id}",
                                         {"item": item_id, "account": account,
                                          "broker_id": plan["broker_id"]})
        plan["decision_id"] = written.row_ids["mapping_decisions"][0]
        plan["posted_entry_ids"] = [entry.entry_id for entry in written.entries]
        self.publish(MAPPING_TOPIC, {"change": "assign", "item": item_id,
                                     "broker_id": plan["broker_id"], "account": account,
                                     "version": plan.get("new_version")})
        return plan

    def _plan_assign(self, connection: sqlite3.Connection, item_id: int, account: str,
                     actor: str, reason: str, save_rule: Mapping[str, Any] | None,
                     reclassify: bool) -> dict[str, Any]:
        item, _ = _item_by_id(connection, item_id)
        record = record_of(item)
        if record.amount == 0:
            raise MappingError("invalid", f"item #{item_id} moves no cash: nothing to post")
        version, rules = self._active(connection)
        standing = store.standing_decisions(connection, [item.broker_id]).get(item.broker_id)
        booked = ledger_view.ledger_cash_entries(
            connection, self.settings.cash_account, [item.broker_id]).get(item.broker_id)
        counter = _counter_account(connection, booked.entry_id,
                                   self.settings.cash_account) if booked else None
        now = self.clock.now()
        debit, credit = sides(record, self.settings.cash_account, account)
        why = reason.strip() or f"assigned to {account} by {actor}"
        result: dict[str, Any] = {
            "item": item_id, "broker_id": item.broker_id, "account": account,
            "debit": debit, "credit": credit, "amount": plain(record.amount),
            "rule_version": version.version, "entries": [],
        }
        batch = LedgerBatch()
        action = "post"
        if item.state == "mapped" or standing is not None or booked is not None:
            if counter == account:
                if standing is not None:  # a retry, or the same choice twice
                    result.update(unchanged=True, decision=standing.as_dict())
                    return result
                action = "adopt"  # booked with no decision in force: take that entry
            elif not reclassify:
                who = (f"{standing.actor} mapped it to {standing.account} (decision "
                       f"#{standing.id}, {utc_text(standing.decided_at)})"
                       if standing is not None else f"the ledger books it to {counter}")
                raise MappingError("already_assigned",
                                   f"item #{item_id} is already mapped: {who}; reclassify "
                                   "to change it")
            else:
                action = "reclassify"
        entry: object = None
        reversal_entry: object = None
        if action == "adopt":
            entry = booked.entry_id if booked else None
        else:
            usage = fitid_usage(connection, item.broker_id)
            if action == "reclassify" and booked is not None:
                batch.entries.append(reversal(
                    booked.fitid, usage.next_reversal(item.broker_id),
                    f"reclassified from {counter} to {account} by {actor}", now))
                reversal_entry = EntryRef(0)
            fitid = usage.next_posting(item.broker_id)
            batch.entries.append(entry_draft(
                record, fitid, debit, credit, self.settings.currency,
                memo_for(record, f"mapped to {account} by {actor}")))
            entry = EntryRef(len(batch.entries) - 1)
        result["action"] = action
        result["entries"] = [describe_draft(draft) for draft in batch.entries]
        decision = add_row(batch, "mapping_decisions", decision_row(
            record, layer="operator", action=action, actor=actor, reason=why, now=now,
            account=account, debit=debit, credit=credit, entry=entry, version=version.version,
            reversal_entry=reversal_entry,
            supersedes=standing.id if standing is not None else None))
        add_row(batch, "mapping_queue", queue_row(
            record, state="mapped", reason="decided",
            detail=f"{action} to {account} by {actor}: {why}", now=now,
            version=version.version, decision=decision, entry=entry,
            broker_record_id=item.broker_record_id))
        open_break = _open_unmapped_break(connection, item.broker_id)
        if open_break is not None:
            batch.rows.setdefault("reconciliation_log", []).append(cleared_break_row(
                open_break, actor=actor, reason=why,
                detail=f"mapped to {account} through the mapping queue", now=now,
                posted=[EntryRef(i) for i in range(len(batch.entries))]))
        if save_rule is not None:
            rule = self._rule_from_record(record, rules, save_rule, account)
            new_rules = rules.with_rule(rule)
            number = store.newest_version_number(connection) + 1
            self._add_version(batch, number, "add", True, new_rules, actor,
                              f"rule {rule.id} saved with the assignment of item #{item_id}: "
                              f"{why}")
            result["new_version"] = number
            result["rule"] = rule.as_dict()
        result["batch"] = batch
        return result

    def _rule_from_record(self, record: MappingRecord, rules: RuleSet,
                          given: Mapping[str, Any], account: str) -> Rule:
        """The rule an assignment saves: the record's broker, type and sign unless given
        otherwise, booking like the assignment."""
        debit, credit = sides(record, self.settings.cash_account, account)
        raw: dict[str, Any] = {
            "id": rules.next_id(), "name": f"saved from {record.activity_type} {record.sign}",
            "broker": record.broker, "activity_type": record.activity_type,
            "sign": record.sign, "debit": debit, "credit": credit, "enabled": True,
            "origin": "operator",
        }
        for name, value in given.items():
            if name in ("id", "debit", "credit", "origin"):
                continue
            raw[name] = value
        try:
            rule = rule_from_dict(raw, self.chart)
        except RuleError as error:
            raise MappingError("refused", f"the rule cannot be saved: {error}") from None
        if not rule.matches(record):
            raise MappingError("refused", f"the rule {rule.summary()} does not match the "
                               "record it is saved from")
        return rule

    async def undo(self, item_id: int, *, actor: str, reason: str) -> dict[str, Any]:
        """Reverse the entry of item `item_id`'s decision and queue it again; the decision
        stops counting for the model."""
        if not reason.strip():
            raise MappingError("invalid", "a reason is required to undo a decision")
        async with self._lock:
            def plan(connection: sqlite3.Connection) -> tuple[LedgerBatch, dict[str, Any]]:
                item, _ = _item_by_id(connection, item_id)
                standing = store.standing_decisions(connection, [item.broker_id]).get(
                    item.broker_id)
                if standing is None:
                    raise MappingError("not_allowed", f"item #{item_id} has no decision to "
                                       "undo")
                record = record_of(item)
                booked = ledger_view.ledger_cash_entries(
                    connection, self.settings.cash_account, [item.broker_id]
                ).get(item.broker_id)
                now = self.clock.now()
                batch = LedgerBatch()
                if booked is not None:
                    batch.entries.append(reversal(
                        booked.fitid, fitid_usage(connection, item.broker_id).next_reversal(
                            item.broker_id), f"mapping undone by {actor}: {reason}", now))
                decision = add_row(batch, "mapping_decisions", decision_row(
                    record, layer="operator", action="undo", actor=actor, reason=reason,
                    now=now, account=None, debit=None, credit=None, entry=None,
                    version=standing.rule_version,
                    reversal_entry=EntryRef(0) if batch.entries else None,
                    supersedes=standing.id))
                add_row(batch, "mapping_queue", queue_row(
                    record, state="queued", reason="undone",
                    detail=f"decision #{standing.id} undone by {actor}: {reason}", now=now,
                    version=standing.rule_version, decision=decision,
                    broker_record_id=item.broker_record_id))
                return batch, {"item": item_id, "broker_id": item.broker_id,
                               "undone": standing.id}

            batch, result = await self._read(plan)
            written = await self._commit(batch, actor, "mapping.undo", f"item #{item_id}",
                                         {"item": item_id, "undone": result["undone"]})
        result["reversal_entry_ids"] = [entry.entry_id for entry in written.entries]
        self.publish(MAPPING_TOPIC, {"change": "undo", "item": item_id,
                                     "broker_id": result["broker_id"]})
        return result

    # -- rules and versions -----------------------------------------------------------------
    async def rules(self, version: int | None = None) -> dict[str, Any]:
        """The rules of `version` (default: the active one)."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            row, rules = self._version(connection, version)
            active = store.active_version(connection)
            return {"version": row.as_dict(), "active": bool(active and
                                                             active.version == row.version),
                    "rules": [{**rule.as_dict(), "summary": rule.summary(),
                               "specificity": rule.specificity} for rule in rules]}

        return await self._read(read)

    async def versions(self) -> dict[str, Any]:
        """Every version, newest first, and which is active."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            active = store.active_version(connection)
            return {"active": active.version if active else None,
                    "versions": [row.as_dict() for row in reversed(store.versions(connection))]}

        return await self._read(read)

    async def diff(self, a: int, b: int) -> dict[str, Any]:
        """How version `b` differs from version `a`, rule by rule."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            _, old = self._version(connection, a)
            _, new = self._version(connection, b)
            return {"from": a, "to": b,
                    "changes": [change.as_dict() for change in diff_rule_sets(old, new)]}

        return await self._read(read)

    async def replay(self, *, version: int | None = None,
                     document: str | None = None) -> dict[str, Any]:
        """Run a candidate rule set (a stored version, or a document not imported yet)
        over every past decision and list the records it would decide differently."""
        candidate: RuleSet
        label: str
        if document is not None:
            try:
                _, candidate = read_document(document, self.chart)
            except DocumentError as error:
                raise MappingError("refused", f"the document is refused: {error}") from None
            label = "document"
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            nonlocal candidate, label
            if document is None:
                row, candidate = self._version(connection, version)
                label = f"version {row.version}"
            model = self._model_for(connection)
            mapper = Mapper(candidate, 0, model, cash_account=self.settings.cash_account,
                            threshold=self.settings.threshold, chart=self.chart)
            changes = []
            decided = 0
            for decision in _replayable(connection):
                decided += 1
                record = decision.record(self.settings.currency)
                verdict = mapper.decide(record)
                new_account = verdict.account if verdict.posts else None
                if new_account != decision.account:
                    changes.append({
                        "decision_id": decision.id, "broker_id": decision.broker_id,
                        "activity_type": record.activity_type,
                        "amount": plain(record.amount),
                        "old_account": decision.account, "old_layer": decision.layer,
                        "new_account": new_account,
                        "new_layer": verdict.layer if verdict.posts else "queue",
                        "why": verdict.detail,
                    })
            return {"candidate": label, "decisions": decided, "changed": len(changes),
                    "changes": changes}

        return await self._read(read)

    async def preview_rule(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        """What a candidate rule (`mapping.set_rule`'s rule object, not saved) would match:
        the queued items and the past decisions (those `replay` runs over) it matches, a
        few examples, and the past decisions it matches that were booked to another
        account. MappingError ``invalid`` naming the problem when the rule is not valid."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            _, rules = self._active(connection)
            raw = dict(rule)
            raw.setdefault("id", rules.next_id())
            raw["origin"] = "operator"
            try:
                candidate = rule_from_dict(raw, self.chart)
            except RuleError as error:
                raise MappingError("invalid", str(error)) from None
            account = (candidate.credit if candidate.debit == self.settings.cash_account
                       else candidate.debit)
            queued = [item for item in store.queue_states(connection).values()
                      if item.state == "queued" and candidate.matches(record_of(item))]
            queued.sort(key=lambda i: (i.occurred_at, i.id), reverse=True)
            past = [decision for decision in _replayable(connection)
                    if candidate.matches(decision.record(self.settings.currency))]
            past.reverse()  # newest first, like the queue
            firsts = _first_ids(connection, [i.broker_id for i in queued[:PREVIEW_EXAMPLES]])
            examples = [_example(i.broker_id, i.activity_type, i.amount, i.description,
                                 state="queued", item=firsts.get(i.broker_id))
                        for i in queued[:PREVIEW_EXAMPLES]]
            examples += [_example(d.broker_id, d.activity_type, d.amount, d.description,
                                  state="decided", decision=d.id, account=d.account)
                         for d in past[:PREVIEW_EXAMPLES - len(examples)]]
            conflicts = [d for d in past if d.account != account]
            return {
                "rule": {**candidate.as_dict(), "summary": candidate.summary()},
                "queued": len(queued), "past": len(past), "examples": examples,
                "conflicts": len(conflicts),
                "conflict_examples": [
                    _example(d.broker_id, d.activity_type, d.amount, d.description,
                             state="decided", decision=d.id, account=d.account)
                    for d in conflicts[:PREVIEW_EXAMPLES]],
            }

        return await self._read(read)

    async def activate(self, number: int, *, actor: str, reason: str) -> dict[str, Any]:
        """Make version `number` active: a new version, a copy of it, written active."""
        return await self._copy(number, "activate", actor, reason)

    async def rollback(self, number: int, *, actor: str, reason: str) -> dict[str, Any]:
        """Roll back to version `number`: a new version equal to it, written active."""
        return await self._copy(number, "rollback", actor, reason)

    async def _copy(self, number: int, action: str, actor: str, reason: str) -> dict[str, Any]:
        if not reason.strip():
            raise MappingError("invalid", f"a reason is required to {action} a version")
        async with self._lock:
            def plan(connection: sqlite3.Connection) -> tuple[LedgerBatch, dict[str, Any]]:
                row, rules = self._version(connection, number)
                active = store.active_version(connection)
                if action == "activate" and active is not None and (
                    active.content_hash == row.content_hash and active.version >= row.version
                ):
                    raise MappingError("not_allowed", f"version {number}'s rules are already "
                                       f"active (version {active.version})")
                new = store.newest_version_number(connection) + 1
                batch = LedgerBatch()
                self._add_version(batch, new, action, True, rules, actor, reason,
                                  source_version=number)
                return batch, {"version": new, "source_version": number, "action": action,
                               "content_hash": rules.content_hash, "rules": len(rules)}

            batch, result = await self._read(plan)
            await self._commit(batch, actor, f"mapping.{action}", f"version {number}",
                               {"version": result["version"], "source_version": number})
        self.publish(MAPPING_TOPIC, {"change": action, "version": result["version"],
                                     "source_version": number})
        return result

    async def change_rule(self, *, actor: str, reason: str, rule: Mapping[str, Any] | None = None,
                          rule_id: str | None = None, enabled: bool | None = None
                          ) -> dict[str, Any]:
        """Add or edit a rule (`rule`; a new one without an id), or enable/disable one
        (`rule_id`, `enabled`): a new active version."""
        if not reason.strip():
            raise MappingError("invalid", "a reason is required to change the rules")
        async with self._lock:
            def plan(connection: sqlite3.Connection) -> tuple[LedgerBatch, dict[str, Any]]:
                _, rules = self._active(connection)
                try:
                    if rule is not None:
                        raw = dict(rule)
                        action = "edit" if raw.get("id") and rules.get(str(raw["id"])) else "add"
                        raw.setdefault("id", rules.next_id())
                        raw["origin"] = "operator"
                        new_rules = rules.with_rule(rule_from_dict(raw, self.chart))
                        changed = str(raw["id"])
                    elif rule_id is not None and enabled is not None:
                        action = "enable" if enabled else "disable"
                        new_rules = rules.with_enabled(rule_id, enabled)
                        changed = rule_id
                    else:
                        raise MappingError("invalid", "give a rule, or a rule id and enabled")
                except RuleError as error:
                    raise MappingError("refused", str(error)) from None
                if new_rules.content_hash == rules.content_hash:
                    raise MappingError("not_allowed", "that changes nothing")
                number = store.newest_version_number(connection) + 1
                batch = LedgerBatch()
                self._add_version(batch, number, action, True, new_rules, actor, reason)
                return batch, {"version": number, "action": action, "rule": changed}

            batch, result = await self._read(plan)
            await self._commit(batch, actor, f"mapping.{result['action']}",
                               f"rule {result['rule']}", result)
        self.publish(MAPPING_TOPIC, {"change": result["action"], "version": result["version"],
                                     "rule": result["rule"]})
        return result

    # -- export and import --------------------------------------------------------------------
    async def export(self, version: int | None = None) -> dict[str, Any]:
        """Version `version` (default active) as an export document."""
        def read(connection: sqlite3.Connection) -> dict[str, Any]:
            row, rules = self._version(connection, version)
            return export_document(row, rules, self.settings.bot_identity)

        return await self._read(read)

    async def import_document(self, text: str, *, actor: str, reason: str) -> dict[str, Any]:
        """Import a document as a new candidate version (not active: replay it, then
        activate it). Refused whole, with the reason, when any check fails."""
        try:
            document, rules = read_document(text, self.chart)
        except DocumentError as error:
            raise MappingError("refused", f"the import is refused: {error}") from None
        why = reason.strip() or (f"imported version {document['version']} of "
                                 f"{document['bot_identity']}")
        async with self._lock:
            def plan(connection: sqlite3.Connection) -> tuple[LedgerBatch, dict[str, Any]]:
                number = store.newest_version_number(connection) + 1
                batch = LedgerBatch()
                self._add_version(batch, number, "import", False, rules, actor, why,
                                  source_version=int(document["version"]),
                                  source_identity=str(document["bot_identity"]))
                return batch, {"version": number, "active": False,
                               "source_version": document["version"],
                               "source_identity": document["bot_identity"],
                               "content_hash": rules.content_hash, "rules": len(rules)}

            batch, result = await self._read(plan)
            await self._commit(batch, actor, "mapping.import", f"version {result['version']}",
                               {"version": result["version"],
                                "content_hash": result["content_hash"]})
        self.publish(MAPPING_TOPIC, {"change": "import", "version": result["version"]})
        return result

    # -- internals ------------------------------------------------------------------------
    def _version(self, connection: sqlite3.Connection, number: int | None
                 ) -> tuple[store.VersionRow, RuleSet]:
        if number is None:
            return self._active(connection)
        row = store.version_row(connection, number)
        if row is None:
            raise MappingError("unknown", f"there is no mapping version {number}")
        return row, store.rules_of(connection, row)

    @staticmethod
    def _add_version(batch: LedgerBatch, number: int, action: str, active: bool,
                     rules: RuleSet, author: str, reason: str, *,
                     source_version: int | None = None,
                     source_identity: str | None = None) -> RowRef:
        ref = add_row(batch, "coa_mapping_versions", {
            "version": number, "action": action, "active": active,
            "source_version": source_version, "author": author, "reason": reason[:500],
            "created_at_utc": None, "content_hash": rules.content_hash,
            "rule_count": len(rules), "source_identity": source_identity,
        })
        batch.rows.setdefault("coa_mapping_rules", []).extend(store.rule_rows(ref, rules))
        return ref

    async def _commit(self, batch: LedgerBatch, actor: str, action: str, subject: str,
                      details: Mapping[str, Any]) -> Any:
        now = self.clock.now()
        for row in batch.rows.get("coa_mapping_versions", []):
            if row.get("created_at_utc") is None:
                row["created_at_utc"] = now
        try:
            return await self.ledger.commit(batch, actor=actor, action=action, subject=subject,
                                            details=dict(details))
        except LedgerError as error:
            raise MappingError("refused", f"the ledger refused it: {error}") from None


# -- module helpers ----------------------------------------------------------------------------


_SCORES = ("confidence", "posterior")
"""Suggestion fields that are numbers on the wire; the ledger keeps them as exact text."""


def stored_suggestions(suggestions: Sequence[object]) -> list[object]:
    """The suggestions kept with a queue row, with their scores numbers again (as a live
    suggestion has them), so an answer never mixes `0.6667` and `"0.6667"`."""
    restored: list[object] = []
    for suggestion in suggestions:
        if isinstance(suggestion, Mapping):
            suggestion = {key: (float(value) if key in _SCORES and isinstance(value, str)
                                and _is_number(value) else value)
                          for key, value in suggestion.items()}
        restored.append(suggestion)
    return restored


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_ids(connection: sqlite3.Connection, broker_ids: Sequence[str]) -> dict[str, int]:
    import json

    return {str(b): int(i) for b, i in connection.execute(
        "SELECT broker_id, MIN(id) FROM mapping_queue WHERE broker_id IN "
        "(SELECT value FROM json_each(?)) GROUP BY broker_id", (json.dumps(list(broker_ids)),))}


def _item_by_id(connection: sqlite3.Connection, item_id: int) -> tuple[store.QueueRow, int]:
    row = store.queue_item(connection, item_id)
    if row is None:
        raise MappingError("unknown", f"there is no mapping queue item #{item_id}")
    latest = store.queue_states(connection, [row.broker_id])[row.broker_id]
    return latest, _first_ids(connection, [row.broker_id])[row.broker_id]


def _raw_payload(connection: sqlite3.Connection, item: store.QueueRow) -> str | None:
    """The broker's payload of the item's record, as kept by the sync that saw it."""
    row = connection.execute(
        "SELECT raw_payload FROM broker_records WHERE kind = 'cash' AND broker_id = ? "
        "AND (record_hash = ? OR ? IS NULL) ORDER BY id DESC LIMIT 1",
        (item.broker_id, item.record_hash, item.record_hash)).fetchone()
    return None if row is None else str(row[0])


def _state(row: store.QueueRow) -> dict[str, Any]:
    return {"row": row.id, "state": row.state, "reason": row.reason, "detail": row.detail,
            "at": utc_text(row.created_at), "rule_version": row.rule_version,
            "decision_id": row.decision_id, "entry_id": row.entry_id}


def _counter_account(connection: sqlite3.Connection, entry_id: int, cash: str) -> str | None:
    others = [a for a, _ in ledger_view.entry_postings(connection, entry_id) if a != cash]
    return others[0] if len(others) == 1 else None


def _open_unmapped_break(connection: sqlite3.Connection, broker_id: str
                         ) -> dict[str, Any] | None:
    latest = ledger_view.latest_row_id(connection, "cash", broker_id)
    if latest is None:
        return None
    row = ledger_view.break_row(connection, latest)
    if row is None or row["status"] != "unmapped":
        return None
    return dict(row)


def _example(broker_id: str, activity_type: str, amount: Any, description: str, *,
             state: str, item: int | None = None, decision: int | None = None,
             account: str | None = None) -> dict[str, Any]:
    """One record a rule preview names."""
    return {"state": state, "id": item, "decision_id": decision, "broker_id": broker_id,
            "activity_type": activity_type, "amount": plain(amount),
            "description": description, "account": account}


def _replayable(connection: sqlite3.Connection) -> list[store.DecisionRow]:
    """The decisions in force (the newest of each record, unless undone)."""
    ids = [str(b) for (b,) in connection.execute(
        "SELECT DISTINCT broker_id FROM mapping_decisions")]
    return sorted(store.standing_decisions(connection, ids).values(), key=lambda d: d.id)


