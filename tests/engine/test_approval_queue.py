"""The approval queue of TRADE_CONFIRMATION_REQUIRED: what waits, and how an entry leaves
without an operator (its window ends, its price moves)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.engine.approval_queue import ApprovalError, ApprovalQueue, Outcome
from tbot.strategy.signals import Direction, EntrySignal
from tbot.strategy.window import StrategyName

T0 = datetime(2026, 11, 20, 14, 45, tzinfo=UTC)
ENDS = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def signal(instrument: str = "AAPL", price: str = "100") -> EntrySignal:
    return EntrySignal(StrategyName.OPEN, instrument, instrument, Direction.LONG,
                       Decimal(price), Decimal(price), T0, "breakout above 99.80", "none", 1)


@pytest.fixture
def queue() -> ApprovalQueue:
    return ApprovalQueue(max_move_bps=Decimal(50))


def test_an_entry_waits_once_with_its_countdown(queue: ApprovalQueue) -> None:
    entry = queue.add("open-20261120T1444-AAPL-entry", signal(), T0, ENDS)
    assert entry is not None
    assert queue.add("open-20261120T1444-AAPL-entry", signal(), T0, ENDS) is None
    assert len(queue) == 1
    row = entry.as_dict(T0 + timedelta(minutes=5))
    assert row["id"] == "open-20261120T1444-AAPL-entry" and row["seconds_left"] == 600
    assert row["instrument"] == "AAPL" and row["reference_price"] == Decimal(100)
    assert entry.as_dict(ENDS + timedelta(minutes=1))["seconds_left"] == 0


def test_taking_an_entry_removes_it_and_an_unknown_one_is_named(queue: ApprovalQueue) -> None:
    queue.add("k1", signal(), T0, ENDS)
    assert queue.take("k1").key == "k1"
    with pytest.raises(ApprovalError, match=r"no entry 'k1' is waiting.*waiting: none"):
        queue.take("k1")


def test_an_entry_expires_when_its_window_ends(queue: ApprovalQueue) -> None:
    queue.add("k1", signal(), T0, ENDS)
    assert queue.sweep(ENDS - timedelta(seconds=1), {}) == []
    (dropped,) = queue.sweep(ENDS, {})
    assert dropped.outcome is Outcome.EXPIRED and "15:00Z" in dropped.detail
    assert len(queue) == 0


@pytest.mark.parametrize("price", ["100.60", "99.40"])
def test_an_entry_whose_price_moved_beyond_the_rule_is_dropped(
    queue: ApprovalQueue, price: str
) -> None:
    queue.add("k1", signal(), T0, ENDS)
    queue.add("k2", signal("MSFT", "200"), T0, ENDS)
    (dropped,) = queue.sweep(T0 + timedelta(minutes=1), {"AAPL": Decimal(price),
                                                         "MSFT": Decimal("200.50")})
    assert dropped.entry.key == "k1" and dropped.outcome is Outcome.PRICE_MOVED
    assert "60.0 bps from the 100" in dropped.detail and "MAX_SLIPPAGE_BPS 50" in dropped.detail
    assert [entry.key for entry in queue.pending()] == ["k2"]


def test_a_price_within_the_rule_or_not_known_keeps_it_waiting(queue: ApprovalQueue) -> None:
    queue.add("k1", signal(), T0, ENDS)
    assert queue.sweep(T0 + timedelta(minutes=1), {"AAPL": Decimal("100.50")}) == []
    assert queue.sweep(T0 + timedelta(minutes=2), {}) == []  # no trade since: no verdict
    assert len(queue) == 1


def test_approving_blind_is_refused(queue: ApprovalQueue) -> None:
    entry = queue.add("k1", signal(), T0, ENDS)
    assert entry is not None
    refusal = queue.price_refusal(entry, None)
    assert refusal is not None and "no price for AAPL" in refusal
    assert queue.price_refusal(entry, Decimal("100.49")) is None


def test_clearing_returns_what_waited(queue: ApprovalQueue) -> None:
    queue.add("k1", signal(), T0, ENDS)
    queue.add("k2", signal("MSFT"), T0, ENDS)
    assert [entry.key for entry in queue.clear()] == ["k1", "k2"]
    assert queue.pending() == [] and queue.waiting_for("AAPL") == []
