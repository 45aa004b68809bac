"""Alerts delivered through apprise to real local servers: SMTP (mailto://) and a webhook
(json://, form://)."""

from __future__ import annotations

from decimal import Decimal

from tbot.alerts.channels import parse_channels
from tbot.alerts.dispatcher import AlertDispatcher, DispatchSettings, Outcome
from tbot.alerts.message import Severity
from tests.alerts.conftest import BOT, failure
from tests.alerts.servers import SmtpServer, Webhook


def dispatcher_for(groups: dict[str, list[str]], **settings: object) -> AlertDispatcher:
    channels = parse_channels({"channels": groups}, "alert secret")
    dispatcher = AlertDispatcher(channels, DispatchSettings(**settings))  # type: ignore[arg-type]
    dispatcher.start()
    return dispatcher


def test_an_alert_arrives_as_a_mail_on_a_local_smtp_server(smtp: SmtpServer):
    dispatcher = dispatcher_for({"email": [smtp.url()]})
    try:
        alert = failure("drawdown guard: closing every position", Severity.CRITICAL,
                        strategy="open", symbol="AAPL", pnl=Decimal("-1250.5"),
                        pnl_scope="today", trigger="max_drawdown")
        assert dispatcher.submit(alert, "email") is Outcome.QUEUED
        [mail] = smtp.mailbox.wait_for(1)
    finally:
        dispatcher.close()
    assert mail["To"] == "ops@example.com"
    assert mail["Subject"] == f"[CRITICAL] {BOT}: drawdown guard: closing every position"
    body = mail.get_payload(decode=True) if not mail.is_multipart() else \
        mail.get_payload(0).get_payload(decode=True)
    text = body.decode()
    for line in (f"bot: {BOT}", "strategy: open", "symbol: AAPL", "pnl: -1250.50 (today)",
                 "trigger: max_drawdown", "time: 2026-11-20T14:51:00Z", "severity: critical"):
        assert line in text
    assert dispatcher.counters()["sent"] == 1


def test_an_alert_arrives_on_a_local_webhook_as_json_and_as_a_form(hook: Webhook):
    dispatcher = dispatcher_for({"ops": [hook.url("json", "/json"), hook.url("form", "/form")]})
    try:
        dispatcher.submit(failure(strategy="mid", symbol="SPY"), "ops")
        received = dict(hook.wait_for(2))
    finally:
        dispatcher.close()
    as_json, as_form = received["/json"], received["/form"]
    assert as_json["title"] == as_form["title"] == f"[ERROR] {BOT}: broker: timeout"
    assert as_json["type"] == "failure"
    assert "strategy: mid\nsymbol: SPY" in as_json["message"]
    assert as_form["message"] == as_json["message"]
    counters = dispatcher.counters()
    assert (counters["sent"], counters["failed"], counters["dropped"]) == (2, 0, 0)


def test_a_repeat_within_the_window_is_sent_once_unless_it_is_more_severe(hook: Webhook):
    dispatcher = dispatcher_for({"ops": [hook.url()]})
    try:
        outcomes = [dispatcher.submit(failure(severity=Severity.WARNING), "ops")
                    for _ in range(5)]
        outcomes.append(dispatcher.submit(failure(severity=Severity.CRITICAL), "ops"))
        outcomes.append(dispatcher.submit(failure("another message"), "ops"))
        hook.wait_for(3)
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.close()
    assert outcomes.count(Outcome.DEDUPLICATED) == 4
    # the critical repeat may overtake the warning still queued: severity goes first
    assert sorted(body["type"] for body in hook.bodies()) == ["failure", "failure", "warning"]
    assert dispatcher.counters()["deduplicated"] == 4


def test_a_critical_alert_overtakes_the_warnings_queued_before_it(hook: Webhook):
    hook.delay = 0.3  # a slow channel: a backlog builds up
    dispatcher = dispatcher_for({"ops": [hook.url()]})
    try:
        for number in range(5):
            dispatcher.submit(failure(f"gap {number}", severity=Severity.WARNING), "ops")
        dispatcher.submit(failure("drawdown guard", severity=Severity.CRITICAL), "ops")
        hook.wait_for(6)
    finally:
        dispatcher.close()
    order = [body["message"] for body in hook.bodies()]
    critical = next(index for index, text in enumerate(order) if "drawdown guard" in text)
    assert critical <= 1, order  # at most the one warning already on the wire went first


def test_a_group_the_secret_lacks_is_counted_not_sent(hook: Webhook):
    dispatcher = dispatcher_for({"ops": [hook.url()]})
    try:
        assert dispatcher.submit(failure(), "pagerduty") is Outcome.NO_CHANNEL
    finally:
        dispatcher.close()
    assert dispatcher.counters()["no_channel"] == 1
    assert hook.bodies() == []
