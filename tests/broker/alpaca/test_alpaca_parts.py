"""The Alpaca adapter's pure parts: credentials that never leak, the request budget's
rolling window and the server's word, payloads read exactly (Decimal, UTC, unknown types
kept), and the nanosecond overlap of the order pager."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tbot.broker.alpaca.adapter import _just_before
from tbot.broker.alpaca.credentials import (
    AlpacaCredentials,
    AlpacaCredentialsError,
    check_live_allowed,
)
from tbot.broker.alpaca.payloads import cash_report, fill_report, read_order, read_position
from tbot.broker.alpaca.request_budget import RequestBudget
from tbot.broker.errors import MalformedBrokerRecordError
from tbot.broker.models import OrderSide, OrderStatus
from tbot.broker.reports import CashReport, FillReport, RefusedReport

SECRET = "s3cr3t-never-printed"


def secret(**fields: object) -> dict[str, object]:
    return {"alpaca": {"api_key_id": "PKABCDEFG", "secret_key": SECRET, **fields}}


@pytest.mark.parametrize(("values", "message"), [
    ({}, "no \"alpaca\" object"),
    ({"alpaca": {"secret_key": SECRET}}, "api_key_id is missing"),
    (secret(secret_key=""), "secret_key is missing"),
    (secret(paper="yes"), "paper must be true or false"),
    (secret(data_feed="otc"), "data_feed must be one of"),
    (secret(trading_url="not a url"), "trading_url is not a URL"),
    (secret(colour="blue"), "unknown field"),
])
def test_a_bad_broker_secret_is_refused_without_showing_the_key(values, message):
    with pytest.raises(AlpacaCredentialsError, match=message) as refused:
        AlpacaCredentials.from_secret(values)
    assert SECRET not in str(refused.value)


def test_credentials_hide_the_secret_and_a_live_account_needs_live_trading():
    credentials = AlpacaCredentials.from_secret(secret(paper=False))
    assert SECRET not in repr(credentials) and credentials.masked_key == "PKAB…"
    with pytest.raises(AlpacaCredentialsError, match="LIVE_TRADING"):
        check_live_allowed(credentials, live_trading=False)
    check_live_allowed(credentials, live_trading=True)
    assert credentials.fingerprint("A1") != credentials.fingerprint("A2")
    assert SECRET not in credentials.fingerprint("A1")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_budget_never_lets_more_than_its_limit_into_a_rolling_window():
    fake = FakeTime()
    budget = RequestBudget(3, window_seconds=10, clock=lambda: fake.now, wall=lambda: fake.now,
                           sleep=fake.sleep)
    sent = []
    for _ in range(7):
        budget.acquire()
        sent.append(fake.now)
    for index, moment in enumerate(sent):
        in_window = [m for m in sent[: index + 1] if m > moment - 10]
        assert len(in_window) <= 3
    assert sent[3] == pytest.approx(sent[0] + 10)


def test_the_server_s_zero_remaining_and_retry_after_pause_every_request():
    fake = FakeTime()
    budget = RequestBudget(100, clock=lambda: fake.now, wall=lambda: fake.now, sleep=fake.sleep)
    budget.acquire()
    budget.observe(200, {"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "0",
                         "X-Ratelimit-Reset": str(fake.now + 4)})
    budget.acquire()
    assert fake.slept == [pytest.approx(4)]
    budget.observe(429, {"Retry-After": "2"})
    budget.acquire()
    assert fake.slept[-1] == pytest.approx(2)
    assert budget.headroom().server_limit == 200
    budget.observe(429, {})  # no Retry-After: a second's pause, not a hammering retry
    budget.acquire()
    assert fake.slept[-1] == pytest.approx(1)


def test_an_order_reads_exactly_and_maps_alpaca_s_statuses():
    order = read_order({
        "id": "o1", "client_order_id": "open-x", "symbol": "AAPL", "side": "buy",
        "qty": "0.3", "filled_qty": "0.1", "filled_avg_price": "100.123456789",
        "status": "partially_filled", "submitted_at": "2026-11-20T14:31:05.123456789Z",
        "updated_at": "2026-11-20T14:31:06Z", "type": "market"})
    assert order.quantity == Decimal("0.3") and order.average_price == Decimal("100.123456789")
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.submitted_at == datetime(2026, 11, 20, 14, 31, 5, 123456, tzinfo=UTC)
    assert read_order({**_order(), "status": "expired"}).status is OrderStatus.CANCELED
    assert read_order({**_order(), "status": "pending_new"}).status is OrderStatus.NEW
    with pytest.raises(MalformedBrokerRecordError, match="notional"):
        read_order({**_order(), "qty": None})


def _order() -> dict[str, object]:
    return {"id": "o2", "client_order_id": "c", "symbol": "MSFT", "side": "sell", "qty": "1",
            "status": "filled", "submitted_at": "2026-11-20T14:31:05Z"}


def test_a_short_position_is_negative_and_a_float_quantity_is_refused_not_guessed():
    short = read_position({"symbol": "AAPL", "qty": "-5", "avg_entry_price": "10",
                           "side": "short", "current_price": "9.5"})
    assert (short.quantity, short.average_cost, short.market_price) == (
        Decimal(-5), Decimal(10), Decimal("9.5"))
    # a short written with an unsigned qty is still short
    assert read_position({"symbol": "AAPL", "qty": "5", "avg_entry_price": "10",
                          "side": "short"}).quantity == Decimal(-5)
    with pytest.raises(MalformedBrokerRecordError, match="a long position of -5"):
        read_position({"symbol": "AAPL", "qty": "-5", "avg_entry_price": "10", "side": "long"})
    with pytest.raises(MalformedBrokerRecordError, match="not a number as text"):
        read_position({"symbol": "AAPL", "qty": 5.5, "avg_entry_price": "10"})


def test_a_trade_activity_that_sold_short_is_a_sell():
    raw = {"id": "20261120143105123::f9", "activity_type": "FILL", "type": "fill",
           "transaction_time": "2026-11-20T14:31:05.123Z", "price": "50", "qty": "3",
           "side": "sell_short", "symbol": "AAPL", "leaves_qty": "0", "cum_qty": "3",
           "order_id": "o9", "order_status": "filled"}
    report = fill_report(raw, source="test", client_order_id={"o9": "open-x"}.get)
    assert isinstance(report, FillReport)
    assert (report.fill.side, report.fill.quantity) == (OrderSide.SELL, Decimal(3))


def test_a_fill_activity_keeps_the_payload_and_looks_up_its_client_order_id():
    raw = {"id": "20261120143105123::f1", "activity_type": "FILL", "type": "partial_fill",
           "transaction_time": "2026-11-20T14:31:05.123Z", "price": "101.5", "qty": "2",
           "side": "buy", "symbol": "AAPL", "leaves_qty": "1", "cum_qty": "2",
           "order_id": "o1", "order_status": "partially_filled"}
    report = fill_report(raw, source="test", client_order_id={"o1": "open-x"}.get)
    assert isinstance(report, FillReport)
    assert report.fill.client_order_id == "open-x" and report.fill.price == Decimal("101.5")
    assert report.provenance.raw == raw and "client_order_id" not in report.provenance.raw
    assert report.metadata["client_order_id"] == "open-x"
    bad = fill_report({**raw, "qty": "lots"}, source="test", client_order_id=lambda _: None)
    assert isinstance(bad, RefusedReport) and "qty" in bad.reason


def test_a_cash_activity_of_a_type_never_seen_is_kept_for_the_mapping_queue():
    report = cash_report({"id": "20261121::x", "activity_type": "NEWTYPE2027",
                          "date": "2026-11-21", "net_amount": "-0.02",
                          "description": "something new"}, source="test")
    assert isinstance(report, CashReport)
    assert report.activity.activity_type == "NEWTYPE2027"
    assert report.activity.amount == Decimal("-0.02")
    assert report.activity.occurred_at == datetime(2026, 11, 21, 5, tzinfo=UTC)  # 00:00 ET


@pytest.mark.parametrize(("stamp", "before"), [
    ("2026-11-20T14:31:05.123456789Z", "2026-11-20T14:31:05.123456788Z"),
    ("2026-11-20T14:31:05Z", "2026-11-20T14:31:04.999999999Z"),
    ("2026-11-20T14:31:05.5Z", "2026-11-20T14:31:05.499999999Z"),
])
def test_the_pager_steps_back_one_nanosecond_to_overlap_a_tie(stamp, before):
    assert _just_before(stamp) == before
