"""Booking a fill: the ledger entry first, then everything that follows from it.

Order matters: the entry is posted (one transaction, refused if its broker fill id is
already there) before the lots, positions, strategy and subscribers hear of the fill, so a
crash in between leaves a fill that start-up recovery books, never one booked twice. A fill
the ledger cannot take halts trading (fail closed) instead of being guessed.

What a fill is comes from its order's intent, or after a restart from its client order id
and the lots: a SELL of an entry order is a short sale, a BUY against short lots a cover.
The posted entry's TRNTYPE (BUY, SELL, SHORT, COVER) then says how the book and the
strategy hear of it: BUY and SHORT are entry fills, SELL and COVER exit fills.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.booking.ledger_results import read_round_trip
from tbot.booking.trade_records import record_of_round_trip
from tbot.broker.models import BrokerFill, OrderSide
from tbot.engine.event_bus import POSITIONS_TOPIC
from tbot.engine.ledger_desk import ENGINE_ACTOR
from tbot.engine.order_intents import OrderIntent, ParsedClientId, Purpose, parse_client_order_id
from tbot.engine.position_book import HeldPosition
from tbot.ledger.errors import DuplicateFitidError, LedgerError
from tbot.market.universe import is_inverse_etf
from tbot.risk.defense_mode import DEFENSE_TAG
from tbot.strategy.signals import TAG_INVERSE_ETF, TAG_NONE, TAG_SHORT_SELL

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
    # Idempotent for every caller (a stream's catch-up re-reads fills it may have booked):
    # drafting a fill already in the ledger against today's lots would look like an oversell.
    if await engine.desk.run(engine.desk.booked_fitids, [fill.fill_id]):
        log.info("fill %s is already in the ledger", fill.fill_id)
        return
    strategy = intent.strategy if intent else parsed.strategy  # type: ignore[union-attr]
    purpose = intent.purpose if intent else parsed.purpose  # type: ignore[union-attr]
    held = engine.book.positions.get(fill.symbol)
    if intent is not None:
        position_side, tag = intent.position_side, intent.tag
    else:
        position_side, tag = _recovered_context(fill, parsed, held, booker)
    leverage = intent.leverage_multiplier if intent else 1
    try:
        context = FillContext(
            strategy=strategy,
            side=position_side,
            tag=tag,
            leverage_multiplier=leverage,
            memo_hint=_tagged(intent) if intent else "recovered after restart",
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
    # BUY and SHORT open (or add to) a position; SELL and COVER close one.
    opening = draft.trntype in ("BUY", "SHORT")
    if opening:
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
        # A short sale's leg is a credit with a negative quantity: the book signs alike.
        sign = 1 if fill.side is OrderSide.BUY else -1
        held = engine.book.add(position, sign * fill.quantity, equity_leg.amount)
        held.entry_fitids.append(fill.fill_id)
    else:
        result.realized += gain
        # Every exit fill closes a round trip (the ledger's SELL or COVER trade row),
        # partial or not.
        result.trades += 1
        before = engine.book.positions.get(fill.symbol)
        signal_time = before.signal_time if before else None
        if draft.trntype == "COVER":
            after = engine.book.cover(fill.symbol, fill.quantity, equity_leg.amount)
        else:
            after = engine.book.remove(fill.symbol, fill.quantity, -equity_leg.amount)
        if after is not None and fill.symbol not in engine.book.positions:
            engine.limits.record_exit(fill.symbol)
        await _record_round_trip(engine, fill, position_side, signal_time, intent)
    if intent is not None:
        intent.filled_quantity += fill.quantity
        for live in engine.live.values():
            if live.strategy.name.value != strategy:
                continue
            if opening:
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
    if intent is not None and not recovered:
        engine.market.on_fill(fill, intent.reference_price, strategy)
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
            # An exit's realized gain, from the posted entry (null for an entry fill), and
            # why its order was placed: what a person's alert quotes (tbot.alerts).
            "realized_pnl": None if opening else gain,
            "reason": intent.reason if intent else None,
        },
    )
    # After `fills`: a room that hears both learns of the fill before the change it made.
    engine.publish(POSITIONS_TOPIC, {"symbols": [fill.symbol]})


def _recovered_context(fill: BrokerFill, parsed: ParsedClientId | None,
                       held: HeldPosition | None, booker: FillBooker) -> tuple[str, str]:
    """(position side, tag) of a fill whose order this run did not place (a restart): the
    position it belongs to, else what the order and the lots say. A SELL of an entry order
    can only be a short sale, and a BUY against short lots only a cover."""
    if held is not None:
        return held.position_side, held.tag
    short_sale = (
        (fill.side is OrderSide.SELL and parsed is not None and parsed.purpose is Purpose.ENTRY)
        or (fill.side is OrderSide.BUY and booker.lots.position(fill.symbol).is_short)
    )
    if short_sale:
        return "short", TAG_SHORT_SELL
    if is_inverse_etf(fill.symbol):
        return "short", TAG_INVERSE_ETF
    return "long", TAG_NONE


def _tagged(intent: OrderIntent) -> str:
    """The order's reason, tagged when it was placed in defense mode."""
    return f"{intent.reason} {DEFENSE_TAG}" if intent.defense else intent.reason


async def _record_round_trip(
    engine: Engine,
    fill: BrokerFill,
    position_side: str,
    signal_time: datetime | None,
    intent: OrderIntent | None,
) -> None:
    """Append the exit's round trip to the trade history, its money read back from the
    ledger (the posted entry, and the entry fees of the shares it closed)."""
    try:
        trip = await engine.desk.run(
            read_round_trip, engine.paths.ledger_db, engine.accounts, fill.fill_id
        )
    except (LedgerError, sqlite3.Error) as error:
        # The entry is booked; only the report is missing. Say so rather than guess it.
        engine.counters.errors += 1
        engine.alert_once(
            f"trade-record:{fill.fill_id}", "error",
            f"fill {fill.fill_id} is booked but its round trip cannot be read from the "
            f"ledger ({error}); it is missing from the trade history",
        )
        return
    if trip is None:
        return
    if intent is not None:  # a trade of ours closed: defense mode's win rate hears of it
        await engine.defense.record_trade(trip.realized_gain)
    engine.history.append(
        record_of_round_trip(
            trip,
            side=position_side,
            broker=engine.broker_name().value,
            exit_reason=_tagged(intent) if intent else "recovered",
            order_id=fill.order_id,
            signal_time=signal_time,
        )
    )
