"""`AlpacaBarFeed` with the real alpaca-py clients against the local fake of Alpaca's data
API: the start's backfill (paged), stream bars answered by `minute()`, gaps recorded once,
health (quiet, disconnected, refused), reconnects that backfill what they missed, REST
faults retried or given up plainly, junk records skipped, exact prices, a prompt close, and
the SDK privates the feed relies on."""

from __future__ import annotations

import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.live.websocket import DataStream

from tbot.broker.alpaca.bar_stream import BarStream
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.data_client import DataClient
from tbot.broker.alpaca.live_feed import AlpacaBarFeed
from tbot.broker.alpaca.request_budget import RequestBudget
from tbot.broker.alpaca.stream_status import NO_GREETING
from tbot.clock import Clock, FrozenClock
from tbot.engine.sim_clock import SimClock
from tbot.market.bars import Bar
from tbot.market.calendar import TradingCalendar
from tests.broker.alpaca.fake_alpaca_data import FakeAlpacaData

OPEN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
"""Friday 2026-11-20, 09:30 in New York."""
SYMBOLS = ("AAPL", "MSFT", "TSLA")
LAG = timedelta(seconds=3)
CALENDAR = TradingCalendar()


def at(minutes: int, seconds: int = 0) -> datetime:
    return OPEN + timedelta(minutes=minutes, seconds=seconds)


def bar(symbol: str, minute: datetime, price: str = "100.5", volume: int = 1200) -> Bar:
    p = Decimal(price)
    return Bar(symbol, minute, p, p + Decimal("0.25"), p - Decimal("0.25"), p, volume)


def minutes_of_bars(first: int, last: int, symbols: Sequence[str] = SYMBOLS) -> list[Bar]:
    return [bar(s, at(m), f"{100 + m}.{i}") for m in range(first, last + 1)
            for i, s in enumerate(symbols)]


def eventually(check: Callable[[], Any], timeout: float = 2.0) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {getattr(check, '__name__', check)}")
        time.sleep(0.005)


@pytest.fixture(scope="module", autouse=True)
def built_calendar() -> None:
    CALENDAR.session(OPEN.date())  # builds the schedule once (about a second)


@pytest.fixture
def data() -> Iterator[FakeAlpacaData]:
    with FakeAlpacaData() as server:
        yield server
        assert server.errors == []


def credentials_for(data: FakeAlpacaData, **changes: Any) -> AlpacaCredentials:
    values = {"api_key_id": data.key_id, "secret_key": data.secret_key,
              "data_url": data.url, "data_stream_url": data.stream_url, **changes}
    return AlpacaCredentials.from_secret({"alpaca": values})


@pytest.fixture
def make_feed(data: FakeAlpacaData) -> Iterator[Callable[..., AlpacaBarFeed]]:
    made: list[AlpacaBarFeed] = []

    def make(clock: Clock, *, symbols: Sequence[str] = SYMBOLS, timeout: float = 1.0,
             stale: float = 60.0, attempts: int = 3, credentials: AlpacaCredentials | None = None,
             ) -> AlpacaBarFeed:
        feed = AlpacaBarFeed(credentials or credentials_for(data), symbols, clock, CALENDAR,
                             budget=RequestBudget(10_000), timeout_seconds=timeout,
                             stale_seconds=stale, publish_lag=LAG, backfill_attempts=attempts,
                             backfill_backoff_seconds=0.01,
                             reconnect_backoff_seconds=(0.05, 0.2))
        made.append(feed)
        return feed

    yield make
    for feed in made:
        feed.close()


def bars_requests(data: FakeAlpacaData) -> list[tuple[dict[str, str], float]]:
    with data.lock:
        return [(query, sent) for path, query, sent in data.requests if path == "/v2/stocks/bars"]


def started(make_feed: Callable[..., AlpacaBarFeed], data: FakeAlpacaData, clock: Clock,
            **options: Any) -> AlpacaBarFeed:
    """A feed started and subscribed at the fake."""
    feed = make_feed(clock, **options)
    feed.start()
    assert data.wait_for_subscribers(feed.symbols, timeout=3)
    return feed


