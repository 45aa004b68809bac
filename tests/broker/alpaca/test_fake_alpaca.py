"""The fake Alpaca server, driven by the real alpaca-py `TradingClient` (raw data mode): the
routes and their shapes, the paging semantics (exclusive cursors, ties on one
`submitted_at`), the key check, every programmable fault, and the rate limiter."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.models import Clock, Order, Position, TradeAccount

from tests.broker.alpaca.fake_alpaca import FakeAlpaca, format_time, parse_time_ns

NANO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


class TimeoutSession(requests.Session):
    """The SDK sets no timeout; this session does (a hang must end in requests.Timeout)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca() as server:
        yield server
        assert server.errors == []


@pytest.fixture
def client(fake: FakeAlpaca) -> TradingClient:
    trading = TradingClient("PKTEST", "secret-test", paper=True, raw_data=True,
                            url_override=fake.url)
    trading._retry = 0  # the SDK would retry 429/504 itself (3 times, 3 s apart)
    return trading


def order_body(client_order_id: str, **fields: Any) -> dict[str, Any]:
    return {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market",
            "time_in_force": "day", "client_order_id": client_order_id, **fields}


def api_error(call: Any, *args: Any) -> APIError:
    with pytest.raises(APIError) as raised:
        call(*args)
    return raised.value


# -- routes and shapes ------------------------------------------------------------------------


def test_account_positions_and_clock_have_alpaca_s_shapes(fake, client):
    account = client.get_account()
    assert account["account_number"] == "PA1234567" and account["status"] == "ACTIVE"
    assert account["cash"] == "100000" and isinstance(account["buying_power"], str)
    assert account["pattern_day_trader"] is False and account["trading_blocked"] is False
    assert NANO_TIME.match(account["created_at"])
    TradeAccount(**account)  # the SDK's own model accepts it

    order = fake.add_order("MSFT", "10", "buy")
    fake.fill(order["id"], "10", "412.5")
    positions = client.get_all_positions()
    assert [(p["symbol"], p["qty"], p["avg_entry_price"], p["side"]) for p in positions] == [
        ("MSFT", "10", "412.5", "long")]
    Position(**positions[0])
    assert client.get_account()["cash"] == "95875"

    clock = client.get_clock()
    assert clock["is_open"] is True  # Friday 2026-11-20 09:31 in New York
    assert clock["timestamp"].startswith("2026-11-20T09:31:05.") and clock["timestamp"].endswith(
        "-05:00")
    Clock(**clock)


def test_a_posted_order_is_returned_with_strings_and_nanosecond_times(fake, client):
    order = client.post("/orders", order_body("c-1", type="limit", limit_price="187.25"))
    assert order["client_order_id"] == "c-1" and order["status"] == "accepted"
    assert (order["qty"], order["filled_qty"], order["filled_avg_price"]) == ("3", "0", None)
    assert order["limit_price"] == "187.25" and order["order_class"] == ""
    assert order["extended_hours"] is False and order["asset_class"] == "us_equity"
    assert order["submitted_at"] == "2026-11-20T14:31:05.124456789Z"  # the clock, ticked
    assert order["created_at"] == order["updated_at"] == order["submitted_at"]
    Order(**order)
    assert client.get(f"/orders/{order['id']}") == order
    assert fake.order_posts == 1


def test_a_repeated_client_order_id_and_a_sub_penny_price_are_refused(fake, client):
    client.post("/orders", order_body("c-1"))
    duplicate = api_error(client.post, "/orders", order_body("c-1"))
    assert duplicate.status_code == 422 and duplicate.code == 40010001
    assert duplicate.message == "client_order_id must be unique"
    # What the SDK's request models send for 0.1 + 0.2 as a price:
    sub_penny = api_error(client.post, "/orders",
                          order_body("c-2", type="limit", limit_price=0.1 + 0.2))
    assert sub_penny.status_code == 422 and "sub-penny" in sub_penny.message
    assert len(fake.orders) == 1 and fake.order_posts == 3


