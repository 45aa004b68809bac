"""The systemd units in systemd/: their key settings, `systemd-analyze verify` and the
hardening score of `systemd-analyze security`, and that tbot runs under the unit's W^X rule.

Only offline modes of systemd-analyze are used: the tests run in containers without a
running systemd.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
ENGINE_UNIT = UNIT_DIR / "tbot-engine@.service"
BACKUP_UNIT = UNIT_DIR / "tbot-backup@.service"
BACKUP_TIMER = UNIT_DIR / "tbot-backup@.timer"
ALL_UNITS = (ENGINE_UNIT, BACKUP_UNIT, BACKUP_TIMER)

INSTALLED_TBOT = "/opt/tbot/.venv/bin/tbot"
MAX_EXPOSURE = 2.0
_EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")

# prctl(2) constants for the kernel's per-process "memory deny write execute" (Linux 6.3+).
_PR_SET_MDWE = 65
_PR_GET_MDWE = 66
_PR_MDWE_REFUSE_EXEC_GAIN = 1


def _read_unit(path: Path) -> configparser.ConfigParser:
    # strict=False: systemd allows repeated keys (SystemCallFilter=); no interpolation so
    # specifiers like %i and %t stay as written; optionxform keeps keys case-sensitive.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed")
    return found


def _installable_copies(directory: Path, units: tuple[Path, ...] = ALL_UNITS) -> list[Path]:
    """Copies of `units` in `directory` whose ExecStart binary exists on this machine.

    `systemd-analyze verify` refuses a unit whose ExecStart program is missing, and
    /opt/tbot is not installed where the tests run; /usr/bin/env exists everywhere and keeps
    the rest of the command line as it is.
    """
    copies = []
    for unit in units:
        copy = directory / unit.name
        copy.write_text(unit.read_text().replace(INSTALLED_TBOT, "/usr/bin/env"))
        copies.append(copy)
    return copies


def _verify(analyze: str, units: list[Path]) -> subprocess.CompletedProcess[str]:
    # The log level is pinned so an inherited SYSTEMD_LOG_LEVEL=err cannot hide warnings.
    return subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        check=False,
        cwd=units[0].parent,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "info", "SYSTEMD_LOG_COLOR": "0"},
    )


def _exposure(analyze: str, unit: Path) -> float:
    result = subprocess.run(
        [analyze, "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYSTEMD_COLORS": "0"},
    )
    match = _EXPOSURE.search(result.stdout)
    assert match, f"no exposure level in:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1))


# -- the settings the engine and the docs rely on ------------------------------------------
def test_engine_unit_runs_the_engine_as_a_notify_service_that_restarts_on_failure() -> None:
    service = _read_unit(ENGINE_UNIT)["Service"]

    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "5"
    assert service["WatchdogSec"] == "30"
    assert service["TimeoutStopSec"] == "60"
    assert service["KillSignal"] == "SIGTERM"
    assert service["ExecStart"] == (
        f"{INSTALLED_TBOT} engine --home /var/lib/tbot/%i --socket %t/tbot-%i/engine.sock"
    )


def test_engine_unit_runs_as_tbot_with_its_home_socket_dir_and_group_access() -> None:
    service = _read_unit(ENGINE_UNIT)["Service"]

    assert (service["User"], service["Group"]) == ("tbot", "tbot")
    assert service["UMask"] == "0007"
    assert service["RuntimeDirectory"] == "tbot-%i"
    assert service["RuntimeDirectoryMode"] == "0750"
    assert service["StateDirectory"] == "tbot/%i"
    assert service["StateDirectoryMode"] == "0750"
    assert "/var/lib/tbot/%i" in service["ReadWritePaths"].split()
    assert "TBOT_CONTROL_SOCKET=%t/tbot-%i/engine.sock" in service["Environment"].split()


def test_engine_unit_keeps_the_network_and_peer_credentials_the_engine_needs() -> None:
    service = _read_unit(ENGINE_UNIT)["Service"]

    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # A private user namespace would report every operator's uid as nobody over SO_PEERCRED.
    assert service.get("PrivateUsers", "no") == "no"
    assert "IPAddressDeny" not in service


def test_backup_service_verifies_the_ledger_of_the_same_home_as_tbot() -> None:
    service = _read_unit(BACKUP_UNIT)["Service"]

    assert service["Type"] == "oneshot"
    assert (service["User"], service["Group"]) == ("tbot", "tbot")
    assert service["ExecStart"] == f"{INSTALLED_TBOT} ledger verify --home /var/lib/tbot/%i"


def test_backup_service_runs_the_drill_then_the_archive_then_verify() -> None:
    commands = [line.removeprefix("ExecStart=") for line in BACKUP_UNIT.read_text().splitlines()
                if line.startswith("ExecStart=")]

    assert commands == [f"{INSTALLED_TBOT} ledger backup --drill --home /var/lib/tbot/%i",
                        f"{INSTALLED_TBOT} archive run --home /var/lib/tbot/%i",
                        f"{INSTALLED_TBOT} ledger verify --home /var/lib/tbot/%i"]


def test_backup_timer_runs_nightly_at_2230_utc_and_catches_up_missed_runs() -> None:
    timer = _read_unit(BACKUP_TIMER)["Timer"]

    assert timer["OnCalendar"] == "*-*-* 22:30:00 UTC"
    assert timer["Persistent"] == "true"


# -- systemd-analyze ------------------------------------------------------------------------
def test_systemd_analyze_verify_accepts_every_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = _systemd_analyze()

    result = _verify(analyze, _installable_copies(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_systemd_analyze_verify_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    (unit,) = _installable_copies(tmp_path, (ENGINE_UNIT,))
    unit.write_text(unit.read_text().replace("WatchdogSec=30", "WatchdogSecs=30"))

    result = _verify(analyze, [unit])

    assert "Unknown key 'WatchdogSecs'" in result.stderr


@pytest.mark.parametrize("unit", [ENGINE_UNIT, BACKUP_UNIT], ids=lambda unit: unit.name)
def test_service_hardening_exposure_is_at_most_two(unit: Path) -> None:
    analyze = _systemd_analyze()

    assert _exposure(analyze, unit) <= MAX_EXPOSURE


def test_exposure_check_fails_an_unhardened_unit(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    bare = tmp_path / "tbot-bare@.service"
    bare.write_text(f"[Service]\nExecStart={INSTALLED_TBOT} engine\nUser=tbot\n")

    assert _exposure(analyze, bare) > MAX_EXPOSURE


# -- MemoryDenyWriteExecute=yes --------------------------------------------------------------
def _kernel_refuses_write_execute() -> bool:
    """Whether this kernel has PR_SET_MDWE (probed in a child so this process is untouched)."""
    probe = (
        "import ctypes, sys; "
        f"sys.exit(ctypes.CDLL(None).prctl({_PR_SET_MDWE}, {_PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0))"
    )
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_tbot_runs_with_write_execute_memory_refused(tmp_path: Path) -> None:
    if not _kernel_refuses_write_execute():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    # The launcher sets the kernel's W^X rule (what MemoryDenyWriteExecute=yes enforces),
    # then execs a fresh interpreter under it, which checks the rule is on and makes and
    # verifies a whole demo home (pydantic-core, cryptography, SQLite).
    under_rule = textwrap.dedent(
        f"""
        import ctypes, sys
        assert ctypes.CDLL(None).prctl({_PR_GET_MDWE}, 0, 0, 0, 0) == {_PR_MDWE_REFUSE_EXEC_GAIN}
        from pathlib import Path
        from tbot.admin.demo_home import create_demo_home
        from tbot.clock import SystemClock
        from tbot.ledger.verify import verify_ledger
        bot = create_demo_home(Path(sys.argv[1]), SystemClock(), actor="test")
        report = verify_ledger(bot.paths.ledger_db, bot.paths.coa_db())
        sys.exit(0 if report.ok else 1)
        """
    )
    launcher = textwrap.dedent(
        f"""
        import ctypes, os, sys
        assert ctypes.CDLL(None).prctl({_PR_SET_MDWE}, {_PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0) == 0
        os.execv(sys.executable, [sys.executable, "-c", sys.argv[1], sys.argv[2]])
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", launcher, under_rule, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.returncode == 0, result.stderr
