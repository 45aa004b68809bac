"""The one write path into a bot's ledger: `LedgerWriter`.

Every write (`post`, `post_batch`, `reverse`, `commit_batch`, `record_event`) goes:

1. take the pre-write backup (`backups.LedgerBackups`: an increment holding the rows
   committed since the previous backup, fsynced, added to the newest backup set) on a
   helper thread while the main thread validates in Python (`validation.DraftCompiler`,
   the COA's postable accounts cached), refuses FITIDs duplicated in the batch or
   already in the file, and (`post_batch`, `reverse`) builds the rows: ids assigned in
   Python (we are the only writer, under `WriterLock`) and the audit hash chain, all in
   memory;
2. in ONE ``BEGIN IMMEDIATE`` transaction: check that the file still ends where the rows
   were built on (it does, unless another program wrote around the lock: then they are
   built again), and insert them table by table, a hundred rows to an INSERT
   (`schema.insert_rows_in_bulk`), on the underlying sqlite3 connection;
3. wait for the backup, then commit; a failed backup or anything SQLite refuses rolls
   everything back.

The backup reads in its own read transaction, which under WAL sees only committed rows:
the write's rows going in meanwhile are not in it, and until the COMMIT (after the
increment is fsynced) they exist neither for a reader nor for crash recovery. Inserting
while the backup finishes is what keeps the backup off the write's path: each SQLite step
of the insert releases the GIL, so the backup's thread is not held up, as it is while the
main thread runs Python (each of its returns from SQLite, zlib or a system call would wait
for the interpreter's switch interval).

(Inserting on the helper thread while Python builds the next rows was tried and measured:
no gain, because a thread stepping SQLite must win the GIL back for every row.)

Rows never go through the ORM one by one: that is what makes bulk posting fast. The INSERT
column lists come from the Peewee models, which stay the single schema definition.

A refused batch writes nothing to the ledger; its increment (of the unchanged ledger) may
already have been taken. A failed backup refuses the write (LedgerError).

`commit_batch` writes entries, reversals and reconciliation rows (`batch`) the same way, in
one transaction with one more audit row for the batch. Opening a ledger file made before
the reconciliation tables adds them (`migration`), audited, before anything else.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from peewee import SqliteDatabase

from tbot.clock import Clock
from tbot.config.paths import BotPaths
from tbot.ledger.amounts import MONEY_PLACES, QUANTITY_PLACES, from_scaled
from tbot.ledger.audit_chain import (
    GENESIS_HASH,
    MIGRATE_ACTION,
    POST_ACTION,
    REVERSE_ACTION,
    WRITER_ACTIONS,
    audit_row_hash,
    canonical_details,
    entry_details,
    entry_text,
    recon_rows_text,
    sha256_hex,
)
from tbot.ledger.backups import BackupPolicy, BackupSetError, LedgerBackups
from tbot.ledger.batch import (
    BATCH_DETAIL_KEYS,
    BatchResult,
    EntryRef,
    LedgerBatch,
    ReversalDraft,
    RowRef,
    insert_rows,
    prepare_rows,
)
from tbot.ledger.coa_file import load_chart, read_metadata
from tbot.ledger.database import open_writer_database
from tbot.ledger.drafts import EntryDraft, PostedEntry, PostingDraft, TradeDraft
from tbot.ledger.errors import (
    AlreadyReversedError,
    DuplicateFitidError,
    EntryNotFoundError,
    LedgerError,
    LedgerFileError,
)
from tbot.ledger.ledger_file import create_ledger_file
from tbot.ledger.migration import (
    MIGRATE_ACTOR,
    create_recon_objects,
    find_recon_gaps,
)
from tbot.ledger.models import LEDGER_MODELS, AuditRow, LedgerEntry, LedgerPosting, Trade
from tbot.ledger.schema import insert_rows_in_bulk, insert_statement, require_layout
from tbot.ledger.timestamps import format_utc
from tbot.ledger.validation import CompiledEntry, DraftCompiler, is_clean_text
from tbot.ledger.writer_lock import WriterLock

log = logging.getLogger("tbot.ledger.writer")

TRAILING_BACKUP_ROWS = 10_000
"""A write of at least this many entries or rows is backed up right after it, in the
background (`_trail_backup`), not before the next write: a write after a first broker sync
would otherwise wait seconds for an increment of the sync's 200,000 rows."""

