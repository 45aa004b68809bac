"""A bot home whose ledger holds a large, realistic journal, for the console's ledger views.

`build_big_ledger(cache_dir, entries)` makes (once per size, then reuses) a home with
`tbot init`'s own function and bulk-inserts into its ledger a float injection followed by
buy/sell fills across 40 symbols, about 800 a trading day: a BUY is 3 postings (equities,
fee, cash), a SELL 3 (cash, equities, realized gain; 2 when the gain is zero), each with
its `trades` row and its audit row. A child process builds the rows while this one
inserts them, one `executemany` per table per chunk and 250,000 entries to a transaction,
straight into SQLite (the append-only triggers allow INSERT; CHECK constraints are not
evaluated, the rows being built to meet them). `LedgerWriter` is bypassed: its per-write
backup would copy the whole file every time.

The rows are exactly what the writer would store, audit hash chain and entry digests
included, so `tbot ledger verify` passes on the result (the hashing is about a quarter of
the row builder's work, and the builder runs beside the inserts).

`sim_account=True` (home `big-ledger-{entries}-sim`) makes a home the engine can trade a
day on, as if it had run those five years on the simulated broker: the float is the
account's funding as the engine books it (its FITID is the simulated account's funding
activity), the last day sells every lot still open (a few more entries than asked), the
simulated broker's account file holds that funding and the ledger's final cash and no
positions, and a full snapshot starts its backup set (what the nightly timer leaves).

    .venv/bin/python benchmarks/big_ledger.py [--entries 1000000] [--cache DIR] [--sim]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

from tbot.admin.init_home import init_home
from tbot.admin.sim_account import sim_broker_settings
from tbot.booking.lot_checkpoint import LOTS_CHECKPOINT_ACTION, checkpoint_details
from tbot.broker.sim.sim_broker import FUNDING_DESCRIPTION, SimBroker
from tbot.broker.sim.state_store import SimStateStore
from tbot.clock import FrozenClock
from tbot.config.bot_settings import BotSettings
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.ledger.audit_chain import audit_row_hash, entry_details, entry_text, sha256_hex
from tbot.ledger.backups import BackupPolicy, take_snapshot
from tbot.ledger.balances import (
    BALANCES_ACTION,
    BALANCES_SUBJECT,
    balance_checkpoint,
    balances_details,
)
from tbot.ledger.models import AuditRow, LedgerEntry, LedgerPosting, Trade
from tbot.ledger.posting import LedgerWriter
from tbot.ledger.schema import insert_statement
from tbot.ledger.timestamps import format_utc
from tbot.ledger.writer_lock import WriterLock

IDENTITY = BotIdentity(ENTITY_CODE="TBOT", JURISDICTION_CODE="US", BROKER_CODE="SIM",
                       BOT_ID="BOT01")
FIRST_DAY = datetime(2022, 1, 3, tzinfo=UTC)  # a Monday
FLOAT_MOMENT = FIRST_DAY + timedelta(hours=13)
SESSION_OPEN_SECONDS = 14 * 3600 + 30 * 60
SESSION_SECONDS = int(6.5 * 3600)
FILLS_PER_DAY = 800
CHUNK_ENTRIES = 20_000
"""Entries per message from the row builder to the inserter."""
ENTRIES_PER_TRANSACTION = 250_000
ACTOR = "engine"
SOURCE = "engine"
CURRENCY = "USD"

# The simulated broker's accounts (chart v1.1.0) and the capital float.
CASH, EQUITIES, GAINS, FEES, FLOAT = "1070", "1115", "4045", "5045", "3010"
FLOAT_MICROS = 10_000_000 * 10**6

SYMBOLS = (
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "INTC", "CSCO",
    "ORCL", "IBM", "QCOM", "TXN", "ADBE", "CRM", "NFLX", "PYPL", "UBER", "SHOP",
    "F", "GM", "T", "VZ", "KO", "PEP", "WMT", "COST", "HD", "NKE",
    "JPM", "BAC", "WFC", "C", "GS", "XOM", "CVX", "SPY", "QQQ", "SQQQ",
)
STRATEGIES = ("open", "mid", "close")

COMPLETE_MARKER = ".big-ledger-complete"

_MICROS_PER_CENT = 10_000  # money is stored at scale 6
_PRICE_PER_CENT = 10_000_000  # prices at scale 9
_QUANTITY_UNIT = 10**9  # quantities at scale 9


def build_big_ledger(home: Path, entries: int, *, sim_account: bool = False) -> Path:
    """The ledger file of a bot home under `home` holding `entries` journal entries.

    `home` is a cache directory: the bot home is `home / f"big-ledger-{entries}"` (with
    `-sim` for `sim_account`, see the module doc), built once and reused while complete
    (an interrupted build is thrown away and redone). Returns the ledger file's path; its
    bot home is `path.parents[3]`.
    """
    if entries < 1:
        raise ValueError(f"entries must be at least 1, not {entries}")
    bot_home = Path(home) / f"big-ledger-{entries}{'-sim' if sim_account else ''}"
    ledger = _ledger_path(bot_home)
    if (bot_home / COMPLETE_MARKER).is_file() and ledger.is_file():
        return ledger
    if bot_home.exists():
        shutil.rmtree(bot_home)
    bot = init_home(bot_home, IDENTITY, FrozenClock(FIRST_DAY), actor="benchmark")
    with WriterLock(bot.paths.writer_lock_file):
        _fill_ledger(bot.paths.ledger_db, entries, sim_account)
    if sim_account:
        _open_sim_account(bot.paths, bot.config.bot, _ledger_cash(bot.paths.ledger_db))
        night = history_end(entries) + timedelta(hours=2)
        take_snapshot(bot.paths, night)
        _end_of_day_checkpoints(bot.paths, night + timedelta(minutes=1))
    (bot_home / COMPLETE_MARKER).write_text(f"{entries}\n")
    return bot.paths.ledger_db


def _end_of_day_checkpoints(paths: BotPaths, moment: datetime) -> None:
    """The checkpoints the engine writes at each end of day: the lots (here flat after the
    last entry: the last day sold every lot) and the sums of every account's postings."""
    ledger = sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True)
    try:
        ledger.execute("BEGIN")
        sums = balance_checkpoint(ledger)
    finally:
        ledger.close()
    policy = BackupPolicy(retention_days=3650, keep_per_day=100)
    with LedgerWriter(paths, FrozenClock(moment), policy) as writer:
        writer.record_event(LOTS_CHECKPOINT_ACTION, actor=ACTOR, subject=EQUITIES,
                            details=checkpoint_details(sums.through_entry_id, []))
        writer.record_event(BALANCES_ACTION, actor=ACTOR, subject=BALANCES_SUBJECT,
                            details=balances_details(sums))


