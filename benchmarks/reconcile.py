"""Benchmark: broker sync over 100,000 fills and 10,000 cash activities.

Builds a real bot home in a temporary directory, fills its simulated broker account with
N fills (buy/sell round trips in 20 symbols) and M cash activities (written straight into
the account's state file in one transaction: the simulated broker would otherwise take an
fsync per minute), books every fill into the ledger as the engine does (FillBooker,
`post_batch` in chunks), then runs the offline reconciliation (the engine's own code):

- the first sync: every record compared, kept with its provenance and logged (target: the
  local work at most 5 s);
- a re-sync of unchanged data (target at most 1 s).

"Local work" is the sync's time less the time spent inside the adapter's paged calls
(the simulated broker reading its file and building the payloads a real broker would send);
both are printed. Peak memory is the process's maximum resident set size.

    .venv/bin/python benchmarks/reconcile.py [--fills 100000] [--cash 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import BotHome
from tbot.admin.init_home import init_home
from tbot.admin.sim_account import sim_broker_settings
from tbot.booking.broker_accounts import accounts_for
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.broker.models import (
    BrokerFill,
    BrokerOrder,
    CashActivity,
    OrderSide,
    OrderStatus,
)
from tbot.broker.sim.sim_broker import SimBroker
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.setting_types import BrokerName
from tbot.ledger.drafts import EntryDraft, PostingDraft
from tbot.ledger.posting import LedgerWriter
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.statuses import SyncTrigger

IDENTITY = BotIdentity(ENTITY_CODE="BENCH", JURISDICTION_CODE="US", BROKER_CODE="SIM",
                       BOT_ID="B01")
START = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
SYMBOLS = tuple(f"S{index:02d}" for index in range(20))


def build(root: Path, fills: int, cash: int) -> tuple[BotHome, FrozenClock]:
    """A home whose broker account and ledger hold `fills` fills and `cash` activities."""
    clock = FrozenClock(START)
    home = init_home(root / "home", IDENTITY, clock, actor="bench")
    broker = SimBroker.open(home.paths.sim_broker_file,
                            sim_broker_settings(home.config.bot, IDENTITY.bot_identity), clock)
    store = broker._store  # setup only: write the account's history in one transaction
    account = f"SIM-{IDENTITY.bot_identity}"
    made: list[BrokerFill] = []
    with store.transaction():
        for number in range(1, fills + 1):
            at = START + timedelta(seconds=number * 10)
            symbol = SYMBOLS[((number + 1) // 2) % len(SYMBOLS)]
            side = OrderSide.BUY if number % 2 else OrderSide.SELL
            quantity = Decimal(1 + number % 7)
            if side is OrderSide.SELL:
                quantity = made[-1].quantity
            price = Decimal(100 + number % 50) + Decimal(number % 100).scaleb(-2)
            order = BrokerOrder(f"{account}-O{number:07d}", f"open-{at:%Y%m%dT%H%M%S}-{number}",
                                symbol, side, quantity, quantity, price, OrderStatus.FILLED,
                                at, at)
            store.insert_order(number, order)
            fill = BrokerFill(f"{account}-F{number:07d}", order.order_id, order.client_order_id,
                              symbol, side, quantity, price, Decimal("0.01"), at)
            store.insert_fill(number, fill, announced_price=price, reported=True)
            made.append(fill)
        for number in range(2, cash + 2):
            at = START + timedelta(seconds=number * 97)
            store.insert_activity(number, CashActivity(
                f"{account}-A{number:07d}", "DIV", Decimal("1.25"), at, "dividend", "S01"))
    broker.close()
    clock.set(START + timedelta(seconds=(fills + 1) * 10 + cash * 97))
    accounts = accounts_for(BrokerName.SIM)
    booker = FillBooker(BrokerName.SIM, LotBook())
    with LedgerWriter(home.paths, clock, home.backup_policy) as writer:
        funding = CashActivity(f"{account}-FUNDING", "CSD", home.config.bot.SIM_STARTING_CASH,
                               START, "funding")
        writer.post(booker.funding_entry(funding), actor="engine")
        batch: list[EntryDraft] = []
        for fill in made:
            batch.append(booker.entry_for_fill(fill, FillContext("open", "long")))
            booker.commit(fill)
            if len(batch) == 10_000:
                writer.post_batch(batch, actor="engine")
                batch = []
        if batch:
            writer.post_batch(batch, actor="engine")
        # The dividends, booked so that the re-sync finds them matched.
        dividends = [
            EntryDraft(f"{account}-A{number:07d}", START + timedelta(seconds=number * 97),
                       "CREDIT", "dividend", (PostingDraft(accounts.cash, Decimal("1.25")),
                                              PostingDraft("4050", Decimal("-1.25"))))
            for number in range(2, cash + 2)
        ]
        for start in range(0, len(dividends), 10_000):
            writer.post_batch(dividends[start:start + 10_000], actor="engine")
    return home, clock


class TimedAdapter:
    """The simulated broker, with the time spent inside its paged calls counted."""

    def __init__(self, broker: SimBroker) -> None:
        self._broker = broker
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._broker, name)
        if not name.startswith("fetch_"):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def sync_once(home: BotHome, clock: FrozenClock) -> tuple[float, float, dict[str, int]]:
    """(total seconds, seconds inside the adapter, counts) of one offline sync."""
    adapters: list[TimedAdapter] = []

    def wrap(broker: SimBroker) -> TimedAdapter:
        adapters.append(TimedAdapter(broker))
        return adapters[0]

    with OfflineReconciliation(home, clock, actor="bench", wrap_broker=wrap) as offline:
        service = offline.service
        assert service is not None
        started = time.perf_counter()
        result = asyncio.run(service.sync(SyncTrigger.MANUAL))
        total = time.perf_counter() - started
    return total, adapters[0].seconds, result.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--cash", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tbot-bench-recon-") as scratch:
        started = time.perf_counter()
        home, clock = build(Path(scratch), args.fills, args.cash)
        print(f"setup: {args.fills:,} fills, {args.cash:,} cash activities in the broker "
              f"account and the ledger ({time.perf_counter() - started:.1f} s)")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        first, first_adapter, counts = sync_once(home, clock)
        print(f"first sync:  {first:6.2f} s total, {first_adapter:5.2f} s in the adapter, "
              f"local work {first - first_adapter:5.2f} s (target <= 5 s); counts {counts}")
        again, again_adapter, counts = sync_once(home, clock)
        print(f"re-sync:     {again:6.2f} s total, {again_adapter:5.2f} s in the adapter, "
              f"local work {again - again_adapter:5.2f} s (target <= 1 s); counts {counts}")
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak memory: {rss_after / 1024:.0f} MiB resident (before the syncs "
              f"{rss_before / 1024:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
