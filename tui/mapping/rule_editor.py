"""`r` on the queue: the rule an assignment would save, prefilled from the record and the
engine's own proposal, editable before it is saved, with a live preview of what it would
match (`mapping.preview_rule`, debounced, one read in flight).

The editor only drafts: `enter` closes it with a `RuleDraft`, and the view then runs the
assignment's dry run with the rule and asks `y` before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from tbot.control.client import RpcCallError
from tui.link.event_handling import describe_rpc_error
from tui.mapping.dialogs import item_summary
from tui.mapping.queue_items import QueueItem
from tui.mapping.results import preview_summary
from tui.mapping.rule_sets import MATCH_FIELDS, parse_preview
from tui.screens.confirm import DialogScreen

PREVIEW_DEBOUNCE_SECONDS = 0.3
"""Quiet time after the last keystroke before the preview is asked for."""

Preview = Callable[[dict[str, Any]], Awaitable[object]]
"""Sends `mapping.preview_rule` with a rule object; the engine's answer."""

_LABELS = {"activity_type": "Type", "subtype": "Subtype", "broker": "Broker",
           "symbol": "Symbol", "sign": "Sign", "amount_min": "Min", "amount_max": "Max",
           "description": "Desc /re/", "name": "Name", "account": "Account",
           "reason": "Reason"}
_LAYOUT = (("activity_type", "subtype"), ("broker", "symbol"),
           ("sign", "amount_min", "amount_max"), ("description",), ("name",),
           ("account",), ("reason",))


@dataclass(frozen=True)
class RuleDraft:
    """What the operator wrote: the assignment's account, the rule's fields (None: not a
    criterion) and the reason."""

    account: str
    fields: dict[str, str | None]
    reason: str

    @property
    def save_rule(self) -> dict[str, str | None]:
        """`mapping.assign`'s `save_rule`: every criterion and the name, sent even when
        empty so the engine's defaults (broker, type, sign) are replaced, not kept."""
        return dict(self.fields)


def seed_fields(item: QueueItem, proposal: Mapping[str, Any]) -> dict[str, str]:
    """The editor's first values: the engine's proposed rule (broker, type, sign, name),
    then the record's own subtype and symbol, and its description as an exact pattern."""
    fields = {name: "" for name in (*MATCH_FIELDS, "name")}
    for name in fields:
        value = proposal.get(name)
        if value not in (None, ""):
            fields[name] = str(value)
    fields["subtype"] = fields["subtype"] or item.subtype
    fields["symbol"] = fields["symbol"] or item.symbol
    if not fields["description"] and item.description:
        fields["description"] = re.escape(item.description).replace("\\ ", " ")
    return fields


def rule_sides(amount_is_cash_in: bool, cash: str, account: str) -> tuple[str, str]:
    """(debit, credit) of a rule booking the record's cash against `account`."""
    return (cash, account) if amount_is_cash_in else (account, cash)


