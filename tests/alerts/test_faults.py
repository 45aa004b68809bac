"""Channels that fail: a server that never answers, a port that refuses. The sender
carries on (the engine's side never waits), retries with backoff, and reports the
channel by name, never by URL."""

from __future__ import annotations

import logging
import time

import pytest

from tbot.alerts.channels import parse_channels
from tbot.alerts.dispatcher import AlertDispatcher, ChannelFailure, DispatchSettings, Outcome
from tests.alerts.conftest import failure
from tests.alerts.servers import Webhook, closed_port, silent_server

TOKEN = "Hk7TopSecretPath"


def test_a_channel_that_times_out_delays_nothing_and_is_reported(
        hook: Webhook, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    reports: list[ChannelFailure] = []
    with silent_server() as port:
        channels = parse_channels({"channels": {"ops": [
            f"json://127.0.0.1:{port}/hook/{TOKEN}?cto=1&rto=1", hook.url()]}}, "secret")
        dispatcher = AlertDispatcher(
            channels, DispatchSettings(attempts=2, backoff_seconds=0.2),
            on_failure=reports.append)
        dispatcher.start()
        started = time.monotonic()
        outcomes = [dispatcher.submit(failure(f"alert {number}"), "ops") for number in range(3)]
        submitting = time.monotonic() - started
        hook.wait_for(3)  # the healthy channel is not held up by the silent one
        delivered_at = time.monotonic() - started
        assert dispatcher.wait_idle(30)
        dispatcher.close()
    assert outcomes == [Outcome.QUEUED] * 3
    assert submitting < 0.05
    assert delivered_at < 2.0  # the silent channel needs 3 × (2 × 1 s + 0.2 s) to give up
    counters = dispatcher.counters()
    by_channel = counters["by_channel"]
    silent = by_channel["ops#1 (json://)"]
    assert (silent["sent"], silent["failed"], silent["retries"]) == (0, 3, 3)
    assert by_channel["ops#2 (json://)"]["sent"] == 3
    assert reports and reports[0].label == "ops#1 (json://)" and reports[0].attempts == 2
    assert "Connection error" in reports[0].reason or "timed out" in reports[0].reason.lower()
    lines = [record.getMessage() for record in caplog.records]
    assert any("alert channel ops#1 (json://) failed after 2 attempts" in line for line in lines)
    assert all(TOKEN not in line for line in lines)
    assert all(TOKEN not in report.reason for report in reports)


def test_a_channel_that_refuses_is_retried_with_backoff_then_reported_and_recovers(
        caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="tbot")
    reports: list[ChannelFailure] = []
    port = closed_port()
    channels = parse_channels({"channels": {"ops": [f"json://127.0.0.1:{port}/{TOKEN}"]}},
                              "secret")
    dispatcher = AlertDispatcher(
        channels, DispatchSettings(attempts=3, backoff_seconds=0.1), on_failure=reports.append)
    dispatcher.start()
    started = time.monotonic()
    dispatcher.submit(failure("first"), "ops")
    assert dispatcher.wait_idle(10)
    elapsed = time.monotonic() - started
    dispatcher.submit(failure("second"), "ops")
    assert dispatcher.wait_idle(10)
    dispatcher.close()
    # three attempts, waiting 0.1 s then 0.2 s between them
    assert elapsed >= 0.3
    counters = dispatcher.counters()
    assert (counters["failed"], counters["retries"], counters["sent"]) == (2, 4, 0)
    # the first failure is reported at once; the next within the minute is only counted
    assert [report.consecutive for report in reports] == [1]
    assert counters["by_channel"]["ops#1 (json://)"]["consecutive_failures"] == 2
    assert "•••" in reports[0].reason and TOKEN not in reports[0].reason


def test_closing_never_waits_longer_than_the_drain_time_for_a_dead_channel():
    with silent_server() as port:
        channels = parse_channels({"channels": {"pager": [
            f"json://127.0.0.1:{port}/x?cto=1&rto=1"]}}, "secret")
        dispatcher = AlertDispatcher(channels, DispatchSettings(attempts=5, backoff_seconds=2.0))
        dispatcher.start()
        for number in range(20):
            dispatcher.submit(failure(f"alert {number}"), "pager")
        started = time.monotonic()
        abandoned = dispatcher.close(timeout=0.5)
        closing = time.monotonic() - started
    assert closing < 1.0
    assert abandoned >= 18
    counters = dispatcher.counters()
    assert counters["dropped"] == abandoned
    assert dispatcher.submit(failure("late"), "pager") is Outcome.CLOSED
