"""Messages the app sends its screens."""

from __future__ import annotations

from textual.message import Message

from tui.model.live_state import Topic


class LiveUpdated(Message):
    """Parts of the live state changed; the active screen refreshes what shows them."""

    def __init__(self, topics: frozenset[Topic]) -> None:
        super().__init__()
        self.topics = topics
