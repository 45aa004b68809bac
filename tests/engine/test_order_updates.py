"""The engine's order-update room against the real Alpaca adapter on the local fake: pushed
updates set our orders' state, fills are booked from the broker's fill records (keyed like
the sync's), duplicates change nothing, and the REST catch-up recovers what the stream
never said. The stream itself is scripted here (it is the network's edge); the real
stream is tested in tests/broker/alpaca."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tbot.broker.alpaca.adapter import AlpacaBroker
from tbot.broker.alpaca.payloads import read_order
from tbot.broker.models import BrokerFill, BrokerOrder, OrderSide, OrderStatus
from tbot.broker.order_updates import Deliver, OrderUpdate, UnreadableUpdate
from tbot.clock import FrozenClock
from tbot.engine.broker_gateway import BrokerGateway
from tbot.engine.order_intents import OrderIntent, OrderIntents, Purpose, client_order_id
from tbot.engine.order_updates import OrderUpdateHooks, OrderUpdates
from tests.broker.alpaca.conftest import NOW, credentials_for
from tests.broker.alpaca.fake_alpaca import FakeAlpaca

MINUTE = NOW.replace(hour=14, minute=35)


class ScriptedStream:
    """An order-update stream whose messages the test sends (from a thread of its own,
    like a real stream)."""

    def __init__(self) -> None:
        self.deliver: Deliver | None = None
        self.on_connected: Callable[[], None] | None = None
        self.closed = False
        self.needs_catch_up = False

    def start(self, deliver: Deliver, on_connected: Callable[[], None]) -> None:
        self.deliver, self.on_connected = deliver, on_connected

    @property
    def connected(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True


class Room:
    """The room under test with what it was lent, recorded."""

    def __init__(self, fake: FakeAlpaca) -> None:
        self.fake = fake
        self.broker = AlpacaBroker(credentials_for(fake), FrozenClock(NOW), timeout_seconds=2,
                                   max_requests_per_minute=10_000)
        self.gateway = BrokerGateway(self.broker, FrozenClock(NOW), retry_limit=0,
                                     timeout_seconds=5, backoff_seconds=0.01)
        self.intents = OrderIntents()
        self.booked: list[BrokerFill] = []
        self.changes: list[BrokerOrder] = []
        self.alerts: list[tuple[str, str, str]] = []
        self.unresolved: list[tuple[str, dict[str, Any]]] = []
        self.stream = ScriptedStream()
        self.lock = asyncio.Lock()
        self.updates = OrderUpdates(
            self.stream, self.gateway,
            OrderUpdateHooks(intents=self.intents, book_fill=self._book,
                             order_changed=self.changes.append,
                             alert=lambda *alert: self.alerts.append(alert),
                             unresolved=lambda kind, **fields: self.unresolved.append(
                                 (kind, fields))),
            FrozenClock(NOW), self.lock, fills_since=NOW - timedelta(hours=1),
            fill_retry_delays=(0.05, 0.1, 0.2),
        )

    async def _book(self, fill: BrokerFill) -> None:
        self.booked.append(fill)  # as the engine: its intent counts what is booked
        intent = self.intents.get(fill.client_order_id)
        if intent is not None:
            intent.filled_quantity += fill.quantity

    def place(self, symbol: str = "AAPL", qty: str = "10") -> dict[str, Any]:
        """An entry of ours at the fake, known to the engine as submitted."""
        coid = client_order_id("open", MINUTE, symbol, Purpose.ENTRY)
        record = self.fake.add_order(symbol, qty, client_order_id=coid)
        intent = OrderIntent(coid, "open", symbol, symbol, OrderSide.BUY, Decimal(qty),
                             Purpose.ENTRY, "long", "none", 1, MINUTE, "test")
        intent.order = read_order(record)
        self.intents.add(intent)
        return record

    def update(self, order_id: str, event: str, key: str | None = None) -> OrderUpdate:
        """The update the stream would push for the order's current state at the fake."""
        order = read_order(self.fake.get_order(order_id))
        return OrderUpdate(event=event, order=order, at=order.updated_at,
                           key=key or f"{order_id}:{event}:{order.filled_quantity}")

    def close(self) -> None:
        self.gateway.close()


@pytest.fixture
def room() -> Iterator[Room]:
    with FakeAlpaca(now=NOW) as fake:
        made = Room(fake)
        yield made
        made.close()


