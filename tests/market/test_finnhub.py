"""Finnhub fundamentals over the real `requests` stack against a local fake server: the
fields read, retries (5xx, 429 with and without Retry-After, timeouts, cut bodies), what is
not retried (401, non-JSON), the rate limiter, and the key kept out of every message."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tbot.market.finnhub import (
    CallLimiter,
    FinnhubCredentials,
    FinnhubCredentialsError,
    FinnhubFundamentals,
)
from tbot.market.fundamentals import Fundamentals, FundamentalsUnavailable
from tests.market.fake_finnhub import METRIC, PROFILE, FakeFinnhub, Reply

DAY = date(2026, 11, 20)
KEY = "fh-test-key-123"

AAPL_METRIC = {
    "peTTM": 28.5,
    "peBasicExclExtraTTM": 28.9,
    "peNormalizedAnnual": 31.2,
    "totalDebt/totalEquityQuarterly": 1.8717,
    "totalDebt/totalEquityAnnual": 1.9,
    "marketCapitalization": 2800000.5,
    "52WeekHigh": 199.62,
}


class FakeTime:
    """A monotonic clock that only the recorded sleeps move."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeFinnhub]:
    with FakeFinnhub(KEY) as server:
        server.add_company("AAPL", AAPL_METRIC)
        yield server


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make(fake: FakeFinnhub, fake_time: FakeTime):
    """A client of the fake: `make(**options)` (real session, fake sleeps)."""
    made: list[FinnhubFundamentals] = []

    def build(**options: object) -> FinnhubFundamentals:
        settings: dict[str, object] = {
            "timeout": 2.0, "sleep": fake_time.sleep, "clock": fake_time.clock,
        }
        settings.update(options)
        api_key = settings.pop("api_key", KEY)
        client = FinnhubFundamentals(api_key, fake.base_url, **settings)  # type: ignore[arg-type]
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


# -- what is read ------------------------------------------------------------------------


def test_reads_ttm_pe_latest_debt_equity_and_market_cap_in_usd(make, fake: FakeFinnhub) -> None:
    found = make().fundamentals(["AAPL"], DAY)
    assert found == {
        "AAPL": Fundamentals(
            "AAPL",
            pe_ratio=Decimal("28.5"),
            debt_to_equity=Decimal("1.8717"),
            market_cap=Decimal("2800000.5") * 1_000_000,
        )
    }
    assert isinstance(found["AAPL"].pe_ratio, Decimal)
    assert fake.count(METRIC) == 1 and fake.count(PROFILE) == 0  # market cap came with it


def test_sends_the_key_in_the_header_never_in_the_url(make, fake: FakeFinnhub) -> None:
    make().fundamentals(["AAPL"], DAY)
    (seen,) = fake.requests
    assert seen.headers["X-Finnhub-Token"] == KEY
    assert seen.query == {"symbol": "AAPL", "metric": "all"}
    assert "token" not in seen.query


def test_falls_back_to_the_other_ttm_pe_and_the_annual_debt_equity(
    make, fake: FakeFinnhub
) -> None:
    fake.add_company(
        "KO",
        {
            "peTTM": None,
            "peBasicExclExtraTTM": 24.1,
            "totalDebt/totalEquityAnnual": 1.62,
            "marketCapitalization": 301000,
        },
    )
    figures = make().fundamentals(["KO"], DAY)["KO"]
    assert figures.pe_ratio == Decimal("24.1")
    assert figures.debt_to_equity == Decimal("1.62")
    assert figures.market_cap == Decimal(301_000_000_000)


def test_a_loss_maker_has_no_pe_even_when_an_old_annual_one_exists(
    make, fake: FakeFinnhub
) -> None:
    # Finnhub leaves the TTM P/E null for a company losing money.
    fake.add_company(
        "KHC",
        {"peTTM": None, "peBasicExclExtraTTM": None, "peNormalizedAnnual": 18.26,
         "totalDebt/totalEquityQuarterly": 0.5277, "marketCapitalization": 28779.943},
    )  # fmt: skip
    figures = make().fundamentals(["KHC"], DAY)["KHC"]
    assert figures.pe_ratio is None
    assert figures.market_cap == Decimal("28779943000.000")


