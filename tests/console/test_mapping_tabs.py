"""View 5 beyond accepting a suggestion: another account from the chart (`o`), a rule
saved with the assignment (`r`, with its live preview), the rules and versions tabs (diff,
replay, rollback), export and import files. The real console app on a FixtureLink (see
test_mapping_view.py); snapshots at 80x24 and 120x40 with a frozen clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tbot.control.client import RpcCallError
from tbot.control.wire import INVALID_PARAMS, REFUSED
from tests.console import mapping_fixtures as mapping
from tests.console.test_dashboard import grid_rows, screen_text
from tests.console.test_mapping_view import (
    SIZES,
    SMALL,
    MappingConsole,
    console,
    open_queue,
    settle,
    view,
)
from tui.mapping.dialogs import (
    AssignConfirmScreen,
    ChangeConfirmScreen,
    PathPromptScreen,
    ResultScreen,
)
from tui.mapping.rule_editor import RuleEditorScreen
from tui.mapping.screens import MappingQueueScreen
from tui.screens.confirm import ConfirmScreen, ReasonScreen
from tui.widgets.account_picker import AccountPickerScreen

ASSIGN = "mapping.assign"
PREVIEW = "mapping.preview_rule"
ROLLBACK = "mapping.rollback"
IMPORT = "mapping.import"
EXPORT = "mapping.export"


def calls(app: MappingConsole, method: str) -> list[Mapping[str, Any] | None]:
    """The params of every attempt of `method`, in order."""
    return [params for name, params in app.fixture_link.attempts if name == method]


def screen_is(app: MappingConsole, kind: type) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, kind)


async def to_tab(pilot: Pilot[Any], tab: str) -> MappingQueueScreen:
    """Press tab until `tab` shows, then wait for its read."""
    app = pilot.app
    screen = view(app)
    while screen.tab != tab:
        await pilot.press("tab")
    await settle(pilot, lambda: screen.version_list is not None and screen.rule_set is not None)
    return screen


async def type_into(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Replace the text of an input of the top screen, then press enter in it."""
    field = pilot.app.screen.query_one(selector, Input)
    field.value = text
    field.focus()
    await pilot.pause()
    await pilot.press("enter")


def steps(*keys: str, ready: Callable[[Pilot[Any]], bool] | None = None,
          tab: str = "queue") -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        await open_queue(pilot)
        if tab != "queue":
            await to_tab(pilot, tab)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if ready is not None:
            await settle(pilot, lambda: ready(pilot))
        await settle(pilot)

    return run


def result_text(app: MappingConsole) -> str:
    """The open result dialog's text, whole (a long path wraps on screen)."""
    screen = app.screen
    assert isinstance(screen, ResultScreen), screen
    return screen.body.plain


def rule_answers() -> dict[str, object]:
    return mapping.answers(**{ASSIGN: mapping.rule_assign_record()})


def editor_previewed(pilot: Pilot[Any]) -> bool:
    screen = pilot.app.screen
    return isinstance(screen, RuleEditorScreen) and screen.previews >= 1


