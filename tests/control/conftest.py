"""Fixtures for the control-plane tests: real Unix sockets in tmp_path, a tiny method table.

`async def` tests run in a fresh event loop each (the project has no asyncio plugin), with
a time limit so a hung socket fails the test instead of the run.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path

import pytest

from tbot.control.roles import Role, RoleMap
from tests.control.control_support import FakeEngine

ASYNC_TEST_SECONDS = 60


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
def socket_path(tmp_path: Path) -> Path:
    """Where the test server binds: short enough for AF_UNIX in pytest's tmp_path."""
    return tmp_path / "control" / "engine.sock"


@pytest.fixture
def my_uid() -> int:
    """The uid the tests (and so every test client) run as."""
    return os.getuid()


def roles_granting(uid: int, role: Role) -> RoleMap:
    """A role map giving `uid` exactly `role`."""
    return RoleMap({uid: role}, {})


@pytest.fixture
def operator_roles(my_uid: int) -> RoleMap:
    """This process is an OPERATOR."""
    return roles_granting(my_uid, Role.OPERATOR)


@pytest.fixture
def viewer_roles(my_uid: int) -> RoleMap:
    """This process is only a VIEWER."""
    return roles_granting(my_uid, Role.VIEWER)


@pytest.fixture
def engine() -> FakeEngine:
    """The method table the test servers serve, with a record of what ran."""
    return FakeEngine()
