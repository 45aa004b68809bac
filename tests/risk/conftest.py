"""Fixtures for risk tests: settings from the shipped template and a fixed instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.config.loader import parse_bot_text, template_text

T0 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def template_bot() -> BotSettings:
    """`.env_bot.template` as settings (parsed once): TOTAL_ALLOCATION 0.02, WEIGHTS
    0.4,0.2,0.2,0.2, MAX_RISK_PER_TRADE 0.025, DAILY_LOSS_LIMIT 0.05, MAX_TRADES 4,
    MAX_OPEN_POSITIONS 5, FRACTIONAL true."""
    return parse_bot_text(template_text(".env_bot"), "template")
