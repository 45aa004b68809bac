"""The console's read-only window on a bot's ledger: figures, pages of rows, one entry.

The ledger is opened with `tbot.ledger.database.open_reader_database` (``mode=ro`` and
``query_only``): the console can never write it and, the file being in WAL mode, never
blocks the engine's writer. Peewee gives every thread its own SQLite connection on first
use, so the UI thread and the thread workers query side by side; a worker calls
`release_thread_connection()` when it is done (a finished thread's connection is closed
with the thread anyway).

Amounts are scaled integers in SQLite and become exact `Decimal`s here
(`tbot.ledger.amounts.from_scaled`), times aware UTC datetimes. Account names come from
the bot's COA file, found beside the ledger the way `BotPaths` lays them out; without it,
from the chart tbot ships (`tbot.ledger.chart.STANDARD_CHART`), which every COA file is
created from.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
from peewee import SqliteDatabase

from tbot.config.paths import COA_VERSION
from tbot.ledger.amounts import (
    LEVERAGE_PLACES,
    MONEY_PLACES,
    PRICE_PLACES,
    QUANTITY_PLACES,
    from_scaled,
)
from tbot.ledger.chart import STANDARD_CHART, Account, AccountType, Chart
from tbot.ledger.coa_file import load_chart
from tbot.ledger.database import open_reader_database
from tbot.ledger.errors import LedgerError, LedgerFileError
from tbot.ledger.models import LEDGER_MODELS
from tbot.ledger.reports import NOT_IN_CHART, CurrencyTotal
from tbot.ledger.timestamps import parse_utc
from tui.ledger.sources import AccountSource, FillsSource, JournalSource
from tui.model.snapshot import FillRow

LEDGER_SUFFIX = "_BOT_ledger.db"
"""How `BotPaths.ledger_db` names a ledger: `{BOT_IDENTITY}_BOT_ledger.db`."""

_REQUIRED_TABLES = tuple(model._meta.table_name for model in LEDGER_MODELS)

# One scan: postings are append-only, so a trial balance up to posting id N never changes
# and later calls only add the postings after N. NOT INDEXED: walking the account_code
# index would fetch every posting's row out of order (several times slower).
_BALANCES_SQL = (
    "SELECT account_code, currency_code, SUM(MAX(amount, 0)), SUM(MAX(-amount, 0)), COUNT(*) "
    "FROM ledger_postings NOT INDEXED WHERE id > ? AND id <= ? "
    "GROUP BY account_code, currency_code"
)


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account in one currency. `balance` = debit - credit (positive: a debit balance)."""

    code: str
    name: str
    type: AccountType | None
    currency: str
    debit: Decimal
    credit: Decimal
    balance: Decimal
    postings: int


@dataclass(frozen=True)
class PostingLine:
    """One leg of an entry. `amount` is signed: positive a debit, negative a credit."""

    id: int
    account_code: str
    account_name: str
    amount: Decimal
    currency: str
    quantity: Decimal | None
    symbol: str | None
    memo: str | None

    @property
    def debit(self) -> Decimal | None:
        """The amount when it is a debit."""
        return self.amount if self.amount > 0 else None

    @property
    def credit(self) -> Decimal | None:
        """The amount (positive) when it is a credit."""
        return -self.amount if self.amount < 0 else None


@dataclass(frozen=True)
class AuditLine:
    """One row of the audit trail."""

    id: int
    created_at: datetime
    actor: str
    action: str
    subject: str
    details: str
    prev_hash: str
    row_hash: str


@dataclass(frozen=True)
class TradeFacts:
    """The `trades` row of an entry that books a fill."""

    trntype: str
    strategy: str
    symbol: str
    side: str
    size: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    pnl: Decimal
    tag: str
    leverage_multiplier: Decimal
    broker: str
    error_code: str | None


@dataclass(frozen=True)
class EntryDetail:
    """One journal entry with everything recorded about it."""

    id: int
    fitid: str
    dtposted: datetime
    trntype: str
    memo: str
    source: str
    currency: str
    is_manual: bool
    created_at: datetime
    bot: str
    """ENTITY_JURISDICTION_BROKER_BOTID of the row."""
    audit_id: int
    reverses_fitid: str | None
    """The FITID of the entry this one reverses."""
    reversed_by_fitid: str | None
    """The FITID of the entry that reverses this one."""
    postings: tuple[PostingLine, ...]
    trade: TradeFacts | None
    audit_rows: tuple[AuditLine, ...]
    """The entry's own audit row, then every later row that names it (a reversal's row,
    an event whose subject is its FITID), by id."""


