"""The engine's side of a broker's pushed order updates (Alpaca's trade-updates stream).

Life of an update:

1. The stream's thread hands it to `deliver` and waits: the update is handled on the
   engine's loop, under the engine's trading lock (so it never lands in the middle of a
   minute's strategy work), before the stream reads its next message.
2. A key seen before changes nothing. An order of ours gets its new state (its intent stops
   working once the broker says the order is final); an order the engine never placed is
   left to reconciliation.
3. An update that reports shares changing hands triggers the fill catch-up: the broker's
   fill records since the last one booked are read through REST and booked, keyed by the
   broker's fill id exactly as the sync keys them. (The stream's execution id is not
   documented to be the fill record's id; booking the stream's own numbers would count
   each fill twice against the sync.) When the records lag the stream, the catch-up is
   retried a few times, then left to the next round with an alert.
4. The full catch-up (open orders, the final state of orders that stopped being open, and
   the fills) runs whenever the stream (re)connects, after an update that could not be
   read or handled, and every `catch_up_seconds` anyway: streams drop events and never
   replay them, so the stream is the fast path, never the record.

Like reconciliation, this room is handed what it may touch (`OrderUpdateHooks`), never
the `Engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from tbot.broker.errors import BrokerError, UnknownOrderError
from tbot.broker.models import BrokerFill, BrokerOrder, OrderStatus
from tbot.broker.order_updates import OrderUpdate, OrderUpdateStream, UnreadableUpdate
from tbot.broker.reports import FillReport, RefusedReport
from tbot.clock import Clock
from tbot.engine.broker_gateway import BrokerGateway
from tbot.engine.order_intents import OrderIntents

log = logging.getLogger("tbot.engine.orders")

CATCH_UP_SECONDS: Final = 180.0
"""How often (real seconds) the REST catch-up runs even when the stream seems fine."""
FILL_RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 4.0)
"""Waits before reading the fill records again when they lag the stream's word."""
FILL_LOOKBACK: Final = timedelta(minutes=2)
"""The fill read starts this long before the newest fill booked: records created in the
same millisecond sort by a random suffix, so an exclusive id cursor could pass one by."""
STREAM_CHECK_SECONDS: Final = 1.0
"""How often the stream's own word (an update it lost) is looked at."""
DELIVERY_TIMEOUT_SECONDS: Final = 300.0
"""A stream waits at most this long for the engine to handle one update."""
REJECTED_EVENTS: Final = frozenset({"rejected"})


@dataclass(frozen=True)
class OrderUpdateHooks:
    """What the engine lends this room."""

    intents: OrderIntents
    """The engine's orders by client order id (their state is updated here)."""
    book_fill: Callable[[BrokerFill], Awaitable[None]]
    """Book one fill as the engine books any (ledger first); a fill already booked is a
    no-op there."""
    order_changed: Callable[[BrokerOrder], None]
    """Publish an order's new state (the `orders` topic)."""
    alert: Callable[[str, str, str], None]
    """Tell the operator once: (key, level, message)."""
    unresolved: Callable[..., object]
    """Append to the unresolved-orders log: (kind, **fields)."""