# -- snapshots ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_account_picker(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("o", ready=lambda p: isinstance(p.app.screen, AccountPickerScreen))
    assert snap_compare(console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_rule_editor_with_its_preview(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("r", ready=editor_previewed)
    assert snap_compare(console(answers=rule_answers()), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_rules_tab(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(console(), terminal_size=size, run_before=steps(tab="rules"))


@pytest.mark.parametrize("size", SIZES)
def test_versions_tab(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(console(), terminal_size=size,
                        run_before=steps("j", "j", "m", "k", "k", tab="versions"))


@pytest.mark.parametrize("size", SIZES)
def test_diff(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("j", "j", "m", "k", "k", "d", tab="versions",
                ready=lambda p: isinstance(p.app.screen, ResultScreen))
    assert snap_compare(console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_replay_result(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("j", "p", tab="versions",
                ready=lambda p: isinstance(p.app.screen, ResultScreen))
    assert snap_compare(console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_confirmation(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await steps("j", "R", tab="versions",
                    ready=lambda p: isinstance(p.app.screen, ReasonScreen))(pilot)
        await type_into(pilot, "#reason", "R41 was right after all")
        await settle(pilot, screen_is(pilot.app, ChangeConfirmScreen))

    assert snap_compare(console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_export_prompt(snap_compare: Any, size: tuple[int, int]) -> None:
    run = steps("x", ready=lambda p: isinstance(p.app.screen, PathPromptScreen))
    assert snap_compare(console(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_import_result(snap_compare: Any, size: tuple[int, int], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules.json").write_text(json.dumps(mapping.export_record()))
    monkeypatch.chdir(tmp_path)

    async def run(pilot: Pilot[Any]) -> None:
        await steps("I", ready=lambda p: isinstance(p.app.screen, PathPromptScreen))(pilot)
        await type_into(pilot, "#path", "rules.json")
        await settle(pilot, screen_is(pilot.app, ReasonScreen))
        await type_into(pilot, "#reason", "seed from BOT02")
        await settle(pilot, screen_is(pilot.app, ResultScreen))

    assert snap_compare(console(), terminal_size=size, run_before=run)


# -- another account: `o` -------------------------------------------------------------------------


async def test_o_picks_an_account_and_posts_only_after_y() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("o")
        await settle(pilot, screen_is(app, AccountPickerScreen))
        picker = app.screen
        assert isinstance(picker, AccountPickerScreen)
        assert all(choice.code != "1000" for choice in picker.accounts)  # a parent account
        await pilot.press(*"5045")
        await settle(pilot, lambda: [a.code for a in picker.shown] == ["5045"])
        await pilot.press("enter")
        await settle(pilot, screen_is(app, AssignConfirmScreen))
        reason = "assigned in the console: chosen from the chart"
        assert calls(app, ASSIGN) == [
            {"id": 7, "account": "5045", "reason": reason, "dry_run": True}]
        assert "Map item #7 to 5045? (chosen from the chart)" in screen_text(app)
        await pilot.press("enter")  # only y confirms
        await settle(pilot)
        assert len(calls(app, ASSIGN)) == 1
        await pilot.press("y")
        await settle(pilot, lambda: len(calls(app, ASSIGN)) == 2)
        assert calls(app, ASSIGN)[1] == {"id": 7, "account": "5045", "reason": reason}
        assert app.live.commands[-1].ok


async def test_o_then_esc_sends_nothing() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("o")
        await settle(pilot, screen_is(app, AccountPickerScreen))
        await pilot.press("escape")
        await settle(pilot, screen_is(app, MappingQueueScreen))
        assert calls(app, ASSIGN) == []


# -- a rule with the assignment: `r` ---------------------------------------------------------------


async def test_r_opens_the_editor_prefilled_and_previews_the_rule() -> None:
    app = console(answers=rule_answers())
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("r")
        await settle(pilot, lambda: editor_previewed(pilot))
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        # The engine's proposal (a dry run with save_rule {}), then the record's fields.
        assert calls(app, ASSIGN)[0] == {"id": 7, "account": "5070", "save_rule": {},
                                         "reason": "assigned in the console with a rule",
                                         "dry_run": True}
        values = {name: editor.field(name).value for name in (
            "broker", "activity_type", "sign", "description", "account", "name")}
        assert values == {"broker": "SIM", "activity_type": "FEE", "sign": "-",
                          "description": "OPRA market data fee November 2026",
                          "account": "5070", "name": "saved from FEE -"}
        assert calls(app, PREVIEW)[0] == {"rule": {
            "broker": "SIM", "activity_type": "FEE", "sign": "-",
            "description": "OPRA market data fee November 2026", "name": "saved from FEE -",
            "debit": "5070", "credit": "1070"}}
        text = screen_text(app)
        assert "Matches 3 queued and 2 past decisions" in text
        assert "books Dr 5070 / Cr 1070" in text
        # Editing asks again, once the typing stops.
        editor.field("description").value = "OPRA"
        await settle(pilot, lambda: len(calls(app, PREVIEW)) == 2 and editor.previews == 2)
        sent = calls(app, PREVIEW)[-1]
        assert sent is not None and sent["rule"]["description"] == "OPRA"


async def test_an_invalid_rule_shows_the_engines_reason_in_the_preview() -> None:
    invalid = RpcCallError(INVALID_PARAMS, "R42: description 'OPRA(' is not a valid regular "
                           "expression: missing ), unterminated subpattern at position 4")
    answers = rule_answers()
    answers[PREVIEW] = invalid
    app = console(answers=answers)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_queue(pilot)
        await pilot.press("r")
        await settle(pilot, lambda: editor_previewed(pilot))
        assert "not a valid rule: R42: description 'OPRA(' is not a valid" in screen_text(app)


async def test_saving_the_rule_sends_it_with_the_assignment_after_y() -> None:
    app = console(answers=rule_answers())
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("r")
        await settle(pilot, lambda: editor_previewed(pilot))
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        editor.field("description").value = "OPRA"
        editor.field("amount_max").value = "50"
        await type_into(pilot, "#rule-reason", "OPRA pass-through fees")
        await settle(pilot, screen_is(app, ChangeConfirmScreen))
        save_rule = {"broker": "SIM", "activity_type": "FEE", "subtype": None,
                     "description": "OPRA", "symbol": None, "sign": "-", "amount_min": None,
                     "amount_max": "50", "name": "saved from FEE -"}
        sent = {"id": 7, "account": "5070", "reason": "OPRA pass-through fees",
                "save_rule": save_rule}
        assert calls(app, ASSIGN)[1:] == [{**sent, "dry_run": True}]
        text = screen_text(app)
        assert "Saves rule R42: broker=SIM type=FEE sign=- → Dr 5070 / Cr 1070" in text
        await pilot.press("y")
        await settle(pilot, lambda: len(calls(app, ASSIGN)) == 3)
        assert calls(app, ASSIGN)[2] == sent
        assert app.live.commands[-1].outcome == (
            "item #7 mapped to 5070 (posted); rule saved: version 4")


async def test_n_on_the_rule_question_sends_nothing_real() -> None:
    app = console(answers=rule_answers())
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("r")
        await settle(pilot, lambda: editor_previewed(pilot))
        await type_into(pilot, "#rule-reason", "fees")
        await settle(pilot, screen_is(app, ChangeConfirmScreen))
        await pilot.press("n")
        await settle(pilot, screen_is(app, MappingQueueScreen))
        assert all(params and params.get("dry_run") for params in calls(app, ASSIGN))


# -- rules and versions ---------------------------------------------------------------------------


async def test_the_rules_tab_lists_the_active_rules() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        screen = await to_tab(pilot, "rules")
        rows = grid_rows(screen.rules_grid)
        assert [row[0] for row in rows] == ["R3", "R9", "R15", "R41"]
        assert rows[0][1:4] == ["broker=SIM type=JNLC sign=+", "1070", "3010"]
        assert rows[3][-1] == "disabled"
        assert "Rules  version 3 (active), 4 rules" in screen_text(app)


async def test_the_versions_tab_lists_versions_with_author_reason_and_time() -> None:
    app = console()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_queue(pilot)
        screen = await to_tab(pilot, "versions")
        rows = grid_rows(screen.versions_grid)
        assert rows[0] == ["*", "3", "disable", "2026-11-19 16:20", "operator1(uid=1001)", "4",
                           "R41 books treasury journals twice"]
        assert [row[1] for row in rows] == ["3", "2", "1"]


async def test_d_diffs_the_marked_version_with_the_selected_one() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await to_tab(pilot, "versions")
        await pilot.press("j", "j", "m", "k", "k", "d")
        await settle(pilot, screen_is(app, ResultScreen))
        assert calls(app, "mapping.diff") == [{"a": 1, "b": 3}]
        text = screen_text(app)
        assert "R41 added" in text
        assert "+ type=JNLC desc=/treasury/ → Dr 1070 / Cr 3020 [disabled]" in text


async def test_d_without_a_mark_diffs_the_active_version_with_the_selected_one() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        screen = await to_tab(pilot, "versions")
        await pilot.press("d")  # the active version itself: nothing to compare
        await settle(pilot)
        assert calls(app, "mapping.diff") == []
        assert isinstance(app.screen, MappingQueueScreen)
        await pilot.press("j", "d")
        await settle(pilot, screen_is(app, ResultScreen))
        assert calls(app, "mapping.diff") == [{"a": 3, "b": 2}]
        assert screen.tab == "versions"


async def test_p_replays_the_selected_version_and_lists_what_would_change() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await to_tab(pilot, "versions")
        await pilot.press("j", "p")
        await settle(pilot, screen_is(app, ResultScreen))
        assert calls(app, "mapping.replay") == [{"version": 2}]
        text = screen_text(app)
        assert "Version 2 over 9 past decisions: 2 would change." in text
        assert "3010 → back to the queue" in text
        assert "5070 → 5045 (rule)" in text


async def test_rollback_needs_a_reason_then_y() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await to_tab(pilot, "versions")
        await pilot.press("j", "R")
        await settle(pilot, screen_is(app, ReasonScreen))
        await pilot.press("enter")  # a reason is required
        await settle(pilot)
        assert isinstance(app.screen, ReasonScreen)
        await type_into(pilot, "#reason", "R41 was right")
        await settle(pilot, screen_is(app, ChangeConfirmScreen))
        assert calls(app, ROLLBACK) == []
        await pilot.press("enter")  # only y confirms
        await settle(pilot)
        assert calls(app, ROLLBACK) == []
        await pilot.press("y")
        await settle(pilot, lambda: len(calls(app, ROLLBACK)) == 1)
        assert calls(app, ROLLBACK) == [{"version": 2, "reason": "R41 was right"}]
        assert app.live.commands[-1].outcome == "rolled back to version 2: version 4 active"


async def test_rollback_to_the_active_version_only_explains() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await to_tab(pilot, "versions")
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, MappingQueueScreen)
        assert ("version 3 is the active one already", "warning") in app.toasts


async def test_a_viewer_sees_rollback_and_import_disabled_with_the_reason() -> None:
    app = console(role="viewer")
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await to_tab(pilot, "versions")
        why = "needs the admin role (you are viewer)"
        assert f"read-only: changes {why}" in screen_text(app)
        enabled = {active.binding.id: active.enabled
                   for active in app.screen.active_bindings.values()}
        assert enabled["mapping.rollback"] is False and enabled["mapping.import"] is False
        assert enabled["mapping.diff"] is False  # the active version is selected
        assert enabled["mapping.replay"] is True and enabled["mapping.export"] is True
        await pilot.press("j", "R", "I")
        await settle(pilot)
        assert isinstance(app.screen, MappingQueueScreen)
        assert calls(app, ROLLBACK) == [] and calls(app, IMPORT) == []
        assert (f"Rolling back is not available: {why}", "warning") in app.toasts
        assert (f"Import is not available: {why}", "warning") in app.toasts


async def test_a_viewer_cannot_start_o_or_r() -> None:
    app = console(role="viewer")
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("o", "r")
        await settle(pilot)
        assert isinstance(app.screen, MappingQueueScreen)
        assert calls(app, ASSIGN) == []
        why = "needs the admin role (you are viewer)"
        assert (f"Another account is not available: {why}", "warning") in app.toasts
        assert (f"Saving a rule is not available: {why}", "warning") in app.toasts


async def test_a_key_of_another_tab_says_where_it_works() -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("p")  # the app's pause key, here the versions tab's replay
        await settle(pilot)
        assert isinstance(app.screen, MappingQueueScreen)
        assert ("p: Replay works on the Versions tab (tab to move)", "warning") in app.toasts


# -- export and import ----------------------------------------------------------------------------


async def test_export_writes_the_document_to_the_typed_path(tmp_path: Path) -> None:
    target = tmp_path / "rules.json"
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("x")
        await settle(pilot, screen_is(app, PathPromptScreen))
        await type_into(pilot, "#path", str(target))
        await settle(pilot, screen_is(app, ResultScreen))
        assert calls(app, EXPORT) == [{}]
        assert json.loads(target.read_text()) == mapping.export_record()
        assert f"Wrote {target}" in result_text(app)
        assert [p.name for p in tmp_path.iterdir()] == ["rules.json"]  # no temporary left


async def test_export_asks_before_replacing_a_file(tmp_path: Path) -> None:
    target = tmp_path / "rules.json"
    target.write_text("keep me")
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await to_tab(pilot, "versions")
        await pilot.press("j", "x")
        await settle(pilot, screen_is(app, PathPromptScreen))
        await type_into(pilot, "#path", str(target))
        await settle(pilot, screen_is(app, ConfirmScreen))
        await pilot.press("n")
        await settle(pilot, screen_is(app, MappingQueueScreen))
        assert target.read_text() == "keep me"
        assert calls(app, EXPORT) == []
        await pilot.press("x")
        await settle(pilot, screen_is(app, PathPromptScreen))
        await type_into(pilot, "#path", str(target))
        await settle(pilot, screen_is(app, ConfirmScreen))
        await pilot.press("y")
        await settle(pilot, screen_is(app, ResultScreen))
        assert calls(app, EXPORT) == [{"version": 2}]
        assert json.loads(target.read_text())["schema"] == "tbot.coa-mapping"


async def test_import_sends_the_file_with_a_reason_and_shows_the_validation(
        tmp_path: Path) -> None:
    source = tmp_path / "rules.json"
    text = json.dumps(mapping.export_record())
    source.write_text(text)
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("I")
        await settle(pilot, screen_is(app, PathPromptScreen))
        await type_into(pilot, "#path", str(source))
        await settle(pilot, screen_is(app, ReasonScreen))
        await type_into(pilot, "#reason", "seed from BOT02")
        await settle(pilot, screen_is(app, ResultScreen))
        assert calls(app, IMPORT) == [{"document": text, "reason": "seed from BOT02"}]
        flat = result_text(app)
        assert "is valid." in flat and "Imported as version 4 (not active)" in flat
        assert app.live.commands[-1].params == {"document": f"<{source}>",
                                                "reason": "seed from BOT02"}


async def test_a_refused_document_shows_the_engines_reason(tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text(json.dumps({**mapping.export_record(), "content_hash": "0" * 64}))
    refused = RpcCallError(REFUSED, "the import is refused: content_hash does not match the "
                           "rules: the document was changed after export", {"code": "refused"})
    app = console(answers=mapping.answers(**{IMPORT: refused}))
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("I")
        await settle(pilot, screen_is(app, PathPromptScreen))
        await type_into(pilot, "#path", str(source))
        await settle(pilot, screen_is(app, ReasonScreen))
        await pilot.press("enter")
        await settle(pilot, screen_is(app, ResultScreen))
        flat = result_text(app)
        assert "was refused: nothing was imported." in flat
        assert "content_hash does not match the rules" in flat
        assert app.live.commands[-1].ok is False


async def test_a_missing_file_is_not_sent(tmp_path: Path) -> None:
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await open_queue(pilot)
        await pilot.press("I")
        await settle(pilot, screen_is(app, PathPromptScreen))
        await type_into(pilot, "#path", str(tmp_path / "nope.json"))
        await settle(pilot, screen_is(app, ResultScreen))
        assert "there is no file" in result_text(app)
        assert calls(app, IMPORT) == []
