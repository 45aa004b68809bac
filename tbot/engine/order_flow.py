"""From decisions to orders: entry signals through the risk gate, exits, the kill switch's
flattening, and entries left working after their window.

Every order carries an `OrderIntent` (why it exists, how its fills are booked) under a
client order id derived from the decision, so a resubmission is idempotent at the broker.
A refused or failed order is logged to `unresolved_orders.log` and raised as an alert; it
never stops the engine.

A short sale (an entry signal tagged ``ShortSell``) SELLS the stock, sized like a purchase;
its exit, and every flatten, BUYS it back for exactly the shares held short. An exit always
trades the position's own size toward zero, so no order crosses from long to short; a short
sale is never sent for a symbol the book holds, or has orders working in.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tbot.broker.errors import BrokerError
from tbot.broker.models import BrokerOrder, OrderRequest, OrderSide, OrderStatus
from tbot.engine import entry_approvals
from tbot.engine.minutes import MINUTE, floor_minute
from tbot.engine.order_intents import OrderIntent, Purpose, client_order_id
from tbot.engine.position_book import HeldPosition
from tbot.risk.risk_gate import Approved
from tbot.strategy.signals import TAG_INVERSE_ETF, TAG_SHORT_SELL, EntrySignal, ExitSignal
from tbot.strategy.window import Phase

if TYPE_CHECKING:
    from tbot.engine.engine import Engine, LiveStrategy


async def on_entry_signal(engine: Engine, signal: EntrySignal, *,
                          approved_by: str | None = None) -> str | None:
    """An entry signal through the risk gate and the market guard to the broker; with
    `TRADE_CONFIRMATION_REQUIRED=true`, to the approval queue instead, until an operator
    approves it (`approved_by`: then it is judged again, as fresh). Returns the client
    order id of the order sent, or None (refused, queued, or stopping)."""
    if approved_by is None:  # an approved entry was counted and logged when it signaled
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
        return None
    account = engine.account
    capital = engine.session_start_equity or (account.equity if account else Decimal(0))
    decision = engine.gate.check_entry(
        signal,
        capital=capital,
        buying_power=account.buying_power if account else Decimal(0),
        trade_index=engine.limits.next_trade_index(signal.strategy),
        strategy_enabled=engine.enabled.get(signal.strategy.value, False),
    )
    quantity = decision.quantity if isinstance(decision, Approved) else None
    reason = getattr(decision, "reason", "refused") if quantity is None else None
    if reason is None and signal.tag == TAG_SHORT_SELL:
        reason = _short_sale_conflict(engine, signal.instrument)
    if reason is None:  # the market guard: a gap, a wide spread, the entry's own quote
        reason = engine.market.entry_refusal(signal.instrument, signal.at - MINUTE)
    if quantity is None or reason is not None:
        reason = reason or "refused"
        engine.logs.log(signal.strategy.value, "REFUSED", symbol=signal.instrument, reason=reason)
        engine.publish(
            "alerts",
            {"level": "info", "message": f"{signal.instrument} entry refused: {reason}",
             "trigger": "entry_refused", "strategy": signal.strategy.value,
             "symbol": signal.instrument},
        )
        return None
    coid = client_order_id(signal.strategy.value, signal.at - MINUTE, signal.instrument,
                           Purpose.ENTRY)
    if engine.bot.TRADE_CONFIRMATION_REQUIRED and approved_by is None:
        entry_approvals.queue_entry(engine, signal, coid)
        return None
    engine.limits.record_entry(signal.strategy, signal.underlying, signal.instrument)
    intent = OrderIntent(
        client_order_id=coid,
        strategy=signal.strategy.value,
        instrument=signal.instrument,
        underlying=signal.underlying,
        # A short sale sells the stock; every other entry buys.
        side=OrderSide.SELL if signal.tag == TAG_SHORT_SELL else OrderSide.BUY,
        quantity=quantity,
        purpose=Purpose.ENTRY,
        position_side="short" if signal.tag in (TAG_INVERSE_ETF, TAG_SHORT_SELL) else "long",
        tag=signal.tag,
        leverage_multiplier=signal.leverage_multiplier,
        signal_time=signal.at,
        reason=signal.reason,
        reference_price=signal.reference_price,
        defense=engine.defense.active,
    )
    if approved_by is not None:
        engine.logs.log(signal.strategy.value, "APPROVED", symbol=signal.instrument,
                        by=approved_by, coid=coid)
    order = await submit(engine, intent)
    return None if order is None else intent.client_order_id


def _short_sale_conflict(engine: Engine, instrument: str) -> str | None:
    """Why `instrument` cannot be sold short now: never sell what is held (long shares
    would be sold as a "short"), nor beside orders still working in it."""
    held = engine.book.positions.get(instrument)
    if held is not None and held.quantity:
        side = "short" if held.is_short else "long"
        return f"{instrument} is held {side} ({held.quantity}): no short sale beside it"
    if engine.intents.working_for(instrument):
        return f"{instrument} has orders working: no short sale beside them"
    return None


def closing_side(held: HeldPosition) -> OrderSide:
    """The side that trades `held` toward zero: SELL a long, BUY (to cover) a short."""
    return OrderSide.BUY if held.is_short else OrderSide.SELL


async def on_exit_signal(engine: Engine, live: LiveStrategy, signal: ExitSignal) -> None:
    held = engine.book.positions.get(signal.instrument)
    decision = engine.gate.check_exit(signal)
    if held is None or not held.quantity or not isinstance(decision, Approved):
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
    """Send the order that closes `held`: a sale of a long, a buy to cover of a short, for
    exactly the shares held (never more: no order crosses zero)."""
    side = closing_side(held)
    working = [i for i in engine.intents.working_for(held.symbol)
               if i.side is side and i.purpose is not Purpose.ENTRY]
    if working:
        return  # an exit is already working
    now = engine.clock.now()
    refusal = engine.closes.refusal(held.symbol, now)
    if refusal is not None:
        # Kept, not dropped: sent once the interval has passed (`send_deferred_closes`).
        waiting = engine.closes.defer(held.symbol, purpose.value, reason)
        engine.logs.log(held.strategy, "CLOSE-DEFERRED", symbol=held.symbol, reason=reason,
                        why=refusal, due=waiting.due)
        return
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
        side=side,
        quantity=held.size,
        purpose=purpose,
        position_side=held.position_side,
        tag=held.tag,
        leverage_multiplier=held.leverage_multiplier,
        signal_time=at,
        reason=reason,
        reference_price=engine.last_prices.get(held.symbol),
        defense=engine.defense.active,
    )
    engine.closes.record(held.symbol, now)  # sent or refused, it counts: no close spam
    order = await submit(engine, intent)
    if (order is None or order.status is OrderStatus.REJECTED) and live is not None:
        live.strategy.on_exit_rejected(held.symbol)


async def send_deferred_closes(engine: Engine, at: datetime) -> None:
    """The closes the close throttle held back, once their interval has passed: each is
    sent if its position is still open and no close is working (it may have filled, or
    another close gone, meanwhile)."""
    for waiting in engine.closes.due(engine.clock.now()):
        held = engine.book.positions.get(waiting.symbol)
        if held is None or not held.quantity:
            continue
        await exit_position(engine, held, Purpose(waiting.purpose), waiting.reason, at)


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
        **({"defense": True} if intent.defense else {}),  # only while defense mode is on
    )
    if order.status is OrderStatus.REJECTED:
        if intent.purpose is Purpose.ENTRY:
            # Nothing was bought or sold short: the position slot is free again (the
            # trade still counts, as its entry was sent).
            engine.limits.record_exit(intent.instrument)
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
                "trigger": "order_rejected",
                "strategy": intent.strategy,
                "symbol": intent.instrument,
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


async def cancel_working_entries(engine: Engine) -> int:
    """Cancel every working entry order (purchases and short sales) as far as the broker
    answers; how many it canceled."""
    gateway, _ = engine.require_started()
    canceled = 0
    for intent in engine.intents.working():
        if intent.purpose is Purpose.ENTRY and intent.order is not None:
            try:
                intent.order = await gateway.call(
                    "cancel", gateway.broker.cancel, intent.order.order_id
                )
            except BrokerError as error:
                engine.broker_trouble(error)
                continue
            canceled += 1
            engine.publish("orders", engine.report.order_row(intent.order))
    return canceled


async def flatten(engine: Engine, purpose: Purpose, reason: str) -> list[str]:
    """Cancel every working entry (purchases and short sales), then close every position:
    sell the longs, buy the shorts back. Returns the closing orders' client ids. Entries
    waiting for approval are dropped first: nothing is entered beside a flatten."""
    entry_approvals.drop_all(engine, f"every position is being closed ({reason})")
    await cancel_working_entries(engine)
    sent: list[str] = []
    at = engine.clock.now()
    for held in list(engine.book.positions.values()):
        await exit_position(engine, held, purpose, reason, floor_minute(at) + MINUTE)
        side = closing_side(held)
        sent += [
            i.client_order_id
            for i in engine.intents.working_for(held.symbol)
            if i.side is side and i.purpose is not Purpose.ENTRY
        ]
    return sent
