"""Fixtures for engine tests: a fresh home and engines in child processes, always reaped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engine.engine_process import EngineProcess, init_home

# A Friday whose generated market (SIM_SEED of the template) has opening-range breakouts.
TRADING_DAY = "2026-11-20"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A new bot home (identity TBOT_US_SIM_BOT01, template config)."""
    return init_home(tmp_path / "home")


@pytest.fixture
def start_engine() -> Iterator[Callable[..., EngineProcess]]:
    """Start `tbot engine --home H ARGS` in a child process; killed at teardown."""
    engines: list[EngineProcess] = []

    def start(home: Path, *args: str) -> EngineProcess:
        engine = EngineProcess(home, *args)
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        engine.close()
