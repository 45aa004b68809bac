"""The engine link keeps the live state fed: against a real engine over a real socket, and
against a fake client for what a real engine will not do on demand (malformed records,
refused reads, an engine that never comes back)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tbot.clock import FrozenClock, SystemClock
from tbot.control.client import EngineUnavailableError, RpcCallError
from tbot.control.wire import FORBIDDEN
from tests.console import console_fixtures as fx
from tests.engine.engine_process import IDENTITY, set_env_key
from tui.link.engine_link import (
    RECONNECT_FIRST_WAIT_SECONDS,
    RECONNECT_JITTER_SECONDS,
    EngineLink,
)
from tui.model.live_state import ConnectionInfo, LinkState, LiveState, Topic

OPEN_DAY_START = "2026-11-20T14:25:00Z"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
ALL_LOADED = {Topic.STATUS, Topic.POSITIONS, Topic.ORDERS, Topic.PNL, Topic.ACCOUNT}


def new_state(socket: Path, clock: Any) -> LiveState:
    return LiveState(
        connection=ConnectionInfo(
            state=LinkState.CONNECTING, since=clock.now(), socket_path=str(socket)
        )
    )


async def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class RunningLink:
    """An EngineLink running as a task, with every notify call recorded."""

    def __init__(self, socket: Path, clock: Any, **options: Any) -> None:
        self.clock = clock
        self.state = new_state(socket, clock)
        self.notified: list[frozenset[Topic]] = []
        self.link = EngineLink(socket, self.state, self.notified.append, clock, **options)
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def on_fake(cls, tmp_path: Path, client: FakeClient, *, poll_seconds: float) -> RunningLink:
        """A link whose every connection reaches `client`, on a frozen clock."""
        return cls(tmp_path / "engine.sock", FrozenClock(T0), poll_seconds=poll_seconds,
                   connect=FakeEngine(client).connect)

    async def __aenter__(self) -> RunningLink:
        self.task = asyncio.create_task(self.link.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.link.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    def lines(self, topic: str) -> list[str]:
        return [line.text for line in self.state.events if line.topic == topic]


# -- a fake client --------------------------------------------------------------------------


class FakeClient:
    """Answers from a dict (an exception value is raised); events pushed by the test."""

    def __init__(self, answers: Mapping[str, object]) -> None:
        self.answers = dict(answers)
        self.calls: list[str] = []
        self.closed_reason: str | None = None
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 10.0
    ) -> object:
        if self.closed_reason is not None:
            raise EngineUnavailableError(self.closed_reason)
        self.calls.append(method)
        answer = self.answers[method]
        if isinstance(answer, Exception):
            raise answer
        return copy.deepcopy(answer)

    async def subscribe(self, topics: Any) -> list[str]:
        return list(topics)

    async def notifications(self) -> AsyncIterator[dict[str, Any]]:
        while (event := await self._events.get()) is not None:
            yield event

    def push(self, topic: str, data: object, at: str = "2026-11-20T15:01:10Z") -> None:
        self._events.put_nowait({"topic": topic, "seq": 1, "at": at, "data": data})

    def drop(self, reason: str) -> None:
        """The engine went away."""
        self.closed_reason = reason
        self._events.put_nowait(None)

    async def close(self) -> None:
        if self.closed_reason is None:
            self.drop("the client closed the connection")


def engine_answers(role: str = "admin") -> dict[str, object]:
    return {
        "rpc.discover": fx.discover_record(role),
        "engine.status": fx.status_record(),
        "positions.list": {"positions": fx.positions_records()},
        "orders.list": {"orders": fx.orders_records()},
        "pnl.summary": fx.pnl_record(),
        "pnl.history": fx.pnl_history_record(),
        "account.summary": fx.account_record(),
    }


class FakeEngine:
    """Hands out clients as `connect` would; `None` in the script means unreachable."""

    def __init__(self, *clients: FakeClient | None) -> None:
        self.script = list(clients)
        self.attempts = 0

    async def connect(self, socket_path: Path) -> FakeClient:
        self.attempts += 1
        client = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if client is None:
            raise EngineUnavailableError(f"no engine socket at {socket_path}")
        return client


# -- against a fake client -----------------------------------------------------------------


async def test_a_malformed_positions_answer_keeps_the_last_positions_and_says_why(tmp_path):
    client = FakeClient(engine_answers())
    async with RunningLink.on_fake(tmp_path, client, poll_seconds=0.01) as running:
        state = running.state
        await wait_for(lambda: len(state.positions) == 3, 5, "the positions")
        bad = fx.positions_records()
        bad[0]["quantity"] = "abc"
        client.answers["positions.list"] = {"positions": bad}
        client.answers["engine.status"] = ["not", "an", "object"]
        await wait_for(lambda: len(running.lines("link")) >= 3, 5, "two error lines")
        polls = client.calls.count("positions.list")
        await wait_for(lambda: client.calls.count("positions.list") >= polls + 5, 5, "polls")

        assert set(state.positions) == {"CSCO", "F", "INTC"}
        assert str(state.positions["CSCO"].quantity) == "6.019563581"
        assert state.status is not None and state.status.bot == fx.BOT
        errors = [line for line in state.events if line.level == "error"]
        # Once per problem, however often the same bad record is polled.
        assert len(errors) == 2
        assert any("positions.list" in e.text and "'abc'" in e.text for e in errors)
        assert any("engine.status" in e.text and "expected an object" in e.text for e in errors)
        assert state.connection.state is LinkState.ONLINE


async def test_a_refused_read_becomes_an_error_line_not_a_crash(tmp_path):
    answers = engine_answers("viewer")
    answers["account.summary"] = RpcCallError(FORBIDDEN, "forbidden: not for you")
    async with RunningLink.on_fake(tmp_path, FakeClient(answers), poll_seconds=0.01) as running:
        await wait_for(lambda: running.state.status is not None, 5, "the status")
        await wait_for(lambda: running.lines("link")[1:], 5, "the error line")
        assert running.state.connection.online
        assert running.state.account is None
        assert "FORBIDDEN: forbidden: not for you" in running.lines("link")[-1]
        assert running.state.connection.role == "viewer"
        assert not running.state.may_call("trading.pause")


async def test_the_day_s_pnl_curve_is_loaded_once_and_live_samples_follow_it(tmp_path):
    client = FakeClient(engine_answers())
    async with RunningLink.on_fake(tmp_path, client, poll_seconds=0.01) as running:
        state = running.state
        await wait_for(lambda: client.calls.count("pnl.summary") >= 3, 5, "a few polls")
        assert client.calls.count("pnl.history") == 1
        history = [(point.at.strftime("%H:%M:%S"), str(point.total)) for point in state.pnl_history]
        # 14:31 to 15:00 from the engine, then the sample at the status clock (15:01:03).
        assert history[0] == ("14:31:00", "0") and len(history) == 31
        assert history[-2] == ("15:00:00", "8.363078")
        assert history[-1] == ("15:01:03", "8.363078")
        assert state.pnl_history[0].equity is not None


async def test_an_engine_without_pnl_history_is_not_asked_for_it(tmp_path):
    answers = engine_answers()
    discover = fx.discover_record()
    discover["methods"] = [m for m in discover["methods"] if m["name"] != "pnl.history"]
    answers["rpc.discover"] = discover
    del answers["pnl.history"]
    client = FakeClient(answers)
    async with RunningLink.on_fake(tmp_path, client, poll_seconds=60) as running:
        await wait_for(lambda: running.state.pnl is not None, 5, "the first load")
        assert "pnl.history" not in client.calls
        assert len(running.state.pnl_history) == 1  # the console's own first sample
        assert not [line for line in running.state.events if line.level == "error"]


async def test_a_malformed_pnl_history_leaves_the_chart_to_live_samples(tmp_path):
    answers = engine_answers()
    broken = fx.pnl_history_record()
    broken["points"][3]["total"] = "lots"
    answers["pnl.history"] = broken
    async with RunningLink.on_fake(tmp_path, FakeClient(answers), poll_seconds=60) as running:
        await wait_for(lambda: running.state.pnl is not None, 5, "the first load")
        assert running.state.connection.online
        assert [point.total for point in running.state.pnl_history] == [
            running.state.pnl.today.total
        ]
        errors = [line.text for line in running.state.events if line.level == "error"]
        assert len(errors) == 1 and "pnl.history" in errors[0] and "'lots'" in errors[0]


async def test_events_update_only_what_they_change(tmp_path):
    client = FakeClient(engine_answers())
    async with RunningLink.on_fake(tmp_path, client, poll_seconds=60) as running:
        state, notified = running.state, running.notified
        await wait_for(lambda: state.pnl is not None, 5, "the first load")
        notified.clear()

        client.push("fills", fx.fill_event(9, "AAPL", "buy", "3", "190.25", "2026-11-20T15:01:09Z"))
        await wait_for(lambda: notified, 5, "the fill")
        assert notified[-1] == {Topic.FILLS, Topic.EVENTS}
        assert state.fills[0].symbol == "AAPL"
        assert state.events[-1].text == "fill BUY 3 AAPL @ 190.25 [open]"
        assert state.events[-1].at == datetime(2026, 11, 20, 15, 1, 10, tzinfo=UTC)

        order = fx.order_record(
            4,
            "F",
            "sell",
            "32.310177705",
            "32.310177705",
            "12.61",
            "filled",
            "2026-11-20T15:00:00Z",
        )
        client.push("orders", order)
        await wait_for(lambda: len(notified) == 2, 5, "the order")
        assert notified[-1] == {Topic.ORDERS}
        assert state.orders[order["order_id"]].status == "filled"

        pnl = fx.pnl_record() | {
            "today": {"realized": "5", "unrealized": "1", "fees": "0", "total": "6"}
        }
        client.push("pnl", pnl, at="2026-11-20T15:01:20Z")
        await wait_for(lambda: len(notified) == 3, 5, "the pnl")
        assert notified[-1] == {Topic.PNL}
        assert state.pnl_history[-1].total == 6

        client.push("alerts", {"level": "error", "message": "broker: timeout"})
        client.push("logs", {"level": "info", "logger": "tbot.engine", "message": "tick"})
        await wait_for(lambda: len(notified) == 5, 5, "the alert and the log line")
        assert [(e.level, e.topic, e.text) for e in list(state.events)[-2:]] == [
            ("error", "alerts", "broker: timeout"),
            ("info", "logs", "tbot.engine: tick"),
        ]

        client.answers["engine.status"] = fx.status_record(
            trading_state="reducing", reason="paused: lunch"
        )
        client.push(
            "state",
            {
                "engine_state": "monitoring",
                "reason": "paused: lunch",
                "trading_state": {
                    "state": "reducing",
                    "reason": "paused: lunch",
                    "since": "2026-11-20T15:01:30Z",
                },
            },
        )
        await wait_for(lambda: len(notified) == 6, 5, "the state change")
        assert notified[-1] == {Topic.STATUS, Topic.EVENTS}
        assert state.status is not None and state.status.trading.label == "REDUCING"
        assert client.calls.count("engine.status") == 2  # reloaded at once
        assert state.events[-1].level == "warning"

        client.push("fills", {"fill_id": "SIM-F1", "symbol": "AAPL"})
        await wait_for(lambda: len(notified) == 7, 5, "the malformed fill")
        assert notified[-1] == {Topic.EVENTS}
        assert "malformed fills event" in state.events[-1].text
        assert state.fills[0].symbol == "AAPL" and len(state.fills) == 1


async def test_the_reconnect_backoff_grows_with_jitter_and_is_capped(tmp_path):
    clock = FrozenClock(T0)
    waits: list[float] = []
    link_holder: list[EngineLink] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        if len(waits) == 8:
            await link_holder[0].close()
        await asyncio.sleep(0)

    engine = FakeEngine(None)
    running = RunningLink(
        tmp_path / "engine.sock",
        clock,
        reconnect_max_seconds=2.0,
        connect=engine.connect,
        sleep=fake_sleep,
    )
    link_holder.append(running.link)
    await asyncio.wait_for(running.link.run(), 5)

    assert len(waits) >= 8  # a few more may start before `run` sees the close
    for attempt, wait in enumerate(waits):
        base = RECONNECT_FIRST_WAIT_SECONDS * 2**attempt
        assert min(base, 2.0) <= wait <= min(base + RECONNECT_JITTER_SECONDS, 2.0)
    assert waits[:3] == sorted(waits[:3]) and set(waits[3:]) == {2.0}
    connection = running.state.connection
    assert connection.state is LinkState.OFFLINE
    assert connection.since == T0  # the outage began when the console started looking
    assert connection.attempts == engine.attempts >= 8
    assert connection.last_error == f"no engine socket at {tmp_path / 'engine.sock'}"
    assert running.notified[0] == {Topic.CONNECTION}


async def test_a_reconnection_reloads_everything_from_the_new_engine(tmp_path):
    clock = FrozenClock(T0)
    first, second = FakeClient(engine_answers()), FakeClient(engine_answers("viewer"))
    second.answers["engine.status"] = fx.status_record(trading_state="halted")

    async def ticking_sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=1))
        await asyncio.sleep(0)

    engine = FakeEngine(first)
    async with RunningLink(
        tmp_path / "engine.sock",
        clock,
        poll_seconds=60,
        connect=engine.connect,
        sleep=ticking_sleep,
    ) as running:
        state = running.state
        await wait_for(lambda: state.account is not None, 5, "the first load")
        assert state.connection.online and state.connection.role == "admin"
        assert await running.link.call("pnl.summary") == fx.pnl_record()

        engine.script = [None, None, None, second]
        clock.advance(timedelta(minutes=5))
        lost_at = clock.now()
        first.drop("the engine closed the connection")
        await wait_for(
            lambda: engine.script == [second] and state.connection.online, 5, "the reconnection"
        )

        assert engine.attempts == 5  # the first connection, three failures, the return
        lost_lines = [line for line in state.events if "lost the engine" in line.text]
        assert [line.at for line in lost_lines] == [lost_at]
        # Everything was read again from the new engine: events were missed meanwhile.
        assert state.connection.role == "viewer"
        assert state.status is not None and state.status.trading.label == "HALTED"
        assert second.calls[0] == "rpc.discover"
        assert sorted(second.calls[1:]) == [
            "account.summary",
            "engine.status",
            "orders.list",
            "pnl.history",
            "pnl.summary",
            "positions.list",
        ]


async def test_offline_calls_are_refused_and_state_is_kept_while_offline(tmp_path):
    clock = FrozenClock(T0)
    client = FakeClient(engine_answers())
    engine = FakeEngine(client)
    snapshots: list[ConnectionInfo] = []

    async def recording_sleep(seconds: float) -> None:
        snapshots.append(running.state.connection)
        clock.advance(timedelta(seconds=1))
        await asyncio.sleep(0.01)

    running = RunningLink(
        tmp_path / "engine.sock",
        clock,
        poll_seconds=60,
        connect=engine.connect,
        sleep=recording_sleep,
    )
    async with running:
        state = running.state
        await wait_for(lambda: state.account is not None, 5, "the first load")
        engine.script = [None]
        lost_at = clock.now()
        client.drop("connection to the engine lost: reset by peer")
        await wait_for(lambda: len(snapshots) >= 3, 5, "three failed attempts")

        with pytest.raises(EngineUnavailableError, match="the engine is offline"):
            await running.link.call("trading.pause")
        assert [s.attempts for s in snapshots[:3]] == [1, 2, 3]
        assert {s.since for s in snapshots} == {lost_at}
        assert {s.state for s in snapshots} == {LinkState.OFFLINE}
        assert snapshots[-1].last_error == f"no engine socket at {tmp_path / 'engine.sock'}"
        assert set(state.positions) == {"CSCO", "F", "INTC"}
        assert state.status is not None and state.pnl is not None
        assert any(
            line.text == "lost the engine: connection to the engine lost: reset by peer"
            for line in state.events
        )


# -- against a real engine ------------------------------------------------------------------


async def test_the_link_discovers_loads_and_receives_fills_from_a_live_engine(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "300", "--start", OPEN_DAY_START)
    async with RunningLink(
        engine.socket, SystemClock(), poll_seconds=0.2, reconnect_max_seconds=0.3
    ) as running:
        state = running.state
        await wait_for(
            lambda: state.connection.online and state.account is not None,
            15,
            "the link to come online",
        )
        assert state.connection.role == "admin"
        assert state.connection.methods["risk.reset"].allowed
        assert state.status is not None and state.status.bot == IDENTITY
        assert state.status.clock.mode == "sim"
        assert state.pnl is not None and state.pnl.currency == "USD"
        assert {topic for topics in running.notified for topic in topics} >= ALL_LOADED

        await wait_for(lambda: state.fills, 15, "a fill event")
        assert state.positions or state.orders
        assert any(line.topic == "fills" for line in state.events)
        assert len(state.pnl_history) >= 1


async def test_a_console_that_connects_late_still_charts_the_day_from_the_open(
    home, start_engine
):
    engine = start_engine(home, "--sim", "--speed", "600", "--start", OPEN_DAY_START)

    def twenty_minutes_in() -> None:
        engine.wait_ready().wait_until(
            lambda status: status["clock"]["now"] >= "2026-11-20T14:50",
            30,
            "twenty simulated minutes",
        )

    await asyncio.to_thread(twenty_minutes_in)
    async with RunningLink(engine.socket, SystemClock(), poll_seconds=5) as running:
        state = running.state
        await wait_for(lambda: state.connection.online and state.pnl_history, 15, "the link")
        times = [point.at for point in state.pnl_history]
        assert times == sorted(times)
        # The engine's samples from the open, not only the console's own from now on.
        assert times[0].strftime("%H:%M") <= "14:35" and len(times) >= 15
        assert all(point.equity is not None for point in list(state.pnl_history)[:-1])


async def test_a_killed_engine_goes_offline_and_a_restarted_one_is_picked_up(home, start_engine):
    engine = start_engine(home, "--sim", "--speed", "600", "--start", OPEN_DAY_START)
    async with RunningLink(
        engine.socket, SystemClock(), poll_seconds=0.2, reconnect_max_seconds=0.5
    ) as running:
        state = running.state
        await wait_for(lambda: state.positions, 15, "a position")
        first_pid = state.status.pid if state.status else None
        positions = dict(state.positions)

        before_kill = running.clock.now()
        await asyncio.to_thread(engine.kill)
        await wait_for(lambda: state.connection.state is LinkState.OFFLINE, 5, "offline")
        assert state.connection.since >= before_kill
        assert state.connection.last_error
        since = state.connection.since
        await wait_for(lambda: state.connection.attempts >= 2, 5, "failed attempts")
        assert state.connection.since == since
        assert state.positions.keys() == positions.keys()
        assert state.status is not None and state.status.pid == first_pid
        with pytest.raises(EngineUnavailableError):
            await running.link.call("engine.status")

        start_engine(home, "--sim", "--speed", "600")
        await wait_for(lambda: state.connection.online, 15, "the link back online")
        await wait_for(
            lambda: state.status is not None and state.status.pid != first_pid,
            5,
            "the new engine's status",
        )
        assert state.connection.attempts == 0 and state.connection.last_error is None


async def test_a_viewer_sees_commands_forbidden_and_the_engine_refuses_them(home, start_engine):
    set_env_key(home, "CONTROL_ROLES", "@owner=viewer")
    engine = start_engine(home, "--sim", "--speed", "60", "--start", OPEN_DAY_START)
    async with RunningLink(
        engine.socket, SystemClock(), poll_seconds=0.2, reconnect_max_seconds=0.3
    ) as running:
        state = running.state
        await wait_for(
            lambda: state.connection.online and state.status is not None,
            15,
            "the link to come online",
        )
        assert state.connection.role == "viewer"
        assert not state.connection.methods["trading.pause"].allowed
        assert state.connection.methods["positions.list"].allowed
        assert not state.may_call("trading.pause")
        with pytest.raises(RpcCallError) as refused:
            await running.link.call("trading.pause", {"reason": "test"})
        assert refused.value.code == FORBIDDEN


async def test_the_link_runs_as_an_app_worker_and_stops_with_the_app(tmp_path):
    from textual.app import App

    client = FakeClient(engine_answers())
    state = new_state(tmp_path / "engine.sock", FrozenClock(T0))
    notified: list[frozenset[Topic]] = []
    link = EngineLink(
        tmp_path / "engine.sock",
        state,
        notified.append,
        FrozenClock(T0),
        poll_seconds=0.01,
        connect=FakeEngine(client).connect,
    )

    class LinkedApp(App[None]):
        def on_mount(self) -> None:
            self.run_worker(link.run(), name="engine-link", exit_on_error=False)

        async def on_unmount(self) -> None:
            await link.close()

    app = LinkedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: client.calls.count("engine.status") >= 3, 5, "a few polls")
        await pilot.press("x")  # the app stays responsive while the link polls
        worker = next(w for w in app.workers if w.name == "engine-link")
    assert state.connection.online
    assert client.closed_reason == "the client closed the connection"
    # The app cancels its workers without waiting for them: the link winds down just after.
    await wait_for(lambda: worker.is_finished, 2, "the link worker to end")