def as_tuples(bars: Mapping[str, Bar]) -> dict[str, tuple[Any, ...]]:
    return {s: (b.start, b.open, b.high, b.low, b.close, b.volume) for s, b in bars.items()}


# -- the start's backfill ------------------------------------------------------------------


def test_start_mid_session_backfills_every_minute_since_the_open_across_pages(data, make_feed):
    data.add_bars(minutes_of_bars(0, 9))
    data.page_limit = 4  # 30 bars: 8 pages, one symbol's bars straddling page boundaries
    feed = make_feed(FrozenClock(at(10, 10)))

    feed.start()

    requests = bars_requests(data)
    assert len(requests) == 8
    first = requests[0][0]
    assert first["timeframe"] == "1Min" and first["feed"] == "iex"
    assert first["symbols"] == "AAPL,MSFT,TSLA" and first["start"].startswith("2026-11-20T14:30")
    assert all("page_token" in query for query, _ in requests[1:])
    for minute in range(10):
        assert as_tuples(feed.minute(at(minute))) == {
            b.symbol: (b.start, b.open, b.high, b.low, b.close, b.volume)
            for b in minutes_of_bars(minute, minute)}
    health = feed.health()
    assert health.backfilled_minutes == 10 and health.last_bar_at == at(9)
    assert health.feed == "alpaca:iex" and health.gaps_today == 0


def test_outside_a_session_day_start_backfills_nothing(data, make_feed):
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    feed = make_feed(FrozenClock(saturday))

    feed.start()

    assert bars_requests(data) == []
    assert not feed.has_day(saturday.date()) and feed.minute(saturday) == {}
    assert feed.health().healthy  # no session: nothing is expected


def test_has_day_is_today_s_session_only(data, make_feed):
    feed = make_feed(FrozenClock(at(5)))
    assert feed.has_day(OPEN.date())
    assert not feed.has_day(date(2026, 11, 19)) and not feed.has_day(date(2026, 11, 23))


# -- the stream ----------------------------------------------------------------------------


def test_stream_bars_arrive_and_minute_answers_them(data, make_feed):
    clock = FrozenClock(at(2, 10))
    feed = started(make_feed, data, clock)
    clock.set(at(3, 1))  # asking before the minute is due records no gap while polling

    assert data.publish(minutes_of_bars(2, 2)) == 1

    answered = eventually(lambda: len(feed.minute(at(2))) == 3 and feed.minute(at(2)))
    assert as_tuples(answered) == as_tuples({b.symbol: b for b in minutes_of_bars(2, 2)})
    health = feed.health()
    assert health.connected and health.healthy and health.last_bar_at == at(2)
    assert health.backfilled_minutes == 0 and health.gaps_today == 0


def test_floats_on_the_wire_become_exact_decimals(data, make_feed):
    assert Decimal(187.23) != Decimal("187.23")  # noqa: RUF032 (the trap: not 187.23)
    data.add_raw("AAPL", at(0), {"t": "2026-11-20T14:30:00Z", "o": 187.23, "h": 187.2345678,
                                 "l": 186.1 + 0.2, "c": 187.23, "v": 1871, "n": 9,
                                 "vw": 187.2})
    clock = FrozenClock(at(1, 10))
    feed = started(make_feed, data, clock, symbols=["AAPL"])
    data.push_raw([{"T": "b", "S": "AAPL", "o": 187.23, "h": 187.99, "l": 187.01, "c": 187.5,
                    "v": 300, "t": msgpack.Timestamp.from_datetime(at(1))}])

    history = feed.minute(at(0))["AAPL"]
    streamed = eventually(lambda: feed.minute(at(1)).get("AAPL"))

    assert history.open == Decimal("187.23") and str(history.open) == "187.2300"
    assert 186.1 + 0.2 == 186.29999999999998  # sums of floats drift: quantized away
    assert history.high == Decimal("187.2346") and str(history.low) == "186.3000"
    assert history.volume == 1871
    assert streamed.open == Decimal("187.23") and streamed.close == Decimal("187.5")
    assert streamed.open.as_tuple().exponent == -4


