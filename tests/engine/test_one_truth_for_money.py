"""One truth for money: after a real simulated day with fees and partial fills, the trade
history, the daily summary and the engine's `pnl.summary` agree with the ledger to the
micro-unit (the ledger's 6 money places)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from tbot.booking.broker_accounts import accounts_for
from tbot.booking.ledger_results import day_bounds, read_day
from tbot.config.setting_types import BrokerName
from tbot.control.client import ControlClient
from tbot.ledger.amounts import MONEY_PLACES, from_scaled
from tbot.ledger.timestamps import format_utc
from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import IDENTITY, EngineProcess, ledger_rows, verify_clean

D = Decimal
OUTPUT = Path("output") / IDENTITY
ACCOUNTS = accounts_for(BrokerName.SIM)
DAY = date.fromisoformat(TRADING_DAY)
CENT = D("0.01")
# A bar fills at most 0.002 % of its volume: the day's orders fill in several parts.
PARTICIPATION = "0.00002"


def _last_pnl_event(engine: EngineProcess) -> dict[str, Any]:
    """The last `pnl` event the engine publishes before it stops (the day's final book)."""

    async def follow() -> dict[str, Any]:
        last: dict[str, Any] = {}
        async with await ControlClient.connect(engine.socket) as client:
            await client.subscribe(["pnl"])
            async with asyncio.timeout(120):
                async for event in client.notifications():  # ends when the engine stops
                    if event.get("topic") == "pnl":
                        last = event["data"]
        return last

    return asyncio.run(follow())


def _ledger_day_sums() -> str:
    """SQL of the day's realized gains and fees straight from the postings."""
    low, high = (format_utc(moment) for moment in day_bounds(DAY))
    return (
        f"SELECT COALESCE(SUM(CASE WHEN p.account_code = '{ACCOUNTS.realized_gains}' "
        f"THEN p.amount END), 0), "
        f"COALESCE(SUM(CASE WHEN p.account_code = '{ACCOUNTS.fees}' THEN p.amount END), 0) "
        f"FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
        f"WHERE e.dtposted >= '{low}' AND e.dtposted < '{high}'"
    )


def test_trade_history_summary_and_pnl_summary_agree_with_the_ledger(home, start_engine):
    replace_setting(home, "SIM_MAX_VOLUME_PARTICIPATION", PARTICIPATION)
    engine = start_engine(home, "--sim", "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close").wait_ready()
    pnl = _last_pnl_event(engine)
    assert engine.wait(120) == 0, engine.output()
    verify_clean(home)

    # -- the ledger, read two ways: raw postings and the module every report uses ------
    (gains_stored, fees_stored), = ledger_rows(home, _ledger_day_sums())
    gains = -from_scaled(int(gains_stored), MONEY_PLACES)
    fees = from_scaled(int(fees_stored), MONEY_PLACES)
    held = ledger_rows(home, f"SELECT symbol, SUM(quantity) FROM ledger_postings WHERE "
                             f"account_code = '{ACCOUNTS.equities}' GROUP BY symbol")
    assert all(quantity == 0 for _, quantity in held)  # flat at the close
    ledger_path = home / OUTPUT / "ledgers" / f"{IDENTITY}_BOT_ledger.db"
    results = read_day(ledger_path, ACCOUNTS, DAY)
    total = results.total
    assert (total.realized_gains, total.fees) == (gains, fees)
    assert fees > 0

    # The day really had partial fills on both sides, and fee shares below the cent.
    fills = Counter(trntype for (trntype,) in ledger_rows(home, "SELECT trntype FROM trades"))
    symbols = len({symbol for (symbol,) in ledger_rows(home, "SELECT symbol FROM trades")})
    assert fills["BUY"] > symbols and fills["SELL"] > symbols
    charges = [charge for trip in total.round_trips for charge in trip.charges]
    assert any(len(trip.charges) > 1 for trip in total.round_trips)
    assert any(charge.fee % CENT for charge in charges)

    # -- the trade history: one record per round trip, its PnL the ledger's --------------
    history = json.loads(
        (home / OUTPUT / "trades" / f"{IDENTITY}_BOT_trade_history.json").read_text())
    assert [row["fitid"] for row in history] == [trip.fitid for trip in total.round_trips]
    for row, trip in zip(history, total.round_trips, strict=True):
        assert D(row["PnL"]) == trip.pnl == trip.realized_gain - trip.fees
        assert D(row["size"]) == trip.quantity
    history_pnl = sum((D(row["PnL"]) for row in history), D(0))
    assert history_pnl == total.round_trip_pnl
    # Flat at the close, so every fee of the day is some round trip's.
    assert history_pnl == gains - fees

    # -- the daily summary ---------------------------------------------------------------
    summary = json.loads(
        (home / OUTPUT / "summaries" / f"{IDENTITY}_BOT_daily_summary_{TRADING_DAY}.json")
        .read_text())
    totals = summary["totals"]
    assert summary["money_source"] == "ledger"
    assert D(totals["realized_pnl"]) == history_pnl
    assert D(totals["fees"]) == fees
    assert D(totals["realized_gains"]) == gains
    assert D(totals["net_pnl"]) == gains - fees
    assert D(totals["round_trip_fees"]) == fees
    assert totals["total_trades"] == len(history)
    assert totals["entries"] == fills["BUY"]
    assert totals["wins"] == sum(D(row["PnL"]) > 0 for row in history)
    assert totals["losses"] == sum(D(row["PnL"]) < 0 for row in history)
    by_ticker: dict[str, Decimal] = {}
    for row in history:
        by_ticker[row["ticker"]] = by_ticker.get(row["ticker"], D(0)) + D(row["PnL"])
    assert {ticker: D(pnl) for ticker, pnl in totals["ticker_pnl"].items()} == by_ticker
    assert D(totals["max_gain"]) == max(D(row["PnL"]) for row in history)
    blocks = summary["strategies"].values()
    assert sum((D(block["realized_pnl"]) for block in blocks), D(0)) == history_pnl
    assert sum((D(block["fees"]) for block in blocks), D(0)) == fees
    assert summary["unattributed"] is None

    # -- the engine's last pnl.summary (what the console shows) --------------------------
    assert pnl, "no pnl event before the engine stopped"
    today = pnl["today"]
    assert (D(today["realized"]), D(today["fees"])) == (gains, fees)
    assert D(today["total"]) == gains - fees  # flat: nothing unrealized
    assert sum(block["trades"] for block in pnl["by_strategy"].values()) == len(history)

