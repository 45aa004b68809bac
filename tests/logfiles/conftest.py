"""Fixtures for the log-rotation tests: a frozen clock on a Friday afternoon (UTC), a
`logs/` folder that does not exist yet, and the `BotPaths` of a bot home in tmp_path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.identity import BotIdentity
from tbot.config.paths import BotPaths

DAY = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
"""The frozen clock's start."""
IDENTITY = BotIdentity.model_validate({"ENTITY_CODE": "TBOT", "JURISDICTION_CODE": "US",
                                       "BROKER_CODE": "SIM", "BOT_ID": "BOT01"})


@pytest.fixture
def clock() -> FrozenClock:
    """A clock at `DAY`, moved by the test."""
    return FrozenClock(DAY)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Where a bare `RotatingLog` writes (created on the first line)."""
    return tmp_path / "logs"


@pytest.fixture
def paths(tmp_path: Path) -> BotPaths:
    """The identity-scoped paths of a bot home in tmp_path."""
    return BotPaths(tmp_path, IDENTITY)
