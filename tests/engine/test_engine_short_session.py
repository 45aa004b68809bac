"""A real `tbot engine` that sells short (SHORT_TYPE_*=ShortSell) on the simulated broker:
the day ends flat with a balanced, verified ledger and no reconciliation break, and the
kill switch buys a short back."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

from tests.cli.cli_support import replace_setting
from tests.engine.conftest import TRADING_DAY
from tests.engine.engine_process import IDENTITY, ledger_rows, run_tbot, verify_clean
from tests.engine.test_engine_recovery import broker_state

OUTPUT = Path("output") / IDENTITY
EQUITIES = "1115"


def sell_short_everywhere(home: Path) -> None:
    """Every strategy's bearish entries sell the stock short."""
    for strategy in ("OPEN", "MID", "CLOSE"):
        replace_setting(home, f"SHORT_TYPE_{strategy}", "ShortSell")


def open_breaks(home: Path) -> list[dict[str, object]]:
    result = run_tbot("recon", "breaks", "--home", home, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    breaks: list[dict[str, object]] = json.loads(result.stdout)["breaks"]
    return breaks


def test_a_short_selling_day_ends_flat_with_a_balanced_ledger(home, start_engine):
    sell_short_everywhere(home)
    engine = start_engine(home, "--sim", "--speed", "3000", "--start",
                          f"{TRADING_DAY}T14:25:00Z", "--until-close")
    assert engine.wait(120) == 0, engine.output()

    trades = ledger_rows(home, "SELECT trntype, symbol, side, tag, size FROM trades ORDER BY id")
    shorts = [(symbol, size) for trntype, symbol, side, tag, size in trades
              if trntype == "SHORT"]
    covers = [(symbol, size) for trntype, symbol, side, tag, size in trades
              if trntype == "COVER"]
    assert shorts, "the generated day should give the strategies a bearish entry"
    assert {(side, tag) for trntype, _, side, tag, _ in trades
            if trntype in ("SHORT", "COVER")} == {("short", "ShortSell")}
    # every share sold short was bought back, in whole shares
    covered: Counter[str] = Counter()
    for symbol, size in covers:
        covered[symbol] += size
    assert Counter(dict(shorts)) == covered
    assert all(size % 1_000_000_000 == 0 for _, size in shorts)

    # flat everywhere: the broker, and the ledger's equities account symbol by symbol
    positions, _ = broker_state(home)
    assert positions == {}
    assert ledger_rows(home, f"SELECT symbol FROM ledger_postings WHERE account_code = "
                             f"'{EQUITIES}' AND symbol IS NOT NULL GROUP BY symbol "
                             "HAVING SUM(quantity) != 0 OR SUM(amount) != 0") == []
    verify_clean(home)  # every entry balances, the audit chain holds
    assert open_breaks(home) == []  # the end-of-day sync agrees with the broker

    history = json.loads(
        (home / OUTPUT / "trades" / f"{IDENTITY}_BOT_trade_history.json").read_text())
    short_trips = [row for row in history if row["side"] == "short"
                   and row["tag"] == "ShortSell"]
    assert sorted(row["ticker"] for row in short_trips) == sorted(s for s, _ in covers)
    summary = json.loads(
        (home / OUTPUT / "summaries" / f"{IDENTITY}_BOT_daily_summary_{TRADING_DAY}.json")
        .read_text())
    kinds = Counter(trntype for trntype, *_ in trades)
    assert summary["totals"]["entries"] == kinds["BUY"] + kinds["SHORT"]
    assert summary["totals"]["total_trades"] == kinds["SELL"] + kinds["COVER"] == len(history)


def test_the_kill_switch_buys_a_short_back(home, start_engine):
    sell_short_everywhere(home)
    engine = start_engine(home, "--sim", "--speed", "60", "--start",
                          f"{TRADING_DAY}T19:30:00Z")
    engine.wait_ready()

    def short_rows() -> list[dict[str, object]]:
        return [row for row in engine.call("positions.list")["positions"]
                if Decimal(row["quantity"]) < 0]

    engine.wait_until(lambda _: short_rows(), 120, "a short position")
    row = short_rows()[0]
    assert (row["side"], row["tag"]) == ("short", "ShortSell")
    assert Decimal(row["market_value"]) < 0

    result = engine.call("risk.kill", {"reason": "operator flattens the short"})
    assert result["flatten_orders"]
    engine.wait_until(lambda _: not engine.call("positions.list")["positions"], 60, "flat")
    orders = {o["client_order_id"]: o for o in engine.call("orders.list")["orders"]}
    flattening = [orders[coid] for coid in result["flatten_orders"]]
    assert {order["side"] for order in flattening if order["symbol"] == row["symbol"]} == {
        "buy"}
    assert engine.terminate() == 0, engine.output()

    positions, _ = broker_state(home)
    assert positions == {}
    last = ledger_rows(home, "SELECT trntype FROM trades WHERE symbol = "
                             f"'{row['symbol']}' ORDER BY id DESC LIMIT 1")
    assert last == [("COVER",)]
    verify_clean(home)