class LedgerReader:
    """Read-only queries over one ledger file. Open with `LedgerReader.open`."""

    def __init__(self, database: SqliteDatabase, path: Path, chart: Chart,
                 chart_source: str) -> None:
        self._database = database
        self._path = path
        self._chart = chart
        self._chart_source = chart_source
        self._closed = False
        self._connections_lock = threading.Lock()
        self._connections: dict[int, sqlite3.Connection] = {}
        """Each thread's open connection, so `close` can interrupt a worker's scan."""
        self._balances_lock = threading.Lock()
        self._balances_upto = 0
        self._balances: dict[tuple[str, str], list[int]] = {}

    @classmethod
    def open(cls, ledger_path: Path, coa_path: Path | None = None) -> LedgerReader:
        """Open `ledger_path` read-only. Account names come from `coa_path`, else from the
        COA file beside the ledger, else from the standard chart. Raises `LedgerFileError`
        saying what is wrong when the file is missing, not a database or not a ledger."""
        path = Path(ledger_path)
        chart, chart_source = _load_chart(path, coa_path)
        try:
            database = open_reader_database(path)
        except (sqlite3.DatabaseError, peewee.DatabaseError) as problem:
            raise LedgerFileError(f"{path} is not a ledger file: {problem}") from None
        try:
            _require_ledger(database, path)
        except BaseException:
            database.close()
            raise
        return cls(database, path, chart, chart_source)

    @property
    def path(self) -> Path:
        """The ledger file."""
        return self._path

    @property
    def chart_source(self) -> str:
        """Where the account names come from (a COA file, or the standard chart)."""
        return self._chart_source

    def close(self) -> None:
        """Refuse further queries, interrupt what other threads are still running (a
        quitting console must not wait for a scan) and close this thread's connection."""
        self._closed = True
        with self._connections_lock:
            others = [c for ident, c in self._connections.items()
                      if ident != threading.get_ident()]
        for connection in others:
            connection.interrupt()
        self.release_thread_connection()

    def release_thread_connection(self) -> None:
        """Close the calling thread's connection (a worker thread, when it is done)."""
        with self._connections_lock:
            self._connections.pop(threading.get_ident(), None)
        self._database.close()

    def connection(self) -> sqlite3.Connection:
        """The calling thread's read-only connection (opened on first use)."""
        if self._closed:
            raise LedgerFileError(f"the ledger reader of {self._path} is closed")
        connection = self._database.connection()
        with self._connections_lock:
            self._connections[threading.get_ident()] = connection
        return connection

    # -- accounts ---------------------------------------------------------------------------

    def account_name(self, code: str) -> str:
        """The account's name in the chart, or a note that the chart does not have it."""
        account = self._chart.get(code)
        return account.name if account is not None else NOT_IN_CHART

    def account_type(self, code: str) -> AccountType | None:
        """The account's type in the chart (None when the chart does not have it)."""
        account = self._chart.get(code)
        return account.type if account is not None else None

    def postable_accounts(self) -> tuple[Account, ...]:
        """The chart's accounts that take postings (leaves, not control), by code."""
        return tuple(sorted((a for a in self._chart if self._chart.is_postable(a.code)),
                            key=lambda account: account.code))

    def expense_codes(self) -> tuple[str, ...]:
        """Every expense account of the chart (a fill's fee is booked to one)."""
        return tuple(a.code for a in self._chart if a.type is AccountType.EXPENSE)

    # -- figures ----------------------------------------------------------------------------

    def entry_count(self) -> int:
        """How many entries the ledger holds."""
        return int(self.connection().execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0])

    def trial_balance(self) -> list[TrialBalanceRow]:
        """Debits, credits and balance per account and currency, ordered by code.

        The first call scans every posting (seconds on a million entries: call it from a
        worker); later calls add only the postings written since.
        """
        connection = self.connection()
        with self._balances_lock:
            upto = connection.execute("SELECT COALESCE(MAX(id), 0) FROM ledger_postings")
            newest = int(upto.fetchone()[0])
            if newest > self._balances_upto:
                rows = connection.execute(_BALANCES_SQL, (self._balances_upto, newest))
                for code, currency, debit, credit, count in rows:
                    totals = self._balances.setdefault((code, currency), [0, 0, 0])
                    totals[0] += debit
                    totals[1] += credit
                    totals[2] += count
                self._balances_upto = newest
            balances = sorted(self._balances.items())
        return [
            TrialBalanceRow(
                code=code,
                name=self.account_name(code),
                type=self.account_type(code),
                currency=currency,
                debit=from_scaled(debit, MONEY_PLACES),
                credit=from_scaled(credit, MONEY_PLACES),
                balance=from_scaled(debit - credit, MONEY_PLACES),
                postings=count,
            )
            for (code, currency), (debit, credit, count) in balances
        ]

    # -- pages ------------------------------------------------------------------------------

    def journal_source(self) -> JournalSource:
        """Every entry, newest DTPOSTED first, paged from SQLite."""
        return JournalSource(self)

    def account_source(self, code: str) -> AccountSource:
        """The postings of account `code`, newest first, with their entries' fields. Once
        a trial balance was read, its counts spare the source counting the account anew."""
        counted = None
        with self._balances_lock:
            if self._balances_upto:
                postings = sum(
                    totals[2] for (account, _), totals in self._balances.items() if account == code
                )
                counted = (self._balances_upto, postings)
        return AccountSource(self, code, counted)

    def fills_source(self) -> FillsSource:
        """The `trades` table (booked fills), newest first."""
        return FillsSource(self)

    # -- one entry --------------------------------------------------------------------------

    def entry_detail(self, entry_id: int) -> EntryDetail:
        """Entry `entry_id` with its postings, trade row and audit rows; LedgerError if
        there is no such entry. Scans the audit rows after the entry's own (the trail has
        no index on `subject`): call it from a worker on a big ledger."""
        connection = self.connection()
        found = connection.execute(_ENTRY_SQL, (entry_id,)).fetchone()
        if found is None:
            raise LedgerError(f"the ledger has no entry {entry_id}")
        (id_, fitid, dtposted, trntype, memo, source, audit_id, entity, jurisdiction, broker,
         bot_id, currency, is_manual, created, reverses_fitid, reversed_by, reversal_audit) = found
        postings = tuple(
            PostingLine(
                id=posting_id,
                account_code=code,
                account_name=self.account_name(code),
                amount=from_scaled(amount, MONEY_PLACES),
                currency=posting_currency,
                quantity=None if quantity is None else from_scaled(quantity, QUANTITY_PLACES),
                symbol=symbol,
                memo=posting_memo,
            )
            for posting_id, code, amount, posting_currency, quantity, symbol, posting_memo
            in connection.execute(_POSTINGS_SQL, (entry_id,))
        )
        trade = connection.execute(_TRADE_SQL, (entry_id,)).fetchone()
        audit = connection.execute(_AUDIT_SQL, (audit_id, audit_id, fitid, reversal_audit))
        return EntryDetail(
            id=id_,
            fitid=fitid,
            dtposted=parse_utc(dtposted),
            trntype=trntype,
            memo=memo,
            source=source,
            currency=currency,
            is_manual=bool(is_manual),
            created_at=parse_utc(created),
            bot=f"{entity}_{jurisdiction}_{broker}_{bot_id}",
            audit_id=audit_id,
            reverses_fitid=reverses_fitid,
            reversed_by_fitid=reversed_by,
            postings=postings,
            trade=None if trade is None else _trade_facts(trade),
            audit_rows=tuple(
                AuditLine(row_id, parse_utc(at), actor, action, subject, details, prev, digest)
                for row_id, at, actor, action, subject, details, prev, digest in audit
            ),
        )

    # -- fills ------------------------------------------------------------------------------

    def recent_fills(self, limit: int = 50) -> list[FillRow]:
        """The last `limit` booked fills, newest first (the fee is what the entry booked
        to expense accounts)."""
        rows = self.connection().execute(
            _RECENT_FILLS_SQL, (json.dumps(self.expense_codes()), max(0, limit))
        )
        fills = []
        for (fitid, dtposted, trntype, symbol, size, entry_price, exit_price, strategy,
             fee) in rows:
            price = exit_price if trntype in _CLOSING_TRNTYPES and exit_price is not None \
                else entry_price
            fills.append(
                FillRow(
                    fill_id=fitid,
                    symbol=symbol,
                    side=trntype.lower(),
                    quantity=from_scaled(size, QUANTITY_PLACES),
                    price=from_scaled(price, PRICE_PLACES),
                    fee=from_scaled(fee, MONEY_PLACES),
                    strategy=strategy,
                    filled_at=parse_utc(dtposted),
                    entry_fitid=fitid,
                )
            )
        return fills


