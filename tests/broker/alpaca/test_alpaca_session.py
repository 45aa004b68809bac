"""A whole session through Alpaca, faked locally: the real engine (in this process, on a
fast simulated clock shared with the fakes) trades the open strategy through the real
alpaca-py clients, on minute bars from the fake's data stream, with fills pushed by the
fake's trade-updates stream (some of them lost on the way); the ledger balances and
`tbot recon sync` afterwards finds nothing to book and no break."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.admin.bot_home import open_home
from tbot.admin.init_home import init_home
from tbot.clock import FrozenClock, SystemClock
from tbot.config.secret_store import SecretStore
from tbot.engine.engine import EngineOptions
from tbot.engine.runner import run_engine
from tbot.engine.sim_clock import SimClock
from tbot.market.bars import Bar, BarFeed
from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import GeneratedFeed
from tbot.market.universe import LIQUID_UNIVERSE
from tests.broker.alpaca.fake_alpaca import FakeAlpaca
from tests.broker.alpaca.fake_alpaca_data import FakeAlpacaData
from tests.broker.alpaca.fake_trade_stream import FakeTradeStream
from tests.broker.alpaca.test_alpaca_home import tbot
from tests.cli.cli_support import replace_setting
from tests.reconcile.conftest import IDENTITY

DAY = "2026-11-20"  # a Friday whose generated market has opening-range breakouts
OPENING = datetime.fromisoformat(f"{DAY}T14:00:00+00:00")  # 09:00 in New York
SPEED = 900.0
SEED = 20261121  # the template's SIM_SEED


class PricedMarket:
    """The generated market, telling the fake broker each minute's closing prices as the
    data fake publishes them (so its market orders fill where the engine saw the market)."""

    def __init__(self, source: BarFeed, broker: FakeAlpaca) -> None:
        self.source, self.broker = source, broker
        self.symbols = source.symbols

    def minute(self, at: datetime) -> Mapping[str, Bar]:
        bars = self.source.minute(at)
        for bar in bars.values():
            self.broker.set_price(bar.symbol, bar.close)
        return bars

    def has_day(self, day: object) -> bool:
        return True


class Ahead:
    """`clock`, some seconds early: the data fake publishes a minute's bars just before
    the minute ends in simulated time, so the engine (which waits a little after the end)
    never races a fast clock."""

    def __init__(self, clock: SimClock, seconds: float) -> None:
        self.clock, self.lead = clock, timedelta(seconds=seconds)

    def now(self) -> datetime:
        return self.clock.now() + self.lead


@dataclass
class Session:
    home: Path
    broker: FakeAlpaca
    data: FakeAlpacaData
    stream: FakeTradeStream
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    exit_code: int | None = None
    error: BaseException | None = None


@pytest.fixture
def session(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Session]:
    caplog.set_level(logging.INFO, logger="tbot")
    # Time runs SPEED times faster than real: so do the request limits (ours and the fake's).
    with FakeAlpaca(now=OPENING, rate_limit=1_000_000) as broker, FakeAlpacaData() as data, \
            FakeTradeStream(broker) as stream:
        broker.auto_fill = True
        broker.auto_fill_parts = 2  # every order fills in two parts
        broker.account["cash"] = "0"
        broker.add_activity("CSD", "100000", description="ACH deposit",
                            date=(OPENING - timedelta(days=1)).date().isoformat())
        broker.account["cash"] = "100000"
        root = tmp_path / "home"
        home = init_home(root, IDENTITY, FrozenClock(OPENING - timedelta(days=1)),
                         actor="test")
        replace_setting(root, "BROKER_NAME", "ALPACA")
        replace_setting(root, "TRADING_UNIVERSE", ",".join(LIQUID_UNIVERSE))
        # No screener_api secret here: with the filter on every symbol would be blocked
        # (FUNDAMENTALS_UNAVAILABLE=block), which tests/engine/test_entry_screen.py pins.
        replace_setting(root, "ENABLE_FINNHUB_FUNDAMENTALS_FILTER", "false")
        replace_setting(root, "STRATEGY_OVERRIDE", "open")
        replace_setting(root, "ALPACA_MAX_REQUESTS_PER_MINUTE", "1000000")
        # The data stream's drop below is a market-data failure: the watchdog halts trading
        # and, so that every position still closes, flattens.
        replace_setting(root, "DATA_FAILURE_ACTION", "flatten")
        SecretStore(home.paths).set("broker", {"alpaca": {
            "api_key_id": broker.key_id, "secret_key": broker.secret_key, "paper": True,
            "trading_url": broker.url, "stream_url": stream.url, "data_url": data.url,
            "data_stream_url": data.stream_url}}, SystemClock())
        made = Session(root, broker, data, stream)
        socket_dir = Path(tempfile.mkdtemp(prefix="tbot-s-"))
        clock = SimClock(OPENING, SPEED)
        broker.follow_clock(clock.now)
        data.auto_publish(PricedMarket(GeneratedFeed(SEED, TradingCalendar()), broker),
                          Ahead(clock, 20))

        def engine() -> None:
            try:
                made.exit_code = asyncio.run(run_engine(
                    open_home(root),
                    EngineOptions(until_close=True, socket_path=socket_dir / "e.sock"),
                    market_clock=clock))
            except BaseException as error:  # the test reports it
                made.error = error

        stream.lose_next(3)  # the first order's first events never arrive
        thread = threading.Thread(target=engine, name="engine", daemon=True)
        thread.start()
        # In the open window's trading (about 10:15 in New York), the network drops both
        # streams; they reconnect by themselves, and catch up through REST.
        network_drop = threading.Timer(
            (75 * 60) / SPEED + 1.0, lambda: (stream.drop_connections(), data.drop_connections()))
        network_drop.start()
        thread.join(timeout=150)
        network_drop.cancel()
        made.warnings = [r.getMessage() for r in caplog.records
                         if r.levelno >= logging.WARNING and r.name.startswith("tbot")]
        made.infos = [r.getMessage() for r in caplog.records if r.name.startswith("tbot")]
        data.stop_publishing()
        assert not thread.is_alive(), "the engine did not stop at the close"
        yield made


def test_a_session_through_alpaca_trades_books_and_reconciles_cleanly(session):
    assert session.error is None, repr(session.error)
    assert session.exit_code == 0
    ours = [o for o in session.broker.orders.values()
            if o["client_order_id"].startswith("open-")]
    assert ours, "the open strategy placed no order"
    assert {o["side"] for o in ours} == {"buy", "sell"}
    assert all(o["status"] == "filled" for o in ours)
    fills = [a for a in session.broker.activities if a["activity_type"] == "FILL"]
    assert len(fills) == 2 * len(ours)  # each in two parts
    assert session.stream.events_lost  # the stream really lost some
    assert not any("break" in line for line in session.warnings), session.warnings
    assert any("bar stream reconnected" in line for line in session.infos)
    # The silence while the data stream was away was said, and its end too.
    assert any("market data alpaca:iex unhealthy" in line for line in session.warnings)
    # ...which the watchdog answered per DATA_FAILURE_ACTION: HALTED, positions closed.
    assert any("DATA_FAILURE_ACTION=flatten" in line for line in session.warnings), \
        session.warnings
    assert any("market data alpaca:iex is flowing again" in line for line in session.infos)
    assert sum("order catch-up: the order stream connected" in line
               for line in session.infos) >= 2

    code, verified, output = tbot("ledger", "verify", "--home", session.home)
    assert code == 0 and verified["ok"] is True, output
    code, synced, output = tbot("recon", "sync", "--home", session.home)
    assert synced is not None, output
    assert synced["outcome"] == "complete", synced
    assert synced["booked"] == [], synced  # the engine had booked every fill, once
    assert code == 0, synced  # and nothing is left open
    code, balance, _ = tbot("ledger", "trial-balance", "--home", session.home)
    cash = {row["code"]: row for row in balance["lines"]}["1030"]["balance"]
    # Alpaca's cash moves by whole cents of fractional trades; the fake keeps every digit.
    assert abs(Decimal(cash) - Decimal(session.broker.account["cash"])) < Decimal("0.01")
    assert list(session.home.glob(f"output/*/summaries/*_daily_summary_{DAY}.json"))
    assert "FILL" in next(session.home.glob("output/*/logs/open.log")).read_text()
    assert session.broker.errors == [] and session.data.errors == []