def test_the_sdk_sends_the_by_client_order_id_path_with_a_literal_colon(fake, client):
    placed = client.post("/orders", order_body("mine-7"))
    assert client.get("/orders:by_client_order_id", {"client_order_id": "mine-7"}) == placed
    assert client.get_order_by_client_id("mine-7")["id"] == placed["id"]
    method, path, query, _ = fake.requests[-1]
    assert (method, path, query) == ("GET", "/v2/orders:by_client_order_id",
                                     {"client_order_id": "mine-7"})
    missing = api_error(client.get, "/orders:by_client_order_id", {"client_order_id": "nope"})
    assert missing.status_code == 404 and missing.code == 40410000


def test_delete_cancels_with_an_empty_204_and_refuses_a_final_order(fake, client):
    order = client.post("/orders", order_body("c-1"))
    assert client.delete(f"/orders/{order['id']}") is None  # 204, empty body
    assert client.get(f"/orders/{order['id']}")["status"] == "canceled"
    again = api_error(client.delete, f"/orders/{order['id']}")
    assert again.status_code == 422 and "canceled" in again.message
    assert api_error(client.delete, "/orders/0b5e0f7c-0000-4000-8000-000000000000"
                     ).status_code == 404


def test_fills_move_the_order_the_position_and_the_cash(fake, client):
    order = client.post("/orders", order_body("c-1", qty="3"))
    first = fake.fill(order["id"], "1", "100.10")
    second = fake.fill(order["id"], "2", "100.40")
    assert (first["type"], first["order_status"], first["leaves_qty"]) == (
        "partial_fill", "partially_filled", "2")
    assert (second["type"], second["order_status"], second["cum_qty"]) == ("fill", "filled", "3")
    got = client.get(f"/orders/{order['id']}")
    assert (got["status"], got["filled_qty"], got["filled_avg_price"]) == ("filled", "3", "100.3")
    assert got["filled_at"] == second["transaction_time"]
    with pytest.raises(ValueError, match="filled"):
        fake.fill(order["id"], "1", "100")
    assert client.get_account()["cash"] == "99699.1"


# -- listing orders ---------------------------------------------------------------------------


def test_order_listing_filters_by_status_limit_and_direction(fake, client):
    ids = [fake.add_order(client_order_id=f"o{i}")["id"] for i in range(5)]
    fake.cancel_order(ids[1])
    fake.fill(ids[2], "1", "10")
    assert [o["id"] for o in client.get("/orders")] == [ids[4], ids[3], ids[0]]  # open, desc
    assert [o["id"] for o in client.get("/orders", {"status": "closed", "direction": "asc"})
            ] == [ids[1], ids[2]]
    assert [o["id"] for o in client.get("/orders", {"status": "all", "limit": 2})] == ids[:2:-1]
    # An id cursor is ignored (like an older server): same answer as without it.
    assert client.get("/orders", {"status": "all", "after_order_id": ids[2]}) == client.get(
        "/orders", {"status": "all"})


def test_after_and_until_are_exclusive_at_nanosecond_precision(fake, client):
    stamps = ["2026-11-20T14:40:00.000000100Z", "2026-11-20T14:40:00.000000200Z",
              "2026-11-20T14:40:00.000000300Z"]
    ids = [fake.add_order(submitted_at=s)["id"] for s in stamps]
    assert [o["submitted_at"] for o in client.get("/orders", {"status": "all"})] == [
        "2026-11-20T14:40:00.0000003Z", "2026-11-20T14:40:00.0000002Z",
        "2026-11-20T14:40:00.0000001Z"]  # Go's RFC3339Nano: trailing zeros trimmed
    window = client.get("/orders", {"status": "all", "direction": "asc",
                                    "after": stamps[0], "until": stamps[2]})
    assert [o["id"] for o in window] == [ids[1]]
    # A time parsed to microseconds and sent back as `after` returns the boundary again.
    parsed = datetime(2026, 11, 20, 14, 40, tzinfo=UTC)
    again = client.get("/orders", {"status": "all", "direction": "asc",
                                   "after": parsed.isoformat().replace("+00:00", "Z")})
    assert [o["id"] for o in again] == ids


