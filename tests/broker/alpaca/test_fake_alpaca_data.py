"""The fake of Alpaca's market data, as alpaca-py and a bare websocket client see it: REST
bars paged by symbol then time under an opaque token (the SDK merging the pages), inclusive
time bounds, the key check, and the stream's login, subscription, bar frames and
one-connection limit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgpack
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from websockets.sync.client import ClientConnection, connect

from tbot.market.bars import Bar
from tests.broker.alpaca.fake_alpaca_data import FakeAlpacaData

OPEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def minute(n: int) -> datetime:
    return OPEN + timedelta(minutes=n)


def bar(symbol: str, n: int) -> Bar:
    price = Decimal(100 + n)
    return Bar(symbol, minute(n), price, price + 1, price - 1, price, 10 * (n + 1))


@pytest.fixture
def data() -> Iterator[FakeAlpacaData]:
    with FakeAlpacaData() as server:
        server.add_bars([bar(s, n) for s in ("AAPL", "MSFT") for n in range(5)])
        yield server
        assert server.errors == []


def client(data: FakeAlpacaData, secret: str | None = None) -> StockHistoricalDataClient:
    rest = StockHistoricalDataClient(data.key_id, secret or data.secret_key, raw_data=True,
                                     url_override=data.url)
    rest._retry = 0  # the SDK would retry a 429 itself
    return rest


def request(**fields: Any) -> StockBarsRequest:
    return StockBarsRequest(**{"symbol_or_symbols": ["MSFT", "AAPL"],
                               "timeframe": TimeFrame.Minute, **fields})


def test_bars_page_by_symbol_then_time_and_the_sdk_merges_the_pages(data):
    data.page_limit = 3
    bars = client(data).get_stock_bars(request(start=minute(1), end=minute(3)))

    assert [b["t"] for b in bars["AAPL"]] == ["2026-11-20T14:31:00Z", "2026-11-20T14:32:00Z",
                                              "2026-11-20T14:33:00Z"]  # both ends inclusive
    assert [b["o"] for b in bars["MSFT"]] == [101.0, 102.0, 103.0]
    pages = [query for path, query, _ in data.requests if path == "/v2/stocks/bars"]
    assert len(pages) == 2 and "page_token" not in pages[0] and pages[1]["page_token"]
    first_page = requests.get(f"{data.url}/v2/stocks/bars", timeout=2, params={
        "symbols": "MSFT,AAPL", "timeframe": "1Min", "limit": 3,
        "start": "2026-11-20T14:31:00Z", "end": "2026-11-20T14:33:00Z"}, headers={
        "APCA-API-KEY-ID": data.key_id, "APCA-API-SECRET-KEY": data.secret_key}).json()
    assert list(first_page["bars"]) == ["AAPL"]  # one symbol fills the first page
    assert first_page["next_page_token"] == pages[1]["page_token"]


def test_a_wrong_key_is_401_and_an_unknown_timeframe_422(data):
    with pytest.raises(APIError) as refused:
        client(data, secret="wrong").get_stock_bars(request())
    assert refused.value.status_code == 401
    with pytest.raises(APIError) as unsupported:
        client(data).get_stock_bars(request(timeframe=TimeFrame(5, TimeFrameUnit.Minute)))
    assert unsupported.value.status_code == 422


def frames(connection: ClientConnection) -> list[dict[str, Any]]:
    return msgpack.unpackb(connection.recv(timeout=2))


@contextlib.contextmanager
def login(data: FakeAlpacaData, secret: str | None = None) -> Iterator[ClientConnection]:
    with connect(data.stream_url) as connection:
        assert frames(connection) == [{"T": "success", "msg": "connected"}]
        connection.send(msgpack.packb({"action": "auth", "key": data.key_id,
                                       "secret": secret or data.secret_key}))
        yield connection


def test_the_stream_logs_in_subscribes_and_pushes_msgpack_bars(data):
    with login(data) as connection:
        assert frames(connection) == [{"T": "success", "msg": "authenticated"}]
        connection.send(msgpack.packb({"action": "subscribe", "bars": ["AAPL"]}))
        subscription = frames(connection)[0]
        assert subscription["T"] == "subscription" and subscription["bars"] == ["AAPL"]
        assert data.publish([bar("MSFT", 7), bar("AAPL", 7)]) == 1

        pushed = frames(connection)

    assert len(pushed) == 1 and pushed[0]["S"] == "AAPL" and pushed[0]["T"] == "b"
    assert isinstance(pushed[0]["t"], msgpack.Timestamp)
    assert pushed[0]["t"].to_datetime() == minute(7) and pushed[0]["o"] == 107.0


def test_a_wrong_key_gets_an_error_frame_and_a_second_connection_is_over_the_limit(data):
    with login(data, secret="wrong") as refused:
        assert frames(refused) == [{"T": "error", "code": 402, "msg": "auth failed"}]
    with login(data) as first, login(data) as second:
        assert frames(first)[0]["msg"] == "authenticated"
        assert frames(second) == [{"T": "error", "code": 406,
                                   "msg": "connection limit exceeded"}]
    assert data.stream_logins == 1