def history_end(entries: int) -> datetime:
    """The end of the last session a big ledger of `entries` entries has fills in."""
    weeks, weekday = divmod((max(entries, 2) - 2) // FILLS_PER_DAY, 5)
    day = FIRST_DAY + timedelta(days=7 * weeks + weekday)
    return day + timedelta(seconds=SESSION_OPEN_SECONDS + SESSION_SECONDS)


def big_ledger_cash(ledger: Path) -> Decimal:
    """The cash balance (account 1070) of a big ledger: what its simulated account holds."""
    return _ledger_cash(ledger)


def _ledger_cash(ledger: Path) -> Decimal:
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        (micros,) = connection.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM ledger_postings WHERE account_code = ?",
            (CASH,)).fetchone()
    finally:
        connection.close()
    return Decimal(micros).scaleb(-6)


def _open_sim_account(paths: BotPaths, settings_of_bot: BotSettings, cash: Decimal) -> None:
    """The simulated broker's account file: funded on the first day as the ledger's float
    says, holding the ledger's final cash (the five years of fills are the ledger's; the
    engine's syncs look back 30 days, past which they are not read) and no positions."""
    settings = replace(
        sim_broker_settings(settings_of_bot, IDENTITY.bot_identity),
        starting_cash=Decimal(FLOAT_MICROS).scaleb(-6))
    SimBroker.open(paths.sim_broker_file, settings, FrozenClock(FLOAT_MOMENT)).close()
    store = SimStateStore.open_existing(paths.sim_broker_file)
    try:
        with store.transaction():
            store.set_cash(cash)
    finally:
        store.close()


def _ledger_path(bot_home: Path) -> Path:
    identity = IDENTITY.bot_identity
    return bot_home / "output" / identity / "ledgers" / f"{identity}_BOT_ledger.db"


@dataclass
class _Rows:
    """One chunk of rows per table, in insertion order (parents before children)."""

    audit: list[tuple[object, ...]] = field(default_factory=list)
    entries: list[tuple[object, ...]] = field(default_factory=list)
    postings: list[tuple[object, ...]] = field(default_factory=list)
    trades: list[tuple[object, ...]] = field(default_factory=list)


@dataclass
class _Symbol:
    """A symbol's price walk and its open lot (all shares bought by the last BUY)."""

    price_cents: int
    lot_quantity: int = 0
    lot_cost_micros: int = 0
    lot_price_cents: int = 0


