"""The adapter through the real alpaca-py client against a local fake Alpaca: money as
Decimal, errors translated, one order whatever fails around a submission, orders paged
across ties, activities paged and attributed, unknown types passed on, the budget kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from tbot.broker.alpaca.adapter import BrokerAuthError
from tbot.broker.errors import (
    BrokerError,
    BrokerUnavailableError,
    RateLimitedError,
)
from tbot.broker.models import OrderRequest, OrderSide, OrderStatus
from tbot.broker.reports import CashReport, FillReport
from tbot.clock import FrozenClock
from tbot.engine.broker_gateway import BrokerGateway
from tests.broker.alpaca.conftest import NOW


def request(cid: str = "open-20261120-0001", qty: str = "3") -> OrderRequest:
    return OrderRequest(cid, "AAPL", OrderSide.BUY, Decimal(qty))


def test_the_account_and_positions_read_exactly(fake, make_broker):
    broker = make_broker()
    order = fake.add_order("AAPL", "0.5")
    fake.fill(order["id"], "0.5", "101.123456789")
    account = broker.account()
    assert account.cash == Decimal(fake.account["cash"]) and account.currency == "USD"
    (position,) = broker.positions()
    assert position.quantity == Decimal("0.5")
    assert position.average_cost == Decimal("101.123456789")


@pytest.mark.parametrize("forbid", [False, True])
def test_a_refused_key_is_an_auth_error_that_names_no_key(fake, make_broker, forbid):
    fake.forbid = forbid
    broker = make_broker(secret_key="wrong-secret-xyz")
    with pytest.raises(BrokerAuthError, match="refused the credential") as refused:
        broker.account()
    assert "wrong-secret-xyz" not in str(refused.value) and not refused.value.retryable


def test_a_submission_is_an_order_under_our_client_id(fake, make_broker):
    order = make_broker().submit(request())
    assert order.client_order_id == "open-20261120-0001" and order.status is OrderStatus.NEW
    assert fake.order_by_client_order_id("open-20261120-0001")["qty"] == "3"


@pytest.mark.parametrize(("side", "asked", "sent"), [
    (OrderSide.BUY, "187.2345", "187.23"),  # a buy's limit rounds down
    (OrderSide.SELL, "187.2345", "187.24"),  # a sell's up
    (OrderSide.BUY, "0.123456", "0.1234"),  # sub-dollar prices take four places
    (OrderSide.SELL, "0.99999", "1.00"),
])
def test_a_limit_order_is_priced_on_alpacas_grid_never_against_us(
        fake, make_broker, side, asked, sent):
    limit = OrderRequest("open-20261120-0002", "AAPL", side, Decimal(1), Decimal(asked))
    order = make_broker().submit(limit)
    assert order.status is OrderStatus.NEW  # the fake refuses sub-penny prices (422)
    placed = fake.order_by_client_order_id("open-20261120-0002")
    assert placed["type"] == "limit" and Decimal(placed["limit_price"]) == Decimal(sent)


def test_a_504_on_submission_is_looked_up_and_one_order_results(fake, make_broker):
    fake.fail_next("POST /orders", status=504)  # the order exists; the client sees 504
    broker = make_broker()
    order = broker.submit(request())
    assert order.client_order_id == "open-20261120-0001"
    assert len(fake.orders) == 1 and fake.order_posts == 1


def test_a_submission_that_hangs_past_the_timeout_is_looked_up(fake, make_broker):
    fake.fail_next("POST /orders", hang_seconds=1.5, processed=True)
    order = make_broker(timeout=0.5).submit(request())
    assert order.client_order_id == "open-20261120-0001" and len(fake.orders) == 1


def test_a_lost_submission_is_retried_by_the_gateway_and_places_one_order(fake, make_broker):
    fake.fail_next("POST /orders", status=500)  # never arrived
    broker = make_broker()
    gateway = BrokerGateway(broker, FrozenClock(NOW), retry_limit=2, timeout_seconds=10,
                            backoff_seconds=0.01)
    try:
        order = asyncio.run(gateway.call("submit", broker.submit, request()))
    finally:
        gateway.close()
    assert order.client_order_id == "open-20261120-0001"
    assert len(fake.orders) == 1 and fake.order_posts == 2


def test_a_repeated_client_id_returns_the_existing_order(fake, make_broker):
    broker = make_broker()
    first = broker.submit(request())
    again = broker.submit(request())
    assert again.order_id == first.order_id and len(fake.orders) == 1


def test_an_order_alpaca_refuses_comes_back_rejected_with_the_reason(fake, make_broker):
    fake.fail_next("POST /orders", status=403,
                   body='{"code": 40310000, "message": "insufficient buying power"}')
    order = make_broker().submit(request())
    assert order.status is OrderStatus.REJECTED
    assert order.reject_reason and "insufficient buying power" in order.reject_reason


@pytest.mark.parametrize(("retry_after", "expected"), [(3, 3.0), (None, None)])
def test_a_429_is_rate_limited_with_its_retry_after(fake, make_broker, retry_after, expected):
    fake.fail_next("/account", status=429, retry_after=retry_after)
    with pytest.raises(RateLimitedError) as limited:
        make_broker().account()
    assert limited.value.retry_after == expected


@pytest.mark.parametrize("fault", [
    {"status": 500}, {"status": 503}, {"body": '{"id": "abc'}, {"body": "<html>oops</html>"},
    {"truncate": True}, {"hang_seconds": 1.5},
])
def test_a_broken_answer_is_retryable_unavailability_never_an_empty_result(
        fake, make_broker, fault):
    fake.fail_next("/positions", **fault)
    with pytest.raises(BrokerUnavailableError):
        make_broker(timeout=0.5).positions()


def test_the_gateway_retries_a_read_through_500s_then_reports_failure(fake, make_broker):
    broker = make_broker()
    gateway = BrokerGateway(broker, FrozenClock(NOW), retry_limit=2, timeout_seconds=10,
                            backoff_seconds=0.01)
    try:
        fake.fail_next("/positions", status=500, times=2)
        assert asyncio.run(gateway.call("positions", broker.positions)) == []
        fake.fail_next("/positions", status=500, times=3)
        with pytest.raises(BrokerError):
            asyncio.run(gateway.call("positions", broker.positions))
    finally:
        gateway.close()


def test_orders_sharing_a_timestamp_across_a_page_boundary_are_each_listed_once(
        fake, make_broker):
    start = NOW - timedelta(hours=1)
    for index in range(480):
        fake.add_order(client_order_id=f"a{index}", submitted_at=start + timedelta(
            milliseconds=index))
    tie = start + timedelta(seconds=5)
    for index in range(60):  # straddles the first page's end (500)
        fake.add_order(client_order_id=f"t{index}", submitted_at=tie)
    for index in range(30):
        fake.add_order(client_order_id=f"z{index}", submitted_at=tie + timedelta(seconds=1))
    records = make_broker().order_records(start, NOW + timedelta(seconds=1))
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) == 570


def test_a_full_page_on_one_timestamp_fails_loudly_instead_of_skipping(fake, make_broker):
    tie = NOW - timedelta(minutes=5)
    for index in range(501):
        fake.add_order(client_order_id=f"t{index}", submitted_at=tie)
    with pytest.raises(BrokerError, match="share the submitted_at"):
        make_broker().order_records(NOW - timedelta(hours=1), None)


def test_fills_are_paged_attributed_and_partial_fills_are_each_their_own_record(
        fake, make_broker):
    partial = fake.add_order("AAPL", "10", client_order_id="open-20261120-0001")
    fake.fill(partial["id"], "4", "100.00")
    fake.fill(partial["id"], "6", "100.50")
    cancelled = fake.add_order("MSFT", "5", client_order_id="open-20261120-0002")
    fake.fill(cancelled["id"], "2", "300.00")
    fake.cancel_order(cancelled["id"])
    fake.add_order("NVDA", "1", client_order_id="open-20261120-0003")  # still working
    for index in range(120):
        order = fake.add_order("SPY", "1", client_order_id=f"bulk-{index}")
        fake.fill(order["id"], "1", "500")
    broker = make_broker()
    reports, token = [], None
    while True:
        page = broker.fetch_fill_reports(NOW - timedelta(days=1), NOW + timedelta(hours=1),
                                         page_token=token)
        reports.extend(page.items)
        token = page.next_token
        if token is None:
            break
    assert len(reports) == 123 and all(isinstance(r, FillReport) for r in reports)
    by_order = {}
    for report in reports:
        by_order.setdefault(report.fill.client_order_id, []).append(report.fill.quantity)
    assert by_order["open-20261120-0001"] == [Decimal(4), Decimal(6)]
    assert by_order["open-20261120-0002"] == [Decimal(2)]
    assert [o.client_order_id for o in broker.orders(open_only=True)] == ["open-20261120-0003"]


def test_every_non_trade_activity_passes_as_cash_even_a_type_never_seen(fake, make_broker):
    fake.add_activity("FEE", "-0.02", description="REG/TAF fee")
    fake.add_activity("DIV", "12.50", symbol="AAPL", description="Cash DIV @ 0.25")
    fake.add_activity("BRANDNEW", "-1.00", description="a type no code knows")
    order = fake.add_order("AAPL", "1")
    fake.fill(order["id"], "1", "100")
    page = make_broker().fetch_cash_reports(NOW - timedelta(days=2), NOW + timedelta(hours=1))
    types = [r.activity.activity_type for r in page.items if isinstance(r, CashReport)]
    assert sorted(types) == ["BRANDNEW", "DIV", "FEE"]


def test_the_budget_keeps_every_rolling_window_under_the_server_s_limit(fake, make_broker):
    fake.rate_limit, fake.window_seconds = 20, 1.0
    broker = make_broker(per_minute=18, window=1.0)
    for _ in range(60):
        broker.positions()
    times = [at for method, path, _, at in fake.requests if path.endswith("/positions")]
    assert len(times) == 60
    # Our window counts send times; arrivals jitter by a millisecond or so, which is what
    # the margin below the account's limit is for: the server never has to refuse one.
    peak = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert peak <= fake.rate_limit
    assert broker.headroom().server_remaining is not None
    assert broker.budget.waited_seconds > 0 and not fake.errors
