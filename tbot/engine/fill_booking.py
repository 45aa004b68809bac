"""Booking a fill: the ledger entry first, then everything that follows from it.

Order matters: the entry is posted (one transaction, refused if its broker fill id is
already there) before the lots, positions, strategy and subscribers hear of the fill, so a
crash in between leaves a fill that start-up recovery books, never one booked twice. A fill
the ledger cannot take halts trading (fail closed) instead of being guessed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tbot.booking.fill_entries import FillContext
from tbot.booking.trade_records import TradeRecord
from tbot.broker.models import BrokerFill, OrderSide
from tbot.engine.ledger_desk import ENGINE_ACTOR
from tbot.engine.order_intents import OrderIntent, parse_client_order_id
from tbot.engine.position_book import HeldPosition
from tbot.ledger.errors import DuplicateFitidError, LedgerError
from tbot.market.universe import is_inverse_etf

if TYPE_CHECKING:
    from tbot.engine.engine import Engine

log = logging.getLogger("tbot.engine")


async def book_fill(engine: Engine, fill: BrokerFill, *, recovered: bool = False) -> None:
    """Post one fill, then update positions, the strategy and subscribers."""
    _, booker = engine.require_started()
    intent = engine.intents.get(fill.client_order_id)
    parsed = parse_client_order_id(fill.client_order_id)
    if intent is None and parsed is None:
        engine.alert_once(
            f"foreign:{fill.fill_id}",
            "warning",
            f"fill {fill.fill_id} of an order the engine never placed "
            f"({fill.side} {fill.quantity} {fill.symbol}); left for reconciliation",
        )
        return
    strategy = intent.strategy if intent else parsed.strategy  # type: ignore[union-attr]
    purpose = intent.purpose if intent else parsed.purpose  # type: ignore[union-attr]
    held = engine.book.positions.get(fill.symbol)
    position_side = (
        intent.position_side
        if intent
        else (held.position_side if held else ("short" if is_inverse_etf(fill.symbol) else "long"))
    )
    tag = intent.tag if intent else ("InverseETF" if is_inverse_etf(fill.symbol) else "none")
    leverage = intent.leverage_multiplier if intent else 1
    try:
        context = FillContext(
            strategy=strategy,
            side=position_side,
            tag=tag,
            leverage_multiplier=leverage,
            memo_hint=intent.reason if intent else "recovered after restart",
        )
        draft = booker.entry_for_fill(fill, context)
    except LedgerError as error:  # oversell, or facts the ledger cannot take
        await engine.fail_closed(f"fill {fill.fill_id} cannot be booked: {error}")
        return
    try:
        await engine.desk.run(engine.desk.post, draft, ENGINE_ACTOR)
    except DuplicateFitidError:
        log.info("fill %s is already in the ledger", fill.fill_id)
        return
    except LedgerError as error:
        await engine.fail_closed(f"the ledger refused fill {fill.fill_id}: {error}")
        return
    try:
        booker.commit(fill)
    except LedgerError as error:
        await engine.fail_closed(
            f"fill {fill.fill_id} was posted but not applied to the lots: {error}"
        )
        return
    engine.counters.fills += 1
    equity_leg = next(p for p in draft.postings if p.account == engine.accounts.equities)
    fee = sum((p.amount for p in draft.postings if p.account == engine.accounts.fees), Decimal(0))
    gain = -sum(
        (p.amount for p in draft.postings if p.account == engine.accounts.realized_gains),
        Decimal(0),
    )
    result = engine.book.result(strategy)
    result.fees += fee
    if fill.side is OrderSide.BUY:
        position = HeldPosition(
            symbol=fill.symbol,
            strategy=strategy,
            underlying=intent.underlying if intent else fill.symbol,
            position_side=position_side,
            tag=tag,
            leverage_multiplier=leverage,
            opened_at=fill.filled_at,
            signal_time=intent.signal_time if intent else None,
            last_price=engine.last_prices.get(fill.symbol, fill.price),
        )
        held = engine.book.add(position, fill.quantity, equity_leg.amount)
        held.entry_fitids.append(fill.fill_id)
        engine.stats.record_entry(strategy)
    else:
        result.realized += gain
        before = engine.book.positions.get(fill.symbol)
        opened = before.opened_at if before else fill.filled_at
        entry_price = (-equity_leg.amount / fill.quantity) if fill.quantity else Decimal(0)
        after = engine.book.remove(fill.symbol, fill.quantity, -equity_leg.amount)
        if after is not None and after.quantity <= 0:
            result.trades += 1
            engine.limits.record_exit(fill.symbol)
            record = _trade_record(
                engine, fill, strategy, after, opened, entry_price, gain, fee, intent
            )
            engine.history.append(record)
            engine.stats.record_exit(record)
    if intent is not None:
        intent.filled_quantity += fill.quantity
        for live in engine.live.values():
            if live.strategy.name.value != strategy:
                continue
            if fill.side is OrderSide.BUY:
                live.strategy.on_entry_filled(
                    fill.symbol, fill.quantity, fill.price, fill.filled_at
                )
            else:
                live.strategy.on_exit_filled(fill.symbol, fill.quantity, fill.price, fill.filled_at)
    engine.logs.log(
        strategy,
        "FILL",
        symbol=fill.symbol,
        side=fill.side,
        qty=fill.quantity,
        price=fill.price,
        fee=fill.fee,
        fitid=fill.fill_id,
        purpose=purpose,
        recovered=recovered,
    )
    engine.publish(
        "fills",
        {
            "fill_id": fill.fill_id,
            "order_id": fill.order_id,
            "client_order_id": fill.client_order_id,
            "symbol": fill.symbol,
            "side": fill.side,
            "quantity": fill.quantity,
            "price": fill.price,
            "fee": fill.fee,
            "strategy": strategy,
            "filled_at": fill.filled_at,
            "entry_fitid": fill.fill_id,
        },
    )


def _trade_record(
    engine: Engine,
    fill: BrokerFill,
    strategy: str,
    held: HeldPosition,
    opened: datetime,
    entry_price: Decimal,
    gain: Decimal,
    fee: Decimal,
    intent: OrderIntent | None,
) -> TradeRecord:
    return TradeRecord(
        timestamp=fill.filled_at,
        strategy_name=strategy,
        ticker=fill.symbol,
        side=held.position_side,
        size=fill.quantity,
        entry_price=entry_price.quantize(Decimal("0.0001")),
        exit_price=fill.price,
        PnL=gain - fee,
        broker=engine.broker_name().value,
        error_code=None,
        signal_time=held.signal_time,
        entry_time=opened,
        exit_time=fill.filled_at,
        exit_reason=intent.reason if intent else "recovered",
        holding_seconds=int((fill.filled_at - opened).total_seconds()),
        fitid=fill.fill_id,
        order_id=fill.order_id,
        tag=held.tag,
    )
