"""The engine's event bus: delivery order, catch-all subscribers, failing handlers, cancel;
the runner's forwarder sends only the wire topics to the control server; a simulated
engine publishes `minute` and `equity`."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tbot.admin.bot_home import open_home
from tbot.control.client import ControlClient
from tbot.control.roles import Role, RoleMap
from tbot.control.topics import TOPICS
from tbot.engine.engine import Engine, EngineOptions
from tbot.engine.event_bus import INTERNAL_TOPICS, EventBus, Handler
from tbot.engine.runner import wire_forwarder
from tests.control.control_support import FakeEngine, running_server
from tests.engine.conftest import TRADING_DAY

Event = tuple[str, Mapping[str, object]]


def recorder(name: str, calls: list[tuple[str, str]]) -> Handler:
    """A handler that notes (name, topic) in `calls`."""

    def handler(topic: str, data: Mapping[str, object]) -> None:
        calls.append((name, topic))

    return handler


def test_handlers_are_called_in_subscription_order_with_topic_and_data() -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []
    seen: list[Event] = []
    bus.subscribe("fills", recorder("first", calls))
    bus.subscribe("fills", lambda topic, data: seen.append((topic, data)))
    bus.subscribe("fills", recorder("third", calls))
    bus.subscribe("orders", recorder("orders only", calls))
    bus.publish("fills", {"symbol": "SPY"})
    assert calls == [("first", "fills"), ("third", "fills")]
    assert seen == [("fills", {"symbol": "SPY"})]


def test_subscribe_all_hears_every_topic_in_order_with_the_others() -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []
    bus.subscribe("minute", recorder("minute", calls))
    bus.subscribe_all(recorder("all", calls))
    bus.subscribe("minute", recorder("late minute", calls))
    bus.publish("minute", {"at": "t"})
    bus.publish("equity", {"equity": 1})
    bus.publish("anything", {})
    assert calls == [
        ("minute", "minute"),
        ("all", "minute"),
        ("late minute", "minute"),
        ("all", "equity"),
        ("all", "anything"),
    ]


def test_publishing_with_no_subscribers_does_nothing() -> None:
    EventBus().publish("fills", {"symbol": "SPY"})


def test_a_raising_handler_is_logged_and_kept_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []
    failures = 0

    def broken(topic: str, data: Mapping[str, object]) -> None:
        nonlocal failures
        failures += 1
        raise RuntimeError("subscriber bug")

    bus.subscribe("pnl", recorder("before", calls))
    bad = bus.subscribe("pnl", broken)
    bus.subscribe_all(recorder("after", calls))
    with caplog.at_level(logging.ERROR, logger="tbot.engine.bus"):
        bus.publish("pnl", {"total": 1})
        bus.publish("pnl", {"total": 2})
    assert calls == [("before", "pnl"), ("after", "pnl")] * 2
    assert failures == 2 and bad.active
    assert len(caplog.records) == 2
    assert "'pnl'" in caplog.records[0].getMessage()
    assert "broken" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is not None


def test_cancel_stops_delivery_and_is_idempotent() -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []
    one = bus.subscribe("fills", recorder("one", calls))
    everything = bus.subscribe_all(recorder("all", calls))
    bus.publish("fills", {})
    one.cancel()
    one.cancel()
    bus.publish("fills", {})
    everything.cancel()
    bus.publish("fills", {})
    assert calls == [("one", "fills"), ("all", "fills"), ("all", "fills")]
    assert not one.active and bus.subscriber_count() == 0


def test_a_handler_may_cancel_itself_or_a_later_one_during_delivery() -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []

    def once(topic: str, data: Mapping[str, object]) -> None:
        calls.append(("once", topic))
        first.cancel()
        later.cancel()

    first = bus.subscribe("minute", once)
    later = bus.subscribe("minute", recorder("later", calls))
    bus.subscribe("minute", recorder("last", calls))
    bus.publish("minute", {})
    bus.publish("minute", {})
    assert calls == [("once", "minute"), ("last", "minute"), ("last", "minute")]


def test_the_forwarder_passes_wire_topics_only() -> None:
    sent: list[Event] = []
    forward = wire_forwarder(lambda topic, data: sent.append((topic, data)))
    for topic in sorted(INTERNAL_TOPICS | TOPICS):
        forward(topic, {"topic": topic})
    assert [topic for topic, _ in sent] == sorted(TOPICS)
    assert not INTERNAL_TOPICS & TOPICS


def test_the_control_server_gets_wire_events_not_internal_ones(tmp_path: Path) -> None:
    socket_path = tmp_path / "control" / "engine.sock"
    roles = RoleMap({os.getuid(): Role.VIEWER}, {})

    async def scenario() -> list[dict[str, object]]:
        bus = EventBus()
        async with running_server(socket_path, FakeEngine(), roles) as server:
            forwarding = bus.subscribe_all(wire_forwarder(server.publish))
            client = await ControlClient.connect(socket_path)
            try:
                await client.subscribe(sorted(TOPICS))
                bus.publish("minute", {"at": "2026-03-02T14:31:00Z"})
                bus.publish("equity", {"equity": "100000"})
                bus.publish("positions", {"symbols": ["SPY"]})
                bus.publish("fills", {"symbol": "SPY"})
                forwarding.cancel()
                bus.publish("alerts", {"level": "info", "message": "after cancel"})
                bus.publish("pnl", {"total": "1"})  # would be second, were it forwarded
                forwarding = bus.subscribe_all(wire_forwarder(server.publish))
                bus.publish("state", {"engine_state": "idle"})
                stream = client.notifications()
                return [await anext(stream), await anext(stream)]
            finally:
                forwarding.cancel()
                await client.close()

    first, second = asyncio.run(asyncio.wait_for(scenario(), 30))
    # seq 1 and 2: nothing before `fills` reached the client, nothing between.
    assert (first["topic"], first["seq"], first["data"]) == ("fills", 1, {"symbol": "SPY"})
    assert (second["topic"], second["seq"]) == ("state", 2)


def test_a_simulated_engine_publishes_minute_and_equity(home: Path) -> None:
    start = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=start))
    events: list[Event] = []
    engine.bus.subscribe("minute", lambda topic, data: events.append((topic, data)))
    engine.bus.subscribe("equity", lambda topic, data: events.append((topic, data)))
    engine.start_blocking()
    try:

        async def scenario() -> None:
            await engine.start()
            events.clear()  # start-up's own account reads are not this test's subject
            minute = datetime(2026, 11, 20, 14, 40, tzinfo=UTC)
            await engine._process_minute(minute)
            await engine._process_minute(minute.replace(minute=41))

        asyncio.run(scenario())
    finally:
        engine.close_blocking()
    minutes = [data["at"] for topic, data in events if topic == "minute"]
    assert minutes == [
        datetime(2026, 11, 20, 14, 41, tzinfo=UTC),
        datetime(2026, 11, 20, 14, 42, tzinfo=UTC),
    ]
    equity = [data for topic, data in events if topic == "equity"]
    assert equity, "no equity event after the minutes' account refreshes"
    assert set(equity[-1]) == {"cash", "equity", "buying_power", "as_of"}
    assert engine.account is not None and equity[-1]["equity"] == engine.account.equity
    # Each minute's equity comes before that minute's `minute` event.
    assert events[-1][0] == "minute"
