"""Reconciliation and mapping review: their places in the navigation, kept for a later
release. Each says what it will hold and where that work stands today, so an operator who
presses 4 or 5 learns something true instead of seeing an empty frame."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.screens.live_screen import LiveScreen


class _ComingScreen(LiveScreen):
    """A view whose engine side is not built yet."""

    PLANNED: ClassVar[str] = ""

    DEFAULT_CSS = """
    _ComingScreen VerticalScroll { padding: 1 2; }
    """

    def body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.PLANNED, classes="coming-text")


class ReconciliationScreen(_ComingScreen):
    """Where reconciliation breaks (ledger vs broker) will be reviewed and resolved."""

    VIEW_TITLE = "Reconciliation"
    PLANNED = (
        "[b]Reconciliation breaks[/b]\n\n"
        "This view will list the differences between the ledger and the broker "
        "(missing fills, foreign fills, cash activity, position mismatches) and let an "
        "operator resolve each one as an audited command.\n\n"
        "Today the engine already flags foreign fills and unbooked cash activity at start-up "
        "and in the alert log (press 1 for the dashboard); the review screen arrives with "
        "the reconciliation release."
    )


class MappingScreen(_ComingScreen):
    """Where the chart-of-accounts mapping queue will be reviewed."""

    VIEW_TITLE = "Mapping"
    PLANNED = (
        "[b]Chart-of-accounts mapping queue[/b]\n\n"
        "This view will show broker records waiting for an account, the mapping the bot "
        "proposes from earlier choices, and let an operator accept or change it.\n\n"
        "No mapping queue exists yet: every record the engine books today maps to a fixed "
        "account of chart v1.1.0 (press 3 for the ledger)."
    )