def test_malformed_stream_records_are_skipped_and_logged_never_bars_of_zero(
        data, make_feed, caplog):
    caplog.set_level(logging.WARNING, logger="tbot.market.alpaca")
    clock = FrozenClock(at(1, 10))
    feed = started(make_feed, data, clock)
    stamp = msgpack.Timestamp.from_datetime(at(1))
    good = {"T": "b", "S": "AAPL", "o": 10.0, "h": 11.0, "l": 9.5, "c": 10.5, "v": 10,
            "t": stamp}
    junk = [
        {**good, "S": "MSFT", "c": None},                   # missing close
        {**good, "S": "TSLA", "o": "abc"},                  # not a number
        {**good, "S": "MSFT", "v": -5},                     # negative volume
        {**good, "S": "TSLA", "t": "yesterday"},            # not a timestamp
        {**good, "S": "MSFT", "o": 0.0, "l": 0.0},          # a price of zero
        {**good, "S": "TSLA", "h": math.nan},               # NaN
        {**good, "S": "MSFT", "v": True},                   # a bool is not a volume
        {**good, "S": "TSLA",                               # not a whole minute
         "t": msgpack.Timestamp.from_datetime(at(1, 30))},
        {**good, "S": "MSFT", "h": 9.0},                    # high below open
    ]

    data.push_raw([*junk, good])
    data.publish([bar("MSFT", at(1), "50")])  # the stream still works after the junk

    eventually(lambda: len(feed.minute(at(1))) == 2)
    got = feed.minute(at(1))
    assert got["AAPL"].close == Decimal("10.5") and got["MSFT"].close == Decimal("50")
    assert "TSLA" not in got
    skipped = [r for r in caplog.records if "malformed stream bar" in r.getMessage()]
    assert len(skipped) == len(junk)
    assert any("price c is not a number: None" in r.getMessage() for r in skipped)
    assert feed.health().connected


def test_malformed_history_records_are_skipped_and_the_rest_kept(data, make_feed, caplog):
    caplog.set_level(logging.WARNING, logger="tbot.market.alpaca")
    data.add_bars([bar("AAPL", at(0)), bar("MSFT", at(0))])
    data.add_raw("TSLA", at(0), {"t": "2026-11-20T14:30:00Z", "o": 5.0, "h": 6.0, "l": 4.0,
                                 "v": 100})  # no close
    data.add_raw("TSLA", at(1), {"t": "not a time", "o": 5.0, "h": 6.0, "l": 4.0, "c": 5.0,
                                 "v": 100})
    feed = make_feed(FrozenClock(at(2, 10)))

    feed.start()

    assert set(feed.minute(at(0))) == {"AAPL", "MSFT"} and feed.minute(at(1)) == {}
    assert sum("malformed history bar" in r.getMessage() for r in caplog.records) == 2


# -- gaps ------------------------------------------------------------------------------------


def test_a_gap_is_recorded_once_counted_and_logged_once(data, make_feed, caplog):
    caplog.set_level(logging.INFO, logger="tbot.market.alpaca")
    clock = FrozenClock(at(4, 10))
    feed = started(make_feed, data, clock)
    data.publish(minutes_of_bars(4, 4, ["AAPL", "MSFT"]))
    eventually(lambda: len(feed.minute(at(4))) == 2)
    clock.set(at(5, 2))  # the minute ended 2 s ago: its bars may still come

    assert set(feed.minute(at(4))) == {"AAPL", "MSFT"}
    assert feed.health().gaps_today == 0

    clock.set(at(5) + LAG)
    assert set(feed.minute(at(4))) == {"AAPL", "MSFT"}  # never an invented TSLA bar
    feed.minute(at(4))
    feed.minute(at(4))

    assert feed.health().gaps_today == 1
    lines = [r for r in caplog.records if r.getMessage().startswith("no bar for the minute")]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "14:34 UTC: TSLA (1 of 3 symbols)" in lines[0].getMessage()
    assert lines[0].name == "tbot.market.alpaca"


