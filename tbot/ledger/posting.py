"""The one write path into a bot's ledger: `LedgerWriter`.

Every write (`post`, `post_batch`, `reverse`, `record_event`) goes:

1. take an online backup of the ledger (`backup.LedgerBackups`) on a helper thread while
   the main thread validates in Python (`validation.DraftCompiler`, the COA's postable
   accounts cached) and refuses FITIDs duplicated in the batch or already in the file;
   nothing is written until both are done;
2. in ONE ``BEGIN IMMEDIATE`` transaction: assign ids in Python (we are the only writer,
   under `WriterLock`), build the rows and the audit hash chain in Python, and insert them
   with one `executemany` per table on the underlying sqlite3 connection;
3. commit, or roll everything back.

(Inserting on the helper thread while Python builds the next rows was tried and measured:
no gain, because a thread stepping SQLite must win the GIL back for every row.)

Rows never go through the ORM one by one: that is what makes bulk posting fast. The INSERT
column lists come from the Peewee models, which stay the single schema definition.

A refused batch writes nothing to the ledger; its backup (an exact copy of the unchanged
ledger) may already have been taken.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from types import TracebackType
from typing import Any

from peewee import SqliteDatabase

from tbot.clock import Clock
from tbot.config.paths import BotPaths
from tbot.ledger.amounts import MONEY_PLACES, QUANTITY_PLACES, from_scaled
from tbot.ledger.audit_chain import (
    GENESIS_HASH,
    audit_row_hash,
    canonical_details,
    entry_details,
    entry_text,
    sha256_hex,
)
from tbot.ledger.backup import BackupPolicy, LedgerBackups
from tbot.ledger.coa_file import load_chart, read_metadata
from tbot.ledger.database import open_reader_connection, open_writer_database
from tbot.ledger.drafts import EntryDraft, PostedEntry, PostingDraft, TradeDraft
from tbot.ledger.errors import (
    AlreadyReversedError,
    DuplicateFitidError,
    EntryNotFoundError,
    LedgerError,
    LedgerFileError,
)
from tbot.ledger.ledger_file import create_ledger_file
from tbot.ledger.models import LEDGER_MODELS, AuditRow, LedgerEntry, LedgerPosting, Trade
from tbot.ledger.schema import insert_statement, require_layout
from tbot.ledger.timestamps import format_utc
from tbot.ledger.validation import CompiledEntry, DraftCompiler, is_clean_text
from tbot.ledger.writer_lock import WriterLock

__all__ = [
    "BackupPolicy",
    "EntryDraft",
    "LedgerWriter",
    "PostedEntry",
    "PostingDraft",
    "TradeDraft",
    "create_ledger_file",
]

POST_ACTION = "entry.post"
REVERSE_ACTION = "entry.reverse"
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
        except BaseException:
            wait((backup,))  # the refusal is what the caller needs to see
            raise
        self._finish_backup(backup)
        return self._write(database, compiled, actor, POST_ACTION, None)

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
        connection = database.connection()
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
        draft = EntryDraft(
            fitid=new_fitid,
            dtposted=dtposted if dtposted is not None else self._clock.now(),
            trntype=trntype,
            memo=memo,
            postings=postings,
            source=REVERSAL_SOURCE,
        )
        compiled = [compiler.compile(draft, is_manual=True, reverses_entry_id=original_id)]
        self._refuse_duplicates(database, compiled)
        self._finish_backup(self._start_backup())
        return self._write(database, compiled, actor, REVERSE_ACTION, fitid)[0]

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
        self._finish_backup(self._start_backup())
        connection = database.connection()
        try:
            with database.atomic("IMMEDIATE"):
                audit_id, prev_hash = _chain_tail(connection)
                row = (audit_id + 1, created, actor, action, subject, details_text, prev_hash)
                connection.execute(_INSERT_AUDIT, (*row, audit_row_hash(row)))
        except sqlite3.DatabaseError as problem:
            raise LedgerError(f"the ledger refused the audit row: {problem}") from None
        return audit_id + 1

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

    def _take_backup(self, moment: datetime) -> float:
        started = time.perf_counter()
        # Its own read-only connection: the writer's stays free for validation meanwhile.
        source = open_reader_connection(self._paths.ledger_db)
        try:
            self._backups.take(source, moment)
        finally:
            source.close()
        return time.perf_counter() - started

    def _finish_backup(self, backup: Future[float]) -> None:
        """Wait for the backup; a failed backup stops the write."""
        waiting_since = time.perf_counter()
        try:
            self._backup_seconds += backup.result()
            self._backup_wait_seconds += time.perf_counter() - waiting_since
        except (OSError, sqlite3.Error) as problem:
            raise LedgerError(f"the pre-write backup of the ledger failed: {problem}") from None

    def _write(
        self,
        database: SqliteDatabase,
        compiled: list[CompiledEntry],
        actor: str,
        action: str,
        reverses_fitid: str | None,
    ) -> list[PostedEntry]:
        created = format_utc(self._clock.now())
        connection = database.connection()
        try:
            with database.atomic("IMMEDIATE"):
                return self._insert(connection, compiled, created, actor, action,
                                    reverses_fitid)
        except sqlite3.DatabaseError as problem:
            raise LedgerError(f"the ledger refused the write: {problem}") from None

    def _insert(
        self,
        connection: sqlite3.Connection,
        compiled: list[CompiledEntry],
        created: str,
        actor: str,
        action: str,
        reverses_fitid: str | None,
    ) -> list[PostedEntry]:
        """Assign ids, build rows and the hash chain, insert; inside the transaction."""
        identity = self._identity
        entity, jurisdiction = identity.entity_code, identity.jurisdiction_code
        broker_code, bot_id = identity.broker_code, identity.bot_id
        audit_rows: list[tuple[object, ...]] = []
        entry_rows: list[tuple[object, ...]] = []
        posting_rows: list[tuple[object, ...]] = []
        trade_rows: list[tuple[object, ...]] = []
        posted: list[PostedEntry] = []
        entry_id, posting_id, trade_id = connection.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger_entries), "
            "(SELECT COALESCE(MAX(id), 0) FROM ledger_postings), "
            "(SELECT COALESCE(MAX(id), 0) FROM trades)"
        ).fetchone()
        audit_id, prev_hash = _chain_tail(connection)
        for entry in compiled:
            entry_id += 1
            audit_id += 1
            fitid = entry.fitid
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
        # Parents before children: foreign keys are checked row by row.
        connection.executemany(_INSERT_AUDIT, audit_rows)
        connection.executemany(_INSERT_ENTRY, entry_rows)
        connection.executemany(_INSERT_POSTING, posting_rows)
        if trade_rows:
            connection.executemany(_INSERT_TRADE, trade_rows)
        return posted


def _chain_tail(connection: sqlite3.Connection) -> tuple[int, str]:
    """(id, row_hash) of the last audit row, or (0, GENESIS_HASH) for an empty trail."""
    last = connection.execute(
        "SELECT id, row_hash FROM audit_trail ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return (0, GENESIS_HASH) if last is None else (last[0], last[1])


def _require_text(label: str, value: object) -> None:
    if not is_clean_text(value):
        raise LedgerError(f"{label} must be non-empty printable text, not {value!r}")
