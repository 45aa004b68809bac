"""A flood of 10,000 alerts in a second: the engine's side stays fast, memory stays
bounded, repeats are deduplicated and what cannot be queued is counted as dropped."""

from __future__ import annotations

import time
import tracemalloc

from tbot.alerts.channels import parse_channels
from tbot.alerts.dispatcher import AlertDispatcher, DispatchSettings, Outcome
from tbot.alerts.message import Severity
from tests.alerts.conftest import failure
from tests.alerts.servers import Webhook

FLOOD = 10_000
QUEUE = 64
KEYS = 512


def flood(hook: Webhook, distinct: int, *, trace: bool = False
          ) -> tuple[AlertDispatcher, list[Outcome], float, int]:
    """Submit FLOOD alerts cycling through `distinct` texts; the dispatcher, the outcomes,
    the seconds it took and (`trace`) the peak of memory allocated meanwhile."""
    channels = parse_channels({"channels": {"ops": [hook.url()]}}, "secret")
    dispatcher = AlertDispatcher(channels, DispatchSettings(queue_size=QUEUE,
                                                            dedup_capacity=KEYS))
    dispatcher.start()
    if trace:
        tracemalloc.start()
    try:
        started = time.monotonic()
        outcomes = [dispatcher.submit(failure(f"broker: error {number % distinct}",
                                              Severity.ERROR), "ops")
                    for number in range(FLOOD)]
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
    finally:
        if trace:
            tracemalloc.stop()
    return dispatcher, outcomes, seconds, peak


def test_ten_thousand_repeats_of_a_few_alerts_are_deduplicated_and_sent_once_each(
        hook: Webhook):
    dispatcher, outcomes, seconds, _ = flood(hook, distinct=10)
    try:
        assert seconds < 1.0
        assert outcomes.count(Outcome.QUEUED) == 10
        assert outcomes.count(Outcome.DEDUPLICATED) == FLOOD - 10
        hook.wait_for(10)
        assert dispatcher.wait_idle(20)
    finally:
        dispatcher.close()
    counters = dispatcher.counters()
    assert (counters["sent"], counters["deduplicated"], counters["dropped"]) == (
        10, FLOOD - 10, 0)


def test_ten_thousand_distinct_alerts_fill_a_bounded_queue_and_the_rest_are_counted_dropped(
        hook: Webhook):
    dispatcher, outcomes, seconds, _ = flood(hook, distinct=FLOOD)
    try:
        assert seconds < 1.0
        during = dispatcher.counters()
        assert during["queued"] <= QUEUE
        assert during["dedup_keys"] <= KEYS
        assert dispatcher.wait_idle(60)
    finally:
        dispatcher.close()
    counters = dispatcher.counters()
    queued = outcomes.count(Outcome.QUEUED)
    assert counters["dropped"] == outcomes.count(Outcome.DROPPED) == FLOOD - queued
    assert counters["dropped"] > 0
    assert counters["sent"] == queued == len(hook.bodies())
    assert counters["submitted"] == FLOOD == counters["sent"] + counters["dropped"]


def test_a_flood_holds_only_the_queue_and_the_dedup_window_in_memory(hook: Webhook):
    dispatcher, outcomes, _, peak = flood(hook, distinct=FLOOD, trace=True)
    dispatcher.close(timeout=0)
    assert outcomes.count(Outcome.DROPPED) > 0
    # 10,000 of these alerts held at once take about 2 MB; the flood peaks at a fraction
    assert peak < 1_000_000, peak
