"""A broker sync against the local fake Alpaca at scale, with its rate limit kept.

The fake (tests/broker/alpaca/fake_alpaca.py) holds N filled orders and their FILL
activities plus the deposit that funded the account; the bot's ledger already books them
(as a bot that traded them would). The fake serves from a child process: encoding 100,000
fills as JSON is the server's work, not the bot's, as it is against the real Alpaca (in
this process it took the CPU the sync's own work needs between requests). Time is scaled
down: Alpaca's 200 requests a rolling minute become 200 a `60 / --scale` seconds window,
for the fake's limiter and our budget alike (which allows itself
ALPACA_MAX_REQUESTS_PER_MINUTE = 190 of them).

Prints: the first sync's wall time against the rate-limit floor (the least time the same
number of requests could take under the limit; target ≤ 1.1×), the peak requests the fake
saw in any rolling window (must not exceed the limit), and the local work of a re-sync of
the unchanged account (wall time less the time inside the adapter; target ≤ 1 s). All from
the same run. Beside each sync, where its local time went: the time after its last request
(what no rate limit explains), its ledger writes (`LedgerWriter.commit_batch`) and, within
them, the full pre-write backups the ledger takes before every write.

Usage: python benchmarks/alpaca_sync.py [--fills 100000] [--scale 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's fake

from tbot.admin.bot_home import BotHome, open_home
from tbot.admin.init_home import init_home
from tbot.booking.broker_accounts import CAPITAL_FLOAT, accounts_for
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.broker.alpaca.adapter import AlpacaBroker
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.payloads import activity_time
from tbot.broker.models import BrokerFill, OrderSide
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.secret_store import SecretStore
from tbot.config.setting_types import BrokerName
from tbot.ledger.backup import LedgerBackups
from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.ledger.posting import LedgerWriter
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.statuses import SyncTrigger
from tests.broker.alpaca.fake_alpaca import FakeAlpaca

IDENTITY = BotIdentity(ENTITY_CODE="BENCH", JURISDICTION_CODE="US", BROKER_CODE="ALP",
                       BOT_ID="A01")
START = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
LIMIT = 200
BUDGET = 190
DEPOSIT = Decimal("10000000")


@dataclass(frozen=True)
class FakeView:
    """What the bot side needs of the fake in the child: where it is, and its fills."""

    url: str
    key_id: str
    secret_key: str
    now: datetime
    deposit: dict[str, Any]
    fills: list[tuple[str, str, str, str, str, str, str, str]]
    """(activity id, order id, client order id, symbol, side, qty, price, time) per fill."""


def _serve(connection: Connection, fills: int, window: float) -> None:
    """The child: build the fake's account, answer `FakeView`, then serve until told to
    stop, answering ("arrivals", since) with the request times and errors since then."""
    with FakeAlpaca(now=START, rate_limit=LIMIT, window_seconds=window) as fake:
        fake.account["cash"] = str(DEPOSIT)
        deposit = fake.add_activity("CSD", str(DEPOSIT), description="ACH deposit",
                                    date=START.date().isoformat(), created_at=START)
        fake.bulk_fills(fills, start=START + timedelta(minutes=1),
                        spacing=timedelta(milliseconds=50))
        rows = []
        for activity in fake.activities:
            if activity["activity_type"] == "FILL":
                order = fake.orders[activity["order_id"]]
                rows.append((activity["id"], order["id"], order["client_order_id"],
                             activity["symbol"], activity["side"], activity["qty"],
                             activity["price"], activity["transaction_time"]))
        connection.send(FakeView(fake.url, fake.key_id, fake.secret_key, fake.now(), deposit,
                                 rows))
        while True:
            command, since = connection.recv()
            if command == "stop":
                return
            connection.send(([at for _, _, _, at in fake.requests[since:]],
                             sum(1 for error in fake.errors if "429" in error)))


class FakeInChild:
    """The fake Alpaca in a child process (monotonic time is the machine's: the request
    times it reports compare with ours)."""

    def __init__(self, fills: int, window: float) -> None:
        context = multiprocessing.get_context("fork")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, fills, window),
                                        daemon=True)
        self._process.start()
        self.view: FakeView = self._connection.recv()
        self._seen = 0

    def arrivals(self) -> tuple[list[float], int]:
        """The request times since the last call, and the 429s refused so far."""
        self._connection.send(("arrivals", self._seen))
        times, refused = self._connection.recv()
        self._seen += len(times)
        return times, refused

    def __enter__(self) -> FakeInChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.send(("stop", 0))
        self._process.join(timeout=10)


def build(root: Path, fake: FakeView) -> tuple[BotHome, FrozenClock]:
    """The bot's ledger, agreeing with the fake on its fills and the deposit."""
    clock = FrozenClock(fake.now + timedelta(minutes=1))
    home_dir = root / "home"
    init_home(home_dir, IDENTITY, FrozenClock(START), actor="bench")
    env_bot = home_dir / ".env_bot"
    env_bot.write_text(env_bot.read_text().replace("BROKER_NAME=SIM", "BROKER_NAME=ALPACA"))
    home = open_home(home_dir)
    SecretStore(home.paths).set("broker", {"alpaca": {
        "api_key_id": fake.key_id, "secret_key": fake.secret_key, "trading_url": fake.url}},
        clock)
    accounts = accounts_for(BrokerName.ALPACA)
    booker = FillBooker(BrokerName.ALPACA, LotBook())
    with LedgerWriter(home.paths, clock, home.backup_policy) as writer:
        writer.post(EntryDraft(fake.deposit["id"], activity_time(fake.deposit), "CREDIT",
                               "deposit", (PostingDraft(accounts.cash, DEPOSIT),
                                           PostingDraft(CAPITAL_FLOAT, -DEPOSIT))),
                    actor="engine")
        batch: list[EntryDraft] = []
        for activity_id, order_id, client_id, symbol, side, qty, price, at in fake.fills:
            fill = BrokerFill(
                activity_id, order_id, client_id, symbol, OrderSide(side), Decimal(qty),
                Decimal(price), Decimal(0), datetime.fromisoformat(at).astimezone(UTC))
            batch.append(booker.entry_for_fill(fill, FillContext("open", "long")))
            booker.commit(fill)
            if len(batch) == 10_000:
                writer.post_batch(batch, actor="engine")
                batch = []
        if batch:
            writer.post_batch(batch, actor="engine")
    return home, clock


