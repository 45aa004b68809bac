"""What the app needs from a link to the engine, whichever link it is.

`EngineLink` (`tui.link.engine_link`) is the real one, over the control socket;
`FixtureLink` (`tui.link.fixture_link`) replays fixed records for snapshot tests and
benchmarks. Both write into the app's `LiveState` and call `notify` with the topics that
changed; neither touches a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tui.model.live_state import LiveState, Topic

Notify = Callable[[frozenset[Topic]], None]


class ConsoleLink(Protocol):
    """A source of live state and a way to send commands."""

    state: LiveState

    async def run(self) -> None:
        """Keep the live state fed until cancelled: connect, reconnect, poll, listen."""
        ...

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> object:
        """Send one request now. Raises `EngineUnavailableError` when offline and
        `RpcCallError` when the engine answers with an error."""
        ...

    async def refresh(self) -> None:
        """Reload every read (status, positions, orders, PnL, account) at once."""
        ...

    async def close(self) -> None:
        """Drop the connection; `run` ends."""
        ...
