"""The top line of every screen: who, whether we are connected, and the states that matter.

Two rows at most, so it fits 80 columns: the bot and the view on the left, the connection
on the right; then the trading state as a reversed badge (impossible to miss, and readable
in 16 colours), the engine state and the engine's clock.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from tui.model.formatting import clock_time, duration, trading_state_badge
from tui.model.live_state import LinkState, LiveState


class StatusBar(Static):
    """Identity, connection, trading state, engine state and clock."""

    DEFAULT_CSS = """
    StatusBar {
        height: 2;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, view_title: str = "") -> None:
        super().__init__("", id="status-bar")
        self.view_title = view_title

    def show(self, live: LiveState, now: datetime) -> None:
        """Redraw from the live state; `now` is the console's clock (for 'offline since')."""
        self.update(render_status(live, now, self.view_title, self.app_bot_name()))

    def app_bot_name(self) -> str:
        """The bot's name from its home, else what the engine calls itself."""
        bot = str(getattr(self.app, "bot_name", ""))
        live = getattr(self.app, "live", None)
        if not bot and live is not None and live.status is not None:
            bot = live.status.bot
        return bot


def _connection_text(live: LiveState, now: datetime) -> Text:
    info = live.connection
    if info.state is LinkState.ONLINE:
        role = f" as {info.role}" if info.role else ""
        return Text(f"● online{role}", style="bold green")
    since = duration((now - info.since).total_seconds())
    if info.state is LinkState.CONNECTING:
        return Text(f"◌ connecting… ({since})", style="bold yellow")
    return Text(f"✖ OFFLINE since {clock_time(info.since)} ({since})", style="bold white on red")


def render_status(live: LiveState, now: datetime, view_title: str, bot: str) -> Text:
    """The two status lines as rich text (a function, so tests can read it)."""
    first = Text()
    first.append(bot or "tbot", style="bold")
    if view_title:
        first.append(f" · {view_title}")
    first.append("  ")
    first.append_text(_connection_text(live, now))
    second = Text()
    status = live.status
    if status is None:
        second.append(" no engine data yet ", style="dim")
        return Text("\n").join([first, second])
    second.append_text(trading_state_badge(status.trading.state))
    second.append(f" engine {status.engine_state}")
    clock = status.clock
    speed = f" ×{clock.speed:g}" if clock.mode == "sim" else ""
    second.append(f"  {clock.mode} {clock_time(clock.now)}{speed}")
    if not live.connection.online:
        second.append("  (last known)", style="dim")
    return Text("\n").join([first, second])
