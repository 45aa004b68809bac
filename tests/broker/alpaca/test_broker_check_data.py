"""`tbot broker check`'s market-data answer: `check_data_feed` asks the fake data API for
the latest SPY bar once and says plainly what it saw (ok with the bar's time, a key not
allowed market data, no answer in time, a 5xx), and the command reports it in
`market_data`, a failed check being a problem (exit 1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.init_home import init_home
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.data_check import DataFeedCheck, check_data_feed
from tbot.broker.alpaca.request_budget import RequestBudget
from tbot.cli.main import main
from tbot.clock import FrozenClock, SystemClock
from tbot.config.secret_store import SecretStore
from tbot.market.bars import Bar
from tests.broker.alpaca.conftest import NOW
from tests.broker.alpaca.fake_alpaca_data import FakeAlpacaData
from tests.cli.cli_support import replace_setting
from tests.reconcile.conftest import IDENTITY

SPY_MINUTE = NOW - timedelta(minutes=1)


@pytest.fixture
def data() -> Iterator[FakeAlpacaData]:
    with FakeAlpacaData() as server:
        server.add_bars([Bar("SPY", SPY_MINUTE, Decimal("600.01"), Decimal("600.5"),
                             Decimal("599.9"), Decimal("600.2"), 1000)])
        yield server
        assert server.errors == []


def check(data: FakeAlpacaData, timeout: float = 1.0, **changes: Any) -> DataFeedCheck:
    values = {"api_key_id": data.key_id, "secret_key": data.secret_key,
              "data_url": data.url, **changes}
    return check_data_feed(AlpacaCredentials.from_secret({"alpaca": values}),
                           budget=RequestBudget(100), timeout_seconds=timeout)


def test_a_key_that_gets_bars_is_ok_with_the_latest_bar_s_time(data):
    result = check(data)
    assert result == DataFeedCheck(True, "alpaca:iex",
                                   "latest SPY bar at 2026-11-20T14:59:00Z (close 600.2)")
    path, query, _ = data.requests[-1]
    assert path == "/v2/stocks/bars/latest" and query["symbols"] == "SPY"
    assert query["feed"] == "iex" and len(data.requests) == 1


def test_a_refused_key_says_it_may_not_read_market_data_without_naming_it(data):
    result = check(data, secret_key="not-the-secret-9")
    assert not result.ok
    assert "this key is not allowed Alpaca market data (401: request is not authorized)" \
        in result.detail
    assert "not-the-secret-9" not in result.detail


def test_a_feed_the_plan_lacks_is_a_plain_problem(data):
    data.forbidden_feeds.add("sip")
    result = check(data, data_feed="sip")
    assert not result.ok and result.feed == "alpaca:sip"
    assert "(403: subscription does not permit querying recent SIP data)" in result.detail


def test_a_data_api_that_hangs_is_reported_after_the_timeout_once(data):
    data.hang_next("/v2/stocks/bars/latest", seconds=5)
    began = time.monotonic()
    result = check(data, timeout=0.3)
    assert time.monotonic() - began < 2.0
    assert not result.ok and result.detail == (
        "the latest SPY bar: Alpaca's data API did not answer within 0.3 s")
    assert len(data.requests) == 1  # a check is never retried


def test_a_5xx_is_reported_with_its_status(data):
    data.fail_next("/v2/stocks/bars/latest", 503)
    result = check(data)
    assert not result.ok and "Alpaca's data API answered 503" in result.detail


def test_a_feed_without_the_symbol_is_not_ok(data):
    with data.lock:
        data.bars.clear()
    result = check(data)
    assert not result.ok and result.detail == "the iex feed answered but has no bar of SPY"


# -- the command -------------------------------------------------------------------------------


@pytest.fixture
def alpaca_home(tmp_path: Path, fake, data: FakeAlpacaData) -> Path:
    root = tmp_path / "home"
    home = init_home(root, IDENTITY, FrozenClock(NOW - timedelta(days=1)), actor="test")
    replace_setting(root, "BROKER_NAME", "ALPACA")
    SecretStore(home.paths).set("broker", {"alpaca": {
        "api_key_id": fake.key_id, "secret_key": fake.secret_key, "paper": True,
        "trading_url": fake.url, "data_url": data.url}}, SystemClock())
    return root


def broker_check(home: Path, capsys: pytest.CaptureFixture[str], *extra: str
                 ) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["broker", "check", "--home", str(home), *extra])
    return code, capsys.readouterr().out


def test_broker_check_reports_market_data_and_a_failed_check_is_a_problem(
        alpaca_home, data, capsys):
    code, out = broker_check(alpaca_home, capsys, "--json")
    report = json.loads(out)
    assert code == 0, report
    assert report["market_data"] == {
        "feed": "alpaca:iex", "ok": True,
        "detail": "latest SPY bar at 2026-11-20T14:59:00Z (close 600.2)"}

    data.fail_next("/v2/stocks/bars/latest", 500)
    code, out = broker_check(alpaca_home, capsys, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert report["market_data"]["ok"] is False
    assert report["problems"] == [
        "market data (alpaca:iex): the latest SPY bar: Alpaca's data API answered 500 "
        "(fault 500)"]


def test_broker_check_says_in_words_whether_market_data_answers(alpaca_home, data, capsys):
    code, out = broker_check(alpaca_home, capsys)
    assert code == 0
    assert "market data alpaca:iex answers: latest SPY bar at 2026-11-20T14:59:00Z" in out
    data.forbidden_feeds.add("iex")
    code, out = broker_check(alpaca_home, capsys)
    assert code == 1 and "does not answer" in out and "problem" in out