def test_minutes_outside_the_session_are_never_gaps(data, make_feed):
    clock = FrozenClock(datetime(2026, 11, 20, 21, 30, tzinfo=UTC))  # after the close
    feed = make_feed(clock)
    feed.start()

    feed.minute(at(-1))  # 09:29 in New York
    feed.minute(datetime(2026, 11, 20, 21, 0, tzinfo=UTC))  # 16:00, the close
    assert feed.health().gaps_today == 0

    feed.minute(at(389))  # the session's last minute, with no bar at all
    assert feed.health().gaps_today == 3


# -- health ----------------------------------------------------------------------------------


def test_a_quiet_session_turns_unhealthy_then_healthy_when_bars_flow(data, make_feed):
    clock = FrozenClock(at(5, 10))
    feed = started(make_feed, data, clock, stale=60)
    assert feed.health().healthy

    clock.advance(timedelta(seconds=61))
    health = feed.health()
    assert not health.healthy and health.connected
    assert health.reason == "no bar has arrived for 61 s of the session"

    data.publish([bar("AAPL", at(5))])
    eventually(lambda: feed.health().healthy)
    assert feed.health().reason is None


def test_before_the_open_no_bars_is_healthy(data, make_feed):
    clock = FrozenClock(at(-60))
    feed = started(make_feed, data, clock, stale=60)
    clock.advance(timedelta(minutes=50))
    assert feed.health().healthy


def test_a_stream_disconnected_too_long_is_unhealthy_until_it_reconnects(data, make_feed):
    clock = FrozenClock(at(5, 10))
    feed = started(make_feed, data, clock, stale=30)
    data.refuse_streams = True
    data.drop_connections()
    eventually(lambda: not feed.health().connected)
    assert feed.health().healthy  # not for long enough yet

    clock.advance(timedelta(seconds=31))
    health = feed.health()
    assert not health.healthy
    assert health.reason == "the bar stream has been disconnected for 31 s"

    data.refuse_streams = False
    assert data.wait_for_subscribers(SYMBOLS, timeout=3)
    data.publish([bar("AAPL", at(5))])
    eventually(lambda: feed.health().healthy)
    assert feed.health().reconnects == 1


def test_a_wrong_key_at_the_stream_is_unhealthy_with_a_plain_reason(data, make_feed):
    wrong = credentials_for(data, secret_key="not-the-secret")
    feed = make_feed(FrozenClock(at(5, 10)), credentials=wrong)

    feed.start()

    health = eventually(lambda: (h := feed.health()).reason and "login" in h.reason and h)
    assert not health.healthy and not health.connected
    assert health.reason == "Alpaca refused the bar stream's login (auth failed)"
    assert "not-the-secret" not in health.reason
    assert data.subscribers() == []
    assert len(bars_requests(data)) == 1  # the backfill's 401 is not retried


def test_a_feed_the_key_may_not_use_stops_the_stream_and_says_why(data, make_feed):
    data.forbidden_feeds.add("sip")
    sip = credentials_for(data, data_feed="sip", data_stream_url=data.stream_base + "/v2/sip")
    feed = make_feed(FrozenClock(at(5, 10)), credentials=sip)

    feed.start()

    health = eventually(lambda: (h := feed.health()).reason and "stopped" in h.reason and h)
    assert health.feed == "alpaca:sip" and not health.healthy
    assert health.reason == ("the bar stream stopped and will not reconnect "
                             "(last error: insufficient subscription)")


# -- reconnects ------------------------------------------------------------------------------