def test_orders_can_share_a_submitted_at_and_an_exclusive_after_skips_the_tie(fake, client):
    fake.tick_ns = 0  # a frozen clock: every order now gets the same submitted_at
    first = client.post("/orders", order_body("tie-1"))
    second = client.post("/orders", order_body("tie-2"))
    assert first["submitted_at"] == second["submitted_at"]
    listed = client.get("/orders", {"status": "all", "direction": "asc"})
    assert [o["id"] for o in listed] == [first["id"], second["id"]]
    # Paging by time, one a page: the second page starts after the tie and misses tie-2.
    page = client.get("/orders", {"status": "all", "direction": "asc", "limit": 1})
    rest = client.get("/orders", {"status": "all", "direction": "asc", "limit": 1,
                                  "after": page[-1]["submitted_at"]})
    assert [o["id"] for o in page] == [first["id"]] and rest == []


# -- account activities -----------------------------------------------------------------------


def test_activities_page_ascending_with_an_exclusive_token(fake, client):
    orders = [fake.add_order(client_order_id=f"o{i}") for i in range(3)]
    fills = [fake.fill(o["id"], "1", "50") for o in orders]
    fee = fake.add_activity("FEE", "-0.02", description="REG/TAF")
    odd = fake.add_activity("MISCFEE", "-1.5", description="something new")
    assert fee["status"] == "executed" and fee["date"] == "2026-11-20"
    assert re.match(r"^20261120093105\d{3}::[0-9a-f-]{36}$", fills[0]["id"])  # New York time

    everything = client.get("/account/activities", {"direction": "asc"})
    assert [a["id"] for a in everything] == [f["id"] for f in fills] + [fee["id"], odd["id"]]
    assert [a["id"] for a in client.get("/account/activities")] == [
        a["id"] for a in reversed(everything)]  # Alpaca's default direction is desc
    page = client.get("/account/activities", {"activity_types": "FILL,FEE", "direction": "asc",
                                              "page_size": 2, "page_token": fills[0]["id"]})
    assert [a["id"] for a in page] == [fills[1]["id"], fills[2]["id"]]
    assert client.get("/account/activities/MISCFEE") == [odd]
    assert [a["id"] for a in client.get("/account/activities",
                                        {"category": "non_trade_activity"})] == [
        odd["id"], fee["id"]]
    after = client.get("/account/activities", {"direction": "asc",
                                               "after": fills[1]["transaction_time"],
                                               "activity_types": "FILL"})
    assert [a["id"] for a in after] == [fills[2]["id"]]
    assert client.get_account()["cash"] == "99848.48"


def test_a_back_dated_activity_sorts_behind_a_cursor_already_passed(fake, client):
    order = fake.add_order()
    seen = fake.fill(order["id"], "1", "10")
    late = fake.add_activity("FEE", "-0.01", date="2026-11-20",
                             created_at=datetime(2026, 11, 20, 5, 0, tzinfo=UTC))
    assert late["id"] < seen["id"]
    assert client.get("/account/activities", {"direction": "asc",
                                              "page_token": seen["id"]}) == []


