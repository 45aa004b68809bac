"""The alert/event log: what the engine said, newest at the bottom, coloured by level.

Every line of `LiveState.events` shows, info lines included, so the operator sees the day
unfold; warnings, errors and alerts stand out by colour and a level tag that also reads in
16 colours and without colour at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from tui.model.formatting import clock_time
from tui.model.live_state import EVENT_LOG_SIZE, EventLine

_LEVEL_TAGS: dict[str, tuple[str, str]] = {
    "debug": ("DBG ", "dim"),
    "info": ("INFO", ""),
    "warning": ("WARN", "bold yellow"),
    "warn": ("WARN", "bold yellow"),
    "error": ("ERR ", "bold red"),
    "critical": ("CRIT", "bold white on red"),
}
_MESSAGE_STYLES: dict[str, str] = {
    "debug": "dim",
    "warning": "yellow",
    "warn": "yellow",
    "error": "red",
    "critical": "bold red",
}

_SELF_EXPLAINING_TOPICS = frozenset({"fills", "logs"})
"""Topics whose lines already say what they are ("fill BUY ...", "logger: message")."""


def event_text(line: EventLine) -> Text:
    """One log line, e.g. `15:01:03Z WARN alerts broker: timeout`."""
    level = line.level.lower()
    tag, tag_style = _LEVEL_TAGS.get(level, (level[:4].upper().ljust(4), ""))
    text = Text()
    text.append(clock_time(line.at), style="dim")
    text.append(" ")
    text.append(tag, style=tag_style)
    text.append(" ")
    if line.topic and line.topic not in _SELF_EXPLAINING_TOPICS:
        # Alerts are what the engine wants a human to read: their topic is emphasised.
        text.append(line.topic, style="bold" if line.topic == "alerts" else "dim")
        text.append(" ")
    text.append(line.text, style=_MESSAGE_STYLES.get(level, ""))
    return text


class EventLog(RichLog):
    """The engine's events and alerts; follows the newest line unless scrolled up."""

    DEFAULT_CSS = """
    EventLog {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        # min_width: RichLog renders at least 78 cells wide by default, too wide to wrap in a
        # side panel.
        super().__init__(max_lines=EVENT_LOG_SIZE, wrap=True, markup=False, min_width=1, id=id)
        self._shown: list[EventLine] = []
        self._written_width = 0
        self._following = True
        """Whether the log keeps the newest line in view (False once scrolled up)."""

    def show(self, events: Sequence[EventLine]) -> None:
        """Bring the log up to date with `events` (oldest first, as the live state keeps
        them); only lines not shown yet are written."""
        fresh = self._unseen(events)
        if fresh is None:
            self._rewrite(events)
            return
        for line in fresh:
            self.write(event_text(line), scroll_end=self._following)
        self._shown.extend(fresh)
        del self._shown[:-EVENT_LOG_SIZE]

    def _unseen(self, events: Sequence[EventLine]) -> list[EventLine] | None:
        """The lines after the last one shown, or None when the log must be rebuilt (the
        events were cleared or more arrived than the live state keeps)."""
        if not self._shown:
            return list(events)
        last = self._shown[-1]
        fresh: list[EventLine] = []
        # Identity, not equality: two identical lines a second apart are two events.
        for line in reversed(events):
            if line is last:
                fresh.reverse()
                return fresh
            fresh.append(line)
        return None

    def _rewrite(self, events: Iterable[EventLine]) -> None:
        self.clear()
        self._shown = []
        for line in events:
            self.write(event_text(line))
            self._shown.append(line)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Only the operator scrolls up; new lines never move the view, so this is the
        # operator reading back (or returning to the end).
        self._following = new_value >= self.max_scroll_y

    def on_resize(self, event: Resize) -> None:
        # Lines are wrapped when written; a new width re-wraps what is shown.
        width = event.size.width
        if self._written_width and width != self._written_width and self._shown:
            self._rewrite(list(self._shown))
        self._written_width = width
