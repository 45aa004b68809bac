"""`tbot ctl`: the socket it picks, what it prints, and its exit status (0 / 1 / 2)."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from pathlib import Path

import pytest

from tbot.cli import control_commands
from tbot.cli.control_commands import SOCKET_ENV_VAR, control_socket_path
from tbot.cli.output import Output
from tbot.config.loader import template_text
from tbot.control.roles import RoleMap
from tbot.control.wire import INVALID_PARAMS, REFUSED
from tests.cli.cli_support import CliResult, Runner
from tests.control.control_support import FakeEngine, ServerThread


@pytest.fixture
def ctl(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """Run `tbot ctl ARGS...` through a parser built the way tbot.cli.main builds it."""
    monkeypatch.delenv(SOCKET_ENV_VAR, raising=False)

    def run(*args: str | Path) -> CliResult:
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--home")
        common.add_argument("--json", action="store_true")
        parser = argparse.ArgumentParser(prog="tbot")
        commands = parser.add_subparsers(dest="command", required=True)
        control_commands.register(commands, common)
        parsed = parser.parse_args(["ctl", *(str(arg) for arg in args)])
        capsys.readouterr()
        code = parsed.handler(parsed, Output(json_mode=parsed.json))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def test_a_successful_call_prints_the_result_and_exits_0(
    ctl: Runner, socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    with ServerThread(socket_path, engine, operator_roles):
        result = ctl("engine.status", "--socket", socket_path)
        paused = ctl("trading.pause", "--params", '{"reason": "lunch"}', "--socket", socket_path)
    assert result.code == 0, result.err
    assert result.json()["equity"] == "100184.30"
    assert result.out.startswith("{\n")  # pretty-printed for people
    assert paused.code == 0
    assert engine.pauses == ["lunch"]


def test_an_error_answer_is_printed_as_json_on_stderr_and_exits_1(
    ctl: Runner, socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    with ServerThread(socket_path, engine, operator_roles):
        refused = ctl("trading.resume", "--socket", socket_path)
        invalid = ctl("echo", "--params", '{"text": 3}', "--socket", socket_path)
    assert refused.code == 1
    assert refused.out == ""
    assert json.loads(refused.err) == {
        "code": REFUSED,
        "message": "halted by the kill switch: risk.reset first",
        "data": {"state": "HALTED"},
    }
    assert invalid.code == 1
    assert json.loads(invalid.err)["code"] == INVALID_PARAMS


def test_no_engine_exits_2_with_a_clear_message(ctl: Runner, tmp_path: Path) -> None:
    result = ctl("engine.status", "--socket", tmp_path / "engine.sock")
    assert result.code == 2
    assert "no engine socket" in result.err
    assert result.out == ""


@pytest.mark.parametrize("params", ["{not json", "[1, 2]"], ids=["invalid", "not-an-object"])
def test_bad_params_exit_2(ctl: Runner, tmp_path: Path, params: str) -> None:
    result = ctl("engine.status", "--params", params, "--socket", tmp_path / "engine.sock")
    assert result.code == 2
    assert "--params" in result.err


def test_follow_needs_events_subscribe(ctl: Runner, tmp_path: Path) -> None:
    result = ctl("engine.status", "--follow", "--socket", tmp_path / "engine.sock")
    assert result.code == 2
    assert "events.subscribe" in result.err


def test_follow_streams_one_json_event_per_line(
    ctl: Runner, socket_path: Path, engine: FakeEngine, operator_roles: RoleMap
) -> None:
    with ServerThread(socket_path, engine, operator_roles) as running:
        server = running.server
        assert server is not None

        async def publish_then_stop() -> None:
            while server.subscriber_count == 0:
                await asyncio.sleep(0.01)
            for number in range(3):
                server.publish("fills", {"symbol": "SPY", "number": number})
            server.publish("alerts", {"level": "info", "message": "not followed"})
            await asyncio.sleep(0.1)
            await server.stop()

        publisher = threading.Thread(target=running.run, args=(publish_then_stop(),))
        publisher.start()
        result = ctl(
            "events.subscribe",
            "--params",
            '{"topics": ["fills"]}',
            "--follow",
            "--socket",
            socket_path,
        )
        publisher.join()
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [(line["topic"], line["seq"], line["data"]["number"]) for line in lines] == [
        ("fills", 1, 0),
        ("fills", 2, 1),
        ("fills", 3, 2),
    ]
    assert "subscribed to fills" in result.err
    assert result.code == 2  # the engine went away
    assert "closed the connection" in result.err


def test_the_socket_comes_from_the_flag_then_the_environment_then_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv(SOCKET_ENV_VAR, raising=False)
    # No readable .env: the default layout.
    assert control_socket_path(None, str(home)) == home / "control" / "engine.sock"
    # A valid .env with another CONTROL_DIR.
    env_text = template_text(".env").replace("CONTROL_DIR=control", "CONTROL_DIR=run/ctl")
    (home / ".env").write_text(env_text)
    assert control_socket_path(None, str(home)) == home / "run" / "ctl" / "engine.sock"
    monkeypatch.setenv(SOCKET_ENV_VAR, "/run/tbot/engine.sock")
    assert control_socket_path(None, str(home)) == Path("/run/tbot/engine.sock")
    assert control_socket_path("/elsewhere.sock", str(home)) == Path("/elsewhere.sock")