def in_a_loop(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test body on a fresh event loop (the engine's own is one too)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


async def started(room: Room) -> Room:
    room.updates.start()
    return room


@in_a_loop
async def test_a_fill_update_books_the_brokers_fill_records_keyed_by_activity_id(room):
    await started(room)
    order = room.place()
    first = room.fake.fill(order["id"], "4", "100.00")
    await room.updates.handle(room.update(order["id"], "partial_fill"))
    second = room.fake.fill(order["id"], "6", "100.10")
    await room.updates.handle(room.update(order["id"], "fill"))
    assert [f.fill_id for f in room.booked] == [first["id"], second["id"]]
    assert [f.quantity for f in room.booked] == [Decimal(4), Decimal(6)]
    intent = room.intents.get(order["client_order_id"])
    assert intent is not None and intent.order is not None
    assert intent.order.status is OrderStatus.FILLED and not intent.is_working
    await room.updates.close()


@in_a_loop
async def test_a_duplicate_update_changes_nothing(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    update = room.update(order["id"], "fill")
    await room.updates.handle(update)
    await room.updates.handle(update)
    assert len(room.booked) == 1 and len(room.changes) == 1
    assert room.updates.duplicates == 1
    await room.updates.close()


@in_a_loop
async def test_an_older_word_never_reopens_a_final_order(room):
    await started(room)
    order = room.place()
    stale = room.update(order["id"], "new")
    room.fake.cancel_order(order["id"])
    await room.updates.handle(room.update(order["id"], "canceled"))
    await room.updates.handle(stale)
    intent = room.intents.get(order["client_order_id"])
    assert intent is not None and intent.order is not None
    assert intent.order.status is OrderStatus.CANCELED


@in_a_loop
async def test_the_catch_up_on_connection_recovers_fills_and_states_the_stream_lost(room):
    await started(room)
    filled, canceled = room.place("AAPL"), room.place("MSFT")
    lost = room.fake.fill(filled["id"], "10", "100.00")
    room.fake.fill(canceled["id"], "3", "50.00")
    room.fake.cancel_order(canceled["id"])
    # Nothing was pushed; the stream reconnects (on its own thread).
    assert room.stream.on_connected is not None
    await asyncio.to_thread(room.stream.on_connected)
    for _ in range(100):
        if room.updates.catch_ups and len(room.booked) == 2:
            break
        await asyncio.sleep(0.02)
    assert lost["id"] in {f.fill_id for f in room.booked} and len(room.booked) == 2
    states = {i.instrument: i.order.status for i in room.intents.all() if i.order}
    assert states == {"AAPL": OrderStatus.FILLED, "MSFT": OrderStatus.CANCELED}
    assert not room.intents.working()
    await room.updates.close()


@in_a_loop
async def test_delivery_from_the_streams_thread_waits_until_handled(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    update = room.update(order["id"], "fill")
    assert room.stream.deliver is not None
    returned_after: list[int] = []

    def from_stream() -> None:
        room.stream.deliver(update)  # type: ignore[misc]
        returned_after.append(len(room.booked))

    await room.lock.acquire()  # the engine is busy with a minute
    thread = threading.Thread(target=from_stream)
    thread.start()
    await asyncio.sleep(0.1)
    assert returned_after == []  # still waiting: write-through, not fire-and-forget
    room.lock.release()
    await asyncio.to_thread(thread.join, 5)
    assert returned_after == [1]
    await room.updates.close()


@in_a_loop
async def test_fill_records_that_lag_the_stream_are_read_again_until_they_arrive(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    update = room.update(order["id"], "fill")
    with room.fake.lock:  # the record is not listed yet...
        hidden = list(room.fake.activities)
        room.fake.activities.clear()

    async def appear_later() -> None:
        await asyncio.sleep(0.08)
        with room.fake.lock:
            room.fake.activities.extend(hidden)

    task = asyncio.create_task(appear_later())
    await room.updates.handle(update)
    await task
    assert len(room.booked) == 1 and room.alerts == []


@in_a_loop
async def test_fill_records_that_never_arrive_are_said_not_guessed(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    update = room.update(order["id"], "fill")
    with room.fake.lock:
        room.fake.activities.clear()
    await room.updates.handle(update)
    assert room.booked == []
    assert any("fill records show 0" in message for _, _, message in room.alerts)


@in_a_loop
async def test_an_update_the_stream_lost_is_recovered_by_a_catch_up_soon(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    room.stream.needs_catch_up = True  # a delivery failed on the stream's side
    for _ in range(60):
        if room.booked:
            break
        await asyncio.sleep(0.05)
    assert len(room.booked) == 1 and room.stream.needs_catch_up is False
    await room.updates.close()


@in_a_loop
async def test_an_unreadable_update_triggers_a_catch_up(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    await room.updates.handle(UnreadableUpdate("no order in the event", {"event": "fill"}))
    assert len(room.booked) == 1 and room.updates.catch_ups == 1


@in_a_loop
async def test_a_failing_catch_up_alerts_and_leaves_everything_as_it_was(room):
    await started(room)
    order = room.place()
    room.fake.fill(order["id"], "10", "100.00")
    room.fake.fail_next("GET /orders", status=500)
    await room.updates.catch_up("test")
    assert room.booked == [] and room.updates.last_catch_up_error
    assert any("catch-up failed" in message for _, _, message in room.alerts)
    await room.updates.catch_up("again")
    assert len(room.booked) == 1 and room.updates.last_catch_up_error is None


@in_a_loop
async def test_an_order_the_engine_never_placed_is_left_to_reconciliation(room):
    await started(room)
    foreign = room.fake.add_order("NVDA", "1", client_order_id="manual-1")
    await room.updates.handle(room.update(foreign["id"], "new"))
    assert room.changes == [] and room.intents.all() == []


@in_a_loop
async def test_a_later_rejection_is_logged_unresolved_and_alerted(room):
    await started(room)
    order = room.place()
    room.fake.update_order(order["id"], status="rejected")
    await room.updates.handle(room.update(order["id"], "rejected"))
    assert [kind for kind, _ in room.unresolved] == ["rejected"]
    assert any("rejected by the broker" in message for _, _, message in room.alerts)