def test_a_reconnect_backfills_the_minutes_the_stream_missed(data, make_feed):
    data.add_bars(minutes_of_bars(0, 4))
    clock = FrozenClock(at(5, 10))
    feed = started(make_feed, data, clock)
    assert feed.health().backfilled_minutes == 5
    clock.set(at(6, 1))
    data.publish(minutes_of_bars(5, 5, ["AAPL"]))  # MSFT's and TSLA's are late
    eventually(lambda: "AAPL" in feed.minute(at(5)))

    data.refuse_streams = True
    data.drop_connections()
    eventually(lambda: not feed.health().connected)
    data.add_bars(minutes_of_bars(5, 5, ["MSFT", "TSLA"]))  # published while disconnected
    assert data.publish(minutes_of_bars(6, 8)) == 0
    clock.set(at(9, 5))
    requests_before = len(bars_requests(data))
    data.refuse_streams = False

    eventually(lambda: feed.health().backfilled_minutes == 9)
    for minute in (5, 6, 7, 8):
        assert set(feed.minute(at(minute))) == set(SYMBOLS), minute
    health = feed.health()
    assert health.reconnects == 1 and health.connected and health.gaps_today == 0
    catch_up = bars_requests(data)[requests_before][0]
    assert catch_up["start"].startswith("2026-11-20T14:35")  # from the newest bar held


# -- REST faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retry_after", "least_wait"), [
    (429, 0.3, 0.3),   # Retry-After honoured through the request budget
    (429, None, 1.0),  # none given: the budget's one-second pause
    (500, None, 0.0),
    (503, None, 0.0),
])
def test_a_failed_backfill_request_is_retried(data, make_feed, status, retry_after, least_wait):
    data.add_bars(minutes_of_bars(0, 2))
    data.fail_next("/v2/stocks/bars", status, retry_after=retry_after)
    feed = make_feed(FrozenClock(at(3, 10)))

    feed.start()

    requests = bars_requests(data)
    assert len(requests) == 2
    assert requests[1][1] - requests[0][1] >= least_wait
    assert feed.health().backfilled_minutes == 3 and feed.health().healthy


def test_a_non_json_answer_is_retried_never_taken_for_no_bars(data, make_feed):
    data.add_bars(minutes_of_bars(0, 2))
    data.fail_next("/v2/stocks/bars", 200, body="<html>maintenance</html>")
    feed = make_feed(FrozenClock(at(3, 10)))

    feed.start()

    assert len(bars_requests(data)) == 2
    assert set(feed.minute(at(1))) == set(SYMBOLS)


def test_a_hanging_backfill_request_hits_the_timeout_and_is_retried(data, make_feed):
    data.add_bars(minutes_of_bars(0, 2))
    data.hang_next("/v2/stocks/bars", seconds=5)
    feed = make_feed(FrozenClock(at(3, 10)), timeout=0.3)

    began = time.monotonic()
    feed.start()
    took = time.monotonic() - began

    assert 0.3 <= took < 2.0
    assert len(bars_requests(data)) == 2
    assert feed.health().backfilled_minutes == 3


def test_a_backfill_that_keeps_failing_gives_up_plainly_and_the_next_connection_retries(
        data, make_feed, caplog):
    caplog.set_level(logging.ERROR, logger="tbot.market.alpaca")
    data.add_bars(minutes_of_bars(0, 4))
    data.fail_next("/v2/stocks/bars", 503, times=3)
    data.refuse_streams = True
    feed = make_feed(FrozenClock(at(5, 10)), attempts=3)

    feed.start()

    assert len(bars_requests(data)) == 3
    health = feed.health()
    assert not health.healthy and health.backfilled_minutes == 0
    assert health.reason.startswith("could not read the minute bars 14:30-14:35 UTC from "
                                    "Alpaca's history: ")
    assert "answered 503" in health.reason
    assert any("could not read the minute bars" in r.getMessage() for r in caplog.records)
    assert feed.minute(at(0)) == {}

    data.refuse_streams = False  # the stream connects: its backfill reads the range again
    eventually(lambda: feed.health().backfilled_minutes == 5)
    assert feed.health().healthy and set(feed.minute(at(0))) == set(SYMBOLS)


# -- close -----------------------------------------------------------------------------------