__all__ = [
    "BackupPolicy",
    "BatchResult",
    "EntryDraft",
    "EntryRef",
    "LedgerBatch",
    "LedgerWriter",
    "PostedEntry",
    "PostingDraft",
    "ReversalDraft",
    "RowRef",
    "TradeDraft",
    "create_ledger_file",
]

REVERSAL_SOURCE = "reversal"

# The row tuples below are built positionally; these guards fail at import if a model's
# columns change without the writer following.
require_layout(AuditRow, ("id", "created_at_utc", "actor", "action", "subject", "details",
                          "prev_hash", "row_hash"))
require_layout(LedgerEntry, ("id", "fitid", "dtposted", "trntype", "memo", "source",
                             "audit_id", "entity_code", "jurisdiction_code", "broker_code",
                             "bot_id", "currency_code", "is_manual", "reverses_entry_id",
                             "created_at_utc"))
require_layout(LedgerPosting, ("id", "entry_id", "account_code", "amount", "currency_code",
                               "quantity", "symbol", "memo"))
require_layout(Trade, ("id", "entry_id", "fitid", "dtposted", "trntype", "currency_code",
                       "entity_code", "jurisdiction_code", "broker_code", "bot_id", "strategy",
                       "symbol", "side", "size", "entry_price", "exit_price", "pnl",
                       "audit_reference", "tag", "leverage_multiplier", "broker",
                       "error_code"))

_INSERT_AUDIT = insert_statement(AuditRow)
_INSERT_ENTRY = insert_statement(LedgerEntry)
_INSERT_POSTING = insert_statement(LedgerPosting)
_INSERT_TRADE = insert_statement(Trade)