class OrderUpdates:
    """Keeps the engine's orders and fills in step with what the broker pushes."""

    def __init__(
        self,
        stream: OrderUpdateStream,
        gateway: BrokerGateway,
        hooks: OrderUpdateHooks,
        clock: Clock,
        trading_lock: asyncio.Lock,
        *,
        fills_since: datetime,
        catch_up_seconds: float = CATCH_UP_SECONDS,
        fill_retry_delays: tuple[float, ...] = FILL_RETRY_DELAYS,
    ) -> None:
        self.stream = stream
        self._gateway = gateway
        self._hooks = hooks
        self._clock = clock
        self._lock = trading_lock
        self._fills_since = fills_since
        self._catch_up_seconds = catch_up_seconds
        self._fill_retry_delays = fill_retry_delays
        self._seen: set[str] = set()
        self._booked_fills: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self.updates = 0
        self.duplicates = 0
        self.catch_ups = 0
        self.last_catch_up: datetime | None = None
        self.last_catch_up_error: str | None = None

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the stream and the periodic catch-up (call on the engine's loop)."""
        self._loop = asyncio.get_running_loop()
        self._timer = asyncio.create_task(self._every_few_minutes(), name="order-catch-up")
        self.stream.start(self._deliver_from_stream, self._connected_from_stream)

    async def close(self) -> None:
        """Stop the stream (its thread) and the timer."""
        await asyncio.to_thread(self.stream.close)
        tasks = [t for t in (self._timer, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def status(self) -> dict[str, object]:
        """The `order_stream` block of `engine.status`."""
        return {
            "connected": self.stream.connected,
            "updates": self.updates,
            "duplicates": self.duplicates,
            "catch_ups": self.catch_ups,
            "last_catch_up": self.last_catch_up,
            "last_catch_up_error": self.last_catch_up_error,
        }

    # -- from the stream's thread ---------------------------------------------------------------
    def _deliver_from_stream(self, update: OrderUpdate | UnreadableUpdate) -> None:
        """Runs on the stream's thread: hand over and wait until handled (write-through).
        Raises when the engine could not handle it; the stream then asks for a catch-up."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the engine's loop is not running")
        future = asyncio.run_coroutine_threadsafe(self.handle(update), loop)
        try:
            future.result(timeout=DELIVERY_TIMEOUT_SECONDS)
        except BaseException as error:
            # What the update said is recovered from REST instead.
            if not loop.is_closed():
                loop.call_soon_threadsafe(
                    self._spawn_catch_up, f"an order update was not handled ({error!r})")
            raise

    def _connected_from_stream(self) -> None:
        """Runs on the stream's thread after each (re)connection: catch up on what the
        stream could not tell while it was away (without holding the stream up)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._spawn_catch_up, "the order stream connected")

    def _spawn_catch_up(self, reason: str) -> None:
        task = asyncio.create_task(self.catch_up(reason))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- on the engine's loop -----------------------------------------------------------------
    async def handle(self, update: OrderUpdate | UnreadableUpdate) -> None:
        """Apply one pushed update (see the module docstring)."""
        if isinstance(update, UnreadableUpdate):
            log.warning("an order update could not be read (%s); catching up", update.reason)
            await self.catch_up(f"an unreadable order update ({update.reason})")
            return
        if update.key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(update.key)
        self.updates += 1
        async with self._lock:
            self._apply_order(update.order, event=update.event)
            if update.reports_execution:
                await self._book_new_fills()
        if update.reports_execution:
            await self._wait_for_fill_records(update.order)

    async def catch_up(self, reason: str) -> None:
        """Open orders, the final state of ours that stopped being open, and every fill
        record since the last booked, through REST."""
        async with self._lock:
            await self.catch_up_holding_lock(reason)

    async def catch_up_holding_lock(self, reason: str) -> None:
        """`catch_up` for a caller that already holds the trading lock (the engine, before
        it compares its book with the broker's positions)."""
        self.catch_ups += 1
        log.info("order catch-up: %s", reason)
        try:
            await self._catch_up_orders()
            await self._book_new_fills()
        except BrokerError as error:
            self.last_catch_up_error = error.message
            self._hooks.alert(
                f"catch-up:{error.message}", "warning",
                f"order catch-up failed ({error.message}); the next one retries",
            )
            return
        self.last_catch_up = self._clock.now()
        self.last_catch_up_error = None

    async def _every_few_minutes(self) -> None:
        """The periodic catch-up, sooner when the stream says it lost an update."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self._catch_up_seconds
        while True:
            await asyncio.sleep(min(STREAM_CHECK_SECONDS, max(due - loop.time(), 0.0)))
            if self.stream.needs_catch_up:
                self.stream.needs_catch_up = False  # before: a failure now is not forgotten
                await self.catch_up("the order stream lost an update")
            elif loop.time() >= due:
                await self.catch_up("periodic")
            else:
                continue
            due = loop.time() + self._catch_up_seconds

    async def _catch_up_orders(self) -> None:
        broker = self._gateway.broker
        open_orders = await self._gateway.call("orders", broker.orders, open_only=True)
        still_open = {order.client_order_id for order in open_orders}
        for order in open_orders:
            self._apply_order(order, event="catch-up")
        lookup = getattr(broker, "order", None)
        for intent in self._hooks.intents.working():
            if intent.order is None or intent.client_order_id in still_open:
                continue
            if lookup is None or intent.order.order_id.startswith("rejected:"):
                continue
            try:
                order = await self._gateway.call("order", lookup, intent.order.order_id)
            except UnknownOrderError:
                continue
            self._apply_order(order, event="catch-up")

    def _apply_order(self, order: BrokerOrder, *, event: str) -> None:
        intent = self._hooks.intents.get(order.client_order_id)
        if intent is None:
            log.info("order %s (%s) is not the engine's; left to reconciliation",
                     order.order_id, order.client_order_id)
            return
        known = intent.order
        if known is not None and known.order_id == order.order_id and (
            known.status.is_final or order.updated_at < known.updated_at
        ):
            return  # an older word about the order changes nothing
        intent.order = order
        self._hooks.order_changed(order)
        if order.status is OrderStatus.REJECTED and (
            event in REJECTED_EVENTS or known is None or known.status is not OrderStatus.REJECTED
        ):
            self._hooks.unresolved(
                "rejected", client_order_id=order.client_order_id, symbol=order.symbol,
                side=order.side, quantity=order.quantity, reason=order.reject_reason,
            )
            self._hooks.alert(
                f"rejected:{order.client_order_id}", "warning",
                f"order {order.client_order_id} rejected by the broker: "
                f"{order.reject_reason or 'no reason given'}",
            )

    async def _book_new_fills(self) -> None:
        """Book every fill record since the last booked (oldest first)."""
        broker = self._gateway.broker
        since = self._fills_since
        token: str | None = None
        newest = since
        while True:
            page = await self._gateway.call(
                "fills", broker.fetch_fill_reports, since, None, page_token=token)
            for report in page.items:
                if isinstance(report, RefusedReport):
                    self._hooks.alert(
                        f"fill-unreadable:{report.broker_id}", "warning",
                        f"a fill record could not be read ({report.reason}); "
                        "left to reconciliation")
                    continue
                if not isinstance(report, FillReport):
                    continue
                fill = report.fill
                newest = max(newest, fill.filled_at)
                if fill.fill_id in self._booked_fills:
                    continue
                await self._hooks.book_fill(fill)
                self._booked_fills.add(fill.fill_id)
            token = page.next_token
            if token is None:
                break
        self._fills_since = max(self._fills_since, newest - FILL_LOOKBACK)

    async def _wait_for_fill_records(self, order: BrokerOrder) -> None:
        """The stream said `order` has `filled_quantity` done: read the records again
        until the booked quantity catches up, a few times, then say so."""
        for delay in self._fill_retry_delays:
            if self._booked_quantity(order) >= order.filled_quantity:
                return
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    await self._book_new_fills()
            except BrokerError as error:
                log.warning("reading fills of %s failed: %s", order.order_id, error.message)
        if self._booked_quantity(order) < order.filled_quantity:
            self._hooks.alert(
                f"fills-lag:{order.order_id}:{order.filled_quantity}", "warning",
                f"the broker reports {order.filled_quantity} of {order.symbol} filled on "
                f"order {order.client_order_id} but its fill records show "
                f"{self._booked_quantity(order)}; the next catch-up or sync books the rest",
            )

    def _booked_quantity(self, order: BrokerOrder) -> Decimal:
        intent = self._hooks.intents.get(order.client_order_id)
        return intent.filled_quantity if intent is not None else order.filled_quantity
