"""What the server answers to each kind of request, in the documented order of checks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tbot.control.client import ControlClient
from tbot.control.methods import MethodSpec, NoParams
from tbot.control.roles import Role, RoleMap
from tbot.control.server import ControlServer
from tbot.control.wire import (
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    REFUSED,
)
from tests.control.conftest import roles_granting
from tests.control.control_support import FakeEngine, RawPeer, call, running_server


async def test_round_trip_sends_exact_values(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap, my_uid: int
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("engine.status", request_id="a-1"))
        await peer.close()
    assert answer["id"] == "a-1"
    assert answer["result"]["equity"] == "100184.30"
    assert answer["result"]["as_of"] == "2026-03-02T14:30:00Z"
    assert answer["result"]["role"] == 3
    assert answer["result"]["caller"].endswith(f"(uid={my_uid})")


async def test_malformed_json_gets_parse_error_and_the_connection_keeps_working(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        await peer.send(b'{"jsonrpc": "2.0", "method": \n')
        broken = await peer.receive()
        answer = await peer.request(call("echo", {"text": "still here"}))
        await peer.close()
    assert broken["id"] is None
    assert broken["error"]["code"] == PARSE_ERROR
    assert answer["result"] == {"text": "still here"}


@pytest.mark.parametrize(
    "message",
    [
        [],
        "a string",
        {"method": "echo", "id": 1},
        {"jsonrpc": "2.0", "method": 7, "id": 1},
        {"jsonrpc": "2.0", "method": "echo", "id": {"no": "objects"}},
        {"jsonrpc": "2.0", "method": "echo", "params": 3, "id": 1},
    ],
    ids=["empty-batch", "not-an-object", "no-jsonrpc", "method-not-string", "bad-id", "params"],
)
async def test_invalid_request_shapes_get_invalid_request(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap, message: object
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(message)
        still_fine = await peer.request(call("echo", {"text": "ok"}))
        await peer.close()
    assert answer["error"]["code"] == INVALID_REQUEST
    assert still_fine["result"] == {"text": "ok"}


async def test_unknown_method_is_method_not_found(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("engine.fly"))
        await peer.close()
    assert answer["error"]["code"] == METHOD_NOT_FOUND
    assert "engine.fly" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"text": 5}, "text"), ({}, "text"), ({"text": "x", "loud": True}, "loud"), ([1], None)],
    ids=["wrong-type", "missing", "unknown-field", "positional"],
)
async def test_bad_params_get_invalid_params_with_a_summary(
    socket_path: Path,
    engine: FakeEngine,
    operator_roles: RoleMap,
    params: object,
    field: str | None,
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("echo", params))
        await peer.close()
    assert answer["error"]["code"] == INVALID_PARAMS
    if field is not None:
        assert [problem["field"] for problem in answer["error"]["data"]] == [field]


async def test_handler_exception_is_internal_error_and_the_server_carries_on(
    socket_path: Path,
    engine: FakeEngine,
    operator_roles: RoleMap,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        with caplog.at_level(logging.ERROR, logger="tbot.control"):
            crashed = await peer.request(call("boom"))
            unsendable = await peer.request(call("unsendable", request_id=2))
        after = await peer.request(call("echo", {"text": "alive"}, request_id=3))
        other = await RawPeer.open(socket_path)
        fresh = await other.request(call("engine.status"))
        await peer.close()
        await other.close()
    assert crashed["error"] == {"code": INTERNAL_ERROR, "message": "internal error"}
    assert "a bug in a handler" not in str(crashed)  # no internals leak to the client
    assert unsendable["error"]["code"] == INTERNAL_ERROR
    assert "a bug in a handler" in caplog.text  # the traceback is logged instead
    assert after["result"] == {"text": "alive"}
    assert fresh["result"]["engine_state"] == "idle"


async def test_a_viewer_calling_an_operator_method_is_forbidden_not_run_and_audited(
    socket_path: Path, engine: FakeEngine, viewer_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, viewer_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("trading.pause", {"reason": "lunch"}))
        # Role comes before params: bad params from a viewer are still just forbidden.
        bad_params = await peer.request(call("trading.pause", {"nonsense": 1}, request_id=2))
        await peer.close()
    assert answer["error"]["code"] == FORBIDDEN
    assert answer["error"]["data"] == {"required_role": "operator", "role": "viewer"}
    assert bad_params["error"]["code"] == FORBIDDEN
    assert engine.pauses == []
    assert [(record.method, record.outcome.split(":")[0]) for record in engine.audit] == [
        ("trading.pause", "refused"),
        ("trading.pause", "refused"),
    ]
    assert engine.audit[0].params == {"reason": "lunch"}


async def test_state_changes_are_audited_with_their_outcome(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap, my_uid: int
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        paused = await peer.request(call("trading.pause", {"reason": "news"}))
        refused = await peer.request(call("trading.resume", request_id=2))
        invalid = await peer.request(call("trading.pause", {"reason": 5}, request_id=3))
        await peer.request(call("engine.status", request_id=4))  # reads are not audited
        await peer.close()
    assert paused["result"] == {"trading_state": "HALTED"}
    assert refused["error"]["code"] == REFUSED
    assert refused["error"]["data"] == {"state": "HALTED"}
    assert invalid["error"]["code"] == INVALID_PARAMS
    assert engine.pauses == ["news"]
    outcomes = [(record.method, record.outcome) for record in engine.audit]
    assert outcomes[0] == ("trading.pause", "ok")
    assert outcomes[1] == ("trading.resume", "refused: halted by the kill switch: risk.reset first")
    assert outcomes[2][1].startswith("error: invalid params")
    assert len(outcomes) == 3
    assert engine.audit[0].caller.endswith(f"(uid={my_uid})")


async def test_an_operator_cannot_call_admin_methods(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("engine.shutdown"))
        await peer.close()
    assert answer["error"]["code"] == FORBIDDEN


async def test_notifications_get_no_response_but_run(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        await peer.send_json({"jsonrpc": "2.0", "method": "trading.pause", "params": {}})
        await peer.send_json({"jsonrpc": "2.0", "method": "no.such.method"})
        answer = await peer.request(call("echo", {"text": "next"}, request_id=9))
        await peer.close()
    assert answer == {"jsonrpc": "2.0", "id": 9, "result": {"text": "next"}}
    assert engine.pauses == [None]


async def test_batches_run_in_order_and_answer_in_one_array(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    batch = [
        call("echo", {"text": "one"}, request_id=1),
        {"jsonrpc": "2.0", "method": "trading.pause", "params": {"reason": "a"}},
        call("trading.pause", {"reason": "b"}, request_id=2),
        call("nope", request_id=3),
        {"jsonrpc": "1.0"},
    ]
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        answers = await peer.request(batch)
        await peer.send_json([{"jsonrpc": "2.0", "method": "trading.pause"}])
        after = await peer.request(call("echo", {"text": "x"}, request_id=4))
        await peer.close()
    assert [answer["id"] for answer in answers] == [1, 2, 3, None]
    assert answers[0]["result"] == {"text": "one"}
    assert answers[1]["result"] == {"trading_state": "HALTED"}
    assert answers[2]["error"]["code"] == METHOD_NOT_FOUND
    assert answers[3]["error"]["code"] == INVALID_REQUEST
    assert engine.pauses == ["a", "b", None]  # order kept; a notification-only batch: no answer
    assert after["id"] == 4


async def test_discover_lists_every_method_and_whether_the_caller_may_call_it(
    socket_path: Path, engine: FakeEngine, viewer_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, viewer_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("rpc.discover"))
        await peer.close()
    result = answer["result"]
    methods = {method["name"]: method for method in result["methods"]}
    assert set(methods) == {
        *engine.methods(),
        "events.subscribe",
        "events.unsubscribe",
        "rpc.discover",
    }
    assert methods["trading.pause"]["allowed"] is False
    assert methods["trading.pause"]["min_role"] == "operator"
    assert methods["trading.pause"]["changes_state"] is True
    assert methods["engine.status"]["allowed"] is True
    assert methods["echo"]["params"] == ["text", "times"]
    assert result["role"] == "viewer"
    assert {topic["name"] for topic in result["topics"]} == {
        "fills",
        "orders",
        "state",
        "pnl",
        "alerts",
        "logs",
        "recon",
        "mapping",
    }


async def test_subscribing_to_an_unknown_topic_lists_the_valid_ones(
    socket_path: Path, engine: FakeEngine, viewer_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, viewer_roles):
        peer = await RawPeer.open(socket_path)
        answer = await peer.request(call("events.subscribe", {"topics": ["fills", "gossip"]}))
        await peer.close()
    assert answer["error"]["code"] == INVALID_PARAMS
    assert "gossip" in answer["error"]["message"]
    assert answer["error"]["data"]["valid_topics"] == sorted(
        ["fills", "orders", "state", "pnl", "alerts", "logs", "recon", "mapping"]
    )


async def test_subscribe_and_unsubscribe_report_the_current_topics(
    socket_path: Path, engine: FakeEngine, viewer_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, viewer_roles) as server:
        client = await ControlClient.connect(socket_path)
        assert await client.subscribe(["fills", "state"]) == ["fills", "state"]
        assert server.subscriber_count == 1
        assert await client.subscribe(["pnl"]) == ["fills", "pnl", "state"]
        assert await client.unsubscribe(["fills", "pnl", "state"]) == []
        assert server.subscriber_count == 0
        await client.close()


async def test_requests_on_one_connection_run_concurrently(
    socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    async with running_server(socket_path, engine, operator_roles):
        peer = await RawPeer.open(socket_path)
        await peer.send_json(call("sleep", {"seconds": 2}, request_id="slow"))
        quick = await asyncio.wait_for(peer.request(call("engine.status", request_id="quick")), 1)
        slow = await peer.receive()
        await peer.close()
    assert quick["id"] == "quick"
    assert slow["id"] == "slow"


def test_methods_must_not_take_built_in_names(engine: FakeEngine, socket_path: Path) -> None:
    spec = MethodSpec("rpc.discover", "mine", engine.status, NoParams, Role.VIEWER, False)
    with pytest.raises(ValueError, match="reserved"):
        ControlServer(socket_path, {"rpc.discover": spec}, roles_granting(0, Role.ADMIN))


def test_params_models_must_forbid_unknown_fields(engine: FakeEngine) -> None:
    from pydantic import BaseModel

    class Lenient(BaseModel):
        reason: str | None = None

    with pytest.raises(ValueError, match="extra='forbid'"):
        MethodSpec("trading.pause", "pause", engine.pause, Lenient, Role.OPERATOR, True)
