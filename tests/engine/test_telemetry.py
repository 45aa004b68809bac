"""The engine's telemetry: counters fed by its event bus, gauges read when collected, and
the Prometheus endpoint scraped over real HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tbot.config.setting_types import split_listen_address
from tbot.engine.event_bus import EventBus
from tbot.engine.telemetry import EngineTelemetry, GaugeSample


class Standing:
    """A sampler the test moves by hand."""

    def __init__(self) -> None:
        self.sample = GaugeSample(open_positions=0, equity=None, drawdown_pct=None,
                                  trading_state="active")
        self.fail = False

    def __call__(self) -> GaugeSample:
        if self.fail:
            raise RuntimeError("the engine is gone")
        return self.sample


@pytest.fixture
def standing() -> Standing:
    return Standing()


@pytest.fixture
def telemetry(standing: Standing) -> Iterator[EngineTelemetry]:
    telemetry = EngineTelemetry(standing)
    yield telemetry
    telemetry.close()


@pytest.fixture
def bus(telemetry: EngineTelemetry) -> EventBus:
    bus = EventBus()
    bus.subscribe_all(telemetry.on_event)
    return bus


def value(telemetry: EngineTelemetry, name: str, **labels: str) -> float | None:
    """One sample of the `engine.metrics` view."""
    for family in telemetry.as_dict().values():
        for sample in family["samples"]:
            if sample["name"] == name and sample["labels"] == labels:
                return sample["value"]
    raise AssertionError(f"no sample {name} {labels}")


def test_syncs_their_divergences_and_durations_are_counted(
    bus: EventBus, telemetry: EngineTelemetry
) -> None:
    bus.publish("recon", {"event": "sync_started", "trigger": "manual"})
    bus.publish("recon", {"event": "sync_finished", "trigger": "schedule", "outcome": "complete",
                          "counts": {"ok": 90, "mismatch": 2, "broker-only": 1}, "seconds": 3.2})
    bus.publish("recon", {"event": "sync_finished", "trigger": "schedule", "outcome": "partial",
                          "counts": {"mismatch": 1, "resolved": 4}, "seconds": 0.4})
    bus.publish("recon_check", {"trigger": "schedule", "outcome": "complete", "counts": {},
                                "seconds": 0.01})
    bus.publish("recon", {"event": "check_finished", "trigger": "schedule",  # counted above
                          "outcome": "complete", "counts": {"mismatch": 1}})
    assert value(telemetry, "tbot_recon_syncs_total", kind="sync", trigger="schedule",
                 outcome="complete") == 1
    assert value(telemetry, "tbot_recon_syncs_total", kind="check", trigger="schedule",
                 outcome="complete") == 1
    assert value(telemetry, "tbot_recon_divergences_total", reason="mismatch") == 3
    assert value(telemetry, "tbot_recon_divergences_total", reason="broker-only") == 1
    assert value(telemetry, "tbot_recon_sync_seconds_count") == 2
    assert value(telemetry, "tbot_recon_sync_seconds_sum") == pytest.approx(3.6)
    assert value(telemetry, "tbot_recon_sync_seconds_bucket", le="0.5") == 1


def test_a_guard_counts_once_per_warning_however_many_events_it_publishes(
    bus: EventBus, telemetry: EngineTelemetry
) -> None:
    def guard(phase: str) -> None:
        bus.publish("state", {"trading_state": "reducing", "reason": phase,
                              "guard": {"name": "drawdown", "phase": phase,
                                        "trigger": "max_drawdown"}})

    for phase in ("armed", "warning", "warning", "closing", "halted", "armed", "warning"):
        guard(phase)
    bus.publish("state", {"trading_state": "active", "reason": "resumed"})  # no guard block
    assert value(telemetry, "tbot_guard_triggers_total", guard="drawdown",
                 trigger="max_drawdown") == 2


def test_closing_orders_count_once_by_reason_and_entries_and_the_operator_never(
    bus: EventBus, telemetry: EngineTelemetry
) -> None:
    for status in ("accepted", "filled"):  # one order, two events
        bus.publish("orders", {"client_order_id": "open-20261120T1451-AAPL-flatten",
                               "status": status, "reason": "drawdown_guard"})
    bus.publish("orders", {"client_order_id": "open-20261120T1452-MSFT-exit",
                           "status": "accepted", "reason": "stop_loss"})
    bus.publish("orders", {"client_order_id": "mid-20261120T1452-NVDA-exit",
                           "status": "accepted"})  # no reason given: its purpose
    bus.publish("orders", {"client_order_id": "open-20261120T1453-SPY-exit",
                           "status": "accepted", "reason": "operator"})
    bus.publish("orders", {"client_order_id": "open-20261120T1453-SPY-entry",
                           "status": "accepted"})
    bus.publish("orders", {"client_order_id": "a-manual-order", "status": "accepted"})
    assert value(telemetry, "tbot_positions_autoclosed_total", reason="drawdown_guard") == 1
    assert value(telemetry, "tbot_positions_autoclosed_total", reason="stop_loss") == 1
    assert value(telemetry, "tbot_positions_autoclosed_total", reason="exit") == 1
    reasons = {sample["labels"]["reason"] for sample in
               telemetry.as_dict()["tbot_positions_autoclosed"]["samples"]}
    assert reasons == {"drawdown_guard", "stop_loss", "exit"}


def test_fills_and_alerts_are_counted(bus: EventBus, telemetry: EngineTelemetry) -> None:
    bus.publish("fills", {"strategy": "open", "symbol": "AAPL"})
    bus.publish("fills", {"strategy": "open", "symbol": "MSFT"})
    bus.publish("alerts", {"level": "critical", "message": "drawdown"})
    assert value(telemetry, "tbot_fills_total", strategy="open") == 2
    assert value(telemetry, "tbot_alerts_total", level="critical") == 1


def test_gauges_are_read_when_collected_and_unknown_is_none(
    telemetry: EngineTelemetry, standing: Standing
) -> None:
    assert value(telemetry, "tbot_account_equity_usd") is None
    assert value(telemetry, "tbot_trading_state", state="active") == 1
    standing.sample = GaugeSample(open_positions=3, equity=Decimal("98500.25"),
                                  drawdown_pct=Decimal("1.5"), trading_state="halted")
    assert value(telemetry, "tbot_open_positions") == 3
    assert value(telemetry, "tbot_account_equity_usd") == 98500.25
    assert value(telemetry, "tbot_account_drawdown_percent") == 1.5
    assert value(telemetry, "tbot_trading_state", state="halted") == 1
    assert value(telemetry, "tbot_trading_state", state="active") == 0


def test_a_sampler_that_fails_leaves_the_gauges_unknown_not_the_reader_broken(
    telemetry: EngineTelemetry, standing: Standing
) -> None:
    standing.fail = True
    assert value(telemetry, "tbot_open_positions") is None
    assert value(telemetry, "tbot_trading_state", state="active") == 0


def test_the_prometheus_endpoint_serves_the_text_format(
    bus: EventBus, telemetry: EngineTelemetry, standing: Standing
) -> None:
    standing.sample = GaugeSample(open_positions=2, equity=Decimal("1000"),
                                  drawdown_pct=Decimal(0), trading_state="active")
    bus.publish("fills", {"strategy": "mid"})
    host, port = telemetry.serve("127.0.0.1", 0)
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    assert 'tbot_fills_total{strategy="mid"} 1.0' in text
    assert "tbot_open_positions 2.0" in text
    assert 'tbot_trading_state{state="active"} 1.0' in text
    telemetry.close()
    telemetry.close()  # idempotent
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9108", ("127.0.0.1", 9108)),
    ("[::1]:9108", ("::1", 9108)),
    ("localhost:1", ("localhost", 1)),
])
def test_listen_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert split_listen_address(text) == expected


@pytest.mark.parametrize("text", ["9108", "127.0.0.1:", ":9108", "host:port", "h:70000",
                                  "h:0"])
def test_malformed_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"host:port|out of range"):
        split_listen_address(text)
