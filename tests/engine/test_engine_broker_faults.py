"""A broker call that raises: the minute fails, the engine does not; health says why."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import open_home
from tbot.engine.engine import Engine, EngineOptions
from tests.engine.conftest import TRADING_DAY

START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")


class BrokenOnBars:
    """Wraps the simulated broker; `on_bars` raises while `broken` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broken = True

    def on_bars(self, *args: Any, **kwargs: Any) -> Any:
        if self.broken:
            raise RuntimeError("socket closed by peer")
        return self.inner.on_bars(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=START))
    engine.start_blocking()
    try:
        yield engine
    finally:
        engine.close_blocking()


def test_a_broker_call_that_raises_costs_the_minute_not_the_engine(engine: Engine) -> None:
    async def scenario() -> None:
        await engine.start()
        gateway, _ = engine.require_started()
        broken = BrokenOnBars(gateway.broker)
        gateway.broker = broken  # type: ignore[assignment]
        minute = datetime(2026, 11, 20, 14, 40, tzinfo=UTC)
        await engine._process_minute(minute)
        status = engine.report.status()
        assert "on_bars failed: RuntimeError: socket closed by peer" in (
            status["broker"]["last_error"]
        )
        assert status["counters"]["errors"] == 1
        assert broken.inner.sim_time is None or broken.inner.sim_time < minute
        broken.broken = False
        await engine._process_minute(minute.replace(minute=41))
        assert broken.inner.sim_time == minute.replace(minute=42)  # the market moved on
        assert engine.report.status()["broker"]["healthy"] is True

    asyncio.run(scenario())