def test_bulk_fills_are_fast_pageable_and_can_tie(fake, client):
    started = time.perf_counter()
    ids = fake.bulk_fills(20_000, same_timestamp_every=4)
    assert time.perf_counter() - started < 5
    assert ids == sorted(ids) and len(set(ids)) == 20_000
    token, seen = None, 0
    for _ in range(3):
        query: dict[str, Any] = {"activity_types": "FILL", "direction": "asc", "page_size": 500}
        if token:
            query["page_token"] = token
        page = client.get("/account/activities", query)
        assert len(page) == 100  # page_size is capped at 100
        seen += len(page)
        token = page[-1]["id"]
    assert seen == 300 and token == ids[299]
    first = client.get("/orders", {"status": "all", "direction": "asc", "limit": 600})
    assert len(first) == 500 and len({o["submitted_at"] for o in first[:4]}) == 1
    assert fake.positions == []  # each symbol bought and sold 2,500 times


# -- the key ----------------------------------------------------------------------------------


def test_a_wrong_key_is_refused_with_401_or_403(fake):
    stranger = TradingClient("PKOTHER", "secret-test", paper=True, raw_data=True,
                             url_override=fake.url)
    refused = api_error(stranger.get_account)
    assert refused.status_code == 401 and refused.code == 40110000
    assert refused.message == "request is not authorized"
    assert "X-Ratelimit-Limit" in refused.response.headers
    fake.forbid = True
    assert api_error(stranger.get_account).status_code == 403


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [None, 7])
def test_a_429_with_or_without_retry_after(fake, client, retry_after):
    fake.fail_next("GET /account", status=429, retry_after=retry_after)
    error = api_error(client.get_account)
    assert error.status_code == 429 and error.code == 42910000
    assert error.response.headers.get("Retry-After") == (
        None if retry_after is None else str(retry_after))
    assert client.get_account()["status"] == "ACTIVE"  # one time only


