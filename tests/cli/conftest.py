"""Fixtures for CLI tests: a real bot home made by `tbot init`, and a runner for commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tbot.cli.main import main
from tests.cli.cli_support import CliResult, Runner


@pytest.fixture
def run_tbot(capsys: pytest.CaptureFixture[str]) -> Runner:
    """Run `tbot ARGS...` in-process and capture its output."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def home(tmp_path: Path, run_tbot: Runner) -> Path:
    """A freshly initialised bot home (identity TBOT_US_SIM_BOT01)."""
    target = tmp_path / "home"
    result = run_tbot("init", "--home", target)
    assert result.code == 0, result.err
    return target


@pytest.fixture
def ledger_path(home: Path) -> Path:
    """The home's ledger file."""
    return home / "output/TBOT_US_SIM_BOT01/ledgers/TBOT_US_SIM_BOT01_BOT_ledger.db"
