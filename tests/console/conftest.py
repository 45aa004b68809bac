"""Fixtures for the console tests: real engines in child processes, fixture engine data.

`async def` tests (Textual's `run_test()`) run in a fresh event loop each (the project has
no asyncio plugin), with a time limit so a hung app fails the test instead of the run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engine.engine_process import EngineProcess, init_home

ASYNC_TEST_SECONDS = 120


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run coroutine tests to completion in their own event loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def bounded() -> None:
        await asyncio.wait_for(pyfuncitem.obj(**arguments), ASYNC_TEST_SECONDS)

    asyncio.run(bounded())
    return True


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A new bot home made by `tbot init` (identity TBOT_US_SIM_BOT01, template config)."""
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
