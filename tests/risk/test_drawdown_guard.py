"""The drawdown guard's logic on its own: peak tracking, breaches, the one-way countdown,
re-arming after a reset, and the record a restart reads back."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.ledger.audit_chain import canonical_details
from tbot.risk.drawdown_guard import (
    PEAK_RECORD_STEP,
    DrawdownGuard,
    DrawdownLimits,
    GuardPhase,
    GuardTriggeredError,
    Trigger,
    drawdown_pct,
)
from tests.risk.conftest import T0

D = Decimal
SECOND = timedelta(seconds=1)


def limits(max_pct: str = "20", min_equity: str = "100") -> DrawdownLimits:
    return DrawdownLimits(D(max_pct), D(min_equity), timedelta(seconds=10),
                          timedelta(seconds=30))


def test_the_limits_come_from_the_settings(template_bot: BotSettings) -> None:
    assert DrawdownLimits.from_settings(template_bot) == DrawdownLimits(
        D(20), D(100), timedelta(seconds=10), timedelta(seconds=30))


def test_drawdown_is_measured_from_the_peak_in_percent() -> None:
    assert drawdown_pct(D(80_000), D(100_000)) == D(20)
    assert drawdown_pct(D(100_500), D(100_000)) == 0
    assert drawdown_pct(D(-5), D(0)) == 0


def test_the_peak_follows_equity_up_and_stays_when_it_falls() -> None:
    guard = DrawdownGuard(limits())
    for equity in ("100000", "101000", "100500", "99000"):
        assert guard.observe(D(equity), T0) is None
    assert guard.peak == D(101_000) and guard.phase is GuardPhase.ARMED
    assert guard.current_drawdown() == (D(2000) / D(101_000) * 100)


def test_reaching_max_drawdown_exactly_starts_the_countdown() -> None:
    guard = DrawdownGuard(limits())
    guard.observe(D(100_000), T0)
    change = guard.observe(D(80_000), T0 + SECOND)
    assert change is not None and (change.before, change.after) == (GuardPhase.ARMED,
                                                                     GuardPhase.WARNING)
    assert guard.deadline == T0 + 11 * SECOND
    assert guard.breach is not None and guard.breach.trigger is Trigger.MAX_DRAWDOWN
    assert guard.reason() == ("drawdown guard: drawdown 20.00% from peak 100000.00 "
                              "(equity 80000.00) reached MAX_DRAWDOWN_PCT 20%")


def test_equity_below_the_floor_trips_the_guard_without_any_drawdown() -> None:
    guard = DrawdownGuard(limits(min_equity="150000"))
    change = guard.observe(D(100_000), T0)
    assert change is not None and change.after is GuardPhase.WARNING
    assert guard.breach is not None and guard.breach.trigger is Trigger.MIN_EQUITY
    assert guard.reason() == "drawdown guard: equity 100000.00 below MIN_EQUITY 150000"


def test_zero_switches_a_check_off() -> None:
    guard = DrawdownGuard(limits(max_pct="0", min_equity="0"))
    guard.observe(D(100_000), T0)
    assert guard.observe(D(1), T0 + SECOND) is None
    assert guard.phase is GuardPhase.ARMED


def test_nothing_moves_or_cancels_a_running_countdown() -> None:
    guard = DrawdownGuard(limits())
    guard.observe(D(100_000), T0)
    guard.observe(D(75_000), T0)
    deadline = guard.deadline
    # the market recovers, even to a new high: still closing at the same moment
    assert guard.observe(D(120_000), T0 + 5 * SECOND) is None
    assert (guard.phase, guard.deadline, guard.peak) == (GuardPhase.WARNING, deadline,
                                                         D(100_000))
    with pytest.raises(GuardTriggeredError, match="no command can cancel or delay it"):
        guard.rearm(D(120_000), T0 + 5 * SECOND)
    assert not guard.closing_due(T0 + 9 * SECOND)
    assert guard.closing_due(T0 + 10 * SECOND)


def test_the_countdown_ends_in_closing_then_halted_then_a_reset_rearms_at_todays_equity(
) -> None:
    guard = DrawdownGuard(limits())
    guard.observe(D(100_000), T0)
    guard.observe(D(70_000), T0)
    assert guard.start_closing(T0 + 10 * SECOND).after is GuardPhase.CLOSING
    assert guard.finish(T0 + 70 * SECOND).after is GuardPhase.HALTED
    with pytest.raises(GuardTriggeredError):
        guard.start_closing(T0 + 71 * SECOND)
    change = guard.rearm(D(69_000), T0 + 300 * SECOND)
    assert change is not None and change.after is GuardPhase.ARMED
    assert (guard.peak, guard.breach, guard.deadline) == (D(69_000), None, None)
    assert guard.observe(D(69_000), T0 + 301 * SECOND) is None  # no instant re-trigger


def test_a_new_peak_is_recorded_only_once_it_has_risen_a_step() -> None:
    guard = DrawdownGuard(limits())
    guard.observe(D(100_000), T0)
    assert guard.peak_to_record() == D(100_000)  # the first peak always
    guard.mark_recorded()
    step = D(100_000) * PEAK_RECORD_STEP
    guard.observe(D(100_000) + step - D("0.01"), T0)
    assert guard.peak_to_record() is None
    assert guard.unrecorded_peak() == D(100_000) + step - D("0.01")  # a clean stop writes it
    guard.observe(D(100_000) + step, T0)
    assert guard.peak_to_record() == D(100_000) + step


def test_a_warning_record_read_back_from_the_audit_trail_keeps_its_deadline() -> None:
    guard = DrawdownGuard(limits())
    guard.observe(D("100000.50"), T0)
    guard.observe(D("79000.25"), T0 + SECOND)
    stored = json.loads(canonical_details(guard.as_record()))  # as the audit trail gives it
    restored = DrawdownGuard.from_record(limits(), stored)
    assert restored.phase is GuardPhase.WARNING
    assert (restored.peak, restored.deadline, restored.breach) == (
        guard.peak, guard.deadline, guard.breach)
    assert restored.reason() == guard.reason()
    assert restored.closing_due(T0 + 11 * SECOND)


def test_the_snapshot_shows_drawdown_against_its_limits() -> None:
    guard = DrawdownGuard(limits())
    guard.observe(D(100_000), T0)
    guard.observe(D("96543.21"), T0 + SECOND)
    shown = guard.snapshot()
    assert shown["phase"] == "armed" and shown["drawdown_pct"] == D("3.46")
    assert (shown["max_drawdown_pct"], shown["min_equity"], shown["peak"]) == (
        D(20), D(100), D(100_000))
    assert shown["deadline"] is None and shown["checked_at"] == T0 + SECOND
