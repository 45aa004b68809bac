"""The risk gate on short sales: sized and limited like a purchase, in whole shares, and
refused when the signal is not a short sale of the stock itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.risk.limits import SessionLimits
from tbot.risk.risk_gate import Approved, Refused, RiskGate, short_sale_refusal
from tbot.risk.sizing import position_size
from tbot.risk.trading_state import TradingStateMachine
from tbot.strategy.signals import TAG_SHORT_SELL, Direction, EntrySignal

from .conftest import T0

CAPITAL = Decimal("100000")

PFE_SHORT = EntrySignal(
    strategy=StrategyName.CLOSE,
    underlying="PFE",
    instrument="PFE",
    direction=Direction.BEARISH,
    trigger_price=Decimal("24.20"),
    reference_price=Decimal("24.20"),
    at=T0 + timedelta(hours=5),
    reason="PFE 24.20 momentum; sold short",
    tag=TAG_SHORT_SELL,
    leverage_multiplier=1,
)


@pytest.fixture
def gate(template_bot: BotSettings) -> RiskGate:
    state = TradingStateMachine.from_settings(template_bot, T0)
    return RiskGate(template_bot, state, SessionLimits.from_settings(template_bot))


def check(gate: RiskGate, signal: EntrySignal = PFE_SHORT, **overrides: object
          ) -> Approved | Refused:
    kwargs: dict[str, object] = {"capital": CAPITAL, "buying_power": CAPITAL,
                                 "trade_index": 0, "strategy_enabled": True}
    kwargs.update(overrides)
    return gate.check_entry(signal, **kwargs)  # type: ignore[arg-type]


def test_a_short_sale_is_sized_like_a_purchase_in_whole_shares(
    gate: RiskGate, template_bot: BotSettings
) -> None:
    decision = check(gate)
    assert isinstance(decision, Approved)
    # 100000 x 0.02 x 0.4 = 800 of allocation; 800 / 24.20 = 33.05..., whole shares only
    # even though the template trades FRACTIONAL=true
    assert decision.quantity == Decimal(33)
    long_size = position_size(capital=CAPITAL, bot=template_bot, trade_index=0,
                              price=Decimal("24.20"), buying_power=CAPITAL)
    assert long_size.quantity == Decimal("33.057851239")
    assert decision.sizing is not None and decision.sizing.limited_by == long_size.limited_by


def test_a_short_sale_takes_the_same_limits_as_a_purchase(gate: RiskGate) -> None:
    # the buying power the broker reports bounds it like a purchase
    small = check(gate, buying_power=Decimal("100"))
    assert isinstance(small, Approved) and small.quantity == Decimal(4)
    assert isinstance(check(gate, buying_power=Decimal("20")), Refused)
    # one position per instrument, one trade per ticker per session
    gate.limits.record_entry(StrategyName.CLOSE, "PFE", "PFE")
    refused = check(gate)
    assert isinstance(refused, Refused)
    assert refused.reason == "PFE already traded in this close session"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"direction": Direction.LONG}, "a short sale of PFE must be bearish, not long"),
        ({"instrument": "SH"}, "a short sale sells the stock itself: SH is not the "
                               "underlying PFE"),
        ({"instrument": "SQQQ", "underlying": "SQQQ"},
         "SQQQ is an inverse ETF: it is bought for a bearish view, never sold short"),
        ({"leverage_multiplier": 3}, "a short sale of PFE has leverage 1, not 3"),
    ],
)
def test_a_signal_that_is_not_a_short_sale_of_the_stock_is_refused(
    gate: RiskGate, changes: dict[str, object], reason: str
) -> None:
    signal = replace(PFE_SHORT, **changes)  # type: ignore[arg-type]
    assert short_sale_refusal(signal) == reason
    decision = check(gate, signal)
    assert isinstance(decision, Refused) and decision.reason == reason
    assert gate.limits.trades_entered(StrategyName.CLOSE) == 0
