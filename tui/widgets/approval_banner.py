"""The dashboard's line while entries wait for an operator's approval
(TRADE_CONFIRMATION_REQUIRED=true): `2 entries await approval — press 6`.

An entry waits only until its breakout window ends or its price moves, so the line is
loud (the warning colour, full width) and links to view 6; it is hidden while nothing
waits, and from an engine without the approval queue.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tui.model.live_state import LiveState
from tui.model.snapshot import EngineStatus

APPROVALS_KEY = "6"
"""The key of the approvals view (tui.app)."""


def render_approval_banner(status: EngineStatus | None, online: bool) -> Content | None:
    """` 2 entries await approval — press 6 `, or None while nothing waits."""
    approvals = status.approvals if status is not None else None
    if approvals is None or approvals.waiting <= 0:
        return None
    count = approvals.waiting
    what = "1 entry awaits" if count == 1 else f"{count:,} entries await"
    text = f" {what} approval — press {APPROVALS_KEY}"
    if not online:
        text += " (last known)"
    return Content(text + " ").stylize("@click=app.switch_mode('approvals')")


class ApprovalBanner(Static):
    """Full width, one line, in the warning colour, while entries wait for approval."""

    DEFAULT_CSS = """
    ApprovalBanner {
        height: 1;
        width: 100%;
        display: none;
        background: $warning;
        color: $text;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ApprovalBanner.-shown {
        display: block;
    }
    """

    def show(self, live: LiveState) -> bool:
        """Show how many entries wait; True when shown."""
        banner = render_approval_banner(live.status, live.connection.online)
        self.set_class(banner is not None, "-shown")
        if banner is not None:
            self.update(banner)
        return banner is not None