def test_the_sdk_retries_a_429_itself_ignoring_retry_after(fake, client):
    client._retry, client._retry_wait = 3, 0
    fake.fail_next("/account", status=429, retry_after=30, times=2)
    started = time.monotonic()
    assert client.get_account()["status"] == "ACTIVE"
    assert time.monotonic() - started < 5 and len(fake.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(fake, client, status):
    fake.fail_next("/positions", status=status)
    error = api_error(client.get_all_positions)
    assert error.status_code == status
    if status == 500:
        assert error.code == 50010000
    else:  # a gateway's HTML page: even reading the error's code fails
        with pytest.raises(ValueError):
            _ = error.code


def test_a_504_on_submit_comes_after_the_order_was_placed(fake, client):
    fake.fail_next("POST /orders", status=504)
    assert api_error(client.post, "/orders", order_body("c-504")).status_code == 504
    placed = client.get("/orders:by_client_order_id", {"client_order_id": "c-504"})
    assert placed["status"] == "accepted" and len(fake.orders) == 1


def test_the_sdk_s_own_504_retry_turns_a_placed_order_into_a_duplicate_error(fake, client):
    client._retry, client._retry_wait = 3, 0
    fake.fail_next("POST /orders", status=504)
    refused = api_error(client.post, "/orders", order_body("c-504"))
    assert refused.status_code == 422 and refused.code == 40010001
    assert fake.order_posts == 2 and len(fake.orders) == 1
    # Without a client order id the same retry places the order twice.
    fake.fail_next("POST /orders", status=504)
    body = order_body("")
    del body["client_order_id"]
    client.post("/orders", body)
    assert len(fake.orders) == 3


def test_a_hang_makes_a_client_timeout_fire_and_close_wakes_it(fake, client):
    client._session = TimeoutSession(0.3)
    fake.fail_next("POST /orders", hang_seconds=30)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        client.post("/orders", order_body("c-hang"))
    assert time.monotonic() - started < 5
    assert fake.orders == {}  # not processed (yet): the handler is still asleep
    fake.close()
    assert time.monotonic() - started < 5


def test_a_hang_after_processing_leaves_the_order_placed(fake, client):
    client._session = TimeoutSession(0.3)
    fake.fail_next("POST /orders", hang_seconds=1, processed=True)
    with pytest.raises(requests.Timeout):
        client.post("/orders", order_body("c-hang"))
    assert fake.order_by_client_order_id("c-hang") is not None


@pytest.mark.parametrize(("fault", "expected"), [
    ({"truncate": True}, None),
    ({"body": '{"id": "abc'}, '{"id": "abc'),
    ({"body": "<html>oops</html>"}, "<html>oops</html>"),
])
def test_a_broken_body_with_status_200(fake, client, fault, expected):
    fake.fail_next("GET /account", **fault)
    with pytest.raises(requests.JSONDecodeError):
        client.get_account()
    if expected is None:  # the real answer, cut in half
        path = fake.requests[-1][1]
        assert path == "/v2/account"
    session = requests.Session()
    fake.fail_next("GET /account", **fault)
    raw = session.get(f"{fake.url}/v2/account", headers={
        "APCA-API-KEY-ID": "PKTEST", "APCA-API-SECRET-KEY": "secret-test"})
    assert raw.status_code == 200
    if expected is not None:
        assert raw.text == expected
    else:
        assert raw.text.startswith('{"id":"') and not raw.text.endswith("}")


def test_a_fault_matches_only_its_route_and_method(fake, client):
    fake.fail_next("POST /orders", status=500)
    assert client.get("/orders") == []  # a GET is not spoiled
    assert api_error(client.post, "/orders", order_body("c-1")).status_code == 500
    assert client.post("/orders", order_body("c-1"))["client_order_id"] == "c-1"


# -- the rate limit ---------------------------------------------------------------------------


def test_rate_limit_headers_count_down_and_the_fake_answers_429_itself():
    with FakeAlpaca(rate_limit=3, window_seconds=0.5) as fake:
        session = requests.Session()
        session.headers.update({"APCA-API-KEY-ID": "PKTEST",
                                "APCA-API-SECRET-KEY": "secret-test"})
        answers = [session.get(f"{fake.url}/v2/clock") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-Ratelimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert all(a.headers["X-Ratelimit-Limit"] == "3" for a in answers)
        assert float(answers[0].headers["X-Ratelimit-Reset"]) == pytest.approx(
            time.time() + 0.5, abs=0.5)
        wait = float(answers[3].headers["Retry-After"])
        assert 0 < wait <= 0.5
        time.sleep(wait + 0.01)
        assert session.get(f"{fake.url}/v2/clock").status_code == 200
        assert len(fake.requests) == 5


def test_a_minute_window_sends_whole_seconds():
    with FakeAlpaca(rate_limit=1) as fake:
        client = TradingClient("PKTEST", "secret-test", paper=True, raw_data=True,
                               url_override=fake.url)
        client._retry = 0
        client.get_clock()
        limited = api_error(client.get_clock)
        assert limited.status_code == 429
        assert limited.response.headers["Retry-After"] in {str(s) for s in range(55, 61)}
        assert re.fullmatch(r"\d{10}", limited.response.headers["X-Ratelimit-Reset"])


# -- time text --------------------------------------------------------------------------------


def test_times_round_trip_at_nanosecond_precision():
    for text in ["2026-11-20T14:31:05.123456789Z", "2026-11-20T14:31:05Z",
                 "2026-11-20T14:31:05.1Z"]:
        assert format_time(parse_time_ns(text)) == text
    assert parse_time_ns("2026-11-20T09:31:05.5-05:00") == parse_time_ns(
        "2026-11-20T14:31:05.500000000Z")
    assert parse_time_ns("2026-11-20 14:31:05+00:00") == parse_time_ns("2026-11-20T14:31:05Z")
    fake_time = datetime(2026, 11, 20, 14, 31, 5, 123456, tzinfo=UTC)
    assert parse_time_ns(fake_time.isoformat()) == parse_time_ns(
        "2026-11-20T14:31:05.123456Z")
    assert timedelta(microseconds=1) == timedelta(microseconds=parse_time_ns(
        "2026-11-20T14:31:05.000001Z") // 1000 - parse_time_ns("2026-11-20T14:31:05Z") // 1000)
