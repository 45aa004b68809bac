"""Defense mode's rules: what turns it on, what it changes, and its stated recovery."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.loader import parse_bot_text, template_text
from tbot.risk.defense_mode import DefenseLimits, DefenseMode, effective_settings

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
D = Decimal


@pytest.fixture(scope="module")
def bot() -> BotSettings:
    return parse_bot_text(template_text(".env_bot"), "template")


def limits(*, manual: bool = False, drawdown: str = "10", rate: str = "0.3",
           trades: int = 4) -> DefenseLimits:
    return DefenseLimits(manual, D(drawdown), D(rate), trades)


def test_the_settings_defense_mode_trades_with(bot: BotSettings) -> None:
    bot = bot.model_copy(update={"MAX_TRADES": 3, "DEFENSE_MODE_TRADE_LIMIT_PCT": D(66),
                                 "DEFENSE_MODE_TOTAL_ALLOCATION": D("0.01")})
    defended = effective_settings(bot)
    assert D("0.01") == defended.TOTAL_ALLOCATION
    assert defended.MAX_TRADES == 1  # 66% of 3, rounded down
    assert defended.MAX_GAP_PCT_OPEN == bot.MAX_GAP_PCT_OPEN / 2
    assert defended.WEIGHTS == bot.WEIGHTS
    assert effective_settings(bot.model_copy(update={"MAX_TRADES": 1})).MAX_TRADES == 0


def test_a_drawdown_at_the_trigger_turns_it_on_once() -> None:
    mode = DefenseMode(limits())
    assert mode.observe_drawdown(D("9.99"), T0) is None
    change = mode.observe_drawdown(D("10"), T0)
    assert change is not None and change.active and not change.manual
    assert "DEFENSE_MODE_AUTO_DRAWDOWN_PCT 10%" in change.reason
    assert mode.observe_drawdown(D("12"), T0) is None  # on already
    assert mode.status()["active"] is True


def test_a_poor_win_rate_turns_it_on_only_over_enough_trades() -> None:
    mode = DefenseMode(limits(trades=4))
    for won in (False, False, False):
        assert mode.record_trade(won, T0) is None  # three trades judge nothing
    change = mode.record_trade(True, T0)  # 1 in 4 = 0.25 < 0.3
    assert change is not None and "win rate 0.25 over the last 4 trades" in change.reason


def test_a_trigger_of_zero_never_fires() -> None:
    mode = DefenseMode(limits(drawdown="0", rate="0"))
    assert mode.observe_drawdown(D("50"), T0) is None
    for _ in range(10):
        assert mode.record_trade(False, T0) is None


def test_recovery_is_a_new_day_with_room_to_spare() -> None:
    mode = DefenseMode(limits())
    mode.observe_drawdown(D("11"), T0)
    mode.observe_drawdown(D("6"), T0 + timedelta(hours=1))
    assert mode.new_day(date(2026, 11, 23), T0) is None  # 6% is not below half of 10%
    mode.observe_drawdown(D("4"), T0 + timedelta(hours=2))
    assert mode.active  # never mid-day
    change = mode.new_day(date(2026, 11, 23), T0 + timedelta(days=3))
    assert change is not None and not change.active
    assert "recovered at the start of 2026-11-23" in change.reason
    assert not mode.active


def test_manual_defense_mode_follows_only_the_setting() -> None:
    mode = DefenseMode(limits(manual=True))
    change = mode.reconfigure(limits(manual=True), T0)
    assert change is not None and change.active and change.manual
    mode.observe_drawdown(D("0"), T0)
    assert mode.new_day(date(2026, 11, 23), T0) is None  # no automatic recovery
    off = mode.reconfigure(limits(manual=False), T0)
    assert off is not None and not off.active and "DEFENSE_MODE_ACTIVE=false" in off.reason
