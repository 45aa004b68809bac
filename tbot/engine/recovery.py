"""Where the engine was: what it does at start (and at each day's end) to pick up from the
broker and the ledger rather than assume a fresh, flat account.

Missing reports never mean flat (NautilusTrader's rule): positions come from the broker.
Fills of our own orders the ledger lacks are booked by the start-up sync (`tbot.reconcile`,
each once, by the broker's fill id), which also records anything else the broker did.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from tbot.broker.models import BrokerOrder, BrokerPosition
from tbot.config.setting_types import BrokerName, StrategyName
from tbot.engine.ledger_desk import ENGINE_ACTOR
from tbot.engine.order_intents import Purpose, parse_client_order_id
from tbot.engine.position_book import HeldPosition
from tbot.market.universe import is_inverse_etf
from tbot.strategy.signals import TAG_INVERSE_ETF, TAG_NONE, TAG_SHORT_SELL

if TYPE_CHECKING:
    from tbot.engine.engine import Engine

log = logging.getLogger("tbot.engine")


async def book_cash_activity(engine: Engine) -> None:
    """Book the account's initial funding once. Every other cash activity (a dividend, a
    deposit, an unknown fee) is reconciliation's: it records it as unmapped, never guessed.
    Only the simulated broker marks a funding; a real account's deposits are ordinary cash
    activities, booked by the start-up sync's mapping (Alpaca's CSD → 3010 by default)."""
    if engine.broker_name() is not BrokerName.SIM:
        return
    gateway, booker = engine.require_started()
    page_token: str | None = None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    while True:
        page = await gateway.call(
            "fetch_cash_activity",
            gateway.broker.fetch_cash_activity,
            epoch,
            None,
            page_token=page_token,
            page_size=500,
        )
        for activity in page.items:
            if not activity.activity_id.endswith("-FUNDING"):
                continue  # reconciliation records it (unmapped) for the mapping queue
            if await engine.desk.run(engine.desk.booked_fitids, [activity.activity_id]):
                continue
            await engine.desk.run(engine.desk.post, booker.funding_entry(activity), ENGINE_ACTOR)
            log.info("booked the account's initial funding %s", activity.amount)
        if page.next_token is None:
            return
        page_token = page.next_token


async def restore_day(engine: Engine, day: date) -> None:
    """The day's realized results and limits from the ledger (after a restart, and at
    each new day), read by the same rules as the daily summary and the trade history."""
    booked = await engine.desk.run(engine.desk.booked_day, day, engine.accounts)
    engine.book.new_day()
    for strategy, result in booked.by_strategy.items():
        mine = engine.book.result(strategy)
        mine.realized, mine.fees, mine.trades = result.realized, result.fees, result.trades
    known = {name.value for name in StrategyName}
    engine.restored_entries = [
        (StrategyName(strategy), symbol, symbol)
        for strategy, symbol, _ in booked.entry_keys
        if strategy in known
    ]


async def adopt_broker_positions(engine: Engine) -> None:
    """Take positions from the broker, attributed from our ledger lots and orders. The
    ledger's lots say the side: short lots are a short sale, adopted with a negative
    quantity (the strategy is told the shares, `HeldPosition.size`)."""
    gateway, booker = engine.require_started()
    positions: list[BrokerPosition] = await gateway.call("positions", gateway.broker.positions)
    orders: list[BrokerOrder] = await gateway.call("orders", gateway.broker.orders)
    owner: dict[str, str] = {}
    for order in orders:
        parsed = parse_client_order_id(order.client_order_id)
        # The entry order names the owner: a purchase, or a short sale's sell.
        if parsed is not None and parsed.purpose is Purpose.ENTRY:
            owner[order.symbol] = parsed.strategy
    now = engine.clock.now()
    for position in positions:
        # A difference with the broker is the position check's to record and explain.
        lots = booker.lots.position(position.symbol)
        if lots.quantity == 0:
            continue
        strategy = owner.get(position.symbol, "open")
        if lots.is_short:
            side, tag = "short", TAG_SHORT_SELL
        elif is_inverse_etf(position.symbol):
            side, tag = "short", TAG_INVERSE_ETF
        else:
            side, tag = "long", TAG_NONE
        held = HeldPosition(
            symbol=position.symbol,
            strategy=strategy,
            underlying=position.symbol,
            position_side=side,
            tag=tag,
            leverage_multiplier=1,
            opened_at=now,
            signal_time=None,
            last_price=position.market_price,
        )
        engine.book.add(held, lots.quantity, lots.cost)
        log.info("adopted %s %s from the broker (%s%s)", lots.quantity, position.symbol,
                 strategy, ", short" if lots.is_short else "")
    engine.limits.rebuild(engine.restored_entries, engine.book.positions.keys())
