"""An Alpaca home against the fake: `tbot broker check` reports the account (and refuses a
bad secret plainly), and `tbot recon sync` accounts for every order, fill and cash activity
exactly once: our fills booked, the deposit and the daily fee mapped by the defaults, no
break; a second sync changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.init_home import init_home
from tbot.clock import FrozenClock, SystemClock
from tbot.config.secret_store import SecretStore
from tbot.engine.order_intents import Purpose, client_order_id
from tbot.market.bars import Bar
from tbot.market.universe import LIQUID_UNIVERSE
from tests.broker.alpaca.conftest import NOW
from tests.broker.alpaca.fake_alpaca_data import FakeAlpacaData
from tests.cli.cli_support import replace_setting
from tests.reconcile.conftest import IDENTITY

REPO = Path(__file__).resolve().parents[3]


def tbot(*args: str | Path) -> tuple[int, Any, str]:
    result = subprocess.run([sys.executable, "-m", "tbot.cli.main", *map(str, args), "--json"],
                            cwd=REPO, capture_output=True, text=True)
    try:
        parsed = json.loads(result.stdout)
    except json.JSONDecodeError:
        parsed = None
    return result.returncode, parsed, result.stdout + result.stderr


@pytest.fixture
def data_fake() -> Iterator[FakeAlpacaData]:
    """Alpaca's market data, faked (`tbot broker check` asks it for a bar)."""
    with FakeAlpacaData() as server:
        server.add_bars([Bar("SPY", NOW - timedelta(minutes=1), Decimal("600.01"),
                             Decimal("600.5"), Decimal("599.9"), Decimal("600.2"), 1000)])
        yield server


@pytest.fixture
def alpaca_home(tmp_path, fake, data_fake) -> Path:
    root = tmp_path / "home"
    home = init_home(root, IDENTITY, FrozenClock(NOW - timedelta(days=1)), actor="test")
    replace_setting(root, "BROKER_NAME", "ALPACA")
    replace_setting(root, "TRADING_UNIVERSE", ",".join(LIQUID_UNIVERSE))
    SecretStore(home.paths).set("broker", {"alpaca": {
        "api_key_id": fake.key_id, "secret_key": fake.secret_key, "paper": True,
        "trading_url": fake.url, "data_url": data_fake.url,
        "data_stream_url": data_fake.stream_url}}, SystemClock())
    return root


def a_day_at_alpaca(fake) -> None:
    """A funded account, two round trips of ours (one entry filled in two parts), a
    regulatory fee the next morning."""
    fake.account["cash"] = "0"
    fake.add_activity("CSD", "100000", description="ACH deposit",
                      date=(NOW - timedelta(days=1)).date().isoformat())
    fake.account["cash"] = "100000"
    minute = NOW.replace(hour=14, minute=35)
    buy = fake.add_order("AAPL", "10", client_order_id=client_order_id(
        "open", minute, "AAPL", Purpose.ENTRY))
    fake.fill(buy["id"], "4", "100.00")
    fake.fill(buy["id"], "6", "100.10")
    sell = fake.add_order("AAPL", "10", side="sell", client_order_id=client_order_id(
        "open", minute + timedelta(minutes=20), "AAPL", Purpose.EXIT))
    fake.fill(sell["id"], "10", "101.00")
    fake.add_activity("FEE", "-0.03", description="REG/TAF fee")


def test_broker_check_reports_the_account_without_its_key(alpaca_home, fake):
    code, report, _ = tbot("broker", "check", "--home", alpaca_home)
    assert code == 0, report
    assert report["status"] == "ACTIVE" and report["mode"] == "paper"
    assert fake.secret_key not in json.dumps(report)
    assert report["account"].startswith("…") and report["rate_limit"]["server_limit"] == 200
    fake.account["status"] = "ACCOUNT_CLOSED"
    code, report, _ = tbot("broker", "check", "--home", alpaca_home)
    assert code == 1 and "not ACTIVE" in report["problems"][0]


def test_a_wrong_key_and_a_live_account_without_live_trading_exit_2_plainly(
        alpaca_home, fake):
    from tbot.admin.bot_home import open_home

    paths = open_home(alpaca_home).paths
    SecretStore(paths).set("broker", {"alpaca": {
        "api_key_id": fake.key_id, "secret_key": "not-the-key-123", "trading_url": fake.url}},
        SystemClock())
    code, _, output = tbot("broker", "check", "--home", alpaca_home)
    assert code == 2 and "refused the credential" in output
    assert "not-the-key-123" not in output and "Traceback" not in output
    SecretStore(paths).set("broker", {"alpaca": {
        "api_key_id": fake.key_id, "secret_key": fake.secret_key, "paper": False,
        "trading_url": fake.url}}, SystemClock())
    code, _, output = tbot("recon", "sync", "--home", alpaca_home)
    assert code == 2 and "LIVE_TRADING" in output


def test_recon_sync_accounts_for_every_fill_and_cash_activity_exactly_once(alpaca_home, fake):
    a_day_at_alpaca(fake)

    code, synced, output = tbot("recon", "sync", "--home", alpaca_home)

    assert synced is not None, output
    assert synced["outcome"] == "complete", synced
    assert code == 0, synced  # no break
    assert synced["counts"].get("mapped") == 2  # the deposit and the fee, by the defaults
    assert len(synced["booked"]) == 3  # our three fills
    code, again, _ = tbot("recon", "sync", "--home", alpaca_home)
    assert code == 0 and again["booked"] == [] and "mapped" not in again["counts"]
    code, verified, _ = tbot("ledger", "verify", "--home", alpaca_home)
    assert code == 0 and verified["ok"] is True
    code, balance, _ = tbot("ledger", "trial-balance", "--home", alpaca_home)
    accounts = {row["code"]: row for row in balance["lines"]}
    assert {"1030", "1111", "4010", "3010", "5010"} <= set(accounts)  # Alpaca's accounts
    # Cash: the deposit, the round trip (10 × 101 − 4 × 100 − 6 × 100.10) and the fee, once.
    assert accounts["1030"]["balance"].rstrip("0") == "100009.37"
