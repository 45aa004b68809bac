"""A bot home with a big review backlog, for the console's review benchmarks: N fills the
engine never placed (each one an open broker-only break) and M cash activities no rule maps
(each an open unmapped break and a queued mapping item).

The broker account is written straight into the simulated broker's state file in one
transaction; the breaks and the queue are then made the way they are in production, by one
offline sync (the engine's own reconciliation code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tbot.admin.bot_home import BotHome
from tbot.admin.init_home import init_home
from tbot.admin.sim_account import sim_broker_settings
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker
from tbot.broker.models import BrokerFill, BrokerOrder, CashActivity, OrderSide, OrderStatus
from tbot.broker.sim.sim_broker import SimBroker
from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.setting_types import BrokerName
from tbot.ledger.posting import LedgerWriter
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.statuses import SyncTrigger
from tbot.version import current_tag

IDENTITY = BotIdentity(ENTITY_CODE="BENCH", JURISDICTION_CODE="US", BROKER_CODE="SIM",
                       BOT_ID="B02")
START = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
SYMBOLS = tuple(f"S{index:02d}" for index in range(20))
FEE_WORDS = ("wire", "regulatory", "statement", "courier", "inactivity", "data", "transfer")


def build_review_home(root: Path, fills: int, queued: int) -> tuple[BotHome, FrozenClock,
                                                                     dict[str, int]]:
    """The home, its clock (just after the last record) and the sync's counts."""
    clock = FrozenClock(START)
    home = init_home(root / "home", IDENTITY, clock, actor="bench")
    broker = SimBroker.open(home.paths.sim_broker_file,
                            sim_broker_settings(home.config.bot, IDENTITY.bot_identity), clock)
    store = broker._store  # setup only: the account's history in one transaction
    account = f"SIM-{IDENTITY.bot_identity}"
    spacing = max(1, 25 * 86_400 // max(1, fills + queued))  # inside the 30-day lookback
    with store.transaction():
        for number in range(1, fills + 1):
            at = START + timedelta(seconds=number * spacing)
            symbol = SYMBOLS[((number + 1) // 2) % len(SYMBOLS)]
            side = OrderSide.BUY if number % 2 else OrderSide.SELL
            quantity = Decimal(1 + (number // 2) % 7)
            price = Decimal(100 + number % 50) + Decimal(number % 100).scaleb(-2)
            order = BrokerOrder(f"{account}-O{number:07d}", f"manual-{number}", symbol, side,
                                quantity, quantity, price, OrderStatus.FILLED, at, at)
            store.insert_order(number, order)
            fill = BrokerFill(f"{account}-F{number:07d}", order.order_id,
                              order.client_order_id, symbol, side, quantity, price,
                              Decimal("0.01"), at)
            store.insert_fill(number, fill, announced_price=price, reported=True)
        for number in range(2, queued + 2):
            at = START + timedelta(seconds=number * spacing + 1)
            word = FEE_WORDS[number % len(FEE_WORDS)]
            store.insert_activity(number, CashActivity(
                f"{account}-A{number:07d}", "MISCFEE", -Decimal(number % 900 + 100).scaleb(-2),
                at, f"{word} fee {number}", None))
    broker.close()
    clock.set(START + timedelta(seconds=(fills + queued + 2) * spacing))
    booker = FillBooker(BrokerName.SIM, LotBook())
    with LedgerWriter(home.paths, clock, home.backup_policy) as writer:
        funding = CashActivity(f"{account}-FUNDING", "CSD", home.config.bot.SIM_STARTING_CASH,
                               START, "funding")
        writer.post(booker.funding_entry(funding), actor="engine")
    with OfflineReconciliation(home, clock, actor="bench") as offline:
        assert offline.service is not None
        result = asyncio.run(offline.service.sync(SyncTrigger.MANUAL))
    return home, clock, dict(result.counts)


def cached_review_home(cache: Path, fills: int, queued: int) -> Path:
    """The review home for these sizes under `cache`, built once (about 40 s at 100,000
    and 10,000) and reused by later runs of the same tbot version (a home names it)."""
    root = cache / f"review-{current_tag()}-{fills}-{queued}"
    home = root / "home"
    done = root / "built"
    if not done.exists():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        _, _, counts = build_review_home(root, fills, queued)
        done.write_text(json.dumps(counts))
    return home


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    print(cached_review_home(args.cache, args.fills, args.queued))
    return 0


if __name__ == "__main__":
    sys.exit(main())