class LedgerWriter:
    """The single writer of one bot's ledger file. Use as a context manager, or call
    `open()` / `close()`. `open` takes the `WriterLock` (LedgerLockedError if another
    writer holds it) and loads the chart from the COA file once."""

    def __init__(self, paths: BotPaths, clock: Clock, backup_policy: BackupPolicy) -> None:
        self._paths = paths
        self._clock = clock
        self._identity = paths.identity
        self._backups = LedgerBackups(paths, backup_policy)
        self._lock = WriterLock(paths.writer_lock_file)
        self._database: SqliteDatabase | None = None
        self._compiler: DraftCompiler | None = None
        self._helper: ThreadPoolExecutor | None = None
        self._backup_seconds = 0.0
        self._backup_seconds_guard = threading.Lock()  # added to by the helper thread too
        self._backup_wait_seconds = 0.0

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> LedgerWriter:
        """Take the writer lock and open the ledger; returns self."""
        if self._database is not None:
            raise LedgerError("this LedgerWriter is already open")
        self._lock.acquire()
        try:
            chart = load_chart(self._paths.coa_db())
            database = open_writer_database(self._paths.ledger_db)
            try:
                self._check_ledger(database)
                self._migrate(database)
            except BaseException:
                database.close()
                raise
        except BaseException:
            self._lock.release()
            raise
        self._database = database
        self._compiler = DraftCompiler(chart)
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        return self

    def close(self) -> None:
        """Close the ledger and release the lock (idempotent)."""
        database, self._database = self._database, None
        helper, self._helper = self._helper, None
        try:
            if helper is not None:
                helper.shutdown(wait=True)
            self._backups.close()  # a background snapshot ends whole, not half-made
            if database is not None:
                database.close()
        finally:
            self._lock.release()

    def __enter__(self) -> LedgerWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        """True between `open()` and `close()`."""
        return self._database is not None

    @property
    def backup_seconds(self) -> float:
        """Seconds spent taking and pruning backups since this writer was created (on the
        helper thread, overlapping validation)."""
        return self._backup_seconds

    @property
    def backup_wait_seconds(self) -> float:
        """Of `backup_seconds`, the part callers waited for (not hidden by validation)."""
        return self._backup_wait_seconds

    @property
    def backups(self) -> LedgerBackups:
        """The pre-write backups (the newest increment written: `last_increment`)."""
        return self._backups

    def wait_for_backups(self, timeout: float | None = None) -> bool:
        """Wait for a snapshot this writer started in the background (a home without a
        backup set); False if it is still running after `timeout` seconds."""
        return self._backups.wait_for_snapshot(timeout)

    # -- writes ---------------------------------------------------------------------------
    def post(self, draft: EntryDraft, *, actor: str) -> PostedEntry:
        """Post one entry (with its trade row, if any) and its audit row."""
        return self.post_batch((draft,), actor=actor)[0]

    def post_batch(self, drafts: Sequence[EntryDraft], *, actor: str) -> list[PostedEntry]:
        """Post every draft, or none: one refused draft refuses the whole batch."""
        database, compiler = self._require_open()
        _require_text("actor", actor)
        if not drafts:
            return []
        backup = self._start_backup()
        try:
            compiled = [compiler.compile(draft) for draft in drafts]
            self._refuse_duplicates(database, compiled)
            # Built while the backup runs: nothing touches the file until it is durable.
            rows = self._build_rows(compiled, actor, {}, _journal_tail(database.connection()))
        except BaseException:
            wait((backup,))  # the refusal is what the caller needs to see
            raise
        return self._write(database, rows, backup)

    def reverse(
        self,
        fitid: str,
        *,
        new_fitid: str,
        memo: str,
        actor: str,
        dtposted: datetime | None = None,
    ) -> PostedEntry:
        """Post the reversal of entry `fitid`: the same postings negated, flagged manual,
        referencing the original. An entry can be reversed once."""
        database, compiler = self._require_open()
        _require_text("actor", actor)
        draft = ReversalDraft(fitid=fitid, new_fitid=new_fitid, memo=memo,
                              dtposted=dtposted if dtposted is not None else self._clock.now())
        backup = self._start_backup()
        try:
            compiled = self._compile_reversal(database.connection(), compiler, draft, {})
            self._refuse_duplicates(database, [compiled])
            rows = self._build_rows([compiled], actor, {compiled.reverses_entry_id: fitid},
                                    _journal_tail(database.connection()))
        except BaseException:
            wait((backup,))
            raise
        return self._write(database, rows, backup)[0]

    def commit_batch(
        self,
        batch: LedgerBatch,
        *,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any],
    ) -> BatchResult:
        """Write `batch` all or nothing: its entries as `post_batch` posts them and its
        reversals as `reverse` posts them (each with its audit row), then its
        reconciliation rows table by table in `RECON_MODELS` order, then one audit row
        (`action`, `subject`, `details` plus the entry ids, the row ids per table and
        `recon_digest`, the SHA-256 of the rows' canonical text). One pre-write backup,
        one ``BEGIN IMMEDIATE`` transaction.

        Unknown tables or columns and values that cannot be stored are refused before
        anything is written (LedgerError; InvalidRowError names the row); so is an entry
        refused as `post_batch` or `reverse` would refuse it. A row SQLite refuses (a
        CHECK, a UNIQUE index, a foreign key) rolls back the whole batch.
        """
        database, compiler = self._require_open()
        _require_text("action", action)
        _require_text("actor", actor)
        _require_text("subject", subject)
        if not isinstance(batch, LedgerBatch):
            raise TypeError(f"a LedgerBatch is required, not {type(batch).__name__}")
        if not isinstance(details, Mapping):
            raise TypeError(f"details must be a mapping, not {type(details).__name__}")
        if action in WRITER_ACTIONS:
            raise LedgerError(f"action {action!r} is the writer's own; name the batch's action")
        reserved = sorted(BATCH_DETAIL_KEYS.intersection(details))
        if reserved:
            raise LedgerError(f"details key(s) {', '.join(reserved)} are the writer's to fill in")
        canonical_details(details)  # refuses a float or an object now, not mid-transaction
        prepared = prepare_rows(batch)
        backup = self._start_backup()
        try:
            compiled, originals = self._compile_batch(database, compiler, batch.entries)
            self._refuse_duplicates(database, compiled)
        except BaseException:
            wait((backup,))  # the refusal is what the caller needs to see
            raise
        with self._transaction(database, backup, "the write") as connection:
            rows = self._build_rows(compiled, actor, originals, _journal_tail(connection))
            posted = _insert_rows(connection, rows)
            created = rows.created
            entry_ids = [entry.entry_id for entry in posted]
            row_ids, written = insert_rows(connection, prepared, entry_ids)
            batch_details = {
                **details,
                "entry_ids": entry_ids,
                "row_ids": row_ids,
                "recon_digest": sha256_hex(recon_rows_text(written)),
            }
            audit_id = _append_audit(connection, created, actor, action, subject,
                                     canonical_details(batch_details))
        if len(posted) + sum(len(ids) for ids in row_ids.values()) >= TRAILING_BACKUP_ROWS:
            self._trail_backup()
        return BatchResult(posted, row_ids, audit_id)

    def record_event(
        self, action: str, *, actor: str, subject: str, details: Mapping[str, Any]
    ) -> int:
        """Append an audit row for a non-entry event (keys.rotate, secrets.set, home.init...)
        to the same hash chain; returns its id. Never put a secret value in `details`."""
        database, _ = self._require_open()
        _require_text("action", action)
        _require_text("actor", actor)
        _require_text("subject", subject)
        details_text = canonical_details(details)
        created = format_utc(self._clock.now())
        with self._transaction(database, self._start_backup(), "the audit row") as connection:
            return _append_audit(connection, created, actor, action, subject, details_text)

    # -- internals ------------------------------------------------------------------------
    def _require_open(self) -> tuple[SqliteDatabase, DraftCompiler]:
        if self._database is None or self._compiler is None:
            raise LedgerError("the LedgerWriter is not open; call open() or use it in a with")
        return self._database, self._compiler

    def _require_helper(self) -> ThreadPoolExecutor:
        if self._helper is None:
            raise LedgerError("the LedgerWriter is not open; call open() or use it in a with")
        return self._helper

    def _check_ledger(self, database: SqliteDatabase) -> None:
        path = self._paths.ledger_db
        tables = set(database.get_tables())
        missing = [m._meta.table_name for m in LEDGER_MODELS if m._meta.table_name not in tables]
        if missing:
            raise LedgerFileError(f"{path} is not a ledger file: no table {', '.join(missing)}")
        metadata = read_metadata(database, path)
        identity = self._identity
        if (metadata.entity_code, metadata.jurisdiction_code) != (
            identity.entity_code,
            identity.jurisdiction_code,
        ):
            raise LedgerFileError(
                f"{path} belongs to {metadata.entity_code}/{metadata.jurisdiction_code}, "
                f"not this bot ({identity.bot_identity})"
            )

    def _migrate(self, database: SqliteDatabase) -> None:
        """Add the reconciliation tables, indexes and triggers a file made before them
        lacks, with a `ledger.migrate` audit row, in one transaction (after a backup).
        An up-to-date file is left untouched; a recon table of another shape is refused."""
        path = self._paths.ledger_db
        connection = database.connection()
        if find_recon_gaps(connection, path).empty:
            return
        try:
            # A schema change waits for a whole backup set if there is none yet.
            self._backup_seconds += self._take_backup(self._clock.now(), wait_for_set=True)
        except (OSError, sqlite3.Error, BackupSetError) as problem:
            raise LedgerError(f"the pre-write backup of the ledger failed: {problem}") from None
        created = format_utc(self._clock.now())
        try:
            with database.atomic("IMMEDIATE"):
                gaps = find_recon_gaps(connection, path)  # again, under the write lock
                if gaps.empty:
                    return
                create_recon_objects(database, gaps)
                _append_audit(connection, created, MIGRATE_ACTOR, MIGRATE_ACTION, path.name,
                              canonical_details(gaps.details()))
        except sqlite3.DatabaseError as problem:
            raise LedgerFileError(
                f"{path}: adding the reconciliation tables failed, nothing was changed: "
                f"{problem}"
            ) from None

    def _compile_batch(
        self,
        database: SqliteDatabase,
        compiler: DraftCompiler,
        drafts: Sequence[EntryDraft | ReversalDraft],
    ) -> tuple[list[CompiledEntry], dict[int, str]]:
        """Entries and reversals of a batch in stored form, and the FITID of each reversed
        entry by its id."""
        if not isinstance(drafts, list | tuple):
            raise TypeError("LedgerBatch.entries must be a list of EntryDraft/ReversalDraft")
        connection = database.connection()
        compiled: list[CompiledEntry] = []
        originals: dict[int, str] = {}
        claimed: dict[int, str] = {}  # reversed in this batch: original id -> new FITID
        for draft in drafts:
            if isinstance(draft, ReversalDraft):
                entry = self._compile_reversal(connection, compiler, draft, claimed)
                originals[entry.reverses_entry_id] = draft.fitid  # type: ignore[index]
                compiled.append(entry)
            else:
                compiled.append(compiler.compile(draft))
        return compiled, originals

    def _compile_reversal(
        self,
        connection: sqlite3.Connection,
        compiler: DraftCompiler,
        draft: ReversalDraft,
        claimed: dict[int, str],
    ) -> CompiledEntry:
        """The reversal of `draft.fitid` in stored form: the original's postings negated,
        flagged manual. Refused if the original is missing or already reversed (in the
        ledger, or earlier in this batch: `claimed`, which this updates)."""
        if type(draft) is not ReversalDraft and not isinstance(draft, ReversalDraft):
            raise TypeError(f"a ReversalDraft is required, not {type(draft).__name__}")
        fitid = draft.fitid
        found = connection.execute(
            "SELECT id, trntype FROM ledger_entries WHERE fitid = ?", (fitid,)
        ).fetchone()
        if found is None:
            raise EntryNotFoundError(fitid)
        original_id, trntype = found
        reversal = connection.execute(
            "SELECT fitid FROM ledger_entries WHERE reverses_entry_id = ?", (original_id,)
        ).fetchone()
        if reversal is not None:
            raise AlreadyReversedError(fitid, reversal[0])
        if original_id in claimed:
            raise AlreadyReversedError(fitid, claimed[original_id])
        postings = tuple(
            PostingDraft(
                account=account,
                amount=-from_scaled(amount, MONEY_PLACES),
                currency=currency,
                quantity=None if quantity is None else -from_scaled(quantity, QUANTITY_PLACES),
                symbol=symbol,
                memo=posting_memo,
            )
            for account, amount, currency, quantity, symbol, posting_memo in connection.execute(
                "SELECT account_code, amount, currency_code, quantity, symbol, memo "
                "FROM ledger_postings WHERE entry_id = ? ORDER BY id",
                (original_id,),
            )
        )
        entry = EntryDraft(
            fitid=draft.new_fitid,
            dtposted=draft.dtposted,
            trntype=trntype,
            memo=draft.memo,
            postings=postings,
            source=REVERSAL_SOURCE,
        )
        compiled = compiler.compile(entry, is_manual=True, reverses_entry_id=original_id)
        claimed[original_id] = draft.new_fitid
        return compiled

    @staticmethod
    def _refuse_duplicates(database: SqliteDatabase, compiled: Iterable[CompiledEntry]) -> None:
        seen: set[str] = set()
        for entry in compiled:
            if entry.fitid in seen:
                raise DuplicateFitidError(entry.fitid, "appears twice in this batch")
            seen.add(entry.fitid)
        # One query for the whole batch; the UNIQUE index stays the last line of defence.
        found = database.connection().execute(
            "SELECT fitid FROM ledger_entries "
            "WHERE fitid IN (SELECT value FROM json_each(?)) LIMIT 1",
            (json.dumps(sorted(seen)),),
        ).fetchone()
        if found is not None:
            raise DuplicateFitidError(found[0], "is already in the ledger")

    def _start_backup(self) -> Future[float]:
        """Begin the pre-write backup on the helper thread; nothing writes until it ends."""
        return self._require_helper().submit(self._take_backup, self._clock.now())

    def _take_backup(self, moment: datetime, *, wait_for_set: bool = False) -> float:
        started = time.perf_counter()
        # It reads through its own read-only connection: the writer's stays free for
        # validation meanwhile.
        self._backups.take(moment, wait_for_set=wait_for_set)
        return time.perf_counter() - started

    def _trail_backup(self) -> None:
        """Back up what a large write just committed, in the background: the next write's
        pre-write backup then has little left to add. Nothing waits for it here; the next
        pre-write backup runs after it on the same thread, and covers anything it failed
        to."""
        trailing = self._require_helper().submit(self._take_backup, self._clock.now())
        trailing.add_done_callback(self._count_trailing)

    def _count_trailing(self, done: Future[float]) -> None:
        problem = None if done.cancelled() else done.exception()
        if problem is None and not done.cancelled():
            with self._backup_seconds_guard:
                self._backup_seconds += done.result()
        elif problem is not None:  # the next write's pre-write backup tries again, refusing
            log.warning("ledger backup after a write failed (the next write retries it): %s",
                        problem)

    def _finish_backup(self, backup: Future[float]) -> None:
        """Wait for the backup; a failed backup stops the write."""
        waiting_since = time.perf_counter()
        try:
            seconds = backup.result()
            with self._backup_seconds_guard:
                self._backup_seconds += seconds
            self._backup_wait_seconds += time.perf_counter() - waiting_since
        except (OSError, sqlite3.Error, BackupSetError) as problem:
            raise LedgerError(f"the pre-write backup of the ledger failed: {problem}") from None

    @contextmanager
    def _transaction(
        self, database: SqliteDatabase, backup: Future[float], what: str
    ) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction that commits only once the pre-write
        `backup` is durable (see the module's docstring): the block inserts while the backup
        finishes. A failed backup rolls the block's rows back (LedgerError); so does
        anything SQLite refuses (LedgerError naming `what`), after the backup has ended."""
        connection = database.connection()
        try:
            with database.atomic("IMMEDIATE"):
                yield connection
                self._finish_backup(backup)
        except sqlite3.DatabaseError as problem:
            raise LedgerError(f"the ledger refused {what}: {problem}") from None
        finally:
            wait((backup,))  # a refused write still lets its backup end before returning

    def _write(
        self, database: SqliteDatabase, rows: JournalRows, backup: Future[float]
    ) -> list[PostedEntry]:
        """Insert `rows` in one transaction that commits after `backup`; built again first
        if the file no longer ends where they were built on."""
        with self._transaction(database, backup, "the write") as connection:
            tail = _journal_tail(connection)
            if tail != rows.tail:  # only if something wrote around the writer lock
                rows = self._build_rows(rows.compiled, rows.actor, rows.originals, tail)
            posted = _insert_rows(connection, rows)
        if len(rows.compiled) >= TRAILING_BACKUP_ROWS:
            self._trail_backup()
        return posted

    def _build_rows(
        self,
        compiled: list[CompiledEntry],
        actor: str,
        originals: Mapping[int, str],
        tail: JournalTail,
    ) -> JournalRows:
        """The rows of `compiled` with ids after `tail` and the hash chain continuing it.

        An entry with `reverses_entry_id` is a reversal (audit action `entry.reverse`,
        `reverses_fitid` from `originals`, keyed by that id); the others are `entry.post`.
        """
        created = format_utc(self._clock.now())
        identity = self._identity
        entity, jurisdiction = identity.entity_code, identity.jurisdiction_code
        broker_code, bot_id = identity.broker_code, identity.bot_id
        audit_rows: list[tuple[object, ...]] = []
        entry_rows: list[tuple[object, ...]] = []
        posting_rows: list[tuple[object, ...]] = []
        trade_rows: list[tuple[object, ...]] = []
        posted: list[PostedEntry] = []
        entry_id, posting_id, trade_id = tail.entry_id, tail.posting_id, tail.trade_id
        audit_id, prev_hash = tail.audit_id, tail.row_hash
        for entry in compiled:
            entry_id += 1
            audit_id += 1
            fitid = entry.fitid
            reverses = entry.reverses_entry_id
            if reverses is None:
                action, reverses_fitid = POST_ACTION, None
            else:
                action, reverses_fitid = REVERSE_ACTION, originals[reverses]
            entry_row = (entry_id, fitid, entry.dtposted, entry.trntype, entry.memo,
                         entry.source, audit_id, entity, jurisdiction, broker_code, bot_id,
                         entry.currency_code, entry.is_manual, entry.reverses_entry_id,
                         created)
            postings = []
            for posting in entry.postings:
                posting_id += 1
                postings.append((posting_id, entry_id, *posting))
            trade = entry.trade
            trade_row = None
            if trade is not None:
                trade_id += 1
                trade_row = (trade_id, entry_id, fitid, entry.dtposted, trade[0], trade[1],
                             entity, jurisdiction, broker_code, bot_id, trade[2], trade[3],
                             trade[4], trade[5], trade[6], trade[7], trade[8], audit_id,
                             trade[9], trade[10], trade[11], trade[12])
                trade_rows.append(trade_row)
            digest = sha256_hex(entry_text(entry_row, postings, trade_row))
            audit_row = (audit_id, created, actor, action, fitid,
                         entry_details(digest, entry_id, fitid, reverses_fitid), prev_hash)
            prev_hash = audit_row_hash(audit_row)
            audit_rows.append((*audit_row, prev_hash))
            entry_rows.append(entry_row)
            posting_rows.extend(postings)
            posted.append(PostedEntry(entry_id, fitid, audit_id))
        return JournalRows(tail, compiled, actor, originals, created, audit_rows, entry_rows,
                           posting_rows, trade_rows, posted)


@dataclass(frozen=True)
class JournalTail:
    """Where the journal ends: the last ids of its tables and the audit chain's head."""

    entry_id: int
    posting_id: int
    trade_id: int
    audit_id: int
    row_hash: str


@dataclass(frozen=True)
class JournalRows:
    """Entries built into rows on `tail`, ready to insert, with what built them."""

    tail: JournalTail
    compiled: list[CompiledEntry]
    actor: str
    originals: Mapping[int, str]
    created: str
    audit: list[tuple[object, ...]]
    entries: list[tuple[object, ...]]
    postings: list[tuple[object, ...]]
    trades: list[tuple[object, ...]]
    posted: list[PostedEntry]


def _journal_tail(connection: sqlite3.Connection) -> JournalTail:
    entry_id, posting_id, trade_id = connection.execute(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger_entries), "
        "(SELECT COALESCE(MAX(id), 0) FROM ledger_postings), "
        "(SELECT COALESCE(MAX(id), 0) FROM trades)"
    ).fetchone()
    audit_id, row_hash = _chain_tail(connection)
    return JournalTail(entry_id, posting_id, trade_id, audit_id, row_hash)


