"""The command registry's promises: one key and one id per command, no state change without
friction unless it only reduces risk, the kill switch typed out, and commands greyed out
with the right reason for each role and for an offline engine."""

from __future__ import annotations

import pytest

from tests.console.console_fixtures import FROZEN_NOW, discover_record
from tui.commands.registry import (
    COMMANDS,
    Confirmation,
    ReasonPolicy,
    availability,
    command_bindings,
    command_by_id,
)
from tui.model.live_state import ConnectionInfo, LinkState, LiveState, MethodAccess

# Keys the console's conventions and views own (help, back, drill-in, j/k, filter, quit,
# views 1-6, the command log); no command may take one.
CONVENTION_KEYS = {
    "question_mark",
    "escape",
    "enter",
    "j",
    "k",
    "slash",
    "q",
    "c",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "ctrl+p",
    "ctrl+c",
}


def live_as(role: str | None, *, online: bool = True, without: tuple[str, ...] = ()) -> LiveState:
    """A live state connected as `role` (None: offline), minus the methods in `without`."""
    methods = {}
    if role is not None:
        methods = {
            record["name"]: MethodAccess(
                record["name"], record["min_role"], record["allowed"], record["changes_state"]
            )
            for record in discover_record(role)["methods"]
            if record["name"] not in without
        }
    return LiveState(
        connection=ConnectionInfo(
            state=LinkState.ONLINE if online else LinkState.OFFLINE,
            since=FROZEN_NOW,
            socket_path="/run/tbot/engine.sock",
            role=role,
            methods=methods,
        )
    )


def test_ids_keys_and_binding_ids_are_unique() -> None:
    ids = [command.id for command in COMMANDS]
    keys = [command.key for command in COMMANDS]
    assert len(set(ids)) == len(ids)
    assert len(set(keys)) == len(keys)
    assert [command.binding_id for command in COMMANDS] == [f"command.{i}" for i in ids]
    assert not set(keys) & CONVENTION_KEYS


def test_the_issue_s_commands_are_all_there_with_their_keys() -> None:
    assert {command.method: command.key for command in COMMANDS} == {
        "trading.pause": "p",
        "trading.resume": "r",
        "strategy.enable": "e",
        "strategy.disable": "d",
        "risk.kill": "X",
        "risk.reset": "R",
        "ledger.verify": "v",
        "config.reload": "L",
    }


def test_every_state_change_is_confirmed_or_only_reduces_risk() -> None:
    for command in COMMANDS:
        if command.changes_state and not command.reduces_risk:
            assert command.confirm is not Confirmation.NONE, command.id
    # What lets trading restart is always asked.
    for command_id in ("resume", "enable", "reset", "reload"):
        assert command_by_id(command_id).confirm is Confirmation.YES_NO


def test_the_kill_switch_is_typed_with_a_required_reason() -> None:
    kill = command_by_id("kill")
    assert kill.confirm is Confirmation.TYPED
    assert kill.asks_reason is ReasonPolicy.REQUIRED
    assert [c.id for c in COMMANDS if c.confirm is Confirmation.TYPED] == ["kill"]


def test_strategy_commands_choose_among_the_engine_s_strategies() -> None:
    for command_id in ("enable", "disable"):
        command = command_by_id(command_id)
        assert command.choices == ("open", "mid", "close")
        assert command.choice_param == "strategy"
    assert command_by_id("disable").choice_title("mid") == "Disable strategy: mid"


def test_verify_waits_longer_than_the_rest() -> None:
    verify = command_by_id("verify")
    assert not verify.changes_state
    assert verify.timeout >= 300
    assert all(c.timeout < verify.timeout for c in COMMANDS if c is not verify)


def test_each_command_has_an_app_binding_with_its_id() -> None:
    bindings = command_bindings()
    assert [(b.key, b.action, b.id) for b in bindings] == [
        (c.key, f"run_command('{c.id}')", f"command.{c.id}") for c in COMMANDS
    ]
    assert all(b.description for b in bindings)


def test_unknown_command_id_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: pause, resume"):
        command_by_id("launch")


def test_offline_disables_everything() -> None:
    live = live_as("admin", online=False)
    for command in COMMANDS:
        assert availability(command, live).enabled is False
        assert availability(command, live).reason == "the engine is offline"


def test_a_viewer_may_send_nothing() -> None:
    live = live_as("viewer")
    reasons = {command.id: availability(command, live).reason for command in COMMANDS}
    assert reasons["verify"] == "needs the auditor role (you are viewer)"
    assert reasons["reset"] == "needs the admin role (you are viewer)"
    for command_id in ("pause", "resume", "enable", "disable", "kill", "reload"):
        assert reasons[command_id] == "needs the operator role (you are viewer)"
    assert not any(availability(command, live).enabled for command in COMMANDS)


def test_an_auditor_may_only_verify() -> None:
    live = live_as("auditor")
    enabled = {command.id for command in COMMANDS if availability(command, live).enabled}
    assert enabled == {"verify"}


def test_an_operator_may_do_everything_but_reset() -> None:
    live = live_as("operator")
    disabled = {
        command.id: availability(command, live).reason
        for command in COMMANDS
        if not availability(command, live).enabled
    }
    assert disabled == {"reset": "needs the admin role (you are operator)"}


def test_an_admin_may_do_everything() -> None:
    live = live_as("admin")
    assert all(availability(command, live).enabled for command in COMMANDS)


def test_a_method_the_engine_does_not_offer_is_disabled() -> None:
    live = live_as("admin", without=("config.reload",))
    state = availability(command_by_id("reload"), live)
    assert not state.enabled
    assert state.reason == "the engine does not offer config.reload"
