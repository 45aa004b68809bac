"""What view 6's keys send, each a whole conversation run in one worker:

- `a` approve: a y/n question naming the entry (what, at what price, how long it has
  left), then ONE `entries.approve`. The engine judges the entry again before it sends it,
  so a REFUSED answer (its price moved, the risk gate or the market guard said no) is a
  normal outcome and is shown with the engine's words;
- `x` reject: a reason (optional; enter is the confirmation), then ONE `entries.reject`.

Every approval and rejection, sent, refused or cancelled, leaves a command-log line and a
toast, like every command the console sends. The screen decides whether a key may run at
all; these only talk to the engine and the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from tui.commands.outcomes import failure_text
from tui.model.formatting import duration, price
from tui.model.live_state import CommandLogEntry, Topic
from tui.model.snapshot import PendingEntryView
from tui.screens.confirm import ConfirmScreen, ReasonScreen

if TYPE_CHECKING:
    from tui.app import ConsoleApp

PENDING_METHOD: Final = "entries.pending"
APPROVE_METHOD: Final = "entries.approve"
REJECT_METHOD: Final = "entries.reject"
CHANGE_TIMEOUT: Final = 30.0
"""An approval waits for the engine's minute lock and then for the broker to take the
order."""
REJECT_REASON_DEFAULT: Final = "rejected from the console"
"""Sent when the operator gives no reason (the engine's audit trail wants one)."""


def entry_label(entry: PendingEntryView) -> str:
    """`open: long PFE at about 27.31`: the entry in a few words."""
    via = (f" (for {entry.underlying})"
           if entry.underlying and entry.underlying != entry.instrument else "")
    return (f"{entry.strategy}: {entry.direction} {entry.instrument}{via} at about "
            f"{price(entry.reference_price)}")


def entry_body(entry: PendingEntryView, seconds_left: int) -> str:
    """The dialog's body: the entry's id, why the strategy chose it, and its deadline."""
    trigger = (f"; {entry.underlying or entry.instrument} triggered at "
               f"{price(entry.trigger_price)}" if entry.trigger_price is not None else "")
    return "\n".join([
        f"Entry {entry.id}",
        f"Why: {entry.reason or '—'}{trigger}.",
        f"It waits {duration(seconds_left)} more; the engine drops it once its breakout "
        "window ends or its price moves beyond MAX_SLIPPAGE_BPS.",
    ])


def approved_text(result: object, entry: PendingEntryView) -> str:
    """`approved: long PFE sent as open-20261120-PFE-entry`."""
    sent = result.get("client_order_id") if isinstance(result, Mapping) else None
    return f"approved: {entry.direction} {entry.instrument} sent as {sent or entry.id}"


class ApprovalOperations:
    """The conversations behind view 6's changing keys. `changed` runs after something was
    sent (whatever came back), so the view reads the queue again."""

    def __init__(self, app: ConsoleApp, changed: Callable[[], None]) -> None:
        self.app = app
        self.changed = changed

    async def approve(self, entry: PendingEntryView, seconds_left: int) -> bool:
        """`a`: y/n naming the entry, then `entries.approve`; True when it was sent."""
        title = f"Approve {entry_label(entry)}?"
        params = {"id": entry.id}
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(title, entry_body(entry, seconds_left), "Approve"))
        if not confirmed:
            self._cancelled(APPROVE_METHOD, params, title)
            return False
        try:
            result = await self.app.link.call(APPROVE_METHOD, params, timeout=CHANGE_TIMEOUT)
        except Exception as error:  # the command log must show every approval's fate
            outcome = failure_text(error, then="read the queue again")
            self.log(APPROVE_METHOD, params, outcome, ok=False)
            self.app.notify(outcome, title=title, severity="error", timeout=10)
            self.changed()
            return False
        outcome = approved_text(result, entry)
        self.log(APPROVE_METHOD, params, outcome, ok=True)
        self.app.notify(outcome, title=title)
        self.changed()
        return True

    async def reject(self, entry: PendingEntryView, seconds_left: int) -> bool:
        """`x`: an optional reason (enter confirms), then `entries.reject`; True when the
        engine dropped the entry."""
        title = f"Reject {entry_label(entry)}?"
        reason = await self.app.push_screen_wait(ReasonScreen(
            title, entry_body(entry, seconds_left) + "\nNothing is sent to the broker.",
            required=False))
        params: dict[str, object] = {"id": entry.id}
        if reason is None:
            self._cancelled(REJECT_METHOD, params, title)
            return False
        params["reason"] = reason or REJECT_REASON_DEFAULT
        try:
            await self.app.link.call(REJECT_METHOD, params, timeout=CHANGE_TIMEOUT)
        except Exception as error:  # the command log must show every rejection's fate
            outcome = failure_text(error, then="read the queue again")
            self.log(REJECT_METHOD, params, outcome, ok=False)
            self.app.notify(outcome, title=title, severity="error", timeout=10)
            self.changed()
            return False
        outcome = f"rejected: {entry.direction} {entry.instrument} ({params['reason']})"
        self.log(REJECT_METHOD, params, outcome, ok=True)
        self.app.notify(outcome, title=title)
        self.changed()
        return True

    def _cancelled(self, method: str, params: Mapping[str, object], title: str) -> None:
        self.log(method, params, "cancelled: nothing sent", ok=False)
        self.app.notify("cancelled: nothing sent", title=title, timeout=3)

    def log(self, method: str, params: Mapping[str, Any], outcome: str, *, ok: bool) -> None:
        """Into the command log, like every command the console sends (or did not)."""
        self.app.live.commands.append(CommandLogEntry(
            at=self.app.clock.now(), command_id=method, method=method, params=dict(params),
            outcome=outcome, ok=ok))
        self.app.live_changed(frozenset({Topic.COMMANDS}))
