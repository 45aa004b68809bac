"""What the console's pilot tests share: waiting for the screen to settle, and an app that
remembers the toasts it showed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import ConsoleApp

SETTLE_SECONDS = 15.0
"""A deadline, not a number of pauses: a loaded CI machine pauses longer."""


async def settle(pilot: Pilot[Any], check: Callable[[], bool] | None = None) -> None:
    """Let workers and screens catch up (until `check` holds); no blinking cursors."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while True:
        await pilot.pause(0.02)
        if check is None or check():
            break
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the screen never settled")
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


class ToastingConsole(ConsoleApp):
    """The console app, remembering the toasts it showed as (message, severity)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.toasts: list[tuple[str, str]] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.toasts.append((message, str(kwargs.get("severity", "information"))))
        super().notify(message, *args, **kwargs)
