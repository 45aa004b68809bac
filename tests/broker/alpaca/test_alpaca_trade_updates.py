"""Alpaca's trade-updates stream through the real alpaca-py `TradingStream` against the local
fakes: an order's life in order with exact numbers, write-through delivery, duplicates,
unreadable messages, a failing deliver, reconnection, lost events, a refused key, closing;
the SDK internals the stream relies on; the fake's order events, auto-fill and clock."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.stream import TradingStream

from tbot.broker.alpaca import trade_updates
from tbot.broker.alpaca.trade_update_messages import read_trade_update
from tbot.broker.alpaca.trade_updates import AlpacaTradeUpdates
from tbot.broker.models import OrderRequest, OrderSide, OrderStatus
from tbot.broker.order_updates import OrderUpdate, UnreadableUpdate
from tbot.clock import FrozenClock
from tests.broker.alpaca.conftest import NOW, credentials_for
from tests.broker.alpaca.fake_alpaca import FakeAlpaca, format_time, parse_time_ns
from tests.broker.alpaca.fake_trade_stream import FakeTradeStream

Update = OrderUpdate | UnreadableUpdate


class Recorder:
    """A `deliver` and an `on_connected` that record what they get, and can wait for it."""

    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.threads: set[str] = set()
        self.connected_calls = 0
        self.fail_next = 0
        self.hold: threading.Event | None = None
        self._changed = threading.Condition()

    def deliver(self, update: Update) -> None:
        with self._changed:
            self.threads.add(threading.current_thread().name)
            self._changed.notify_all()
        if self.hold is not None:
            self.hold.wait(10)
        with self._changed:
            self.updates.append(update)
            self._changed.notify_all()
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("the engine could not handle it")

    def on_connected(self) -> None:
        with self._changed:
            self.connected_calls += 1
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 2.0) -> bool:
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def wait_updates(self, count: int, timeout: float = 2.0) -> list[Update]:
        assert self.wait_for(lambda: len(self.updates) >= count, timeout), self.updates
        return list(self.updates)

    @property
    def events(self) -> list[str]:
        return [u.event if isinstance(u, OrderUpdate) else "?" for u in self.updates]


@pytest.fixture
def server(fake: FakeAlpaca) -> Iterator[FakeTradeStream]:
    with FakeTradeStream(fake) as stream:
        yield stream


@pytest.fixture
def open_stream(fake: FakeAlpaca, server: FakeTradeStream
                ) -> Iterator[Callable[..., tuple[AlpacaTradeUpdates, Recorder]]]:
    """`open_stream(**credential_changes)`: a started stream on the fakes and its recorder
    (connected first unless `wait=False`); closed after the test."""
    made: list[AlpacaTradeUpdates] = []

    def open_(*, wait: bool = True, **changes: Any) -> tuple[AlpacaTradeUpdates, Recorder]:
        changes.setdefault("stream_url", server.url)
        stream = AlpacaTradeUpdates(credentials_for(fake, **changes),
                                    reconnect_backoff=(0.02, 0.1))
        made.append(stream)
        recorder = Recorder()
        stream.start(recorder.deliver, recorder.on_connected)
        if wait:
            assert recorder.wait_for(lambda: recorder.connected_calls == 1)
            assert stream.connected and server.wait_listening()
        return stream, recorder

    yield open_
    for stream in made:
        stream.close()


def trade_update(event: str, order: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {"stream": "trade_updates", "data": {"event": event, "order": order, **data}}


# -- an order's life ------------------------------------------------------------------------------


def test_an_order_s_life_arrives_in_order_with_exact_decimals(fake, open_stream):
    stream, recorder = open_stream()
    order = fake.add_order("AAPL", "3", client_order_id="open-20261120-0001")
    fake.fill(order["id"], "1", "100.125")
    fake.fill(order["id"], "2", "100.250000001")

    updates = recorder.wait_updates(4)
    assert recorder.events == ["pending_new", "new", "partial_fill", "fill"]
    assert all(isinstance(u, OrderUpdate) for u in updates)
    partial, filled = updates[2], updates[3]
    assert isinstance(partial, OrderUpdate) and isinstance(filled, OrderUpdate)
    assert (partial.execution_quantity, partial.execution_price) == (Decimal("1"),
                                                                     Decimal("100.125"))
    assert (filled.execution_quantity, filled.execution_price) == (Decimal("2"),
                                                                   Decimal("100.250000001"))
    assert filled.order.client_order_id == "open-20261120-0001"
    assert filled.order.status is OrderStatus.FILLED
    assert filled.order.filled_quantity == Decimal("3")
    assert partial.order.status is OrderStatus.PARTIALLY_FILLED and partial.reports_execution
    assert all(u.at.tzinfo is not None for u in updates if isinstance(u, OrderUpdate))
    assert len({u.key for u in updates if isinstance(u, OrderUpdate)}) == 4
    assert recorder.threads == {name for name in recorder.threads
                                if name.startswith("alpaca-trade-updates-deliver")}
    assert len(recorder.threads) == 1
    assert not stream.needs_catch_up and stream.reconnects == 0


def test_a_cancel_a_rejection_and_an_unknown_event_pass_through(fake, server, open_stream):
    _, recorder = open_stream()
    first = fake.add_order("AAPL", "1")
    second = fake.add_order("MSFT", "1")
    fake.cancel_order(first["id"])
    fake.update_order(second["id"], status="rejected")
    server.push("order_restated_somehow", second["id"])

    recorder.wait_updates(7)
    assert recorder.events[4:] == ["canceled", "rejected", "order_restated_somehow"]
    canceled, rejected = recorder.updates[4], recorder.updates[5]
    assert isinstance(canceled, OrderUpdate) and canceled.order.status is OrderStatus.CANCELED
    assert isinstance(rejected, OrderUpdate) and rejected.order.status is OrderStatus.REJECTED


def test_numbers_sent_as_json_numbers_are_read_exactly(fake, server, open_stream):
    _, recorder = open_stream()
    order = fake.add_order("AAPL", "1", status="filled")
    server.send_raw(trade_update("fill", order, timestamp=fake.now_text(), qty=0.1,
                                 price=187.3, execution_id="x-1"))

    (update,) = recorder.wait_updates(1)
    assert isinstance(update, OrderUpdate)
    assert update.execution_quantity == Decimal("0.1")
    assert update.execution_price == Decimal("187.3")


# -- write-through, duplicates, unreadable, failures ----------------------------------------------


def test_deliver_holds_back_the_next_update_until_it_returns(fake, server, open_stream,
                                                            monkeypatch):
    read: list[object] = []

    def counting_read(message: object) -> Update:
        read.append(message)
        return read_trade_update(message)

    monkeypatch.setattr(trade_updates, "read_trade_update", counting_read)
    _, recorder = open_stream()
    recorder.hold = threading.Event()
    fake.add_order("AAPL", "1")  # pending_new, then new

    assert server.wait_sent(2)  # both are on the wire
    time.sleep(0.2)
    assert recorder.updates == []  # the first is still being handled: nothing delivered,
    assert len(read) == 1  # and the second not even read
    recorder.hold.set()
    recorder.wait_updates(2)
    assert recorder.events == ["pending_new", "new"] and len(read) == 2


def test_a_duplicated_event_arrives_twice_with_one_key(fake, server, open_stream):
    _, recorder = open_stream()
    order = fake.add_order("AAPL", "2")
    recorder.wait_updates(2)
    server.duplicate_next()
    fake.fill(order["id"], "2", "50")

    updates = recorder.wait_updates(4)
    assert recorder.events[2:] == ["fill", "fill"]
    assert updates[2] == updates[3]
    assert isinstance(updates[2], OrderUpdate) and isinstance(updates[3], OrderUpdate)
    assert updates[2].key == updates[3].key


@pytest.mark.parametrize("send", [
    pytest.param(lambda s, o, t: s.send_raw({"stream": "trade_updates", "data": "garbage"}),
                 id="data-not-an-object"),
    pytest.param(lambda s, o, t: s.send_raw(
        {"stream": "trade_updates", "data": {"event": "fill", "timestamp": t}}),
        id="no-order"),
    pytest.param(lambda s, o, t: s.send_raw(
        trade_update("fill", o, timestamp=t, qty="abc", price="1")), id="bad-qty"),
    pytest.param(lambda s, o, t: s.send_raw(
        trade_update("new", {**o, "qty": None}, timestamp=t)), id="order-does-not-parse"),
    pytest.param(lambda s, o, t: s.send_raw([1, 2]), id="frame-not-an-object"),
    pytest.param(lambda s, o, t: s.send_frame(b"\xff not json"), id="frame-not-json"),
])
def test_an_unreadable_message_becomes_an_unreadable_update_and_the_stream_goes_on(
        fake, server, open_stream, send):
    stream, recorder = open_stream()
    order = fake.add_order("AAPL", "1", status="filled")
    send(server, order, fake.now_text())
    fake.add_order("MSFT", "1")

    updates = recorder.wait_updates(3)
    assert isinstance(updates[0], UnreadableUpdate) and updates[0].reason
    assert recorder.events[1:] == ["pending_new", "new"]
    assert stream.connected and stream.reconnects == 0


def test_a_deliver_that_raises_asks_for_a_catch_up_and_the_stream_goes_on(fake, open_stream,
                                                                         caplog):
    stream, recorder = open_stream()
    recorder.fail_next = 1
    fake.add_order("AAPL", "1")

    recorder.wait_updates(2)
    assert recorder.events == ["pending_new", "new"]
    assert stream.needs_catch_up
    assert any(r.name == "tbot.broker.alpaca.stream" and "catch-up" in r.getMessage()
               for r in caplog.records)
    stream.needs_catch_up = False
    fake.add_order("MSFT", "1")
    recorder.wait_updates(4)
    assert not stream.needs_catch_up and stream.connected


def test_an_on_connected_that_raises_asks_for_a_catch_up(fake, server):
    stream = AlpacaTradeUpdates(credentials_for(fake, stream_url=server.url))
    recorder = Recorder()

    def failing_on_connected() -> None:
        recorder.on_connected()
        raise RuntimeError("the catch-up could not start")

    stream.start(recorder.deliver, failing_on_connected)
    try:
        assert recorder.wait_for(lambda: recorder.connected_calls == 1)
        fake.add_order("AAPL", "1")
        recorder.wait_updates(2)
        assert stream.needs_catch_up and stream.connected
    finally:
        stream.close()


# -- connections ----------------------------------------------------------------------------------


def test_a_dropped_connection_reconnects_and_calls_on_connected_again(fake, server,
                                                                      open_stream):
    stream, recorder = open_stream()
    server.drop_connections()

    assert recorder.wait_for(lambda: recorder.connected_calls == 2)
    assert stream.connected and stream.reconnects == 1 and stream.last_error is None
    assert server.wait_listening()
    fake.add_order("AAPL", "1")
    recorder.wait_updates(2)
    assert recorder.events == ["pending_new", "new"]


def test_events_lost_on_the_way_are_simply_absent(fake, server, open_stream):
    _, recorder = open_stream()
    order = fake.add_order("AAPL", "3")
    recorder.wait_updates(2)
    server.lose_next(1)
    fake.fill(order["id"], "1", "10")
    fake.fill(order["id"], "2", "10")

    recorder.wait_updates(3)
    time.sleep(0.1)
    assert recorder.events == ["pending_new", "new", "fill"]
    assert [m["data"]["event"] for m in server.events_lost] == ["partial_fill"]


@pytest.mark.parametrize("how", ["wrong-secret", "refused"])
def test_a_refused_key_leaves_the_stream_disconnected_and_says_why_without_the_key(
        fake, server, open_stream, how):
    secret = "a-wrong-secret-123"
    if how == "refused":
        server.refuse_auth = True
        secret = fake.secret_key
    stream, recorder = open_stream(wait=False, secret_key=secret)

    deadline = time.monotonic() + 2
    while server.auth_refusals < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.auth_refusals >= 2  # it keeps trying, with backoff
    assert not stream.connected and recorder.connected_calls == 0
    assert stream.last_error is not None and "credentials" in stream.last_error
    assert secret not in stream.last_error and fake.key_id not in stream.last_error


def test_an_unreachable_server_is_reported(fake, open_stream):
    with FakeTradeStream(fake) as gone:
        url = gone.url
    stream, _ = open_stream(wait=False, stream_url=url)

    deadline = time.monotonic() + 2
    while stream.last_error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not stream.connected
    assert stream.last_error is not None and "cannot connect" in stream.last_error


# -- closing --------------------------------------------------------------------------------------


def test_close_ends_the_thread_and_is_idempotent(open_stream):
    stream, _ = open_stream()
    thread = stream._thread
    assert thread is not None and thread.is_alive()

    started = time.monotonic()
    stream.close()
    stream.close()
    assert time.monotonic() - started < 1.5
    assert not thread.is_alive() and not stream.connected
    with pytest.raises(RuntimeError):
        stream.start(lambda update: None, lambda: None)


def test_close_before_start_is_harmless(fake):
    stream = AlpacaTradeUpdates(credentials_for(fake, stream_url="ws://127.0.0.1:9/stream"))
    stream.close()
    assert not stream.connected


def test_close_while_deliver_hangs_returns_in_bounded_time(fake, open_stream):
    stream, recorder = open_stream()
    recorder.hold = threading.Event()
    fake.add_order("AAPL", "1")
    assert recorder.wait_for(lambda: bool(recorder.threads))  # deliver is stuck

    started = time.monotonic()
    stream.close(timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert stream._thread is not None and not stream._thread.is_alive()
    recorder.hold.set()


def test_close_from_inside_deliver_does_not_wait_for_itself(fake, open_stream):
    stream, recorder = open_stream()
    took: list[float] = []

    def closing_deliver(update: Update) -> None:
        started = time.monotonic()
        stream.close()
        took.append(time.monotonic() - started)
        recorder.deliver(update)

    stream._deliver = closing_deliver
    fake.add_order("AAPL", "1")

    assert recorder.wait_for(lambda: bool(recorder.updates))
    assert took[0] < 0.5
    assert stream._thread is not None
    stream._thread.join(1)
    assert not stream._thread.is_alive()
    assert recorder.events == ["pending_new"]  # nothing after the close


# -- reading one message (no network) -------------------------------------------------------------


def order_record(fake: FakeAlpaca) -> dict[str, Any]:
    return fake.add_order("AAPL", "2")


def test_the_key_is_the_execution_id_for_fills_and_the_timestamp_otherwise(fake):
    order = order_record(fake)
    stamp = "2026-11-20T14:31:05.1234567Z"
    new = read_trade_update(trade_update("new", order, timestamp=stamp))
    fill = read_trade_update(trade_update("fill", order, timestamp=stamp, qty="2",
                                          price="3", execution_id="e-9"))
    assert isinstance(new, OrderUpdate) and isinstance(fill, OrderUpdate)
    assert new.key == f"{order['id']}:new:{stamp}"
    assert fill.key == f"{order['id']}:fill:e-9"
    assert new.at == datetime(2026, 11, 20, 14, 31, 5, 123456, tzinfo=UTC)


@pytest.mark.parametrize(("data", "words"), [
    ({"timestamp": None}, "no timestamp"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"event": "fill", "qty": "1"}, "price"),
    ({"event": "fill", "qty": "0", "price": "1"}, "qty"),
    ({"qty": True}, "qty"),
    ({"qty": "NaN"}, "finite"),
    ({"price": [1]}, "price"),
    ({"execution_id": 7}, "execution_id"),
    ({"event": ""}, "event"),
])
def test_a_message_missing_or_mangling_a_field_is_unreadable_with_a_plain_reason(
        fake, data, words):
    order = order_record(fake)
    message = trade_update("new", order, timestamp="2026-11-20T14:31:05Z")
    message["data"].update(data)
    update = read_trade_update(message)
    assert isinstance(update, UnreadableUpdate), update
    assert words in update.reason and update.raw is message


def test_a_message_that_is_not_an_object_is_unreadable():
    assert isinstance(read_trade_update(["x"]), UnreadableUpdate)
    assert isinstance(read_trade_update(None), UnreadableUpdate)


# -- the SDK internals the stream relies on -------------------------------------------------------


def test_the_sdk_still_has_the_private_hooks_the_stream_relies_on():
    """alpaca-py 0.44's private names; a new SDK that changes them must fail here first."""
    for name in ("_connect", "_auth", "_start_ws", "_dispatch", "_consume", "_run_forever",
                 "close", "stop_ws"):
        assert inspect.iscoroutinefunction(getattr(TradingStream, name)), name
    sdk = TradingStream("k", "s", raw_data=True, url_override="ws://127.0.0.1:9/stream")
    for name in ("_ws", "_loop", "_reconnect_min_backoff", "_reconnect_max_backoff"):
        assert hasattr(sdk, name), name

    def source(name: str) -> str:
        return inspect.getsource(getattr(TradingStream, name))

    assert "self._connect()" in source("_start_ws") and "self._auth()" in source("_start_ws")
    assert "self._ws.recv()" in source("_auth") and "ValueError" in source("_auth")
    assert "authenticate" in source("_auth")
    assert "self._start_ws()" in source("_run_forever")
    assert "self.close()" in source("_run_forever")
    assert "self._loop = asyncio.get_running_loop()" in source("_run_forever")
    assert "self._ws.recv()" in source("_consume") and "self._dispatch(msg)" in source(
        "_consume")
    assert "_reconnect_min_backoff" in source("_reconnect_delay")
    assert "_reconnect_max_backoff" in source("_reconnect_delay")
    overridden = {name for name, value in vars(trade_updates._Socket).items()
                  if callable(value) and not name.startswith("__")}
    assert overridden - {"stop_and_close"} <= {"_connect", "_start_ws", "_dispatch", "close"}