def currency_totals(rows: Sequence[TrialBalanceRow]) -> list[CurrencyTotal]:
    """Debit and credit totals per currency (balanced when they are equal), by currency."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for row in rows:
        debit, credit = totals.get(row.currency, (Decimal(0), Decimal(0)))
        totals[row.currency] = (debit + row.debit, credit + row.credit)
    return [CurrencyTotal(currency, debit, credit)
            for currency, (debit, credit) in sorted(totals.items())]


_CLOSING_TRNTYPES = frozenset({"SELL", "COVER"})
"""Trades whose fill price is the `exit_price` (the others fill at `entry_price`)."""

_ENTRY_SQL = (
    "SELECT e.id, e.fitid, e.dtposted, e.trntype, e.memo, e.source, e.audit_id, "
    "e.entity_code, e.jurisdiction_code, e.broker_code, e.bot_id, e.currency_code, "
    "e.is_manual, e.created_at_utc, o.fitid, r.fitid, r.audit_id "
    "FROM ledger_entries e "
    "LEFT JOIN ledger_entries o ON o.id = e.reverses_entry_id "
    "LEFT JOIN ledger_entries r ON r.reverses_entry_id = e.id "
    "WHERE e.id = ?"
)
_POSTINGS_SQL = (
    "SELECT id, account_code, amount, currency_code, quantity, symbol, memo "
    "FROM ledger_postings WHERE entry_id = ? ORDER BY id"
)
_TRADE_SQL = (
    "SELECT trntype, strategy, symbol, side, size, entry_price, exit_price, pnl, tag, "
    "leverage_multiplier, broker, error_code FROM trades WHERE entry_id = ?"
)
# The entry's own row, and later rows naming its FITID or recording its reversal. Rows
# that name an entry come after its own (the trail is append-only), so the scan starts
# there; `subject` has no index.
_AUDIT_SQL = (
    "SELECT id, created_at_utc, actor, action, subject, details, prev_hash, row_hash "
    "FROM audit_trail WHERE id >= ? AND (id = ? OR subject = ? OR id = ?) ORDER BY id"
)
_RECENT_FILLS_SQL = (
    "SELECT t.fitid, t.dtposted, t.trntype, t.symbol, t.size, t.entry_price, t.exit_price, "
    "t.strategy, (SELECT COALESCE(SUM(p.amount), 0) FROM ledger_postings p "
    "WHERE p.entry_id = t.entry_id AND p.amount > 0 "
    "AND p.account_code IN (SELECT value FROM json_each(?1))) "
    "FROM trades t ORDER BY t.entry_id DESC LIMIT ?2"
)


def _trade_facts(row: Sequence[Any]) -> TradeFacts:
    (trntype, strategy, symbol, side, size, entry_price, exit_price, pnl, tag, leverage,
     broker, error_code) = row
    return TradeFacts(
        trntype=str(trntype),
        strategy=str(strategy),
        symbol=str(symbol),
        side=str(side),
        size=from_scaled(size, QUANTITY_PLACES),
        entry_price=from_scaled(entry_price, PRICE_PLACES),
        exit_price=None if exit_price is None else from_scaled(exit_price, PRICE_PLACES),
        pnl=from_scaled(pnl, MONEY_PLACES),
        tag=str(tag),
        leverage_multiplier=from_scaled(leverage, LEVERAGE_PLACES),
        broker=str(broker),
        error_code=None if error_code is None else str(error_code),
    )


def _require_ledger(database: SqliteDatabase, path: Path) -> None:
    """Refuse a file that is not an SQLite database, or not a ledger."""
    try:
        tables = set(database.get_tables())
    except (sqlite3.DatabaseError, peewee.DatabaseError) as problem:
        raise LedgerFileError(f"{path} is not a ledger file: {problem}") from None
    missing = [table for table in _REQUIRED_TABLES if table not in tables]
    if missing:
        raise LedgerFileError(f"{path} is not a ledger file: no table {', '.join(missing)}")


def _load_chart(ledger_path: Path, coa_path: Path | None) -> tuple[Chart, str]:
    """The chart that names the accounts, and where it came from."""
    if coa_path is not None:
        return load_chart(coa_path), str(coa_path)
    for candidate in _coa_candidates(ledger_path):
        try:
            return load_chart(candidate), str(candidate)
        except (LedgerError, sqlite3.DatabaseError):
            continue  # unreadable: the standard chart still names the accounts
    return STANDARD_CHART, f"the standard chart {COA_VERSION}"


def _coa_candidates(ledger_path: Path) -> list[Path]:
    """The COA files beside a ledger named as `BotPaths` names it, current version first."""
    name = ledger_path.name
    if not name.endswith(LEDGER_SUFFIX):
        return []
    stem = name[: -len(LEDGER_SUFFIX)]
    current = ledger_path.with_name(f"{stem}_BOT_COA_{COA_VERSION}.db")
    others = sorted(ledger_path.parent.glob(f"{stem}_BOT_COA_v*.db"), reverse=True)
    return [path for path in [current, *others] if path.is_file()]