class RuleEditorScreen(DialogScreen[RuleDraft | None]):
    """The rule to save with an assignment; `enter` drafts it, `esc` cancels."""

    DEFAULT_CSS = """
    RuleEditorScreen #dialog {
        width: 76;
    }
    RuleEditorScreen .rule-line {
        height: 1;
        width: 100%;
    }
    RuleEditorScreen .rule-line Label {
        width: 10;
        color: $text-muted;
    }
    RuleEditorScreen .rule-line Input {
        height: 1;
        border: none;
        padding: 0 1;
        margin: 0 1 0 0;
        width: 1fr;
        background: $boost;
    }
    RuleEditorScreen .rule-line Input:focus {
        border: none;
        background: $primary 30%;
    }
    RuleEditorScreen #rule-sides {
        width: 1fr;
        color: $text-muted;
    }
    RuleEditorScreen #rule-preview {
        height: auto;
        min-height: 2;
        margin-top: 1;
        margin-bottom: 1;
    }
    RuleEditorScreen #rule-preview.-invalid {
        color: $warning;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="mapping_rule.cancel"),
    ]

    def __init__(self, item: QueueItem, proposal: Mapping[str, Any], account: str,
                 cash_account: str, preview: Preview) -> None:
        super().__init__()
        self.item = item
        self.values = seed_fields(item, proposal)
        self.account = account
        self.cash_account = cash_account
        self._preview_call = preview
        self._timer: Timer | None = None
        self.previews = 0
        """Previews answered (tests wait on it)."""
        self.preview_error: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Save a rule with item #{self.item.id} · {item_summary(self.item)}",
                        classes="dialog-title")
            for line in _LAYOUT:
                with Horizontal(classes="rule-line"):
                    for name in line:
                        yield Label(_LABELS[name])
                        yield Input(self._initial(name), id=f"rule-{name.replace('_', '-')}",
                                    placeholder=self._placeholder(name))
                    if line == ("account",):
                        yield Static("", id="rule-sides")
            yield Static("previewing…", id="rule-preview")
            yield Static("tab: next field    enter: save (y asks first)    esc: cancel",
                         classes="dialog-keys")

    def _initial(self, name: str) -> str:
        if name == "account":
            return self.account
        if name == "reason":
            return ""
        return self.values.get(name, "")

    def _placeholder(self, name: str) -> str:
        return {"sign": "+ or -", "amount_min": f"{abs(self.item.amount)}",
                "amount_max": "any", "description": "a regular expression",
                "reason": "why, for the audit trail", "subtype": "any",
                "symbol": "any", "broker": "any"}.get(name, "")

    def on_mount(self) -> None:
        self._show_sides()
        self.query_one("#rule-description", Input).focus()
        self._ask_preview()

    def field(self, name: str) -> Input:
        """The input of field `name` (e.g. `activity_type`)."""
        return self.query_one(f"#rule-{name.replace('_', '-')}", Input)

    def draft(self) -> RuleDraft:
        """The rule as the fields say now."""
        fields: dict[str, str | None] = {}
        for name in (*MATCH_FIELDS, "name"):
            value = self.field(name).value.strip()
            fields[name] = value or None
        return RuleDraft(account=self.field("account").value.strip(), fields=fields,
                         reason=self.field("reason").value.strip())

    def rule_object(self) -> dict[str, Any]:
        """The draft as `mapping.set_rule`'s rule object (what the preview sends)."""
        draft = self.draft()
        debit, credit = rule_sides(self.item.amount > 0, self.cash_account, draft.account)
        rule = {name: value for name, value in draft.fields.items() if value is not None}
        return {**rule, "debit": debit, "credit": credit}

    def _show_sides(self) -> None:
        account = self.field("account").value.strip() or "?"
        debit, credit = rule_sides(self.item.amount > 0, self.cash_account, account)
        self.query_one("#rule-sides", Static).update(f"books Dr {debit} / Cr {credit}")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "rule-reason":
            return
        if event.input.id == "rule-account":
            self._show_sides()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DEBOUNCE_SECONDS, self._ask_preview)

    def _ask_preview(self) -> None:
        # Exclusive: a newer preview cancels the one still running, so one is in flight.
        self.run_worker(self._preview(self.rule_object()), name="rule-preview",
                        group="rule-preview", exclusive=True, exit_on_error=False)

    async def _preview(self, rule: dict[str, Any]) -> None:
        shown = self.query_one("#rule-preview", Static)
        try:
            preview = parse_preview(await self._preview_call({"rule": rule}))
        except RpcCallError as error:
            self.preview_error = describe_rpc_error(error)
            shown.update(Text(f"not a valid rule: {error.message}"))
            shown.add_class("-invalid")
        except Exception as error:  # the preview is a help: it must not close the editor
            self.preview_error = str(error) or type(error).__name__
            shown.update(Text(f"no preview: {self.preview_error}"))
            shown.add_class("-invalid")
        else:
            self.preview_error = None
            shown.update(preview_summary(preview))
            shown.remove_class("-invalid")
        self.previews += 1

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        draft = self.draft()
        if not draft.account:
            self.notify("an account is required", severity="warning", timeout=3)
            self.field("account").focus()
            return
        self.dismiss(draft)

    def action_cancel(self) -> None:
        """Close without saving anything."""
        self.dismiss(None)
