"""Benchmark: bulk posting through `LedgerWriter.post_batch` against raw sqlite3 inserts.

Builds a home-like layout in a temporary directory (identity, paths, COA and ledger files),
posts N trade entries of 3-4 postings each (a buy with a fee, a sell with a realised gain)
through the API in batches, then inserts the very same rows (read back from the API-written
file, so identical tuples) with raw `executemany` into a second ledger file of identical
schema (indexes and triggers included), batch for batch. Prints rows/s for both, the ratio
(target: API >= 0.5x raw), how much of the API time went to the pre-write backups (an
increment per batch; the first batch of a fresh home starts the set's snapshot in the
background), and how long `verify_ledger` takes on the API-written file (target < 2 s).
For reference it also inserts the rows raw with the writer's own multi-row INSERTs, which
beat executemany by about a fifth.

Then, on a copy of a big ledger (`big_ledger.build_big_ledger`, 1,000,000 entries by
default, cached between runs): the full snapshot's time (off the write path), the pre-write
backup's time and bytes for single-fill writes (targets: at most 50 ms and 1 MB per fill),
and a full restore's time (snapshot copy + increments, then verify).

    .venv/bin/python benchmarks/ledger_post.py [--entries 100000] [--batch 10000] [--rounds 3]
        [--big-entries 1000000] [--fills 200] [--cache DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.big_ledger import IDENTITY as BIG_IDENTITY  # noqa: E402
from benchmarks.big_ledger import build_big_ledger  # noqa: E402
from tbot.clock import FrozenClock  # noqa: E402
from tbot.config.identity import BotIdentity  # noqa: E402
from tbot.config.paths import BotPaths  # noqa: E402
from tbot.ledger.backups import restore_set, take_snapshot  # noqa: E402
from tbot.ledger.coa_file import create_coa_file  # noqa: E402
from tbot.ledger.database import WRITER_PRAGMAS  # noqa: E402
from tbot.ledger.models import AuditRow, LedgerEntry, LedgerPosting, Trade  # noqa: E402
from tbot.ledger.posting import (  # noqa: E402
    BackupPolicy,
    EntryDraft,
    LedgerWriter,
    PostingDraft,
    TradeDraft,
    create_ledger_file,
)
from tbot.ledger.schema import insert_rows_in_bulk, insert_statement  # noqa: E402
from tbot.ledger.verify import verify_ledger  # noqa: E402

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


def insert_raw(ledger: Path, batches: list[dict[type, list[tuple]]], *,
               bulk: bool = False) -> float:
    """Seconds to insert `batches` with plain executemany (or, `bulk`, with the writer's
    multi-row INSERTs, `insert_rows_in_bulk`), one transaction per batch."""
    connection = sqlite3.connect(ledger, isolation_level=None)
    for pragma, value in WRITER_PRAGMAS:
        connection.execute(f"PRAGMA {pragma} = {value}")
    statements = {model: insert_statement(model) for model in MODELS}
    elapsed = 0.0
    for rows in batches:
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        for model in MODELS:
            if bulk:
                insert_rows_in_bulk(connection, statements[model], rows[model])
            else:
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
    raw_bulk_seconds: float
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
    bulk_paths = make_home(root / "raw-bulk")
    drafts = make_drafts(entries)
    api_seconds, backup_seconds, backup_wait = post_through_api(api_paths, drafts, batch)
    batches = read_rows_by_batch(api_paths.ledger_db, entries, batch)
    rows = sum(len(table_rows) for rows_of in batches for table_rows in rows_of.values())
    raw_seconds = insert_raw(raw_paths.ledger_db, batches)
    raw_bulk_seconds = insert_raw(bulk_paths.ledger_db, batches, bulk=True)
    verify = verify_ledger(api_paths.ledger_db, api_paths.coa_db())
    return Round(
        api_seconds,
        backup_seconds,
        backup_wait,
        raw_seconds,
        raw_bulk_seconds,
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
    raw_bulk = median(r.raw_bulk_seconds for r in results)
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
        f"    pre-write backups: {-(-entries // batch)} per round (increments), {backups:.2f} s "
        f"of work on the writer's helper thread (with the trailing backups of large batches); "
        f"post_batch waited {waits:.2f} s for them"
    )
    print(
        f"  raw executemany     {raw:8.2f} s  {entries / raw:10,.0f} entries/s"
        f"  {last.rows / raw:10,.0f} rows/s"
    )
    print(
        f"  ratio API/raw: {ratio:.2f}x (range {min(r.ratio for r in results):.2f}-"
        f"{max(r.ratio for r in results):.2f}; target >= 0.5x)"
    )
    print(
        f"  for reference, raw with the writer's multi-row INSERTs: {raw_bulk:.2f} s; "
        f"API/that {median(r.raw_bulk_seconds / r.api_seconds for r in results):.2f}x "
        "(about the share of the API's time spent inserting)"
    )
    entries_checked, postings, audit_rows = last.verify_counts
    print(
        f"  verify_ledger: {verify:.2f} s on {entries_checked:,} entries, {postings:,} "
        f"postings, {audit_rows:,} audit rows (range {min(r.verify_seconds for r in results):.2f}"
        f"-{max(r.verify_seconds for r in results):.2f}; target < 2 s)"
    )


def big_fill(number: int, moment: datetime) -> EntryDraft:
    """One single-fill BUY on the big ledger's chart (the simulated broker's accounts)."""
    quantity = Decimal(1 + number % 300)
    price = Decimal(100 + number % 50)
    cost = quantity * price
    fee = Decimal("0.35")
    postings = (
        PostingDraft("1115", cost, quantity=quantity, symbol="AAPL"),
        PostingDraft("5045", fee),
        PostingDraft("1070", -(cost + fee)),
    )
    trade = TradeDraft("BUY", "open", "AAPL", "long", quantity, price, -fee, "sim")
    return EntryDraft(f"BENCH-FILL-{number:07d}", moment, "BUY", "bench fill", postings,
                      trade=trade)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_big(entries: int, fills: int, cache: Path, root: Path) -> None:
    """Pre-write backup cost per single fill, snapshot and restore times, on a copy of a
    big ledger's home (the cached original is never written)."""
    started = time.perf_counter()
    cached = build_big_ledger(cache, entries).parents[3]
    home = root / "big"
    shutil.copytree(cached, home)
    prepared = time.perf_counter() - started
    paths = BotPaths(home, BIG_IDENTITY)
    size = paths.ledger_db.stat().st_size
    clock = FrozenClock(datetime(2030, 1, 2, 15, 0, tzinfo=UTC))
    snapshot = take_snapshot(paths, clock.now())
    seconds: list[float] = []
    sizes: list[int] = []
    policy = BackupPolicy(retention_days=7, keep_per_day=48)
    with LedgerWriter(paths, clock, policy) as writer:
        for number in range(fills):
            clock.advance(timedelta(seconds=1))
            before = writer.backup_seconds
            writer.post(big_fill(number, clock.now()), actor="bench")
            increment = writer.backups.last_increment
            if increment is not None:  # the first write has nothing new since the snapshot
                seconds.append(writer.backup_seconds - before)
                sizes.append(increment.stat().st_size)
    started = time.perf_counter()
    restored = restore_set(snapshot.set_dir, root / "restored")
    rebuild = time.perf_counter() - started
    verify = verify_ledger(restored.ledger_path, restored.coa_path)
    print(f"big ledger: {entries:,} entries, {size / 1e6:,.0f} MB "
          f"(copied from the cache in {prepared:.1f} s)")
    print(f"  full snapshot (off the write path): {snapshot.seconds:.2f} s, "
          f"{snapshot.manifest.snapshot_bytes / 1e6:,.0f} MB")
    print(f"  pre-write backup per single-fill write ({len(seconds)} writes): median "
          f"{median(seconds) * 1000:.1f} ms, p95 {_percentile(seconds, 0.95) * 1000:.1f} ms, "
          f"max {max(seconds) * 1000:.1f} ms (target <= 50 ms); median {median(sizes):,.0f} "
          f"bytes, max {max(sizes):,} bytes (target <= 1 MB)")
    print(f"  full restore: {rebuild:.2f} s to rebuild from the snapshot and "
          f"{restored.increments_applied} increments, then verify {verify.seconds:.2f} s "
          f"({'ok' if verify.ok else 'PROBLEMS'}); {rebuild + verify.seconds:.2f} s in all")


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
    parser.add_argument("--big-entries", type=int, default=1_000_000,
                        help="entries of the big ledger for the backup figures (0: skip)")
    parser.add_argument("--fills", type=int, default=200,
                        help="single-fill writes measured on the big ledger")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "tbot-bench",
                        help="where big ledgers are built once and reused")
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(dir=args.dir, prefix="ledger_post."))
        _run_all(args, root)
    else:
        with tempfile.TemporaryDirectory(prefix="ledger_post.") as root:
            _run_all(args, Path(root))
    return 0


def _run_all(args: argparse.Namespace, root: Path) -> None:
    if args.rounds > 0:
        run(args.entries, args.batch, args.rounds, root)
    if args.big_entries > 0:
        run_big(args.big_entries, args.fills, args.cache, root)


if __name__ == "__main__":
    sys.exit(main())
