"""Benchmark: bulk posting through `LedgerWriter.post_batch` against raw sqlite3 inserts.

Builds a home-like layout in a temporary directory (identity, paths, COA and ledger files),
posts N trade entries of 3-4 postings each (a buy with a fee, a sell with a realised gain)
through the API in batches, then inserts the very same rows (read back from the API-written
file, so identical tuples) with raw `executemany` into a second ledger file of identical
schema (indexes and triggers included), batch for batch. Prints rows/s for both, the ratio
(target: API >= 0.5x raw), how much of the API time went to the per-batch backups, and how
long `verify_ledger` takes on the API-written file (target < 2 s).

    .venv/bin/python benchmarks/ledger_post.py [--entries 100000] [--batch 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median

from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths
from tbot.ledger.coa_file import create_coa_file
from tbot.ledger.database import WRITER_PRAGMAS
from tbot.ledger.models import AuditRow, LedgerEntry, LedgerPosting, Trade
from tbot.ledger.posting import (
    BackupPolicy,
    EntryDraft,
    LedgerWriter,
    PostingDraft,
    TradeDraft,
    create_ledger_file,
)
from tbot.ledger.schema import insert_statement
from tbot.ledger.verify import verify_ledger

IDENTITY = BotIdentity(entity_code="BENCH", jurisdiction_code="US", broker_code="ALP", bot_id="B01")
START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
CENT = Decimal("0.01")
MODELS = (AuditRow, LedgerEntry, LedgerPosting, Trade)  # insertion order (foreign keys)


def make_home(root: Path) -> BotPaths:
    """A bot home under `root` with its COA and (empty) ledger file."""
    paths = BotPaths(root, IDENTITY)
    clock = FrozenClock(START)  # same instant for both homes: identical first audit row
    create_coa_file(paths.coa_db(), IDENTITY, clock)
    create_ledger_file(paths, clock)
    return paths


def make_drafts(count: int, seed: int = 7) -> list[EntryDraft]:
    """Alternating buys (4 postings: equities, cash, fee) and sells with a gain (3)."""
    rng = random.Random(seed)
    drafts = []
    for number in range(count):
        moment = START + timedelta(seconds=number)
        symbol = rng.choice(("AAPL", "MSFT", "SQQQ", "TQQQ", "SPY"))
        quantity = Decimal(rng.randint(1, 500_000)).scaleb(-3)  # fractional shares
        price = Decimal(rng.randint(1_000, 500_000)).scaleb(-2)
        cost = (quantity * price).quantize(CENT)
        fitid = f"BENCH-{number:08d}"
        if number % 2 == 0:
            fee = Decimal(rng.randint(1, 99_999)).scaleb(-6)
            postings = (
                PostingDraft("1111", cost, quantity=quantity, symbol=symbol),
                PostingDraft("1030", -cost),
                PostingDraft("5010", fee, memo="commission"),
                PostingDraft("1030", -fee),
            )
            trade = TradeDraft("BUY", "open", symbol, "long", quantity, price, Decimal(0), "alpaca")
            drafts.append(EntryDraft(fitid, moment, "BUY", f"buy {symbol}", postings, trade=trade))
        else:
            gain = Decimal(rng.randint(1, 100_000)).scaleb(-2)
            postings = (
                PostingDraft("1030", cost + gain),
                PostingDraft("1111", -cost, quantity=-quantity, symbol=symbol),
                PostingDraft("4010", -gain),
            )
            exit_price = ((cost + gain) / quantity).quantize(Decimal("0.000000001"))
            trade = TradeDraft(
                "SELL",
                "close",
                symbol,
                "long",
                quantity,
                price,
                gain,
                "alpaca",
                exit_price=exit_price,
            )
            drafts.append(
                EntryDraft(fitid, moment, "SELL", f"sell {symbol}", postings, trade=trade)
            )
    return drafts


def post_through_api(
    paths: BotPaths, drafts: list[EntryDraft], batch: int
) -> tuple[float, float, float]:
    """(seconds in post_batch, seconds of backup work, seconds post_batch waited for it)."""
    policy = BackupPolicy(retention_days=7, keep_per_day=len(drafts) // batch + 1)
    elapsed = 0.0
    with LedgerWriter(paths, FrozenClock(START + timedelta(days=1)), policy) as writer:
        for first in range(0, len(drafts), batch):
            chunk = drafts[first : first + batch]
            started = time.perf_counter()
            writer.post_batch(chunk, actor="bench")
            elapsed += time.perf_counter() - started
        return elapsed, writer.backup_seconds, writer.backup_wait_seconds


def read_rows_by_batch(ledger: Path, entries: int, batch: int) -> list[dict[type, list[tuple]]]:
    """The API-written rows, grouped by the same entry batches, per table."""
    connection = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    batches: list[dict[type, list[tuple]]] = []
    for first in range(1, entries + 1, batch):
        last = min(first + batch - 1, entries)
        audit_ids = connection.execute(
            "SELECT MIN(audit_id), MAX(audit_id) FROM ledger_entries WHERE id BETWEEN ? AND ?",
            (first, last),
        ).fetchone()
        batches.append(
            {
                AuditRow: connection.execute(
                    "SELECT * FROM audit_trail WHERE id BETWEEN ? AND ? ORDER BY id", audit_ids
                ).fetchall(),
                LedgerEntry: connection.execute(
                    "SELECT * FROM ledger_entries WHERE id BETWEEN ? AND ? ORDER BY id",
                    (first, last),
                ).fetchall(),
                LedgerPosting: connection.execute(
                    "SELECT * FROM ledger_postings WHERE entry_id BETWEEN ? AND ? ORDER BY id",
                    (first, last),
                ).fetchall(),
                Trade: connection.execute(
                    "SELECT * FROM trades WHERE entry_id BETWEEN ? AND ? ORDER BY id",
                    (first, last),
                ).fetchall(),
            }
        )
    connection.close()
    return batches


def insert_raw(ledger: Path, batches: list[dict[type, list[tuple]]]) -> float:
    """Seconds to insert `batches` with plain executemany, one transaction per batch."""
    connection = sqlite3.connect(ledger, isolation_level=None)
    for pragma, value in WRITER_PRAGMAS:
        connection.execute(f"PRAGMA {pragma} = {value}")
    statements = {model: insert_statement(model) for model in MODELS}
    elapsed = 0.0
    for rows in batches:
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        for model in MODELS:
            connection.executemany(statements[model], rows[model])
        connection.execute("COMMIT")
        elapsed += time.perf_counter() - started
    connection.close()
    return elapsed


@dataclass(frozen=True)
class Round:
    """The figures of one round: API and raw timings on fresh files, and verify."""

    api_seconds: float
    backup_seconds: float
    backup_wait: float
    raw_seconds: float
    rows: int
    verify_seconds: float
    verify_ok: bool
    verify_counts: tuple[int, int, int]

    @property
    def ratio(self) -> float:
        """Raw seconds over API seconds: the API's share of the raw rate."""
        return self.raw_seconds / self.api_seconds