def test_market_cap_comes_from_the_profile_when_the_metric_has_none(
    make, fake: FakeFinnhub
) -> None:
    fake.add_company("F", {"peTTM": 11.2}, {"marketCapitalization": 48500.25, "ticker": "F"})
    figures = make().fundamentals(["F"], DAY)["F"]
    assert figures.market_cap == Decimal("48500250000.00")
    assert fake.count(PROFILE, "F") == 1


def test_missing_and_malformed_fields_are_none(make, fake: FakeFinnhub) -> None:
    fake.add_company(
        "ODD",
        {"peTTM": "12", "totalDebt/totalEquityQuarterly": True, "marketCapitalization": 0},
        {"marketCapitalization": -5},
    )
    assert make().fundamentals(["ODD"], DAY)["ODD"] == Fundamentals("ODD", None, None, None)


def test_nan_in_a_body_is_no_figure(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(200, b'{"metric": {"peTTM": NaN, "marketCapitalization": 10}}'))
    figures = make().fundamentals(["AAPL"], DAY)["AAPL"]
    assert figures.pe_ratio is None and figures.market_cap == Decimal(10_000_000)


def test_an_unknown_symbol_is_left_out(make, fake: FakeFinnhub) -> None:
    assert make().fundamentals(["ZZZZ", "AAPL"], DAY).keys() == {"AAPL"}
    assert fake.count(PROFILE, "ZZZZ") == 1  # asked before giving up on it


def test_symbols_are_asked_once_each_in_upper_case(make, fake: FakeFinnhub) -> None:
    assert make().fundamentals(["aapl", "AAPL ", ""], DAY).keys() == {"AAPL"}
    assert fake.count(METRIC) == 1


# -- retries -------------------------------------------------------------------------------


def test_429_waits_the_retry_after_then_succeeds(
    make, fake: FakeFinnhub, fake_time: FakeTime
) -> None:
    fake.queue(METRIC, Reply(429, {"error": "API limit reached"}, {"Retry-After": "7"}))
    assert make().fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert fake.count(METRIC) == 2
    assert fake_time.sleeps == [7.0]


def test_a_retry_after_given_as_an_http_date_is_read(
    make, fake: FakeFinnhub, fake_time: FakeTime
) -> None:
    now = datetime(2026, 11, 20, 19, 35, 0, tzinfo=UTC).timestamp()
    fake.queue(METRIC, Reply(429, {}, {"Retry-After": "Fri, 20 Nov 2026 19:35:07 GMT"}))
    assert make(wall=lambda: now).fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert fake_time.sleeps == [7.0]


def test_429_without_retry_after_backs_off_at_least_a_second(
    make, fake: FakeFinnhub, fake_time: FakeTime
) -> None:
    fake.queue(METRIC, Reply(429, {"error": "API limit reached"}), Reply(429, {}))
    assert make().fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert fake.count(METRIC) == 3
    assert len(fake_time.sleeps) == 2 and all(s >= 1.0 for s in fake_time.sleeps)


def test_a_retry_after_longer_than_the_bot_waits_gives_up_at_once(
    make, fake: FakeFinnhub, fake_time: FakeTime
) -> None:
    fake.queue(METRIC, Reply(429, {"error": "API limit reached"}, {"Retry-After": "3600"}))
    with pytest.raises(FundamentalsUnavailable, match=r"rate-limited .* for 3600 s"):
        make().fundamentals(["AAPL"], DAY)
    assert fake.count(METRIC) == 1 and fake_time.sleeps == []


def test_500_then_ok_is_retried(make, fake: FakeFinnhub, fake_time: FakeTime) -> None:
    fake.queue(METRIC, Reply(500, b"oops"), Reply(502, b"bad gateway"))
    assert make().fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert fake.count(METRIC) == 3
    assert fake_time.sleeps == [0.5, 1.0]  # exponential backoff


