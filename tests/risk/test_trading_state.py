"""Trading states: every transition, the refused ones, and what each state lets through."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.risk.trading_state import (
    StateChange,
    TradingState,
    TradingStateError,
    TradingStateMachine,
)
from tbot.strategy.signals import ExitReason

from .conftest import T0

T1 = T0 + timedelta(minutes=1)
T2 = T0 + timedelta(minutes=2)


def machine_in(state: TradingState, reason: str = "set up") -> TradingStateMachine:
    return TradingStateMachine(state, reason, T0)


def test_settings_start_the_bot_active(template_bot: BotSettings) -> None:
    machine = TradingStateMachine.from_settings(template_bot, T0)
    assert (machine.state, machine.reason, machine.since) == (TradingState.ACTIVE, "started", T0)
    assert machine.history == ()


def test_disable_all_trades_starts_the_bot_halted(template_bot: BotSettings) -> None:
    bot = template_bot.model_copy(update={"DISABLE_ALL_TRADES": True})
    machine = TradingStateMachine.from_settings(bot, T0)
    assert (machine.state, machine.reason) == (TradingState.HALTED, "DISABLE_ALL_TRADES=true")


def test_pause_moves_active_to_reducing() -> None:
    machine = machine_in(TradingState.ACTIVE)
    change = machine.pause("operator pause", T1)

    assert change == StateChange(TradingState.ACTIVE, TradingState.REDUCING, "operator pause", T1)
    assert (machine.state, machine.reason, machine.since) == (
        TradingState.REDUCING,
        "operator pause",
        T1,
    )
    assert machine.history == (change,)


@pytest.mark.parametrize("state", [TradingState.REDUCING, TradingState.HALTED])
def test_pause_changes_nothing_unless_active(state: TradingState) -> None:
    machine = machine_in(state)
    assert machine.pause("operator pause", T1) is None
    assert (machine.state, machine.reason, machine.history) == (state, "set up", ())


def test_resume_moves_reducing_to_active() -> None:
    machine = machine_in(TradingState.REDUCING)
    change = machine.resume(T1)
    assert change == StateChange(TradingState.REDUCING, TradingState.ACTIVE, "resumed", T1)
    assert machine.state is TradingState.ACTIVE


def test_resume_when_active_changes_nothing() -> None:
    assert machine_in(TradingState.ACTIVE).resume(T1) is None


def test_resume_cannot_lift_a_halt() -> None:
    machine = machine_in(TradingState.HALTED, "daily loss limit")
    with pytest.raises(TradingStateError) as raised:
        machine.resume(T1)
    assert str(raised.value) == (
        "trading is halted by daily loss limit: use risk.reset to lift the halt"
    )
    assert machine.state is TradingState.HALTED


@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.REDUCING])
def test_halt_stops_any_state(state: TradingState) -> None:
    machine = machine_in(state)
    change = machine.halt("kill switch", T1)
    assert change == StateChange(state, TradingState.HALTED, "kill switch", T1)
    assert (machine.state, machine.reason) == (TradingState.HALTED, "kill switch")


def test_a_second_halt_keeps_the_first_reason() -> None:
    machine = machine_in(TradingState.ACTIVE)
    machine.halt("kill switch", T1)
    assert machine.halt("daily loss limit", T2) is None
    assert (machine.reason, machine.since) == ("kill switch", T1)


def test_reset_lifts_a_halt() -> None:
    machine = machine_in(TradingState.HALTED, "kill switch")
    change = machine.reset(T1)
    assert change == StateChange(TradingState.HALTED, TradingState.ACTIVE, "reset", T1)
    assert machine.state is TradingState.ACTIVE


def test_reset_when_active_changes_nothing() -> None:
    assert machine_in(TradingState.ACTIVE).reset(T1) is None


def test_reset_does_not_lift_a_pause() -> None:
    machine = machine_in(TradingState.REDUCING, "operator pause")
    with pytest.raises(TradingStateError, match="paused by operator pause, not halted: use risk"):
        machine.reset(T1)
    assert machine.state is TradingState.REDUCING


def test_history_keeps_every_transition_in_order() -> None:
    machine = machine_in(TradingState.ACTIVE)
    machine.pause("operator pause", T1)
    machine.halt("kill switch", T2)
    machine.reset(T2 + timedelta(minutes=1), "operator reset")

    assert [(c.before, c.after, c.reason) for c in machine.history] == [
        (TradingState.ACTIVE, TradingState.REDUCING, "operator pause"),
        (TradingState.REDUCING, TradingState.HALTED, "kill switch"),
        (TradingState.HALTED, TradingState.ACTIVE, "operator reset"),
    ]


@pytest.mark.parametrize(
    ("state", "allowed"),
    [(TradingState.ACTIVE, True), (TradingState.REDUCING, False), (TradingState.HALTED, False)],
)
def test_only_active_allows_entries(state: TradingState, allowed: bool) -> None:
    assert machine_in(state).allows_entry() is allowed


@pytest.mark.parametrize("reason", list(ExitReason))
@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.REDUCING])
def test_active_and_reducing_allow_every_exit(state: TradingState, reason: ExitReason) -> None:
    assert machine_in(state).allows_exit(reason)


@pytest.mark.parametrize(
    ("reason", "allowed"),
    [
        (ExitReason.KILL_SWITCH, True),
        (ExitReason.DAILY_LOSS_LIMIT, True),
        (ExitReason.DRAWDOWN_GUARD, True),
        (ExitReason.TRAILING_STOP, False),
        (ExitReason.TIMEOUT, False),
        (ExitReason.SHUTDOWN, False),
        (ExitReason.OPERATOR, False),
    ],
)
def test_halted_allows_only_the_halts_own_flattening(reason: ExitReason, allowed: bool) -> None:
    assert machine_in(TradingState.HALTED).allows_exit(reason) is allowed


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        machine_in(TradingState.ACTIVE).pause("operator pause", T1.replace(tzinfo=None))


def test_snapshot_names_state_reason_and_since() -> None:
    assert machine_in(TradingState.HALTED, "kill switch").snapshot() == {
        "state": "halted",
        "reason": "kill switch",
        "since": "2026-11-20T14:30:00+00:00",
    }
