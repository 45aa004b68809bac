"""The broker gateway: timeouts, retries with backoff, 429s, and failures that stay calls."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from tbot.broker.errors import (
    BrokerError,
    BrokerUnavailableError,
    OrderRejectedError,
    RateLimitedError,
)
from tbot.clock import FrozenClock
from tbot.engine.broker_gateway import BrokerGateway

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


class FlakyBroker:
    """Fails the first `failures` calls with `error`, then answers."""

    name = "SIM"

    def __init__(self, error: Exception | None = None, failures: int = 0) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0
        self.closed = False

    def account(self) -> str:
        self.calls += 1
        if self.error is not None and self.calls <= self.failures:
            raise self.error
        return "account"

    def slow(self) -> str:
        time.sleep(0.5)
        return "late"

    def close(self) -> None:
        self.closed = True


def gateway_for(broker: FlakyBroker, retries: int = 3, timeout: float = 2.0) -> BrokerGateway:
    return BrokerGateway(broker, FrozenClock(NOW), retry_limit=retries,  # type: ignore[arg-type]
                         timeout_seconds=timeout, backoff_seconds=0.001)


def test_a_retryable_failure_is_retried_then_succeeds() -> None:
    broker = FlakyBroker(BrokerUnavailableError("connection reset"), failures=2)
    gateway = gateway_for(broker)
    assert asyncio.run(gateway.call("account", broker.account)) == "account"
    assert broker.calls == 3
    assert gateway.health.retries == 2 and gateway.health.healthy
    assert gateway.health.last_ok == NOW
    gateway.close()
    assert broker.closed


def test_a_429_waits_as_long_as_the_broker_asks() -> None:
    broker = FlakyBroker(RateLimitedError("slow down", retry_after=0.2), failures=1)
    gateway = gateway_for(broker)
    began = time.monotonic()
    assert asyncio.run(gateway.call("account", broker.account)) == "account"
    assert time.monotonic() - began >= 0.2
    gateway.close()


def test_retries_stop_at_the_limit_and_mark_the_broker_unhealthy() -> None:
    broker = FlakyBroker(BrokerUnavailableError("down"), failures=99)
    gateway = gateway_for(broker, retries=2)
    with pytest.raises(BrokerUnavailableError):
        asyncio.run(gateway.call("account", broker.account))
    assert broker.calls == 3
    assert gateway.health.healthy is False
    assert gateway.health.last_error == "account: down"
    gateway.close()


def test_a_refusal_is_not_retried_and_says_nothing_about_the_link() -> None:
    broker = FlakyBroker(OrderRejectedError("unknown symbol"), failures=1)
    gateway = gateway_for(broker)
    with pytest.raises(OrderRejectedError):
        asyncio.run(gateway.call("submit", broker.account))
    assert broker.calls == 1
    assert gateway.health.healthy is True and gateway.health.errors == 1
    gateway.close()


def test_an_unexpected_exception_becomes_a_broker_error_not_a_crash() -> None:
    broker = FlakyBroker(RuntimeError("adapter bug"), failures=1)
    gateway = gateway_for(broker)
    with pytest.raises(BrokerError, match="RuntimeError: adapter bug"):
        asyncio.run(gateway.call("account", broker.account))
    assert asyncio.run(gateway.call("account", broker.account)) == "account"
    gateway.close()


def test_a_call_that_never_answers_times_out() -> None:
    broker = FlakyBroker()
    gateway = gateway_for(broker, retries=0, timeout=0.05)
    with pytest.raises(BrokerUnavailableError, match="no answer"):
        asyncio.run(gateway.call("slow", broker.slow))
    gateway.close()


class ThrottledBroker(FlakyBroker):
    """Spends `throttled` seconds of each call waiting for its own request budget (as the
    Alpaca adapter does at the rate limit), then `answering` seconds on the broker."""

    def __init__(self, throttled: float, answering: float) -> None:
        super().__init__()
        self.throttled, self.answering = throttled, answering
        self.waited = 0.0

    def throttled_seconds(self) -> float:
        return self.waited

    def paged(self) -> str:
        self.waited += self.throttled  # counted when the wait starts, as the budget does
        time.sleep(self.throttled + self.answering)
        return "all pages"


def test_time_waiting_for_the_request_budget_does_not_count_against_the_timeout() -> None:
    broker = ThrottledBroker(throttled=0.4, answering=0.05)
    gateway = gateway_for(broker, retries=0, timeout=0.2)
    assert asyncio.run(gateway.call("paged", broker.paged)) == "all pages"
    gateway.close()


def test_a_broker_slow_beyond_its_budget_wait_still_times_out() -> None:
    broker = ThrottledBroker(throttled=0.1, answering=0.6)
    gateway = gateway_for(broker, retries=0, timeout=0.2)
    with pytest.raises(BrokerUnavailableError, match=r"no answer from the broker within 0\.2 s"):
        asyncio.run(gateway.call("paged", broker.paged))
    gateway.close()
