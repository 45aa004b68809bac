"""Timing what the operator sees: every frame the (headless) app paints is timestamped, so
a key press is measured to the first frame that shows its effect, not to when a handler
returned."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot


class FrameClock:
    """Timestamps every frame the app sends to its (headless) terminal."""

    def __init__(self, app: App[Any]) -> None:
        self.frames: list[float] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            self.frames.append(time.perf_counter())
            for check in list(self._waiting):
                if check():
                    self._waiting.pop(check).set_result(time.perf_counter())

        app._display = display  # type: ignore[method-assign]
        self._waiting: dict[Callable[[], bool], asyncio.Future[float]] = {}

    def expect(self, check: Callable[[], bool]) -> asyncio.Future[float]:
        """A future for the time of the first frame painted once `check()` holds; set it up
        before pressing the key, so a frame painted during the press is not missed."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[check] = future
        return future


async def timed(pilot: Pilot[Any], frames: FrameClock, key: str,
                check: Callable[[], bool], timeout: float = 30.0) -> float:
    """Seconds from pressing `key` to the first frame where `check()` holds."""
    shown = frames.expect(check)
    started = time.perf_counter()
    await pilot.press(key)
    return await asyncio.wait_for(shown, timeout) - started