def _insert_rows(connection: sqlite3.Connection, rows: JournalRows) -> list[PostedEntry]:
    """Insert built rows (inside the caller's transaction), parents before children:
    foreign keys are checked row by row."""
    if not rows.posted:
        return []
    insert_rows_in_bulk(connection, _INSERT_AUDIT, rows.audit)
    insert_rows_in_bulk(connection, _INSERT_ENTRY, rows.entries)
    insert_rows_in_bulk(connection, _INSERT_POSTING, rows.postings)
    insert_rows_in_bulk(connection, _INSERT_TRADE, rows.trades)
    return rows.posted


def _append_audit(
    connection: sqlite3.Connection,
    created: str,
    actor: str,
    action: str,
    subject: str,
    details_text: str,
) -> int:
    """Append one audit row to the chain (inside the caller's transaction); its id."""
    audit_id, prev_hash = _chain_tail(connection)
    row = (audit_id + 1, created, actor, action, subject, details_text, prev_hash)
    connection.execute(_INSERT_AUDIT, (*row, audit_row_hash(row)))
    return audit_id + 1


def _chain_tail(connection: sqlite3.Connection) -> tuple[int, str]:
    """(id, row_hash) of the last audit row, or (0, GENESIS_HASH) for an empty trail."""
    last = connection.execute(
        "SELECT id, row_hash FROM audit_trail ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return (0, GENESIS_HASH) if last is None else (last[0], last[1])


def _require_text(label: str, value: object) -> None:
    if not is_clean_text(value):
        raise LedgerError(f"{label} must be non-empty printable text, not {value!r}")