def run_round(entries: int, batch: int, root: Path) -> Round:
    """Post through the API, insert the same rows raw, verify; all on fresh files."""
    api_paths = make_home(root / "api")
    raw_paths = make_home(root / "raw")
    drafts = make_drafts(entries)
    api_seconds, backup_seconds, backup_wait = post_through_api(api_paths, drafts, batch)
    batches = read_rows_by_batch(api_paths.ledger_db, entries, batch)
    rows = sum(len(table_rows) for rows_of in batches for table_rows in rows_of.values())
    raw_seconds = insert_raw(raw_paths.ledger_db, batches)
    verify = verify_ledger(api_paths.ledger_db, api_paths.coa_db())
    return Round(
        api_seconds,
        backup_seconds,
        backup_wait,
        raw_seconds,
        rows,
        verify.seconds,
        verify.ok,
        (verify.entries, verify.postings, verify.audit_rows),
    )


def run(entries: int, batch: int, rounds: int, root: Path) -> None:
    """Run `rounds` rounds under `root` and print each one and the medians.

    Several rounds because this kind of machine is noisy (shared cores): a single run can
    swing by a fifth either way; the median is the figure to quote.
    """
    results = []
    for number in range(1, rounds + 1):
        result = run_round(entries, batch, root / f"round{number}")
        results.append(result)
        print(
            f"round {number}: API {result.api_seconds:6.2f} s "
            f"({entries / result.api_seconds:8,.0f} entries/s, "
            f"{result.rows / result.api_seconds:9,.0f} rows/s)  "
            f"raw {result.raw_seconds:6.2f} s "
            f"({result.rows / result.raw_seconds:9,.0f} rows/s)  "
            f"ratio {result.ratio:.2f}x  verify {result.verify_seconds:.2f} s"
            f"{'' if result.verify_ok else ' (PROBLEMS)'}"
        )
    last = results[-1]
    ratio = median(r.ratio for r in results)
    api = median(r.api_seconds for r in results)
    raw = median(r.raw_seconds for r in results)
    backups = median(r.backup_seconds for r in results)
    waits = median(r.backup_wait for r in results)
    verify = median(r.verify_seconds for r in results)
    print(
        f"ledger_post: {entries:,} entries in batches of {batch:,} "
        f"({last.rows:,} rows: entries + postings + trades + audit rows), "
        f"median of {rounds} round(s)"
    )
    print(
        f"  API post_batch      {api:8.2f} s  {entries / api:10,.0f} entries/s"
        f"  {last.rows / api:10,.0f} rows/s"
    )
    print(
        f"    backups: {-(-entries // batch)} per round, {backups:.2f} s of work on the "
        f"writer's helper thread; post_batch waited {waits:.2f} s for them"
    )
    print(
        f"  raw executemany     {raw:8.2f} s  {entries / raw:10,.0f} entries/s"
        f"  {last.rows / raw:10,.0f} rows/s"
    )
    print(
        f"  ratio API/raw: {ratio:.2f}x (range {min(r.ratio for r in results):.2f}-"
        f"{max(r.ratio for r in results):.2f}; target >= 0.5x)"
    )
    entries_checked, postings, audit_rows = last.verify_counts
    print(
        f"  verify_ledger: {verify:.2f} s on {entries_checked:,} entries, {postings:,} "
        f"postings, {audit_rows:,} audit rows (range {min(r.verify_seconds for r in results):.2f}"
        f"-{max(r.verify_seconds for r in results):.2f}; target < 2 s)"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; always exits 0 (the figures are the result)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to build the homes (default: a temporary directory)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="independent rounds; the medians are reported (default 3)",
    )
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(dir=args.dir, prefix="ledger_post."))
        run(args.entries, args.batch, args.rounds, root)
    else:
        with tempfile.TemporaryDirectory(prefix="ledger_post.") as root:
            run(args.entries, args.batch, args.rounds, Path(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
