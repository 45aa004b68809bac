"""The client: concurrent calls, errors as exceptions, events, and losing the engine."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tbot.control.client import (
    ControlClient,
    EngineUnavailableError,
    RpcCallError,
    RpcTimeoutError,
    call_once,
)
from tbot.control.roles import RoleMap
from tbot.control.wire import FRAME_TOO_LARGE, MAX_FRAME_BYTES, METHOD_NOT_FOUND, REFUSED
from tests.control.control_support import FakeEngine, ServerThread, running_server


async def test_concurrent_calls_on_one_client_each_get_their_own_answer(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with (
        running_server(socket_path, engine, operator_roles),
        await ControlClient.connect(socket_path) as client,
    ):
        slow = asyncio.create_task(client.call("sleep", {"seconds": 0.2}))
        answers = await asyncio.gather(
            *(client.call("echo", {"text": f"n{number}"}) for number in range(100))
        )
        assert not slow.done()  # the quick ones did not wait behind it
        assert await slow == {"slept": 0.2}
    assert answers == [{"text": f"n{number}"} for number in range(100)]


async def test_error_answers_raise_rpc_call_error_with_code_message_and_data(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with (
        running_server(socket_path, engine, operator_roles),
        await ControlClient.connect(socket_path) as client,
    ):
        with pytest.raises(RpcCallError) as refused:
            await client.call("trading.resume")
        with pytest.raises(RpcCallError) as missing:
            await client.call("no.such")
        assert client.is_connected
    assert refused.value.as_dict() == {
        "code": REFUSED,
        "message": "halted by the kill switch: risk.reset first",
        "data": {"state": "HALTED"},
    }
    assert refused.value.exit_code == 1
    assert missing.value.code == METHOD_NOT_FOUND


async def test_a_call_that_takes_too_long_times_out_and_the_client_stays_usable(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with (
        running_server(socket_path, engine, operator_roles),
        await ControlClient.connect(socket_path) as client,
    ):
        with pytest.raises(RpcTimeoutError, match="sleep"):
            await client.call("sleep", {"seconds": 0.5}, timeout=0.05)
        assert await client.call("echo", {"text": "after"}) == {"text": "after"}


async def test_an_oversized_request_is_refused_before_sending(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with (
        running_server(socket_path, engine, operator_roles),
        await ControlClient.connect(socket_path) as client,
    ):
        with pytest.raises(RpcCallError) as too_large:
            await client.call("echo", {"text": "x" * MAX_FRAME_BYTES})
        assert await client.call("echo", {"text": "small"}) == {"text": "small"}
    assert too_large.value.code == FRAME_TOO_LARGE


async def test_losing_the_connection_fails_waiting_calls_and_ends_notifications(
    tmp_path: Path,
) -> None:
    # A bare server that reads one request and hangs up: the engine dying mid-call.
    path = tmp_path / "dying.sock"

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b'{"jsonrpc":"2.0","method":"events.notify","params":{"seq":1}}\n')
        writer.close()

    server = await asyncio.start_unix_server(hang_up, path=str(path))
    async with server:
        client = await ControlClient.connect(path)
        with pytest.raises(EngineUnavailableError, match="closed the connection"):
            await client.call("engine.status")
        assert not client.is_connected
        events = [event async for event in client.notifications()]
        with pytest.raises(EngineUnavailableError):
            await client.call("engine.status")
        await client.close()
    assert events == [{"seq": 1}]


async def test_connecting_where_no_engine_runs_says_so(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError, match="no engine socket") as missing:
        await ControlClient.connect(tmp_path / "nothing.sock")
    assert missing.value.exit_code == 2
    stale = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale))
    leftover.close()
    with pytest.raises(EngineUnavailableError, match="nothing is listening"):
        await ControlClient.connect(stale)


async def test_a_consumer_that_falls_behind_loses_the_oldest_events(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, operator_roles) as server:
        client = await ControlClient.connect(socket_path, notification_buffer=5)
        await client.subscribe(["alerts"])
        for number in range(10):
            server.publish("alerts", {"level": "info", "message": str(number)})
        await client.call("engine.status")  # every event was read before this answer
        stream = client.notifications()
        first = await anext(stream)
        assert client.dropped_notifications == 5
        await client.close()
    assert first["seq"] == 6  # the gap in seq shows what was lost


def test_call_once_from_blocking_code(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    with ServerThread(socket_path, engine, operator_roles):
        assert call_once(socket_path, "echo", {"text": "sync"}) == {"text": "sync"}
        with pytest.raises(RpcCallError):
            call_once(socket_path, "echo", {"text": 1})
    with pytest.raises(EngineUnavailableError):
        call_once(socket_path, "echo", {"text": "gone"})