class _JournalBuilder:
    """Builds the rows of consecutive entries the way `LedgerWriter` stores them."""

    def __init__(self, audit_id: int, prev_hash: str, seed: int = 20220103) -> None:
        self.rng = random.Random(seed)
        self.entry_id = 0
        self.posting_id = 0
        self.trade_id = 0
        self.audit_id = audit_id
        self.prev_hash = prev_hash
        self.symbols = {name: _Symbol(self.rng.randint(1_000, 40_000)) for name in SYMBOLS}
        identity = IDENTITY
        self.codes = (identity.entity_code, identity.jurisdiction_code, identity.broker_code,
                      identity.bot_id)
        self._day = -1
        self._day_text = ""

    def moment(self, number: int) -> tuple[str, str]:
        """(dtposted, created_at_utc) of fill `number`: FILLS_PER_DAY per weekday session,
        in order, recorded 40 ms after the fill. Built as text: datetime is too slow here."""
        day, slot = divmod(number, FILLS_PER_DAY)
        if day != self._day:
            weeks, weekday = divmod(day, 5)
            self._day = day
            self._day_text = (FIRST_DAY + timedelta(days=7 * weeks + weekday)).strftime(
                "%Y-%m-%dT"
            )
        micros = (SESSION_OPEN_SECONDS + slot * SESSION_SECONDS // FILLS_PER_DAY) * 10**6
        micros += int(self.rng.random() * 1_000_000)
        return (self._time_text(micros), self._time_text(micros + 40_000))

    def _time_text(self, micros: int) -> str:
        seconds, fraction = divmod(micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{self._day_text}{hour:02d}:{minute:02d}:{second:02d}.{fraction:06d}Z"

    def float_injection(self, rows: _Rows, sim_account: bool) -> None:
        """The first entry: the capital float funds the simulated broker's cash (booked as
        the engine books the simulated account's funding, for `sim_account`)."""
        moment = FLOAT_MOMENT
        times = (format_utc(moment), format_utc(moment + timedelta(milliseconds=40)))
        if sim_account:
            fitid = f"SIM-{IDENTITY.bot_identity}-FUNDING"
            memo = f"funding: CSD {FLOAT_MICROS // 10**6} ({FUNDING_DESCRIPTION})"
        else:
            fitid, memo = "FLOAT-0000001", "funding: deposit 10000000 (capital float)"
        self._entry(rows, fitid, times, "CREDIT", memo,
                    [(CASH, FLOAT_MICROS, None, None), (FLOAT, -FLOAT_MICROS, None, None)],
                    None)

    def sell_open_lots(self, rows: _Rows, number: int) -> None:
        """Sell every lot still open, as fills `number`, `number + 1`, ... of the last day
        (their times follow the day's last fill)."""
        times = self.moment(number - 1)
        for name in SYMBOLS:
            if self.symbols[name].lot_quantity:
                self._sell(rows, name, number, times)
                number += 1

    def fill(self, rows: _Rows, number: int) -> None:
        """Fill `number`: sell the symbol's open lot, or buy a new one."""
        rng = self.rng
        draw = rng.random
        name = SYMBOLS[int(draw() * len(SYMBOLS))]
        symbol = self.symbols[name]
        symbol.price_cents = max(100, symbol.price_cents + int(draw() * 81) - 40)
        price = symbol.price_cents
        times = self.moment(number)
        strategy = STRATEGIES[min(2, (number % FILLS_PER_DAY) * 3 // FILLS_PER_DAY)]
        fitid = f"SIM-F-{number:09d}"
        price_text = f"{price // 100}.{price % 100:02d}"
        if symbol.lot_quantity == 0:
            quantity = 1 + int(draw() * 300)
            cost = quantity * price * _MICROS_PER_CENT
            fee = max(350_000, quantity * 3_500)  # 0.0035 a share, at least 0.35
            postings = [(EQUITIES, cost, quantity * _QUANTITY_UNIT, name),
                        (FEES, fee, None, None), (CASH, -(cost + fee), None, None)]
            trade = ("BUY", strategy, name, quantity, price, None, -fee)
            memo = f"{strategy}: buy {quantity} {name} @ {price_text} (fee {_money(fee)})"
            symbol.lot_quantity, symbol.lot_cost_micros = quantity, cost
            symbol.lot_price_cents = price
            self._entry(rows, fitid, times, "BUY", memo, postings, trade)
            return
        self._sell(rows, name, number, times)

    def _sell(self, rows: _Rows, name: str, number: int, times: tuple[str, str]) -> None:
        symbol = self.symbols[name]
        price = symbol.price_cents
        strategy = STRATEGIES[min(2, (number % FILLS_PER_DAY) * 3 // FILLS_PER_DAY)]
        fitid = f"SIM-F-{number:09d}"
        price_text = f"{price // 100}.{price % 100:02d}"
        quantity, basis = symbol.lot_quantity, symbol.lot_cost_micros
        proceeds = quantity * price * _MICROS_PER_CENT
        gain = proceeds - basis
        postings = [(CASH, proceeds, None, None),
                    (EQUITIES, -basis, -quantity * _QUANTITY_UNIT, name)]
        if gain:
            postings.append((GAINS, -gain, None, None))
        trade = ("SELL", strategy, name, quantity, symbol.lot_price_cents, price, gain)
        memo = f"{strategy}: sell {quantity} {name} @ {price_text} (fee 0)"
        symbol.lot_quantity = symbol.lot_cost_micros = 0
        self._entry(rows, fitid, times, "SELL", memo, postings, trade)

    def _entry(
        self,
        rows: _Rows,
        fitid: str,
        times: tuple[str, str],
        trntype: str,
        memo: str,
        postings: list[tuple[str, int, int | None, str | None]],
        trade: tuple[str, str, str, int, int, int | None, int] | None,
    ) -> None:
        self.entry_id += 1
        self.audit_id += 1
        entry_id, audit_id = self.entry_id, self.audit_id
        dtposted, created = times
        entity, jurisdiction, broker_code, bot_id = self.codes
        entry_row = (entry_id, fitid, dtposted, trntype, memo, SOURCE, audit_id, entity,
                     jurisdiction, broker_code, bot_id, CURRENCY, 0, None, created)
        posting_rows = []
        for account, amount, quantity, symbol in postings:
            self.posting_id += 1
            posting_rows.append((self.posting_id, entry_id, account, amount, CURRENCY,
                                 quantity, symbol, None))
        trade_row = None
        if trade is not None:
            self.trade_id += 1
            kind, strategy, name, quantity, entry_cents, exit_cents, pnl = trade
            trade_row = (self.trade_id, entry_id, fitid, dtposted, kind, CURRENCY, entity,
                         jurisdiction, broker_code, bot_id, strategy, name, "long",
                         quantity * _QUANTITY_UNIT, entry_cents * _PRICE_PER_CENT,
                         None if exit_cents is None else exit_cents * _PRICE_PER_CENT, pnl,
                         audit_id, "none", 1_000_000, "sim", None)
            rows.trades.append(trade_row)
        digest = sha256_hex(entry_text(entry_row, posting_rows, trade_row))
        audit_row = (audit_id, created, ACTOR, "entry.post", fitid,
                     entry_details(digest, entry_id, fitid), self.prev_hash)
        self.prev_hash = audit_row_hash(audit_row)
        rows.audit.append((*audit_row, self.prev_hash))
        rows.entries.append(entry_row)
        rows.postings.extend(posting_rows)


def _money(micros: int) -> str:
    """Micro-units as plain decimal text without trailing zeros (what memos show)."""
    whole, fraction = divmod(micros, 10**6)
    return f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")


def _chunks(builder: _JournalBuilder, entries: int, sim_account: bool) -> Iterator[_Rows]:
    rows = _Rows()
    builder.float_injection(rows, sim_account)
    for number in range(1, entries):
        builder.fill(rows, number)
        if len(rows.entries) >= CHUNK_ENTRIES:
            yield rows
            rows = _Rows()
    if sim_account:
        builder.sell_open_lots(rows, entries)
    if rows.entries:
        yield rows


def _produce(sink: Connection, audit_id: int, prev_hash: str, entries: int,
             sim_account: bool) -> None:
    """The child process: build every chunk and send it to the inserting parent."""
    for rows in _chunks(_JournalBuilder(audit_id, prev_hash), entries, sim_account):
        sink.send(rows)
    sink.send(None)
    sink.close()


def _fill_ledger(ledger: Path, entries: int, sim_account: bool) -> None:
    """Insert the journal; a child process builds the rows (Python and hashing) while this
    one inserts (SQLite), so the two halves of the work overlap on two cores."""
    connection = sqlite3.connect(ledger, isolation_level=None)
    try:
        # A throwaway benchmark file: durability does not matter, speed does. WAL again at
        # the end, as every ledger is.
        connection.execute("PRAGMA journal_mode = MEMORY")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("PRAGMA cache_size = -262144")
        # The rows are built to satisfy the CHECK constraints (and verify re-checks what
        # matters); evaluating them costs a fifth of the inserts.
        connection.execute("PRAGMA ignore_check_constraints = ON")
        audit_id, prev_hash = connection.execute(
            "SELECT id, row_hash FROM audit_trail ORDER BY id DESC LIMIT 1"
        ).fetchone()
        source, sink = multiprocessing.Pipe(duplex=False)
        producer = multiprocessing.Process(
            target=_produce, args=(sink, audit_id, prev_hash, entries, sim_account),
            daemon=True
        )
        producer.start()
        sink.close()
        try:
            _insert_chunks(connection, source)
        finally:
            producer.join()
        if producer.exitcode != 0:
            raise RuntimeError(f"the row builder failed (exit code {producer.exitcode})")
        # No ANALYZE: the console must plan well on ledgers nobody analysed.
        connection.execute("PRAGMA journal_mode = WAL")
    finally:
        connection.close()


def _insert_chunks(connection: sqlite3.Connection, source: Connection) -> None:
    statements = [insert_statement(model) for model in (AuditRow, LedgerEntry, LedgerPosting,
                                                        Trade)]
    inserted = 0
    connection.execute("BEGIN IMMEDIATE")
    while (rows := source.recv()) is not None:
        for statement, table_rows in zip(
            statements, (rows.audit, rows.entries, rows.postings, rows.trades), strict=True
        ):
            connection.executemany(statement, table_rows)
        inserted += len(rows.entries)
        if inserted >= ENTRIES_PER_TRANSACTION:
            connection.execute("COMMIT")
            connection.execute("BEGIN IMMEDIATE")
            inserted = 0
    connection.execute("COMMIT")


def measure_views(ledger: Path) -> list[tuple[str, float]]:
    """Seconds the console's ledger reader takes for what its views ask, in the order a
    user meets them (the OS file cache as it is: run twice to see it warm)."""
    from tui.ledger.ledger_reader import LedgerReader  # the console, measured from outside

    timings: list[tuple[str, float]] = []

    def timed(label: str, work: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = work()
        timings.append((label, time.perf_counter() - started))
        return result

    reader = cast(LedgerReader, timed("open the ledger", lambda: LedgerReader.open(ledger)))
    try:
        journal = reader.journal_source()
        count = cast(int, timed("journal: count", journal.count))
        timed("journal: first page (100 rows)", lambda: journal.rows(0, 100))
        timed("journal: jump to the end", lambda: journal.rows(count - 100, 100))
        timed("journal: middle page", lambda: journal.rows(count // 2, 100))
        timed("journal: the page after it", lambda: journal.rows(count // 2 + 100, 100))
        timed("journal: position of a middle row", lambda: journal.index_of(str(count // 2)))
        account = reader.account_source(CASH)
        postings = cast(int, timed(f"account {CASH}: count (in a worker)", account.count))
        timed(f"account {CASH}: first page", lambda: account.rows(0, 100))
        timed(f"account {CASH}: jump to the end", lambda: account.rows(postings - 100, 100))
        timed(f"account {CASH}: middle page", lambda: account.rows(postings // 2, 100))
        fills = reader.fills_source()
        timed("fills: count", fills.count)
        timed("fills: first page", lambda: fills.rows(0, 100))
        timed("trial balance: first (in a worker)", reader.trial_balance)
        timed("trial balance: again", reader.trial_balance)
        timed("entry detail of a middle entry (in a worker)",
              lambda: reader.entry_detail(count // 2))
        timed("journal: filter 'MSFT' (in a worker)", lambda: journal.set_filter("MSFT"))
        timed("journal: filtered middle page", lambda: journal.rows(journal.count() // 2, 100))
    finally:
        reader.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) a big ledger, print how long it took and, with --measure, how
    fast the console's ledger reader answers on it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tbot-bench",
                        help="directory the bot homes are cached under")
    parser.add_argument("--sim", action="store_true",
                        help="the home an engine can trade a day on (see the module doc)")
    parser.add_argument("--measure", action="store_true",
                        help="time the console's ledger queries on the result")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ledger = build_big_ledger(args.cache, args.entries, sim_account=args.sim)
    seconds = time.perf_counter() - started
    size_mb = ledger.stat().st_size / 1e6
    print(f"{args.entries:,} entries in {ledger} ({size_mb:,.0f} MB): {seconds:.1f} s")
    if args.measure:
        for label, took in measure_views(ledger):
            print(f"  {label:<48} {took * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
