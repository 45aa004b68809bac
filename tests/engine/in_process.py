"""Helpers for tests that drive the real engine in this process, minute by minute, on the
simulated broker: the `.env_bot` edits, one market minute as the run loop delivers it, and
an entry signal as a strategy sends it."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path

from tbot.config.setting_types import StrategyName
from tbot.engine.engine import Engine
from tbot.strategy.signals import TAG_NONE, Direction, EntrySignal

MINUTE = timedelta(minutes=1)


def set_bot_keys(home: Path, **values: str) -> None:
    """Rewrite `.env_bot` keys in place."""
    path = home / ".env_bot"
    lines = [
        next((f"{key}={value}" for key, value in values.items() if line.startswith(f"{key}=")),
             line)
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")


async def step(engine: Engine, minute: datetime) -> None:
    """One market minute as the run loop delivers it: at the minute's end."""
    if engine.clock.now() < minute + MINUTE:
        # a fast simulated clock may pass the minute's end meanwhile: then it is there
        with contextlib.suppress(ValueError):
            engine.clock.jump_to(minute + MINUTE)  # type: ignore[attr-defined]
    await engine._process_minute(minute)
    engine._cursor = minute + MINUTE


def entry(engine: Engine, symbol: str, at: datetime,
          strategy: StrategyName = StrategyName.CLOSE) -> EntrySignal:
    """A long entry in `symbol` at its last price, as `strategy` would send it at `at`."""
    price = engine.last_prices[symbol]
    return EntrySignal(strategy=strategy, underlying=symbol, instrument=symbol,
                       direction=Direction.LONG, trigger_price=price, reference_price=price,
                       at=at, reason="test entry", tag=TAG_NONE, leverage_multiplier=1)
