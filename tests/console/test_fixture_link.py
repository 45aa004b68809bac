"""The fixture link fills the live state from wire records the way the engine link does,
answers commands from a script, and can be driven offline and online by a test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tbot.clock import FrozenClock
from tbot.control.client import EngineUnavailableError, RpcCallError
from tbot.control.wire import FORBIDDEN, METHOD_NOT_FOUND, REFUSED
from tests.console import console_fixtures as fx
from tui.link.fixture_link import FixtureLink
from tui.model.live_state import (
    ALL_TOPICS,
    ConnectionInfo,
    EventLine,
    LinkState,
    LiveState,
    Topic,
)


def make_link(**records: object) -> tuple[FixtureLink, LiveState, list[frozenset[Topic]]]:
    clock = FrozenClock(fx.FROZEN_NOW)
    state = LiveState(
        connection=ConnectionInfo(
            state=LinkState.CONNECTING,
            since=datetime(2026, 11, 20, tzinfo=UTC),
            socket_path="/srv/bot/control/engine.sock",
        )
    )
    notified: list[frozenset[Topic]] = []
    defaults: dict[str, object] = {
        "status": fx.status_record(),
        "positions": fx.positions_records(),
        "orders": fx.orders_records(),
        "pnl": fx.pnl_record(),
        "account": fx.account_record(),
        "discover": fx.discover_record("operator"),
    }
    link = FixtureLink(state, notified.append, clock, **(defaults | records))
    return link, state, notified


async def run_until_loaded(link: FixtureLink, notified: list[frozenset[Topic]]) -> asyncio.Task:
    task = asyncio.create_task(link.run())
    while not notified:
        await asyncio.sleep(0)
    return task


async def test_run_fills_the_state_once_from_wire_records_and_waits_until_closed():
    fills = [
        fx.fill_event(1, "INTC", "buy", "21.917808219", "36.5073", "2026-11-20T14:52:00Z"),
        fx.fill_event(2, "F", "buy", "32.310177705", "12.3825", "2026-11-20T14:54:00Z"),
    ]
    events = [
        {
            "topic": "alerts",
            "seq": 1,
            "at": "2026-11-20T15:00:00Z",
            "data": {"level": "warning", "message": "spread wide on F"},
        },
        EventLine(fx.FROZEN_NOW, "info", "logs", "tbot.engine: tick"),
    ]
    link, state, notified = make_link(fills=fills, events=events)
    task = await run_until_loaded(link, notified)

    assert notified == [ALL_TOPICS]
    assert state.connection.state is LinkState.ONLINE
    assert state.connection.since == fx.FROZEN_NOW
    assert state.connection.role == "operator"
    assert state.may_call("risk.kill") and not state.may_call("risk.reset")
    assert state.status is not None and state.status.strategy.active == "open"
    assert list(state.positions) == ["CSCO", "F", "INTC"]
    assert state.positions["INTC"].unrealized_pnl == Decimal("-8.926603")
    assert next(iter(state.orders)).endswith("O000004")  # newest submitted first
    assert state.pnl is not None and state.pnl.today.total == Decimal("8.363078")
    assert state.account is not None and state.account.equity == Decimal("100008.363078")
    assert [fill.symbol for fill in state.fills] == ["F", "INTC"]  # newest first
    assert [(e.level, e.text) for e in state.events] == [
        ("warning", "spread wide on F"),
        ("info", "tbot.engine: tick"),
    ]
    assert [(p.at, p.total) for p in state.pnl_history] == [(fx.FROZEN_NOW, Decimal("8.363078"))]

    assert not task.done()
    await link.close()
    await asyncio.wait_for(task, 1)


async def test_an_offline_fixture_keeps_its_records_as_last_known_and_refuses_calls():
    link, state, notified = make_link(online=False)
    task = await run_until_loaded(link, notified)
    assert state.connection.state is LinkState.OFFLINE
    assert state.connection.since == fx.FROZEN_NOW
    assert state.status is not None and len(state.positions) == 3
    with pytest.raises(EngineUnavailableError, match="the engine is offline"):
        await link.call("trading.pause", {"reason": "x"})
    assert link.calls == []
    await link.close()
    await task


async def test_calls_answer_from_the_script_raise_scripted_errors_and_enforce_the_role():
    refused = RpcCallError(REFUSED, "refused: trading is halted")
    link, _, notified = make_link(
        discover=fx.discover_record("operator"),
        answers={
            "trading.pause": {"trading_state": {"state": "reducing"}},
            "trading.resume": refused,
        },
    )
    task = await run_until_loaded(link, notified)

    assert await link.call("trading.pause", {"reason": "lunch"}) == {
        "trading_state": {"state": "reducing"}
    }
    with pytest.raises(RpcCallError) as resumed:
        await link.call("trading.resume")
    assert resumed.value is refused
    with pytest.raises(RpcCallError) as unknown:
        await link.call("no.such.method")
    assert unknown.value.code == METHOD_NOT_FOUND
    with pytest.raises(RpcCallError) as forbidden:
        await link.call("risk.reset")
    assert forbidden.value.code == FORBIDDEN
    assert (await link.call("positions.list"))["positions"][0]["symbol"] == "CSCO"
    assert [method for method, _ in link.calls] == [
        "trading.pause",
        "trading.resume",
        "no.such.method",
        "risk.reset",
        "positions.list",
    ]
    assert link.calls[0] == ("trading.pause", {"reason": "lunch"})
    await link.close()
    await task


async def test_helpers_drive_positions_events_and_the_connection():
    link, state, notified = make_link()
    task = await run_until_loaded(link, notified)
    notified.clear()

    link.set_positions(
        [fx.position_record("AAPL", "2", "190", "191", "2", "0.53", "2026-11-20T15:00:00Z", 63)]
    )
    assert notified[-1] == {Topic.POSITIONS}
    assert list(state.positions) == ["AAPL"]

    link.push_event(
        "fills",
        fx.fill_event(7, "AAPL", "buy", "2", "190", "2026-11-20T15:00:00Z"),
        datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
    )
    assert notified[-1] == {Topic.FILLS, Topic.EVENTS}
    assert state.events[-1].text == "fill BUY 2 AAPL @ 190.00 [open]"

    link.push_event(
        "state",
        {
            "engine_state": "halted",
            "reason": "kill switch",
            "trading_state": {
                "state": "halted",
                "reason": "kill switch",
                "since": "2026-11-20T15:01:00Z",
            },
        },
        datetime(2026, 11, 20, 15, 1, tzinfo=UTC),
    )
    assert notified[-1] == {Topic.STATUS, Topic.EVENTS}
    assert state.status is not None and state.status.trading.label == "HALTED"
    assert state.status.engine_state == "halted"
    assert state.events[-1].level == "error"

    link.push_event("positions?", {}, datetime(2026, 11, 20, 15, 1, tzinfo=UTC))
    link.push_event("pnl", {"currency": "USD"}, datetime(2026, 11, 20, 15, 1, tzinfo=UTC))
    assert notified[-1] == {Topic.EVENTS}
    assert state.events[-1].topic == "link" and "malformed pnl event" in state.events[-1].text
    assert state.pnl is not None and state.pnl.today.total == Decimal("8.363078")

    link.go_offline("the engine closed the connection")
    assert notified[-1] == {Topic.CONNECTION}
    assert state.connection.state is LinkState.OFFLINE
    assert state.connection.last_error == "the engine closed the connection"
    assert not state.may_call("trading.pause")
    link.go_online()
    assert state.connection.online and state.connection.role == "operator"

    await link.refresh()
    assert link.refreshes == 1
    assert notified[-1] == {Topic.STATUS, Topic.POSITIONS, Topic.ORDERS, Topic.PNL, Topic.ACCOUNT}
    assert list(state.positions) == ["AAPL"]  # set_positions is what a reload now reads
    await link.close()
    await task