def test_close_stops_the_stream_thread_promptly_and_is_idempotent(data, make_feed):
    feed = started(make_feed, data, FrozenClock(at(5, 10)))
    assert any(t.name == "alpaca-bar-stream" for t in threading.enumerate())

    began = time.monotonic()
    feed.close()
    took = time.monotonic() - began

    assert took < 1.0
    assert not any(t.name == "alpaca-bar-stream" for t in threading.enumerate())
    eventually(lambda: data.subscribers() == [])
    feed.close()
    assert feed.health().reason == "the feed is closed"


def test_close_before_start_is_harmless(data, make_feed):
    feed = make_feed(FrozenClock(at(5)))
    feed.close()
    with pytest.raises(RuntimeError):
        feed.start()


# -- end to end with a running clock ----------------------------------------------------------


class _Source:
    """A tiny deterministic BarFeed for the fake to publish from."""

    def __init__(self, bars: Sequence[Bar]) -> None:
        self._by_minute: dict[datetime, dict[str, Bar]] = {}
        for item in bars:
            self._by_minute.setdefault(item.start, {})[item.symbol] = item

    @property
    def symbols(self) -> Sequence[str]:
        return SYMBOLS

    def minute(self, at: datetime) -> Mapping[str, Bar]:
        return self._by_minute.get(at, {})

    def has_day(self, day: date) -> bool:
        return True


def test_auto_published_minutes_reach_the_feed_as_the_clock_runs_with_the_asked_gap(
        data, make_feed):
    source = _Source(minutes_of_bars(0, 30))
    clock = SimClock(at(-1, 30), speed=600)  # ten market minutes a second
    data.auto_publish(source, clock, skip={(at(1), "MSFT")})
    # A subscription that comes late still gets every minute: its connection's backfill.
    feed = started(make_feed, data, clock, stale=3600)

    eventually(lambda: (feed.health().last_bar_at or OPEN) >= at(5))
    data.stop_publishing()

    for minute in range(0, 5):
        expected = dict(source.minute(at(minute)))
        if minute == 1:
            del expected["MSFT"]
        assert as_tuples(feed.minute(at(minute))) == as_tuples(expected), minute
    assert feed.health().gaps_today == 1


# -- the SDK's privates ------------------------------------------------------------------------


def test_the_data_client_privates_disarm_relies_on_are_still_there():
    client = StockHistoricalDataClient("PKTEST", "secret", raw_data=True)
    for name in ("_session", "_retry", "_retry_codes"):
        assert hasattr(client, name), name
    one_request = inspect.getsource(type(client)._one_request)
    assert "self._session.request(" in one_request and "self._retry_codes" in one_request
    assert "while retry >= 0" in inspect.getsource(type(client)._request)
    ours = DataClient(AlpacaCredentials("PKTEST", "secret"), budget=RequestBudget(10),
                      timeout_seconds=1)
    assert ours.client._retry == 0 and ours.client._retry_codes == []
    assert ours.client._session is ours._session


def test_the_stream_privates_bar_stream_relies_on_are_still_there():
    assert BarStream.__mro__[1] is StockDataStream
    for name in ("_start_ws", "_run_forever", "close", "stop_ws"):
        assert inspect.iscoroutinefunction(getattr(DataStream, name)), name
    run_forever = inspect.getsource(DataStream._run_forever)
    # Every (re)connection goes through _start_ws; every drop through close().
    assert "await self._start_ws()" in run_forever
    assert "except websockets.WebSocketException" in run_forever
    assert run_forever.count("await self.close()") >= 2
    # A refused login is the server's message as a ValueError; a missing greeting is not.
    assert 'raise ValueError(msg[0].get("msg"' in inspect.getsource(DataStream._auth)
    assert NO_GREETING in inspect.getsource(DataStream._connect)
    stream = StockDataStream("PKTEST", "secret", raw_data=True)
    assert (stream._reconnect_min_backoff, stream._reconnect_max_backoff) == (1.0, 30.0)
    assert "self._reconnect_min_backoff" in inspect.getsource(DataStream._reconnect_delay)