def test_5xx_that_persists_ends_as_unavailable(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, *[Reply(503, b"down")] * 4)
    with pytest.raises(FundamentalsUnavailable) as caught:
        make(retries=3).fundamentals(["AAPL"], DAY)
    assert str(caught.value) == (
        "Finnhub answered /stock/metric for AAPL with HTTP 503 (gave up after 4 attempt(s))"
    )
    assert fake.count(METRIC) == 4


def test_a_request_that_hangs_past_the_timeout_is_retried(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(200, {"metric": {}}, hang=5.0))
    assert make(timeout=0.3).fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    assert fake.count(METRIC) == 2


def test_a_server_that_never_answers_ends_as_unavailable(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, *[Reply(200, {}, hang=5.0)] * 2)
    with pytest.raises(FundamentalsUnavailable, match=r"did not answer /stock/metric for AAPL "
                       r"within 0\.3 s \(gave up after 2 attempt"):  # fmt: skip
        make(timeout=0.3, retries=1).fundamentals(["AAPL"], DAY)


def test_a_body_cut_off_in_transit_is_retried(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(200, {"metric": {"peTTM": 1}}, cut=True))
    assert make().fundamentals(["AAPL"], DAY)["AAPL"].pe_ratio == Decimal("28.5")
    assert fake.count(METRIC) == 2


def test_an_unreachable_server_ends_as_unavailable(fake_time: FakeTime) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = FinnhubFundamentals(
        KEY, f"http://127.0.0.1:{port}/api/v1", timeout=1, retries=2,
        sleep=fake_time.sleep, clock=fake_time.clock,
    )  # fmt: skip
    with pytest.raises(FundamentalsUnavailable, match=r"cannot reach Finnhub .*3 attempt"):
        client.fundamentals(["AAPL"], DAY)
    assert len(fake_time.sleeps) == 2


# -- not retried ---------------------------------------------------------------------------


def test_a_wrong_key_is_refused_without_retry(make, fake: FakeFinnhub) -> None:
    with pytest.raises(FundamentalsUnavailable) as caught:
        make(api_key="wrong-key-456").fundamentals(["AAPL"], DAY)
    assert str(caught.value) == (
        "Finnhub refused the API key (HTTP 401): check the screener_api secret"
    )
    assert fake.count() == 1


def test_403_names_the_plan(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(403, {"error": "You don't have access to this resource."}))
    with pytest.raises(FundamentalsUnavailable, match=r"HTTP 403.*plan"):
        make().fundamentals(["AAPL"], DAY)


