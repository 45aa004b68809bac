"""The engine's alert room on a real event bus: which events reach a person, routed by
severity and NOTIFY_ON_*, with bot, strategy, symbol, PnL and trigger."""

from __future__ import annotations

from decimal import Decimal

from tbot.alerts.channels import parse_channels
from tbot.alerts.dispatcher import DispatchSettings
from tbot.alerts.engine_alerts import EngineAlerts
from tbot.alerts.routing import AlertRouting
from tbot.broker.models import OrderSide
from tbot.clock import FrozenClock
from tbot.engine.event_bus import EventBus
from tests.alerts.conftest import AT, BOT
from tests.alerts.servers import Webhook


def attached(hook: Webhook, **flags: bool) -> tuple[EngineAlerts, EventBus]:
    routing = AlertRouting(
        notify_on_fill=flags.get("fill", True), notify_on_exit=flags.get("exit", True),
        notify_on_failure=flags.get("failure", True),
        critical_group="pagerduty", routine_group="slack")
    channels = parse_channels({"channels": {"pagerduty": [hook.url("json", "/pager")],
                                            "slack": [hook.url("json", "/slack")]}}, "secret")
    alerts = EngineAlerts(BOT, routing, channels, DispatchSettings())
    bus = EventBus()
    alerts.attach(bus, FrozenClock(AT))
    return alerts, bus


def fill(fill_id: str, side: OrderSide, realized: Decimal | None, reason: str) -> dict[str, object]:
    return {"fill_id": fill_id, "order_id": "o1", "client_order_id": "open-x", "symbol": "AAPL",
            "side": side, "quantity": Decimal("10"), "price": Decimal("187.5"),
            "fee": Decimal("0"), "strategy": "open", "filled_at": AT,
            "entry_fitid": fill_id, "realized_pnl": realized, "reason": reason}


def posts(hook: Webhook, count: int) -> list[tuple[str, str]]:
    """(path, message) of the first `count` posts, in arrival order per path."""
    return [(path, body["message"]) for path, body in hook.wait_for(count)]


def test_fills_and_exits_go_to_the_routine_group_with_their_fields(hook: Webhook):
    alerts, bus = attached(hook)
    try:
        bus.publish("fills", fill("F1", OrderSide.BUY, None, "opening range breakout"))
        bus.publish("fills", fill("F2", OrderSide.SELL, Decimal("42.125"), "take_profit"))
        received = posts(hook, 2)
    finally:
        alerts.close()
    assert {path for path, _ in received} == {"/slack"}
    entry, exit_ = sorted(message for _, message in received)
    assert entry.startswith("open entry buy 10 AAPL @ 187.50\n")
    assert "kind: fill" in entry and "trigger: opening range breakout" in entry
    assert exit_.startswith("open exit sell 10 AAPL @ 187.50, realized 42.125\n")
    for line in (f"bot: {BOT}", "strategy: open", "symbol: AAPL", "trigger: take_profit",
                 "pnl: 42.125 (this exit, realized, before fees)", "kind: exit"):
        assert line in exit_


def test_failures_route_by_severity_and_info_alerts_stay_on_the_console(hook: Webhook):
    alerts, bus = attached(hook)
    try:
        bus.publish("pnl", {"today": {"total": Decimal("-310.4")}, "by_strategy": {
            "mid": {"total": Decimal("-12")}}})
        bus.publish("alerts", {"level": "info", "message": "daily summary written"})
        bus.publish("alerts", {"level": "warning", "message": "order rejected",
                               "trigger": "order_rejected", "strategy": "mid",
                               "symbol": "SPY"})
        bus.publish("alerts", {"level": "error", "message": "broker: timeout",
                               "trigger": "broker"})
        received = dict(posts(hook, 2))
    finally:
        alerts.close()
    assert "pnl: -12.00 (today, mid, at the last minute)" in received["/slack"]
    assert "trigger: order_rejected" in received["/slack"]
    assert "pnl: -310.40 (today, all strategies" in received["/pager"]
    assert alerts.counters()["submitted"] == 2  # the info alert was never for a person


def test_a_halt_is_one_critical_alert_even_when_the_engine_also_alerts_its_reason(
        hook: Webhook):
    alerts, bus = attached(hook)
    reason = "the ledger refused fill F9: oversell"
    try:
        bus.publish("state", {"engine_state": "trading", "reason": "engine state",
                              "trading_state": {"state": "active", "reason": ""}})
        bus.publish("state", {"engine_state": "halted", "reason": reason,
                              "trading_state": {"state": "halted", "reason": reason}})
        bus.publish("alerts", {"level": "error", "message": reason,
                               "trigger": "trading_halted"})
        [(path, message)] = posts(hook, 1)
        assert alerts.dispatcher is not None and alerts.dispatcher.wait_idle(10)
    finally:
        alerts.close()
    assert path == "/pager"
    assert message.startswith(reason) and "severity: critical" in message
    assert alerts.counters()["deduplicated"] == 1


def test_notify_flags_decide_what_is_sent(hook: Webhook):
    alerts, bus = attached(hook, fill=False, failure=False)
    try:
        bus.publish("fills", fill("F1", OrderSide.BUY, None, "breakout"))
        bus.publish("alerts", {"level": "critical", "message": "drawdown guard"})
        bus.publish("fills", fill("F2", OrderSide.SELL, Decimal("-3"), "stop_loss"))
        [(path, message)] = posts(hook, 1)
        assert alerts.dispatcher is not None and alerts.dispatcher.wait_idle(10)
    finally:
        alerts.close()
    assert path == "/slack" and "trigger: stop_loss" in message
    assert len(hook.bodies()) == 1


def test_without_channels_nothing_subscribes_and_the_log_says_so_once(caplog):
    caplog.set_level("INFO", logger="tbot.alerts")
    routing = AlertRouting(True, True, True, "email", "email")
    alerts = EngineAlerts(BOT, routing, None)
    bus = EventBus()
    alerts.attach(bus, FrozenClock(AT))
    bus.publish("alerts", {"level": "error", "message": "broker: timeout"})
    alerts.close()
    assert bus.subscriber_count() == 0
    assert alerts.counters() == {"configured": False}
    assert [r.getMessage() for r in caplog.records].count(
        "alerts: no alert secret (not set); alerts go to the engine log and the console only"
    ) == 1