# -- the fake: order events, auto-fill, the clock --------------------------------------------------


def test_a_fill_event_and_its_fill_activity_share_the_execution_uuid(fake, server,
                                                                     open_stream):
    _, recorder = open_stream()
    order = fake.add_order("AAPL", "2")
    activity = fake.fill(order["id"], "2", "10")

    recorder.wait_updates(3)
    (message,) = [m for m in server.events_sent if m["data"]["event"] == "fill"]
    assert activity["id"].endswith("::" + message["data"]["execution_id"])
    assert message["data"]["position_qty"] == "2" and message["data"]["qty"] == "2"


def submit(make_broker: Callable[..., Any], qty: str = "3", cid: str = "open-1") -> Any:
    broker = make_broker()
    return broker, broker.submit(OrderRequest(cid, "AAPL", OrderSide.BUY, Decimal(qty)))


def test_auto_fill_fills_a_market_order_at_the_symbol_s_price(fake, make_broker):
    fake.auto_fill = True
    fake.set_price("AAPL", "187.5")
    broker, placed = submit(make_broker)

    assert placed.status is OrderStatus.NEW  # the POST answers with the order as created
    order = broker.order(placed.order_id)
    assert order.status is OrderStatus.FILLED and order.average_price == Decimal("187.5")
    fills = [a for a in fake.activities if a["activity_type"] == "FILL"]
    assert [(a["type"], a["qty"]) for a in fills] == [("fill", "3")]