def test_a_body_that_is_not_json_is_unavailable_with_a_clear_message(
    make, fake: FakeFinnhub
) -> None:
    fake.queue(METRIC, Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(FundamentalsUnavailable) as caught:
        make().fundamentals(["AAPL"], DAY)
    assert str(caught.value) == (
        "Finnhub answered /stock/metric for AAPL with a body that is not JSON "
        "(text/html, 24 bytes)"
    )
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert fake.count() == 1


def test_truncated_json_is_unavailable(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(200, b'{"metric": {"peTTM": 28.'))
    with pytest.raises(FundamentalsUnavailable, match="not JSON"):
        make().fundamentals(["AAPL"], DAY)


def test_json_that_is_not_an_object_is_unavailable(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(200, [1, 2]))
    with pytest.raises(FundamentalsUnavailable, match="not an object"):
        make().fundamentals(["AAPL"], DAY)


def test_an_error_object_is_shown_without_the_key(make, fake: FakeFinnhub) -> None:
    fake.queue(METRIC, Reply(200, {"error": f"bad token {KEY}\nplease"}))
    with pytest.raises(FundamentalsUnavailable) as caught:
        make().fundamentals(["AAPL"], DAY)
    assert str(caught.value) == (
        "Finnhub answered /stock/metric for AAPL with an error: bad token ••• please"
    )


def test_no_message_or_log_line_ever_holds_the_key(
    make, fake: FakeFinnhub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.queue(
        METRIC,
        Reply(500, b"x"), Reply(429, {}, {"Retry-After": "1"}), Reply(200, b"nope"),
    )  # fmt: skip
    client = make()
    messages = []
    for _ in range(2):
        try:
            client.fundamentals(["AAPL"], DAY)
        except FundamentalsUnavailable as error:
            messages.append(str(error))
    bad = make(api_key="another-secret-key")
    with pytest.raises(FundamentalsUnavailable) as caught:
        bad.fundamentals(["AAPL"], DAY)
    messages.append(str(caught.value))
    assert messages and all(KEY not in m and "another-secret" not in m for m in messages)
    assert KEY not in caplog.text and "another-secret" not in caplog.text
    assert KEY not in repr(client) and KEY not in repr(FinnhubCredentials(KEY))


# -- the limiter -------------------------------------------------------------------------


def test_the_limiter_holds_calls_to_the_rolling_window() -> None:
    fake_time = FakeTime()
    limiter = CallLimiter(3, window_seconds=60, clock=fake_time.clock, sleep=fake_time.sleep)
    for _ in range(3):
        limiter.acquire()
    assert fake_time.sleeps == []
    fake_time.now += 10
    limiter.acquire()  # the 4th waits for the 1st to leave the window
    assert fake_time.sleeps == [50.0]


def test_the_client_keeps_to_its_calls_per_minute(
    make, fake: FakeFinnhub, fake_time: FakeTime
) -> None:
    for symbol in ("KO", "F"):
        fake.add_company(symbol, {"peTTM": 10, "marketCapitalization": 1000})
    make(calls_per_minute=2).fundamentals(["AAPL", "KO", "F"], DAY)
    assert fake_time.sleeps == [60.0]


# -- configuration -----------------------------------------------------------------------


def test_no_key_is_a_self_check_problem_and_asks_nothing(make, fake: FakeFinnhub) -> None:
    client = make(api_key=None)
    assert client.self_check() == [
        "finnhub: no API key: set the screener_api secret (`tbot secrets set screener_api "
        "--from-file F`, see docs/configuration.md)"
    ]
    with pytest.raises(FundamentalsUnavailable, match="no Finnhub API key"):
        client.fundamentals(["AAPL"], DAY)
    assert fake.count() == 0


def test_a_configured_client_has_no_self_check_problem(make) -> None:
    assert make().self_check() == []
    assert FinnhubFundamentals(KEY, "ftp://x", timeout=0, retries=-1).self_check() == [
        "finnhub: the base URL is not an http(s):// URL",
        "finnhub: timeout 0 s must be above 0",
        "finnhub: retries -1 must be 0 or more",
    ]


def test_credentials_from_the_secret() -> None:
    nested = FinnhubCredentials.from_secret(
        {"finnhub": {"api_key": " k1 ", "base_url": "http://127.0.0.1:9/api/v1/"}}
    )
    assert (nested.api_key, nested.base_url) == ("k1", "http://127.0.0.1:9/api/v1")
    flat = FinnhubCredentials.from_secret({"FINNHUB_API_KEY": "k2"})
    assert (flat.api_key, flat.base_url) == ("k2", None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (None, "screener_api secret is not set"),
        ({"alpaca": {}}, 'no "finnhub" object'),
        ({"finnhub": {"api_key": ""}}, "finnhub.api_key is missing"),
        ({"finnhub": {"api_key": "k", "base_url": "finnhub.io"}}, "base_url is not"),
        ({"finnhub": {"api_key": "k", "token": "k"}}, "unknown field"),
    ],
)
def test_bad_secrets_are_refused_by_field(values: object, message: str) -> None:
    with pytest.raises(FinnhubCredentialsError, match=message) as caught:
        FinnhubCredentials.from_secret(values)  # type: ignore[arg-type]
    assert "k1" not in str(caught.value)


def test_from_secret_builds_a_client_on_the_secret_url(fake: FakeFinnhub) -> None:
    client = FinnhubFundamentals.from_secret(
        {"finnhub": {"api_key": KEY, "base_url": fake.base_url}}, timeout=2
    )
    try:
        assert client.fundamentals(["AAPL"], DAY).keys() == {"AAPL"}
    finally:
        client.close()
