"""`tbot console` and `tbot demo` from the command line: clear refusals, the settings the
console gets from a home, and a demo session that never leaves an engine behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tbot.admin.init_home import HomeExistsError
from tbot.cli.main import main
from tbot.config.problems import ConfigError
from tbot.config.setting_types import SimFault
from tbot.control.client import call_once
from tests.console.terminal_screen import engine_processes, is_running
from tests.engine.engine_process import REPO, tbot_command
from tui.demo import DEMO_FAULTS, DemoError, DemoSession
from tui.launch import settings_for_home

IDENTITY = "TBOT_US_SIM_BOT01"


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """`tbot ARGS` in-process (stdout is not a terminal here); exit status and stderr."""
    capsys.readouterr()
    code = main([str(arg) for arg in args])
    return code, capsys.readouterr().err


def _wait_gone(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while is_running(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.05)


# -- tbot console ------------------------------------------------------------------------


def test_console_on_a_directory_that_is_no_bot_home_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "console", "--home", tmp_path)
    assert code == 2
    assert f"cannot open the console on {tmp_path}" in err
    assert ".env: file not found" in err


def test_console_on_a_home_without_identity_says_so(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "storage/secrets/bot_identity.json.enc").unlink()
    code, err = _run(capsys, "console", "--home", home)
    assert code == 2
    assert "bot_identity.json.enc: file not found" in err


def test_console_without_a_terminal_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "console", "--home", home)
    assert code == 2
    assert "tbot console needs a terminal (run it over ssh -t)" in err


def test_demo_without_a_terminal_makes_and_starts_nothing(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = subprocess.run(
        tbot_command("demo", "--home", target, "--speed", "300"),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "tbot demo needs a terminal (run it over ssh -t)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()
    assert engine_processes(target) == []


def test_demo_refuses_a_speed_the_engine_would_refuse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = _run(capsys, "demo", "--speed", "0")
    assert code == 2
    assert "the speed must be above 0" in err


# -- settings_for_home -------------------------------------------------------------------


def test_settings_name_the_bot_its_ledger_and_its_own_socket(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TBOT_CONTROL_SOCKET", raising=False)
    settings = settings_for_home(home, None)
    assert settings.bot_name == IDENTITY
    assert settings.bot_id == "BOT01"
    assert settings.socket_path == home / "control" / "engine.sock"
    ledger = home / "output" / IDENTITY / "ledgers" / f"{IDENTITY}_BOT_ledger.db"
    assert settings.ledger_path == ledger


def test_settings_have_no_ledger_before_the_file_exists(home: Path) -> None:
    ledger = home / "output" / IDENTITY / "ledgers" / f"{IDENTITY}_BOT_ledger.db"
    ledger.unlink()
    assert settings_for_home(home, None).ledger_path is None


def test_the_socket_option_wins_over_the_environment_which_wins_over_the_home(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TBOT_CONTROL_SOCKET", str(tmp_path / "from-env.sock"))
    assert settings_for_home(home, None).socket_path == tmp_path / "from-env.sock"
    explicit = settings_for_home(home, tmp_path / "explicit.sock")
    assert explicit.socket_path == tmp_path / "explicit.sock"


def test_a_user_keymap_is_used_only_when_the_file_exists(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keymap = tmp_path / "keymap.toml"
    monkeypatch.setenv("TBOT_KEYMAP", str(keymap))
    assert settings_for_home(home, None).keymap_path is None
    keymap.write_text('[keys]\n"app.help" = "f1"\n')
    assert settings_for_home(home, None).keymap_path == keymap


def test_settings_for_a_directory_that_is_no_home_raise_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the console"):
        settings_for_home(tmp_path, None)


def test_an_operator_who_cannot_read_the_home_still_gets_a_console_on_the_socket(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a server `.env` is 0600: an operator given the socket still watches the engine.
    def denied(_home: Path) -> None:
        raise PermissionError(13, "Permission denied", str(home / ".env"))

    monkeypatch.setattr("tui.launch.open_bot_paths", denied)
    monkeypatch.delenv("TBOT_CONTROL_SOCKET", raising=False)
    with pytest.raises(ConfigError, match="Permission denied"):
        settings_for_home(home, None)
    settings = settings_for_home(home, tmp_path / "engine.sock")
    assert (settings.bot_name, settings.bot_id, settings.ledger_path) == ("", "", None)
    assert settings.socket_path == tmp_path / "engine.sock"
    assert settings.ledger_note is not None and "not readable" in settings.ledger_note


# -- DemoSession -------------------------------------------------------------------------


def test_a_demo_session_runs_an_engine_and_stops_it_on_exit(tmp_path: Path) -> None:
    with DemoSession(speed=60) as demo:
        home, pid = demo.home, demo.engine_pid
        assert pid is not None and is_running(pid)
        assert demo.pid_file.read_text().strip() == str(pid)
        status = call_once(demo.socket_path, "engine.status", None, timeout=10)
        assert status["clock"]["mode"] == "sim"
        assert status["clock"]["speed"] == 60
        assert status["bot"] == "DEMO_US_SIM_BOT01"
        # The demo engine keeps its positions on the way out: quitting is instant.
        assert "CLOSE_POSITIONS_ON_SHUTDOWN=false" in (home / ".env_bot").read_text()
        # Fault mode on: the day brings breaks of every kind and an unmapped fee to clear.
        assert f"SIM_FAULTS={DEMO_FAULTS}" in (home / ".env_bot").read_text().splitlines()
    assert not is_running(pid)
    assert demo.engine_returncode == 0
    assert engine_processes(home) == []
    assert not home.exists()  # a temporary home goes with the demo
    assert demo.farewell() == "The demo engine stopped. The demo home was removed."


def test_every_fault_is_in_the_demos_fault_list() -> None:
    assert set(DEMO_FAULTS.split(",")) == {fault.value for fault in SimFault}


def test_a_demo_without_faults_keeps_the_broker_well_behaved(tmp_path: Path) -> None:
    with DemoSession(speed=60, home=tmp_path / "calm", faults=False) as demo:
        assert "SIM_FAULTS=none" in (demo.home / ".env_bot").read_text().splitlines()


def test_a_demo_session_stops_the_engine_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "kept"
    with (
        pytest.raises(RuntimeError, match="console crashed"),
        DemoSession(speed=60, home=target) as demo,
    ):
        pid = demo.engine_pid
        assert pid is not None
        raise RuntimeError("console crashed")
    assert not is_running(pid)
    assert engine_processes(target) == []
    assert not demo.socket_path.exists()
    assert not demo.pid_file.exists()
    assert (target / ".env").is_file()  # a home given with --home is kept
    assert "engine started" in demo.log_path.read_text()
    assert demo.farewell() == f"The demo engine stopped. The demo home is kept at {target}."


def test_a_demo_session_refuses_an_existing_home_and_starts_nothing(home: Path) -> None:
    before = (home / ".env_bot").read_text()
    session = DemoSession(home=home)
    with pytest.raises(HomeExistsError):
        session.start()
    assert not session.was_started
    assert (home / ".env_bot").read_text() == before


def test_an_engine_that_cannot_start_fails_the_demo_with_its_output(tmp_path: Path) -> None:
    target = tmp_path / "bad"
    session = DemoSession(speed=0, home=target)  # the engine refuses --speed 0
    with pytest.raises(DemoError, match=r"exited with status 2 before it was ready") as failure:
        session.start()
    assert "--speed" in failure.value.message
    assert session.engine_died_by_itself
    assert engine_processes(target) == []


# A demo in its own process, as `tbot demo` runs it: prints the engine's pid, then waits.
DEMO_PROCESS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tui.demo import DemoInterrupted, DemoSession
    try:
        with DemoSession(speed=60, home=Path(sys.argv[1])) as demo:
            print(demo.engine_pid, flush=True)
            time.sleep(120)
    except DemoInterrupted as interrupted:
        sys.exit(128 + interrupted.signum)
    """
)


def _start_demo_process(home: Path) -> tuple[subprocess.Popen[str], int]:
    demo = subprocess.Popen(
        [sys.executable, "-c", DEMO_PROCESS, str(home)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    line = demo.stdout.readline()
    assert line.strip().isdigit(), f"the demo printed {line!r}"
    return demo, int(line)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_to_the_demo_stops_its_engine(tmp_path: Path, stop_signal: int) -> None:
    home = tmp_path / "demo"
    demo, engine_pid = _start_demo_process(home)
    try:
        assert is_running(engine_pid)
        demo.send_signal(stop_signal)
        assert demo.wait(20) == 128 + stop_signal
        assert not is_running(engine_pid)  # stopped before the demo exited
        assert engine_processes(home) == []
    finally:
        demo.kill()
        demo.wait()


def test_an_engine_outlives_no_demo_killed_outright(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    demo, engine_pid = _start_demo_process(home)
    try:
        demo.kill()  # SIGKILL: no handler runs; the kernel tells the engine
        demo.wait(10)
        _wait_gone(engine_pid)
        assert engine_processes(home) == []
    finally:
        demo.kill()
        demo.wait()