def test_auto_fill_in_two_parts_sends_a_partial_fill_then_a_fill(fake, make_broker, server,
                                                                 open_stream):
    _, recorder = open_stream()
    fake.auto_fill, fake.auto_fill_parts = True, 2
    fake.set_price("AAPL", "10")
    submit(make_broker, qty="5")

    recorder.wait_updates(4)
    assert recorder.events == ["pending_new", "new", "partial_fill", "fill"]
    fills = [a for a in fake.activities if a["activity_type"] == "FILL"]
    assert [(a["type"], a["qty"]) for a in fills] == [("partial_fill", "2"), ("fill", "3")]


def test_auto_fill_without_a_price_leaves_the_order_working(fake, make_broker):
    fake.auto_fill = True
    broker, placed = submit(make_broker)
    assert broker.order(placed.order_id).status is OrderStatus.NEW
    assert fake.activities == []


def test_the_fake_can_follow_another_clock(fake):
    clock = FrozenClock(NOW + timedelta(hours=1))
    fake.follow_clock(clock.now)
    first = fake.add_order("AAPL", "1")
    clock.advance(timedelta(minutes=5))
    second = fake.add_order("AAPL", "1")
    third = fake.add_order("AAPL", "1")  # the clock stood still: stamps still move on

    assert first["submitted_at"] == format_time(int(clock.now().timestamp() - 300) * 10**9)
    assert second["submitted_at"] == format_time(int(clock.now().timestamp()) * 10**9)
    assert parse_time_ns(third["submitted_at"]) > parse_time_ns(second["submitted_at"])
    assert fake.now() >= clock.now()
    with pytest.raises(RuntimeError):
        fake.advance(1)
    fake.follow_clock(None)
    fake.advance(60)
    assert fake.now() > clock.now() + timedelta(seconds=59)
