"""From decisions to orders: entry signals through the risk gate, exits, the kill switch's
flattening, and entries left working after their window.

Every order carries an `OrderIntent` (why it exists, how its fills are booked) under a
client order id derived from the decision, so a resubmission is idempotent at the broker.
A refused or failed order is logged to `unresolved_orders.log` and raised as an alert; it
never stops the engine.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tbot.broker.errors import BrokerError
from tbot.broker.models import BrokerOrder, OrderRequest, OrderSide, OrderStatus
from tbot.engine.minutes import MINUTE, floor_minute
from tbot.engine.order_intents import OrderIntent, Purpose, client_order_id
from tbot.engine.position_book import HeldPosition
from tbot.risk.risk_gate import Approved
from tbot.strategy.signals import EntrySignal, ExitSignal
from tbot.strategy.window import Phase

if TYPE_CHECKING:
    from tbot.engine.engine import Engine, LiveStrategy


async def on_entry_signal(engine: Engine, signal: EntrySignal) -> None:
    engine.counters.signals += 1
    engine.stats.record_signal(signal.strategy.value)
    engine.logs.log(
        signal.strategy.value,
        "SIGNAL",
        symbol=signal.instrument,
        direction=signal.direction,
        price=signal.trigger_price,
        reason=signal.reason,
    )
    if engine.stopping:
        return
    account = engine.account
    capital = engine.session_start_equity or (account.equity if account else Decimal(0))
    decision = engine.gate.check_entry(
        signal,
        capital=capital,
        buying_power=account.buying_power if account else Decimal(0),
        trade_index=engine.limits.next_trade_index(signal.strategy),
        strategy_enabled=engine.enabled.get(signal.strategy.value, False),
    )
    if not isinstance(decision, Approved) or decision.quantity is None:
        reason = getattr(decision, "reason", "refused")
        engine.logs.log(signal.strategy.value, "REFUSED", symbol=signal.instrument, reason=reason)
        engine.publish(
            "alerts",
            {"level": "info", "message": f"{signal.instrument} entry refused: {reason}"},
        )
        return
    engine.limits.record_entry(signal.strategy, signal.underlying, signal.instrument)
    intent = OrderIntent(
        client_order_id=client_order_id(
            signal.strategy.value, signal.at - MINUTE, signal.instrument, Purpose.ENTRY
        ),
        strategy=signal.strategy.value,
        instrument=signal.instrument,
        underlying=signal.underlying,
        side=OrderSide.BUY,
        quantity=decision.quantity,
        purpose=Purpose.ENTRY,
        position_side="short" if signal.tag == "InverseETF" else "long",
        tag=signal.tag,
        leverage_multiplier=signal.leverage_multiplier,
        signal_time=signal.at,
        reason=signal.reason,
    )
    await submit(engine, intent)


async def on_exit_signal(engine: Engine, live: LiveStrategy, signal: ExitSignal) -> None:
    held = engine.book.positions.get(signal.instrument)
    decision = engine.gate.check_exit(signal)
    if held is None or held.quantity <= 0 or not isinstance(decision, Approved):
        reason = getattr(decision, "reason", "nothing held")
        engine.logs.log(
            signal.strategy.value, "EXIT-REFUSED", symbol=signal.instrument, reason=reason
        )
        live.strategy.on_exit_rejected(signal.instrument)
        return
    await exit_position(engine, held, Purpose.EXIT, signal.reason.value, signal.at, live)


async def exit_position(
    engine: Engine,
    held: HeldPosition,
    purpose: Purpose,
    reason: str,
    at: datetime,
    live: LiveStrategy | None = None,
) -> None:
    working = [i for i in engine.intents.working_for(held.symbol) if i.side is OrderSide.SELL]
    if working:
        return  # an exit is already working
    attempt = 0
    coid = client_order_id(held.strategy, at - MINUTE, held.symbol, purpose)
    while engine.intents.get(coid) is not None:
        attempt += 1
        coid = client_order_id(held.strategy, at - MINUTE, held.symbol, purpose, attempt)
    intent = OrderIntent(
        client_order_id=coid,
        strategy=held.strategy,
        instrument=held.symbol,
        underlying=held.underlying,
        side=OrderSide.SELL,
        quantity=held.quantity,
        purpose=purpose,
        position_side=held.position_side,
        tag=held.tag,
        leverage_multiplier=held.leverage_multiplier,
        signal_time=at,
        reason=reason,
    )
    order = await submit(engine, intent)
    if (order is None or order.status is OrderStatus.REJECTED) and live is not None:
        live.strategy.on_exit_rejected(held.symbol)


async def submit(engine: Engine, intent: OrderIntent) -> BrokerOrder | None:
    gateway, _ = engine.require_started()
    request = OrderRequest(intent.client_order_id, intent.instrument, intent.side, intent.quantity)
    engine.intents.add(intent)
    try:
        order = await gateway.call("submit", gateway.broker.submit, request)
    except BrokerError as error:
        engine.broker_trouble(error)
        intent.failed = True
        engine.logs.unresolved(
            "submit_failed",
            client_order_id=intent.client_order_id,
            symbol=intent.instrument,
            side=intent.side,
            quantity=intent.quantity,
            error=error.message,
        )
        return None
    intent.order = order
    engine.counters.orders += 1
    engine.publish("orders", engine.report.order_row(order))
    engine.logs.log(
        intent.strategy,
        "ORDER",
        symbol=intent.instrument,
        side=intent.side,
        qty=intent.quantity,
        purpose=intent.purpose,
        coid=intent.client_order_id,
        status=order.status,
    )
    if order.status is OrderStatus.REJECTED:
        engine.counters.rejections += 1
        engine.stats.record_rejection(intent.strategy)
        engine.logs.unresolved(
            "rejected",
            client_order_id=intent.client_order_id,
            symbol=intent.instrument,
            side=intent.side,
            quantity=intent.quantity,
            reason=order.reject_reason,
        )
        engine.publish(
            "alerts",
            {
                "level": "warning",
                "message": f"order {intent.client_order_id} rejected: {order.reject_reason}",
            },
        )
    return order


async def cancel_stale_entries(engine: Engine, at: datetime) -> None:
    """Entry orders still working after their window's breakout phase are canceled; a
    partial fill left behind is logged as unresolved."""
    gateway, _ = engine.require_started()
    for intent in engine.intents.working():
        if intent.purpose is not Purpose.ENTRY or intent.order is None:
            continue
        live = engine.live.get((intent.strategy, intent.signal_time.date()))
        if live is not None and live.window.phase_at(at) in (Phase.ANALYSIS, Phase.BREAKOUT):
            continue
        try:
            order = await gateway.call("cancel", gateway.broker.cancel, intent.order.order_id)
        except BrokerError as error:
            engine.broker_trouble(error)
            continue
        intent.order = order
        engine.publish("orders", engine.report.order_row(order))
        engine.logs.unresolved(
            "entry_canceled_after_window",
            client_order_id=intent.client_order_id,
            symbol=intent.instrument,
            filled=order.filled_quantity,
            quantity=order.quantity,
        )


async def flatten(engine: Engine, purpose: Purpose, reason: str) -> list[str]:
    gateway, _ = engine.require_started()
    for intent in engine.intents.working():
        if intent.side is OrderSide.BUY and intent.order is not None:
            try:
                intent.order = await gateway.call(
                    "cancel", gateway.broker.cancel, intent.order.order_id
                )
            except BrokerError as error:
                engine.broker_trouble(error)
    sent: list[str] = []
    at = engine.clock.now()
    for held in list(engine.book.positions.values()):
        await exit_position(engine, held, purpose, reason, floor_minute(at) + MINUTE)
        sent += [
            i.client_order_id
            for i in engine.intents.working_for(held.symbol)
            if i.side is OrderSide.SELL
        ]
    return sent