class TimedBroker:
    """The scaled adapter, with the time spent inside its calls counted."""

    def __init__(self, broker: AlpacaBroker) -> None:
        self._broker = broker
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._broker, name)
        if not callable(attribute) or name in ("close", "credential_fingerprint", "name"):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


@dataclass
class Spent:
    """Seconds and calls spent in one method, while `timing` holds."""

    seconds: float = 0.0
    calls: int = 0


@contextmanager
def timing(owner: type, name: str) -> Iterator[Spent]:
    """Time every call of `owner.name` (any thread) for the duration of the block."""
    spent = Spent()
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.seconds += time.perf_counter() - started
            spent.calls += 1

    setattr(owner, name, timed)
    try:
        yield spent
    finally:
        setattr(owner, name, original)


@dataclass
class SyncRun:
    """One offline sync as measured."""

    wall: float
    inside: float
    """Seconds inside the adapter."""
    counts: dict[str, int]
    started: float
    """time.monotonic() at its start (the fake stamps requests on that clock)."""
    writes: Spent
    backups: Spent

    def after(self, last_request: float) -> float:
        """Seconds from the arrival of its last request to its end."""
        return self.started + self.wall - last_request

    def where(self, last_request: float | None) -> str:
        """Where the local time went, in words."""
        tail = "" if last_request is None else (
            f"{self.after(last_request):.2f} s after its last request; ")
        return (f"{tail}{self.writes.seconds:.2f} s in {self.writes.calls} ledger write(s), of "
                f"which {self.backups.seconds:.2f} s in {self.backups.calls} full pre-write "
                "backup(s)")


def sync_once(home: BotHome, clock: FrozenClock, fake: FakeView, window: float) -> SyncRun:
    """One offline sync through the scaled adapter, measured."""
    credentials = AlpacaCredentials.from_secret({"alpaca": {
        "api_key_id": fake.key_id, "secret_key": fake.secret_key, "trading_url": fake.url}})
    scaled = TimedBroker(AlpacaBroker(credentials, clock, timeout_seconds=30,
                                      max_requests_per_minute=BUDGET, window_seconds=window))

    def wrap(original: Any) -> Any:
        original.close()
        return scaled

    with OfflineReconciliation(home, clock, actor="bench", wrap_broker=wrap) as offline, \
            timing(LedgerWriter, "commit_batch") as writes, \
            timing(LedgerBackups, "take") as backups:
        assert offline.service is not None
        started_monotonic = time.monotonic()
        started = time.perf_counter()
        result = asyncio.run(offline.service.sync(SyncTrigger.MANUAL))
        wall = time.perf_counter() - started
    return SyncRun(wall, scaled.seconds, result.counts, started_monotonic, writes, backups)


def peak_in_window(times: list[float], window: float) -> int:
    """The most requests that arrived within any `window` seconds."""
    peak, first = 0, 0
    for last, moment in enumerate(times):
        while times[first] <= moment - window:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=100.0,
                        help="how much faster than real time (60 s windows become 60/scale)")
    args = parser.parse_args()
    window = 60.0 / args.scale
    with tempfile.TemporaryDirectory() as root, FakeInChild(args.fills, window) as child:
        started = time.perf_counter()
        home, clock = build(Path(root), child.view)
        print(f"setup: {args.fills:,} fills at the fake and in the ledger "
              f"({time.perf_counter() - started:.1f} s); rate limit {LIMIT} a {window:g} s "
              f"window (Alpaca's minute ÷ {args.scale:g}), our budget {BUDGET}")
        child.arrivals()  # none yet: the build asked nothing
        first = sync_once(home, clock, child.view, window)
        arrivals, refused = child.arrivals()
        requests = len(arrivals)
        floor = (math.ceil(requests / LIMIT) - 1) * window
        ratio = (f"ratio {first.wall / floor:.2f}× (target ≤ 1.1×)" if floor else
                 "no floor: fewer requests than one window allows")
        print(f"first sync: {first.wall:.2f} s for {requests:,} requests; the rate-limit floor "
              f"{floor:.2f} s; {ratio}; counts {first.counts}")
        print(f"  {first.where(arrivals[-1] if arrivals else None)}")
        print(f"peak requests in any rolling window: {peak_in_window(arrivals, window)} "
              f"(limit {LIMIT}); refused by the fake: {refused}")
        again = sync_once(home, clock, child.view, window)
        arrivals, _ = child.arrivals()
        print(f"re-sync: {again.wall:.2f} s total, {again.inside:.2f} s in the adapter "
              f"({len(arrivals):,} requests), local work {again.wall - again.inside:.2f} s "
              f"(target ≤ 1 s); counts {again.counts}")
        print(f"  {again.where(arrivals[-1] if arrivals else None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
