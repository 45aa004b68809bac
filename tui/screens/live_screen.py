"""The frame every console view shares: status bar on top, footer of keys below.

The footer is a one-line `KeyBar`. A `LiveScreen` refreshes from the app's `LiveState`
when the app says a topic changed (`LiveUpdated`) and whenever it becomes the visible
screen again, so hidden screens cost nothing while the engine streams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen

from tui.messages import LiveUpdated
from tui.model.live_state import ALL_TOPICS, LiveState, Topic
from tui.widgets.key_bar import KeyBar
from tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tui.app import ConsoleApp


class LiveScreen(Screen[None]):
    """A view of the live state. Subclasses compose `body()` and implement `refresh_live`."""

    VIEW_TITLE: ClassVar[str] = ""
    """Shown in the status bar and the help screen."""

    @property
    def console(self) -> ConsoleApp:
        """The app, typed."""
        return cast("ConsoleApp", self.app)

    @property
    def live(self) -> LiveState:
        """The app's live state."""
        return self.console.live

    def compose(self) -> ComposeResult:
        yield StatusBar(view_title=self.VIEW_TITLE)
        yield from self.body()
        yield KeyBar()

    def body(self) -> ComposeResult:
        """The view's own widgets, between the status bar and the footer."""
        yield from ()

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        """Show what changed in `topics`. The default does nothing."""

    def on_live_updated(self, message: LiveUpdated) -> None:
        self._refresh_all(message.topics)

    def on_screen_resume(self) -> None:
        self._refresh_all(ALL_TOPICS)

    def _refresh_all(self, topics: frozenset[Topic]) -> None:
        if Topic.CONNECTION in topics or Topic.STATUS in topics:
            for bar in self.query(StatusBar):
                bar.show(self.live, self.console.clock.now())
        self.refresh_live(topics)
