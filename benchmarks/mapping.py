"""Benchmark: the learned mapping model over 10,000 past operator decisions.

Generates N synthetic decisions over K record kinds (seeded): each kind is one broker's
activity type and sign, perhaps a subtype and a symbol, a few kind-specific description
words, an amount of kind-typical magnitude and the counter account it truly belongs to
(drawn from a realistic pool per activity type). About a tenth of the kinds share another
kind's broker, type, sign and subtype and differ only in their words (perhaps booked
elsewhere); kinds are unevenly common (Zipf-like), every record carries random noise words,
and about 3% of decisions are operator slips (a random account). A random fifth is held
out; the model is built from the rest (timed), then every held-out record is suggested
(each call timed: target p99 <= 5 ms) and scored against the operator's decision: top-1
and top-3 accuracy, how many the learned layer would auto-apply at `--threshold` and how
many of those would be wrong, and a calibration table (confidence of the top suggestion,
binned, against the observed accuracy).

    .venv/bin/python benchmarks/mapping.py [--decisions 10000] [--kinds 200] [--seed 7]
        [--threshold 0.95]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tbot.admin.init_home import init_home
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.ledger.batch import LedgerBatch
from tbot.ledger.database import open_reader_connection
from tbot.ledger.posting import LedgerWriter
from tbot.reconcile.mapping import store
from tbot.reconcile.mapping.booking import decision_row
from tbot.reconcile.mapping.defaults import default_rules
from tbot.reconcile.mapping.layers import Mapper
from tbot.reconcile.mapping.learning import MappingModel, Precedent
from tbot.reconcile.mapping.records import MappingRecord

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
IDENTITY = BotIdentity(ENTITY_CODE="BENCH", JURISDICTION_CODE="US", BROKER_CODE="SIM",
                       BOT_ID="M01")
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "JPM", "XOM", "KO",
           "PEP", "T", "VZ", "SPY", "QQQ", "IWM", "TLT", "HYG", "SCHD", "VYM", "O", "MO",
           "PFE", "BAC", "WFC", "INTC", "CSCO", "ABBV", "CVX", "MMM")
NOISE = ("ref", "batch", "memo", "posted", "settled", "pending", "acct", "daily", "weekly",
         "monthly", "quarterly", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
         "oct", "nov", "dec", "q1", "q2", "q3", "q4", "usd", "net", "gross", "period", "cycle",
         "run", "seq", "auto", "system", "manual", "entry", "item", "line", "note", "id", "txn",
         "src", "ext", "ops", "desk")
POOL = ("5010", "5020", "5045", "5050", "5070", "4050", "4060", "4070", "4090", "3010",
        "1010", "1020", "5080", "2010")


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """What a broker's activity type looks like, and where operators book it."""

    activity_type: str
    signs: str
    subtypes: tuple[str | None, ...]
    words: tuple[str, ...]
    accounts: tuple[tuple[str, int], ...]  # (account, weight)
    magnitude: tuple[int, int]  # order of magnitude range of |amount|
    symbol: float  # probability that a kind of this type names a symbol


