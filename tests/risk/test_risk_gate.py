"""The risk gate: the order of entry checks, exits by state, the daily-loss boundary."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.risk.limits import SessionLimits
from tbot.risk.risk_gate import Approved, Refused, RiskGate
from tbot.risk.trading_state import TradingState, TradingStateMachine
from tbot.strategy.signals import Direction, EntrySignal, ExitReason, ExitSignal

from .conftest import T0

CAPITAL = Decimal("100000")

AAPL_BREAKOUT = EntrySignal(
    strategy=StrategyName.OPEN,
    underlying="AAPL",
    instrument="AAPL",
    direction=Direction.LONG,
    trigger_price=Decimal("50"),
    reference_price=Decimal("50"),
    at=T0 + timedelta(minutes=21),
    reason="AAPL 50 > range high 49 x 1.02",
    tag="none",
    leverage_multiplier=1,
)


def exit_signal(reason: ExitReason) -> ExitSignal:
    return ExitSignal(StrategyName.OPEN, "AAPL", reason, T0, "test", None)


@pytest.fixture
def gate(template_bot: BotSettings) -> RiskGate:
    state = TradingStateMachine.from_settings(template_bot, T0)
    return RiskGate(template_bot, state, SessionLimits.from_settings(template_bot))


def check(gate: RiskGate, **overrides: Any) -> Approved | Refused:
    kwargs: dict[str, Any] = {
        "capital": CAPITAL,
        "buying_power": CAPITAL,
        "trade_index": 0,
        "strategy_enabled": True,
    }
    kwargs.update(overrides)
    return gate.check_entry(AAPL_BREAKOUT, **kwargs)


def test_an_entry_within_every_limit_is_approved_with_its_size(gate: RiskGate) -> None:
    decision = check(gate)
    assert isinstance(decision, Approved)
    assert decision.quantity == Decimal(16)  # 100000 x 0.02 x 0.4 / 50
    assert decision.sizing is not None and decision.sizing.allocation == Decimal(800)


def break_every_check(gate: RiskGate) -> None:
    """Make every later check fail too, so the test shows which one is reported."""
    gate.limits.record_entry(StrategyName.OPEN, "AAPL", "AAPL")


def test_trading_state_is_checked_first(gate: RiskGate) -> None:
    gate.state.halt("kill switch", T0)
    break_every_check(gate)
    decision = check(gate, strategy_enabled=False, buying_power=Decimal(0))
    assert decision == Refused("trading halted: kill switch")


def test_reducing_refuses_entries(gate: RiskGate) -> None:
    gate.state.pause("operator pause", T0)
    assert check(gate) == Refused("trading reducing: operator pause")


def test_strategy_flag_is_checked_before_limits(gate: RiskGate) -> None:
    break_every_check(gate)
    decision = check(gate, strategy_enabled=False, buying_power=Decimal(0))
    assert decision == Refused("strategy open is disabled (STRAT_OPEN_ENABLED=false)")


def test_limits_are_checked_before_sizing(gate: RiskGate) -> None:
    break_every_check(gate)
    decision = check(gate, buying_power=Decimal(0))
    assert decision == Refused("AAPL already traded in this open session")


def test_sizing_refusal_comes_last(gate: RiskGate) -> None:
    decision = check(gate, buying_power=Decimal(0))
    assert isinstance(decision, Refused)
    assert decision.reason.startswith("sizing: quantity rounds to 0")


@pytest.mark.parametrize("state", [TradingState.ACTIVE, TradingState.REDUCING])
@pytest.mark.parametrize("reason", [ExitReason.TRAILING_STOP, ExitReason.TIMEOUT])
def test_exits_pass_while_not_halted(
    template_bot: BotSettings, state: TradingState, reason: ExitReason
) -> None:
    gate = RiskGate(
        template_bot,
        TradingStateMachine(state, "test", T0),
        SessionLimits.from_settings(template_bot),
    )
    assert gate.check_exit(exit_signal(reason)) == Approved(None)


def test_halted_gate_passes_only_the_flattening(gate: RiskGate) -> None:
    gate.state.halt("daily loss limit", T0)
    assert gate.check_exit(exit_signal(ExitReason.KILL_SWITCH)) == Approved(None)
    assert gate.check_exit(exit_signal(ExitReason.DAILY_LOSS_LIMIT)) == Approved(None)
    assert gate.check_exit(exit_signal(ExitReason.TIMEOUT)) == Refused(
        "trading halted by daily loss limit: timeout exits wait for risk.reset"
    )


@pytest.mark.parametrize(
    ("pnl", "breached"),
    [
        ("250", False),
        ("0", False),
        ("-4999.99", False),
        ("-5000", True),  # exactly 100000 x 0.05: the limit is reached
        ("-5000.01", True),
    ],
)
def test_daily_loss_limit_triggers_at_the_limit(gate: RiskGate, pnl: str, breached: bool) -> None:
    assert gate.daily_loss_breached(pnl_today=Decimal(pnl), capital=CAPITAL) is breached
