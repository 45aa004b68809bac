"""Reconciliation review: its place in the navigation, kept for a later release. It says
what it will hold and where that work stands today, so an operator who presses 4 learns
something true instead of seeing an empty frame."""

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
        "Until it arrives, the engine reconciles at start-up, during the session and at the "
        "end of the day, and alerts on new breaks (press 1 for the dashboard); review and "
        "resolve them from a shell with `tbot recon breaks`, `tbot recon show ID` and "
        "`tbot recon resolve ID`."
    )



BINDING_OWNERS: tuple[type, ...] = (ReconciliationScreen,)
"""Every class of this view whose BINDINGS a keymap file may name."""
