"""One close order per symbol per interval: what is refused, and what waits to be sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tbot.risk.close_throttle import CloseThrottle

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=30)


@pytest.fixture
def throttle() -> CloseThrottle:
    return CloseThrottle(INTERVAL)


def test_the_first_close_of_a_symbol_goes_at_once(throttle: CloseThrottle) -> None:
    assert throttle.refusal("AAPL", T0) is None
    assert throttle.next_allowed("AAPL") is None


def test_a_second_close_within_the_interval_is_refused_with_when_it_may_go(
    throttle: CloseThrottle,
) -> None:
    throttle.record("AAPL", T0)
    refusal = throttle.refusal("AAPL", T0 + timedelta(seconds=29))
    assert refusal is not None
    assert "15:00:00Z" in refusal and "15:00:30Z" in refusal
    assert "CLOSE_MIN_INTERVAL_SECONDS=30" in refusal
    assert throttle.refusal("AAPL", T0 + INTERVAL) is None  # exactly the interval: allowed
    assert throttle.refusal("MSFT", T0 + timedelta(seconds=1)) is None  # per symbol


def test_a_refused_close_waits_and_comes_due_once(throttle: CloseThrottle) -> None:
    throttle.record("AAPL", T0)
    waiting = throttle.defer("AAPL", "exit", "stop_loss")
    assert waiting.due == T0 + INTERVAL
    assert throttle.due(T0 + timedelta(seconds=10)) == []
    assert throttle.due(T0 + INTERVAL) == [waiting]
    assert throttle.due(T0 + INTERVAL) == []  # handed over once
    assert throttle.deferred() == []


def test_a_guard_close_replaces_a_waiting_exit_but_not_the_other_way(
    throttle: CloseThrottle,
) -> None:
    throttle.record("AAPL", T0)
    throttle.defer("AAPL", "exit", "stop_loss")
    throttle.defer("AAPL", "flatten", "drawdown_guard")
    throttle.defer("AAPL", "exit", "trailing_stop")
    (waiting,) = throttle.deferred()
    assert (waiting.purpose, waiting.reason) == ("flatten", "drawdown_guard")


def test_a_close_sent_serves_the_one_waiting(throttle: CloseThrottle) -> None:
    throttle.record("AAPL", T0)
    throttle.defer("AAPL", "exit", "stop_loss")
    throttle.record("AAPL", T0 + INTERVAL)
    assert throttle.deferred() == []
    throttle.defer("AAPL", "exit", "stop_loss")
    throttle.forget("AAPL")
    assert throttle.deferred() == []


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CloseThrottle(timedelta(seconds=-1))
