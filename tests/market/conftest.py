"""Fixtures of the market tests: one shared trading calendar (it is slow to build)."""

from __future__ import annotations

import pytest

from tbot.market.calendar import TradingCalendar


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    """The New York Stock Exchange calendar."""
    return TradingCalendar()
