"""Trade and cash-activity reports: windows, oldest first, paging with opaque tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tbot.broker.models import BrokerFill, CashActivity
from tbot.broker.sim import SimBroker, SimFault
from tbot.clock import FrozenClock
from tests.broker.conftest import LONG_AGO, START, BrokerOpener, Market, all_trades


@pytest.fixture
def five_fills(market: Market, broker: SimBroker) -> list[BrokerFill]:
    """One order filled one share a minute over five minutes."""
    market.minute(("AAPL", "100", "100", 10))
    market.buy("c1", "AAPL", "5")
    fills: list[BrokerFill] = []
    for _ in range(5):
        fills += market.minute(("AAPL", "100", "100", 10))
    assert len(fills) == 5
    return fills


def test_trades_come_page_by_page_oldest_first(
    broker: SimBroker, five_fills: list[BrokerFill]
) -> None:
    first = broker.fetch_all_trades(LONG_AGO, page_size=2)
    second = broker.fetch_all_trades(LONG_AGO, page_token=first.next_token, page_size=2)
    third = broker.fetch_all_trades(LONG_AGO, page_token=second.next_token, page_size=2)

    assert [len(page.items) for page in (first, second, third)] == [2, 2, 1]
    assert third.next_token is None
    assert list(first.items + second.items + third.items) == five_fills
    assert [fill.filled_at for fill in five_fills] == sorted(fill.filled_at for fill in five_fills)


def test_a_full_last_page_has_no_next_token(
    broker: SimBroker, five_fills: list[BrokerFill]
) -> None:
    page = broker.fetch_all_trades(LONG_AGO, page_size=5)

    assert len(page.items) == 5 and page.next_token is None


def test_trade_window_includes_since_and_excludes_until(
    broker: SimBroker, five_fills: list[BrokerFill]
) -> None:
    middle = five_fills[2].filled_at

    before = broker.fetch_all_trades(LONG_AGO, middle).items
    after = broker.fetch_all_trades(middle).items

    assert list(before) == five_fills[:2]
    assert list(after) == five_fills[2:]


@pytest.mark.parametrize("token", ["abc", "-1", "", "1.5", " 2", "２"])
def test_bad_page_tokens_are_refused(broker: SimBroker, token: str) -> None:
    with pytest.raises(ValueError, match="page token"):
        broker.fetch_all_trades(LONG_AGO, page_token=token)
    with pytest.raises(ValueError, match="page token"):
        broker.fetch_cash_activity(LONG_AGO, page_token=token)


@pytest.mark.parametrize("size", [0, 1001, -5, True])
def test_page_sizes_outside_one_to_a_thousand_are_refused(broker: SimBroker, size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        broker.fetch_all_trades(LONG_AGO, page_size=size)
    with pytest.raises(ValueError, match="page_size"):
        broker.fetch_cash_activity(LONG_AGO, page_size=size)


def test_naive_windows_are_refused(broker: SimBroker) -> None:
    with pytest.raises(ValueError, match="naive"):
        broker.fetch_all_trades(datetime(2026, 1, 1))  # noqa: DTZ001 - the refusal is the point


def test_cash_activities_come_page_by_page_oldest_first(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker(faults=frozenset({SimFault.DEPOSIT}))
    market = Market(broker, clock)
    for day in range(3):
        market.jump_to(START.replace(hour=15) + timedelta(days=day))
        market.minute(("AAPL", "100"))

    activities: list[CashActivity] = []
    token: str | None = None
    pages = 0
    while True:
        page = broker.fetch_cash_activity(LONG_AGO, page_token=token, page_size=3)
        activities += page.items
        pages += 1
        token = page.next_token
        if token is None:
            break

    assert pages == 2
    assert [activity.activity_type for activity in activities] == ["CSD"] * 4
    assert [activity.amount for activity in activities[1:]] == [Decimal("1000.00")] * 3
    assert [activity.occurred_at for activity in activities] == sorted(
        activity.occurred_at for activity in activities
    )
    assert len({activity.activity_id for activity in activities}) == 4


def test_reports_are_stable_when_asked_twice(
    broker: SimBroker, five_fills: list[BrokerFill]
) -> None:
    assert all_trades(broker) == all_trades(broker) == five_fills
