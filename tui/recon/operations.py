"""What view 4's changing keys send, each a whole conversation run in one worker:

- `a` accept the broker's record (an account first when it books cash: unmapped cash, a
  failed cash assertion), `k` keep the ledger, `m` book a manual entry: a reason (or the
  entry form), the engine's dry run shown in full, `y`, then ONE `recon.resolve`;
- `s` sync now: `recon.sync`, or the engine's refusal with when to try again.

Every change (and every refusal or cancel) leaves a command-log line. The screens decide
whether a key may run at all; these only talk to the engine and the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tbot.control.client import RpcCallError
from tui.commands.outcomes import error_text, failure_text
from tui.model.live_state import CommandLogEntry, Topic
from tui.recon.breaks import (
    RESOLVE_METHOD,
    SYNC_METHOD,
    Break,
    ResolutionPreview,
    parse_resolution,
)
from tui.recon.dialogs import (
    ACTION_TITLES,
    ManualEntryScreen,
    ResolveConfirmScreen,
    resolution_text,
)
from tui.recon.rows import exact
from tui.screens.confirm import ReasonScreen
from tui.widgets.account_picker import AccountPickerScreen, postable_accounts

if TYPE_CHECKING:
    from tui.app import ConsoleApp

CHANGE_TIMEOUT = 30.0
ACCEPT_REASON = "the broker's record is right"


def resolved_text(preview: ResolutionPreview) -> str:
    """`break #2 resolved (accept-broker): 2 entries posted, resolution #14`."""
    count = len(preview.posted_entry_ids)
    posted = f"{count} entr{'y' if count == 1 else 'ies'} posted" if count else "nothing posted"
    number = f", resolution #{preview.resolution_id}" if preview.resolution_id else ""
    return f"break #{preview.break_id} resolved ({preview.action}): {posted}{number}"


class ReconOperations:
    """The conversations behind the view's changing keys. `changed` runs after a change
    was sent (whatever came back), so the view reads again."""

    def __init__(self, app: ConsoleApp, changed: Callable[[], None]) -> None:
        self.app = app
        self.changed = changed

    # -- resolutions ------------------------------------------------------------------------

    async def accept(self, brk: Break) -> None:
        """`a`: the broker's record booked (against an account when it is cash), after the
        dry run and `y`."""
        params: dict[str, object] = {"id": brk.id, "action": "accept-broker"}
        if brk.needs_account:
            amount = f" {exact(brk.cash_difference)}" if brk.cash_difference else ""
            code = await self.app.push_screen_wait(AccountPickerScreen(
                postable_accounts(self.app),
                title=f"Book break #{brk.id} ({brk.subject}{amount}) against which account?"))
            if code is None:
                return
            params["account"] = code
        reason = await self.app.push_screen_wait(ReasonScreen(
            f"Accept the broker's record for break #{brk.id}?",
            "The engine books the broker's version; you see what it posts before it is "
            "sent.", required=True, default=ACCEPT_REASON))
        if reason is None:
            return
        params["reason"] = reason
        await self._dry_run_then_send(brk, params, "Accept")

    async def keep(self, brk: Break) -> None:
        """`k`: the ledger is right (or it is a known timing difference): a reason, the dry
        run, `y`."""
        reason = await self.app.push_screen_wait(ReasonScreen(
            f"Keep the ledger for break #{brk.id}?",
            "Nothing is posted: the break is closed on the record with your reason.",
            required=True))
        if reason is None:
            return
        await self._dry_run_then_send(
            brk, {"id": brk.id, "action": "keep-ledger", "reason": reason}, "Keep ledger")

    async def manual(self, brk: Break) -> None:
        """`m`: the entry form (it balances before it can be sent), the dry run, `y`."""
        codes = frozenset(choice.code for choice in postable_accounts(self.app))
        entry = await self.app.push_screen_wait(ManualEntryScreen(brk, postable=codes))
        if entry is None:
            return
        params: dict[str, object] = {"id": brk.id, "action": "book-manually",
                                     "reason": entry.reason, "postings": entry.params()}
        if entry.memo:
            params["memo"] = entry.memo
        await self._dry_run_then_send(brk, params, "Book it")

    async def _dry_run_then_send(self, brk: Break, params: dict[str, object],
                                 yes_label: str) -> None:
        action = str(params["action"])
        title = f"Break #{brk.id}: {ACTION_TITLES[action].lower()}"
        try:
            preview = parse_resolution(await self.app.link.call(
                RESOLVE_METHOD, {**params, "dry_run": True}, timeout=CHANGE_TIMEOUT))
        except Exception as error:  # whatever went wrong, nothing was written
            outcome = f"not sent: the dry run failed: {error_text(error)}"
            self.log(params, outcome, ok=False)
            self.app.notify(outcome, title=title, severity="error")
            return
        confirmed = await self.app.push_screen_wait(ResolveConfirmScreen(
            f"{ACTION_TITLES[action]}? (break #{brk.id})",
            resolution_text(brk, preview, str(params["reason"])), yes_label))
        if not confirmed:
            self.log(params, "cancelled: nothing sent", ok=False)
            self.app.notify("cancelled: nothing sent", title=title, timeout=3)
            return
        try:
            result = parse_resolution(await self.app.link.call(
                RESOLVE_METHOD, params, timeout=CHANGE_TIMEOUT))
        except Exception as error:  # the command log must show every resolution's fate
            outcome = failure_text(error, then="read the break again")
            self.log(params, outcome, ok=False)
            self.app.notify(outcome, title=title, severity="error")
            self.changed()
            return
        outcome = resolved_text(result)
        self.log(params, outcome, ok=True)
        self.app.notify(outcome, title=title)
        self.changed()

    # -- sync -------------------------------------------------------------------------------

    async def sync(self) -> bool:
        """`s`: start a sync; False (and why, with when to retry) if the engine refused."""
        try:
            await self.app.link.call(SYNC_METHOD, {}, timeout=CHANGE_TIMEOUT)
        except Exception as error:  # a refusal (busy, too soon) is the common case
            outcome = failure_text(error, then="read the break again")
            data = error.data if isinstance(error, RpcCallError) else None
            retry = data.get("retry_after") if isinstance(data, Mapping) else None
            if isinstance(retry, int | float):
                outcome += f" (retry after {retry:g} s)"
            self.log({}, outcome, ok=False, method=SYNC_METHOD)
            self.app.notify(outcome, title="Sync", severity="warning")
            return False
        self.log({}, "sync started", ok=True, method=SYNC_METHOD)
        self.app.notify("sync started: progress in the header", title="Sync", timeout=3)
        self.changed()
        return True

    # -- the command log --------------------------------------------------------------------

    def log(self, params: Mapping[str, Any], outcome: str, *, ok: bool,
            method: str = RESOLVE_METHOD) -> None:
        """Into the command log, like every command the console sends (or did not)."""
        self.app.live.commands.append(CommandLogEntry(
            at=self.app.clock.now(), command_id=method, method=method, params=dict(params),
            outcome=outcome, ok=ok))
        self.app.live_changed(frozenset({Topic.COMMANDS}))
