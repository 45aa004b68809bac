"""`tbot engine` on an Alpaca home refuses to start, plainly and with exit 2, when the
broker secret is missing or malformed, the key is refused, the account is not ACTIVE, or a
live account lacks LIVE_TRADING: never a traceback, never the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tbot.admin.bot_home import open_home
from tbot.clock import SystemClock
from tbot.config.secret_store import SecretStore
from tests.broker.alpaca.test_alpaca_home import (  # noqa: F401 (fixtures)
    REPO,
    alpaca_home,
    data_fake,
)
from tests.cli.cli_support import replace_setting


def start_engine(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tbot.cli.main", "engine", "--home",
                           str(home), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def refused_plainly(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    return result.stderr


def set_secret(home: Path, values: object) -> None:
    SecretStore(open_home(home).paths).set("broker", values, SystemClock())


def test_without_a_broker_secret(alpaca_home):  # noqa: F811
    SecretStore(open_home(alpaca_home).paths).path("broker").unlink()
    message = refused_plainly(start_engine(alpaca_home))
    assert "broker secret is not set" in message


@pytest.mark.parametrize(("values", "says"), [
    ({"ibkr": {}}, "no \"alpaca\" object"),
    ({"alpaca": {"api_key_id": "PKTEST"}}, "alpaca.secret_key is missing"),
    ({"alpaca": {"api_key_id": "PKTEST", "secret_key": "s-123", "data_feed": "otc"}},
     "data_feed"),
])
def test_with_a_malformed_broker_secret(alpaca_home, values, says):  # noqa: F811
    set_secret(alpaca_home, values)
    assert says in refused_plainly(start_engine(alpaca_home), "s-123")


def test_with_a_refused_key(alpaca_home, fake):  # noqa: F811
    set_secret(alpaca_home, {"alpaca": {"api_key_id": fake.key_id,
                                        "secret_key": "not-the-key-123",
                                        "trading_url": fake.url}})
    message = refused_plainly(start_engine(alpaca_home), "not-the-key-123")
    assert "refused the credential" in message


def test_with_an_account_that_is_not_active(alpaca_home, fake):  # noqa: F811
    fake.account["status"] = "ACCOUNT_CLOSED"
    message = refused_plainly(start_engine(alpaca_home), fake.secret_key)
    assert "ACCOUNT_CLOSED, not ACTIVE" in message


def test_with_a_live_account_and_no_live_trading(alpaca_home, fake):  # noqa: F811
    set_secret(alpaca_home, {"alpaca": {"api_key_id": fake.key_id,
                                        "secret_key": fake.secret_key, "paper": False,
                                        "trading_url": fake.url}})
    message = refused_plainly(start_engine(alpaca_home), fake.secret_key)
    assert "LIVE_TRADING" in message


def test_with_a_bars_file_meant_for_the_simulated_broker(alpaca_home, tmp_path):  # noqa: F811
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,symbol,open,high,low,close,volume\n")
    message = refused_plainly(start_engine(alpaca_home, "--bars", str(bars)))
    assert "--bars replays a file for the simulated broker" in message


def test_without_a_trading_universe(alpaca_home):  # noqa: F811
    replace_setting(alpaca_home, "TRADING_UNIVERSE", "")
    message = refused_plainly(start_engine(alpaca_home))
    assert "TRADING_UNIVERSE" in message