ALPACA_TYPES = (
    TypeSpec("FEE", "-", ("REG", "TAF", "ADR", "ORF", "OCC", "CAT", "WIRE", None),
             ("regulatory", "fee", "taf", "sec", "finra", "adr", "custody", "orf", "occ"),
             (("5045", 3), ("5010", 3), ("5050", 1), ("2010", 1)), (-2, 1), 0.3),
    TypeSpec("FEE", "+", ("REBATE", "REG", None), ("fee", "rebate", "refund", "credit"),
             (("5045", 2), ("5010", 2)), (-2, 0), 0.1),
    TypeSpec("DIV", "+", ("CASH", "QUAL", "NQUAL", "FOREIGN", None), ("dividend", "cash",
             "qualified", "ordinary", "payable"), (("4050", 8), ("3010", 1)), (-1, 3), 1.0),
    TypeSpec("DIVCGL", "+", (None,), ("capital", "gain", "long", "distribution"),
             (("4070", 5), ("4050", 1)), (0, 2), 1.0),
    TypeSpec("DIVCGS", "+", (None,), ("capital", "gain", "short", "distribution"),
             (("4060", 5), ("4050", 1)), (0, 2), 1.0),
    TypeSpec("DIVNRA", "-", (None, "NRA"), ("withholding", "tax", "nra", "dividend"),
             (("5080", 1),), (-1, 2), 1.0),
    TypeSpec("DIVFT", "-", (None,), ("foreign", "tax", "withheld", "dividend"),
             (("5080", 1),), (-1, 1), 1.0),
    TypeSpec("DIVTW", "-", (None,), ("tax", "withheld", "dividend", "backup"),
             (("5080", 1),), (-1, 1), 1.0),
    TypeSpec("DIVROC", "+", (None,), ("return", "capital", "distribution"),
             (("3010", 2), ("4050", 1)), (0, 2), 1.0),
    TypeSpec("DIVTXEX", "+", (None,), ("tax", "exempt", "dividend", "municipal"),
             (("4050", 1),), (-1, 2), 1.0),
    TypeSpec("DIVFEE", "-", (None, "ADR"), ("dividend", "fee", "adr", "depositary"),
             (("5045", 2), ("5010", 2)), (-2, 0), 1.0),
    TypeSpec("INT", "+-", ("CREDIT", "MARGIN", "SWEEP", None), ("interest", "margin",
             "credit", "sweep", "debit"), (("4090", 2), ("5070", 2), ("5045", 1), ("5010", 1)),
             (-1, 2), 0.0),
    TypeSpec("INTNRA", "-", (None,), ("interest", "nra", "withholding"), (("5080", 1),),
             (-2, 1), 0.0),
    TypeSpec("INTTW", "-", (None,), ("interest", "tax", "withheld"), (("5080", 1),),
             (-2, 1), 0.0),
    TypeSpec("JNLC", "+-", (None, "FLOAT", "SWEEP"), ("journal", "transfer", "float",
             "capital", "cash"), (("3010", 4), ("1010", 2), ("1020", 2)), (2, 5), 0.0),
    TypeSpec("JNLS", "+-", (None,), ("journal", "security", "transfer"),
             (("3010", 2), ("1010", 1)), (2, 4), 0.5),
    TypeSpec("ACATC", "+-", (None,), ("acat", "cash", "transfer", "incoming", "outgoing"),
             (("3010", 2), ("1010", 1), ("1020", 1)), (3, 5), 0.0),
    TypeSpec("CSD", "+", (None, "WIRE", "ACH"), ("deposit", "wire", "ach", "incoming"),
             (("3010", 3), ("1010", 3)), (3, 5), 0.0),
    TypeSpec("CSW", "-", (None, "WIRE", "ACH"), ("withdrawal", "wire", "ach", "outgoing"),
             (("3010", 3), ("1020", 3)), (3, 5), 0.0),
    TypeSpec("CIL", "+", (None,), ("cash", "lieu", "fractional", "share"),
             (("4060", 1), ("4070", 1)), (-1, 1), 1.0),
    TypeSpec("MA", "+", (None, "CASH", "STOCK"), ("merger", "acquisition", "cash", "tender"),
             (("4070", 2), ("4060", 1)), (2, 4), 1.0),
    TypeSpec("REORG", "+-", (None,), ("reorganization", "corporate", "action", "exchange"),
             (("4070", 1), ("3010", 1)), (1, 3), 1.0),
    TypeSpec("SSP", "+", (None,), ("stock", "split", "cash", "lieu"),
             (("4050", 1), ("4070", 1)), (-1, 1), 1.0),
    TypeSpec("MISC", "+-", (None,), ("adjustment", "misc", "correction", "manual", "opra",
             "data"), tuple((a, 1) for a in POOL), (-1, 3), 0.2),
    TypeSpec("MISCFEE", "-", (None, "DATA", "PLATFORM"), ("opra", "market", "data",
             "subscription", "platform", "api"), (("5070", 3), ("2010", 2), ("5045", 1)),
             (0, 2), 0.0),
    TypeSpec("PTC", "-", (None, "ORF", "OCC"), ("pass", "through", "orf", "options",
             "charge"), (("5045", 2), ("5050", 1), ("5010", 1)), (-2, 1), 0.3),
    TypeSpec("PTR", "+", (None,), ("pass", "through", "rebate", "options"),
             (("5045", 1), ("5010", 1)), (-2, 0), 0.3),
    TypeSpec("CFEE", "-", (None,), ("crypto", "fee", "spread"), (("5010", 2), ("5050", 1)),
             (-2, 1), 0.5),
)
IBKR_TYPES = (
    TypeSpec("Other Fees", "-", ("Market Data", "Snapshot", "Inactivity", "Research", None),
             ("market", "data", "snapshot", "fee", "nyse", "nasdaq", "opra"),
             (("5020", 2), ("5070", 3), ("2010", 1)), (0, 2), 0.0),
    TypeSpec("Other Fees", "+", ("Market Data", "Snapshot", None), ("market", "data", "fee",
             "waiver", "refund"), (("5020", 2), ("5070", 2)), (0, 2), 0.0),
    TypeSpec("Dividends", "+", (None, "Ordinary", "Qualified", "Return Of Capital"),
             ("cash", "dividend", "per", "share", "usd", "ordinary"),
             (("4050", 6), ("3010", 1)), (-1, 3), 1.0),
    TypeSpec("Withholding Tax", "-+", (None, "Dividend", "Interest"), ("withholding", "tax",
             "us", "cash", "dividend"), (("5080", 1),), (-1, 2), 1.0),
    TypeSpec("Payment In Lieu Of Dividends", "+", (None,), ("payment", "lieu", "dividend"),
             (("4050", 3), ("4060", 1)), (0, 2), 1.0),
    TypeSpec("Broker Interest Paid", "-", (None, "Margin", "Short"), ("debit", "interest",
             "margin", "usd"), (("5020", 2), ("5070", 1)), (-1, 2), 0.0),
    TypeSpec("Broker Interest Received", "+", (None, "Credit"), ("credit", "interest", "usd",
             "balance"), (("4090", 3), ("3010", 1)), (-1, 2), 0.0),
    TypeSpec("Deposits/Withdrawals", "+-", (None, "Wire", "ACH"), ("electronic", "fund",
             "transfer", "wire", "disbursement"), (("3010", 3), ("1010", 1), ("1020", 1)),
             (3, 5), 0.0),
    TypeSpec("Commission Adjustments", "+-", (None, "Tiered"), ("commission", "adjustment",
             "correction", "tiered"), (("5020", 3), ("5050", 1)), (-1, 1), 0.5),
    TypeSpec("Bond Interest Received", "+", (None,), ("bond", "coupon", "interest"),
             (("4090", 2), ("4050", 1)), (0, 2), 1.0),
)
BROKERS = (("sim", ALPACA_TYPES), ("alpaca", ALPACA_TYPES), ("ibkr", IBKR_TYPES))


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of record: how its records look and where it truly belongs."""

    broker: str
    activity_type: str
    sign: str
    subtype: str | None
    words: tuple[str, ...]
    symbol: str | None  # "*" for a random symbol per record
    magnitude: int
    account: str


def make_kinds(count: int, rng: random.Random, variants: float = 0.1) -> list[Kind]:
    """`count` kinds over the brokers' activity types. A kind is mostly its own (broker,
    type, sign, subtype); a `variants` share of them reuse another kind's and differ only in
    their words (the MISC adjustment vs the MISC data fee), perhaps booked elsewhere."""
    kinds: list[Kind] = []
    taken: set[tuple[str, str, str, str | None]] = set()
    while len(kinds) < count:
        broker, types = rng.choice(BROKERS)
        spec = rng.choice(types)
        sign, subtype = rng.choice(spec.signs), rng.choice(spec.subtypes)
        key = (broker, spec.activity_type, sign, subtype)
        if key in taken and rng.random() >= variants:
            continue
        taken.add(key)
        accounts, weights = zip(*spec.accounts, strict=True)
        symbol = None
        if rng.random() < spec.symbol:
            symbol = rng.choice(SYMBOLS) if rng.random() < 0.5 else "*"
        kinds.append(Kind(
            broker=broker, activity_type=spec.activity_type, sign=sign, subtype=subtype,
            words=tuple(rng.sample(spec.words, k=min(len(spec.words), rng.randint(2, 4)))),
            symbol=symbol, magnitude=rng.randint(*spec.magnitude),
            account=rng.choices(accounts, weights=weights)[0],
        ))
    return kinds


def make_record(kind: Kind, number: int, rng: random.Random) -> MappingRecord:
    """One record of `kind`: its words (each usually present) and 0-3 noise words."""
    words = [w for w in kind.words if rng.random() < 0.85]
    words += rng.sample(NOISE, k=rng.randint(0, 3))
    rng.shuffle(words)
    amount = Decimal(round(10 ** (kind.magnitude + rng.random()), 2)).quantize(Decimal("0.01"))
    amount = max(amount, Decimal("0.01"))
    symbol = rng.choice(SYMBOLS) if kind.symbol == "*" else kind.symbol
    return MappingRecord(
        broker=kind.broker, broker_id=f"A{number:07d}", activity_type=kind.activity_type,
        amount=amount if kind.sign == "+" else -amount, currency="USD",
        occurred_at=START + timedelta(minutes=17 * number), description=" ".join(words),
        subtype=kind.subtype, symbol=symbol,
    )


def make_history(decisions: int, kinds: int, seed: int,
                 noise: float = 0.03
                 ) -> tuple[list[Precedent], list[Kind], dict[int, MappingRecord]]:
    """`decisions` operator decisions (ids 1..N, oldest first) over `kinds` kinds, and the
    record each decided."""
    rng = random.Random(seed)
    made = make_kinds(kinds, rng)
    popularity = [1 / (rank + 1) ** 0.8 for rank in range(kinds)]
    rng.shuffle(popularity)
    history = []
    records: dict[int, MappingRecord] = {}
    for number in range(1, decisions + 1):
        kind = rng.choices(made, weights=popularity)[0]
        record = make_record(kind, number, rng)
        account = rng.choice(POOL) if rng.random() < noise else kind.account
        history.append(Precedent(number, account, record.tokens()))
        records[number] = record
    return history, made, records


def build_from_ledger(train: list[Precedent], records: dict[int, MappingRecord]
                      ) -> tuple[float, float]:
    """Write `train` as operator decisions into a fresh bot's ledger (one batch), then time
    what a sync does: read the history that counts and build the model from it."""
    clock = FrozenClock(START)
    with tempfile.TemporaryDirectory() as root:
        home = init_home(Path(root) / "home", IDENTITY, clock, actor="bench")
        batch = LedgerBatch()
        for precedent in train:
            record = records[precedent.decision_id]
            batch.rows.setdefault("mapping_decisions", []).append(decision_row(
                record, layer="operator", action="post", actor="bench", reason="bench",
                now=START, account=precedent.account, debit=None, credit=None, entry=None,
                version=1))
        writer = LedgerWriter(home.paths, clock, home.backup_policy).open()
        try:
            writer.commit_batch(batch, actor="bench", action="bench.decisions",
                                subject="history", details={"decisions": len(train)})
        finally:
            writer.close()
        connection = open_reader_connection(home.paths.ledger_db)
        try:
            started = time.perf_counter()
            history = store.precedents(connection)
            read = time.perf_counter() - started
            MappingModel.build(history)
            return read, time.perf_counter() - started
        finally:
            connection.close()


def percentile(ordered: list[float], fraction: float) -> float:
    """The `fraction` percentile of an ascending list (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


BINS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--kinds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.95)
    args = parser.parse_args()

    started = time.perf_counter()
    history, kinds, records = make_history(args.decisions, args.kinds, args.seed)
    booked: dict[tuple[str, str, str, str | None], set[str]] = {}
    for kind in kinds:
        key = (kind.broker, kind.activity_type, kind.sign, kind.subtype)
        booked.setdefault(key, set()).add(kind.account)
    split = random.Random(args.seed + 1)
    held = set(split.sample(range(len(history)), k=len(history) // 5))
    train = [p for index, p in enumerate(history) if index not in held]
    test = [history[index] for index in sorted(held)]
    print(f"history: {len(history):,} decisions over {args.kinds} kinds "
          f"({len(booked)} broker/type/sign/subtype keys, "
          f"{sum(len(a) > 1 for a in booked.values())} of them booked to more than one "
          f"account), seed {args.seed} ({time.perf_counter() - started:.2f} s)")
    print(f"learning from {len(train):,}, holding out {len(test):,}")

    started = time.perf_counter()
    model = MappingModel.build(train)
    print(f"build: {(time.perf_counter() - started) * 1000:.1f} ms "
          f"({model.fingerprint}, {len(model.accounts)} accounts)")
    read, rebuilt = build_from_ledger(train, records)
    print(f"build from a real ledger's decision history: {read * 1000:.1f} ms to read "
          f"{len(train):,} decisions, {rebuilt * 1000:.1f} ms in all")

    timings: list[float] = []
    top1 = top3 = applied = applied_wrong = 0
    bins = [[0, 0, 0.0] for _ in BINS[:-1]]  # (count, right, sum of confidence)
    for precedent in test:
        began = time.perf_counter_ns()
        suggestions = model.suggest(precedent.tokens, limit=3)
        timings.append((time.perf_counter_ns() - began) / 1e6)
        accounts = [s.account for s in suggestions]
        right = bool(accounts) and accounts[0] == precedent.account
        top1 += right
        top3 += precedent.account in accounts
        if not suggestions:
            continue
        confidence = suggestions[0].confidence
        if confidence >= args.threshold:
            applied += 1
            applied_wrong += not right
        slot = next(i for i in range(len(BINS) - 1)
                    if confidence < BINS[i + 1] or i == len(BINS) - 2)
        bins[slot][0] += 1
        bins[slot][1] += right
        bins[slot][2] += confidence

    timings.sort()
    total = len(test)
    print(f"suggest: p50 {percentile(timings, 0.50):.3f} ms, p99 "
          f"{percentile(timings, 0.99):.3f} ms (target <= 5 ms), max "
          f"{timings[-1]:.3f} ms over {total:,} held-out records")
    print(f"accuracy against the operator's decision (about 3% of which are slips): "
          f"top-1 {top1 / total:.1%}, top-3 {top3 / total:.1%}")
    wrong = applied_wrong / applied if applied else 0.0
    print(f"auto-applied at >= {args.threshold:g}: {applied:,} of {total:,} "
          f"({applied / total:.1%}), of which wrong {applied_wrong:,} ({wrong:.2%})")

    # The whole path a sync takes per record: the shipped rules first, then the model,
    # then the queue's suggestions.
    mapper = Mapper(default_rules(), 1, model, cash_account="1030", threshold=args.threshold)
    layered: list[float] = []
    for precedent in test:
        record = records[precedent.decision_id]
        began = time.perf_counter_ns()
        mapper.decide(record)
        layered.append((time.perf_counter_ns() - began) / 1e6)
    layered.sort()
    print(f"through the layers (rules, model, suggestions): p50 "
          f"{percentile(layered, 0.50):.3f} ms, p99 {percentile(layered, 0.99):.3f} ms "
          f"(target <= 5 ms)")

    table = Table(title="calibration: top suggestion's confidence vs observed accuracy")
    for column in ("confidence", "records", "mean confidence", "observed accuracy"):
        table.add_column(column, justify="right")
    for (low, high), (count, right_count, summed) in zip(pairwise(BINS), bins, strict=True):
        label = f"[{low:.2f}, {high:.2f}{']' if high == 1.0 else ')'}"
        if count:
            table.add_row(label, f"{count:,}", f"{summed / count:.3f}",
                          f"{right_count / count:.3f}")
        else:
            table.add_row(label, "0", "-", "-")
    Console(highlight=False).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
