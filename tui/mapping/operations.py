"""What the mapping view's keys send, each a whole conversation run in one worker:

- changes (admin): an account from the chart (`o`), a rule saved with the assignment
  (`r`), a rollback (`R`), an import (`I`): always a dry run or a reason first, then a
  `y`, then one request, and a command-log line whatever happened;
- reads shown in a dialog: a diff (`d`), a replay (`p`), an export written to a file (`x`).

The screen decides whether a key may run (`MappingQueueScreen._refusal`); these only talk
to the engine, the operator and the file system.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tbot.control.client import RpcCallError
from tui.commands.outcomes import error_text, failure_text
from tui.mapping.dialogs import (
    AssignConfirmScreen,
    ChangeConfirmScreen,
    PathPromptScreen,
    ResultScreen,
    preview_text,
)
from tui.mapping.queue_items import (
    ASSIGN_METHOD,
    AssignPreview,
    QueueItem,
    Suggestion,
    parse_assign,
)
from tui.mapping.results import (
    diff_text,
    import_text,
    refused_text,
    replay_text,
    rollback_text,
)
from tui.mapping.rule_editor import RuleEditorScreen
from tui.mapping.rule_sets import (
    DIFF_METHOD,
    EXPORT_METHOD,
    IMPORT_METHOD,
    PREVIEW_METHOD,
    REPLAY_METHOD,
    ROLLBACK_METHOD,
    VersionRow,
    criteria_of,
    criteria_text,
    parse_diff,
    parse_replay,
)
from tui.mapping.transfer import (
    TransferError,
    read_document_file,
    resolve_path,
    write_document,
)
from tui.model.live_state import CommandLogEntry, Topic
from tui.model.snapshot import SnapshotError
from tui.screens.confirm import ConfirmScreen, ReasonScreen
from tui.widgets.account_picker import AccountPickerScreen, postable_accounts

if TYPE_CHECKING:
    from tui.mapping.screens import MappingQueueScreen

READ_TIMEOUT = 15.0
CHANGE_TIMEOUT = 30.0
CHOSEN = "chosen"
"""The `source` of an account picked from the chart rather than suggested."""


class MappingOperations:
    """The conversations behind the view's keys, for one screen."""

    def __init__(self, screen: MappingQueueScreen) -> None:
        self.screen = screen

    @property
    def _link(self) -> Any:
        return self.screen.console.link

    # -- assignments -----------------------------------------------------------------------
    async def accept(self, item: QueueItem, rank: int, suggestion: Suggestion,
                     reason: str) -> None:
        """Dry run, `y`, assignment of `suggestion` (rank 0: chosen from the chart)."""
        params: dict[str, object] = {"id": item.id, "account": suggestion.account,
                                     "reason": reason}
        title = f"Item #{item.id} → {suggestion.account}"
        preview = await self._dry_run(params, title)
        if preview is None:
            return
        if preview.unchanged:
            self.screen.notify(f"already mapped to {suggestion.account}: nothing to do",
                               title=title)
            self.screen.load_queue()
            return
        confirmed = await self.screen.app.push_screen_wait(
            AssignConfirmScreen(item, rank, suggestion, preview))
        await self._assign_if(confirmed, params, title)

    async def other_account(self, item: QueueItem) -> None:
        """`o`: an account from the chart's postable ones, then as `accept`."""
        choices = postable_accounts(self.screen.app)
        top = item.top.account if item.top else None
        code = await self.screen.app.push_screen_wait(AccountPickerScreen(
            choices, title=f"Map item #{item.id} ({item.activity_type} "
                           f"{item.amount}) to which account?", current=top))
        if code is None:
            return
        names = {choice.code: choice.name for choice in choices}
        chosen = Suggestion(account=code, name=names.get(code, ""), confidence=None,
                            reasons=(), precedents=(), source=CHOSEN)
        await self.accept(item, 0, chosen, "assigned in the console: chosen from the chart")

    async def save_rule(self, item: QueueItem) -> None:
        """`r`: the rule editor, prefilled from the engine's proposal for the top (or a
        chosen) account; then the dry run with the rule, `y`, the assignment."""
        account = item.top.account if item.top else None
        if account is None:
            account = await self.screen.app.push_screen_wait(AccountPickerScreen(
                postable_accounts(self.screen.app),
                title=f"Item #{item.id} has no suggestion: the rule books it to…"))
            if account is None:
                return
        title = f"Item #{item.id}: save a rule"
        reason = "assigned in the console with a rule"
        seed = {"id": item.id, "account": account, "reason": reason, "save_rule": {}}
        raw = await self._dry_run_raw(seed, title)
        if raw is None:
            return
        proposal = raw.get("rule") if isinstance(raw.get("rule"), Mapping) else {}
        preview = parse_assign(raw)
        cash = preview.credit if preview.debit == account else preview.debit
        draft = await self.screen.app.push_screen_wait(RuleEditorScreen(
            item, proposal, account, cash, self._preview_rule))
        if draft is None:
            return
        params: dict[str, object] = {"id": item.id, "account": draft.account,
                                     "reason": draft.reason or reason,
                                     "save_rule": draft.save_rule}
        raw = await self._dry_run_raw(params, title)
        if raw is None:
            return
        preview = parse_assign(raw)
        saved = raw.get("rule") if isinstance(raw.get("rule"), Mapping) else {}
        body = preview_text(item, Suggestion(draft.account, "", None, (), (), CHOSEN), preview)
        body.append("\n\nSaves rule ", style="bold")
        body.append(f"{saved.get('id', '?')}: {criteria_text(criteria_of(saved))} → "
                    f"Dr {saved.get('debit')} / Cr {saved.get('credit')}", style="bold")
        if raw.get("new_version") is not None:
            body.append(f"\nas version {raw['new_version']}, active from now on.")
        confirmed = await self.screen.app.push_screen_wait(ChangeConfirmScreen(
            f"Map item #{item.id} to {draft.account} and save the rule?", body,
            "Map and save"))
        await self._assign_if(confirmed, params, title)

    async def _preview_rule(self, params: dict[str, Any]) -> object:
        return await self._link.call(PREVIEW_METHOD, params, timeout=READ_TIMEOUT)

    async def _dry_run_raw(self, params: dict[str, object], title: str
                           ) -> Mapping[str, Any] | None:
        try:
            raw = await self._link.call(ASSIGN_METHOD, {**params, "dry_run": True},
                                        timeout=CHANGE_TIMEOUT)
            parse_assign(raw)
        except Exception as error:  # whatever went wrong, nothing was written
            self.screen.notify(f"dry run failed, nothing sent: {error_text(error)}",
                               title=title, severity="error")
            return None
        return raw if isinstance(raw, Mapping) else None

    async def _dry_run(self, params: dict[str, object], title: str) -> AssignPreview | None:
        raw = await self._dry_run_raw(params, title)
        return None if raw is None else parse_assign(raw)

    async def _assign_if(self, confirmed: bool | None, params: dict[str, object],
                         title: str) -> None:
        if not confirmed:
            self.log(ASSIGN_METHOD, params, "cancelled: nothing sent", ok=False)
            self.screen.notify("cancelled: nothing sent", title=title, timeout=3)
            return
        try:
            raw = await self._link.call(ASSIGN_METHOD, params, timeout=CHANGE_TIMEOUT)
            result = parse_assign(raw)
        except Exception as error:  # the command log must show every assignment's fate
            outcome = failure_text(error, then="check the queue")
            self.log(ASSIGN_METHOD, params, outcome, ok=False)
            self.screen.notify(outcome, title=title, severity="error")
            self.screen.load_all()
            return
        outcome = assigned_text(result.item, result.account, result.action, result.decision_id)
        if isinstance(raw, Mapping) and raw.get("new_version") is not None:
            outcome += f"; rule saved: version {raw['new_version']}"
        self.log(ASSIGN_METHOD, params, outcome, ok=True)
        self.screen.notify(outcome, title=title)
        self.screen.load_all()

    # -- versions --------------------------------------------------------------------------
    async def diff(self, old: int, new: int) -> None:
        """`d` on the versions tab: how `new` differs from `old`."""
        title = f"Version {old} → version {new}"
        try:
            diff = parse_diff(await self._link.call(DIFF_METHOD, {"a": old, "b": new},
                                                    timeout=READ_TIMEOUT))
        except Exception as error:  # a read: say why, nothing else
            self.screen.notify(f"cannot diff: {error_text(error)}", title=title,
                               severity="error")
            return
        await self.screen.app.push_screen_wait(ResultScreen(title, diff_text(diff)))

    async def replay(self, version: int) -> None:
        """`p`: what version `version` would decide differently over the past decisions."""
        title = f"Replay of version {version}"
        try:
            result = parse_replay(await self._link.call(REPLAY_METHOD, {"version": version},
                                                        timeout=READ_TIMEOUT))
        except Exception as error:  # a read: say why, nothing else
            self.screen.notify(f"cannot replay: {error_text(error)}", title=title,
                               severity="error")
            return
        await self.screen.app.push_screen_wait(ResultScreen(title, replay_text(result)))

    async def rollback(self, version: VersionRow, active: int | None) -> None:
        """`R`: a reason, then `y`, then `mapping.rollback`."""
        title = f"Roll back to version {version.version}"
        reason = await self.screen.app.push_screen_wait(ReasonScreen(
            f"{title}?", "A new version equal to it becomes active.", required=True))
        if reason is None:
            return
        params: dict[str, object] = {"version": version.version, "reason": reason}
        confirmed = await self.screen.app.push_screen_wait(ChangeConfirmScreen(
            f"{title}?", rollback_text(version, active, reason), "Roll back", danger=True))
        if not confirmed:
            self.log(ROLLBACK_METHOD, params, "cancelled: nothing sent", ok=False)
            self.screen.notify("cancelled: nothing sent", title=title, timeout=3)
            return
        try:
            result = await self._link.call(ROLLBACK_METHOD, params, timeout=CHANGE_TIMEOUT)
        except Exception as error:  # the command log must show every change's fate
            outcome = failure_text(error, then="check the queue")
            self.log(ROLLBACK_METHOD, params, outcome, ok=False)
            self.screen.notify(outcome, title=title, severity="error")
            return
        made = result.get("version") if isinstance(result, Mapping) else None
        outcome = f"rolled back to version {version.version}: version {made} active"
        self.log(ROLLBACK_METHOD, params, outcome, ok=True)
        self.screen.notify(outcome, title=title)
        self.screen.load_all()

    # -- files -----------------------------------------------------------------------------
    async def export(self, version: int | None) -> None:
        """`x`: the version's document (default the active one) into a file."""
        label = f"version {version}" if version is not None else "the active version"
        title = f"Export {label}"
        default = f"mapping-v{version}.json" if version is not None else "mapping.json"
        typed = await self.screen.app.push_screen_wait(PathPromptScreen(
            title, "The engine's export document (rules, provenance, content hash) is "
            "written to this file.", default=default))
        if typed is None:
            return
        path = resolve_path(typed)
        if path.exists():
            if path.is_dir():
                self.screen.notify(f"{path} is a folder", title=title, severity="error")
                return
            replace = await self.screen.app.push_screen_wait(ConfirmScreen(
                f"Replace {path.name}?", f"{path} exists. Replace it with the export?",
                "Replace"))
            if not replace:
                self.screen.notify("not exported: the file is kept", title=title, timeout=3)
                return
        params = {} if version is None else {"version": version}
        try:
            document = await self._link.call(EXPORT_METHOD, params, timeout=READ_TIMEOUT)
            if not isinstance(document, Mapping):
                raise SnapshotError("mapping.export: expected an object")
            size = await asyncio.to_thread(write_document, path, document)
        except Exception as error:  # nothing half-written (TransferError included): say why
            await self.screen.app.push_screen_wait(ResultScreen(
                f"{title}: failed", Text(f"Nothing was written: {error_text(error)}"),
                refused=True))
            return
        body = Text()
        body.append(f"Wrote {path}\n", style="bold green")
        body.append(f"\nversion {document.get('version')} of {document.get('bot_identity')}, "
                    f"{len(document.get('rules') or ())} rules, {size:,} bytes\n"
                    f"content hash {str(document.get('content_hash', ''))[:16]}…")
        await self.screen.app.push_screen_wait(ResultScreen(title, body))

    async def import_file(self) -> None:
        """`I`: a document file sent to `mapping.import` with a reason; the engine's
        validation (a new candidate version, or its refusal) in a dialog."""
        title = "Import a rule set"
        typed = await self.screen.app.push_screen_wait(PathPromptScreen(
            title, "The engine checks the document (schema, content hash, every rule) and "
            "keeps it as a candidate version, not active.", default=""))
        if typed is None:
            return
        path = resolve_path(typed)
        try:
            document = await asyncio.to_thread(read_document_file, path)
        except TransferError as error:
            await self.screen.app.push_screen_wait(ResultScreen(
                f"{title}: not sent", refused_text(typed, str(error)), refused=True))
            return
        reason = await self.screen.app.push_screen_wait(ReasonScreen(
            f"Import {typed}?", f"{len(document):,} characters read; the engine checks "
            "them and keeps a valid rule set as a new version, not active."))
        if reason is None:
            return
        params: dict[str, object] = {"document": document, "reason": reason}
        # The document itself would flood the command log: its file names it.
        logged = {"document": f"<{path}>", "reason": reason}
        try:
            result = await self._link.call(IMPORT_METHOD, params, timeout=CHANGE_TIMEOUT)
        except RpcCallError as error:
            self.log(IMPORT_METHOD, logged, failure_text(error, then="check the queue"), ok=False)
            await self.screen.app.push_screen_wait(ResultScreen(
                f"{title}: refused", refused_text(typed, error.message), refused=True))
            return
        except Exception as error:  # offline, timeout: say so, and whether it may have run
            outcome = failure_text(error, then="check the queue")
            self.log(IMPORT_METHOD, logged, outcome, ok=False)
            self.screen.notify(outcome, title=title, severity="error")
            return
        answer = result if isinstance(result, Mapping) else {}
        self.log(IMPORT_METHOD, logged, f"imported as version {answer.get('version')} "
                 "(not active)", ok=True)
        await self.screen.app.push_screen_wait(ResultScreen(
            f"{title}: valid", import_text(answer, typed)))
        self.screen.load_all()

    # -- the command log -------------------------------------------------------------------
    def log(self, method: str, params: Mapping[str, object], outcome: str, *,
            ok: bool) -> None:
        """Into the command log, like every command the console sends (or did not)."""
        screen = self.screen
        screen.live.commands.append(CommandLogEntry(
            at=screen.console.clock.now(), command_id=method, method=method,
            params=dict(params), outcome=outcome, ok=ok,
        ))
        screen.console.live_changed(frozenset({Topic.COMMANDS}))


def assigned_text(item: int, account: str, action: str, decision: int | None) -> str:
    """`item #7 mapped to 5070 (posted, decision #31)`."""
    what = {"post": "posted", "adopt": "adopted the ledger's entry",
            "reclassify": "reclassified"}.get(action, action)
    number = f", decision #{decision}" if decision is not None else ""
    return f"item #{item} mapped to {account} ({what}{number})"
