"""Short sales through the real engine (in this process) on the real simulated broker and
real ledger files: a ShortSell entry sells, a flatten buys to cover, a hard-to-borrow name
is refused with nothing booked, and a restart rebuilds the short lots and adopts the short.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tbot.admin.bot_home import open_home
from tbot.booking.fifo_lots import LotBook
from tbot.broker.models import OrderSide, OrderStatus
from tbot.config.setting_types import StrategyName
from tbot.engine import order_flow
from tbot.engine.engine import Engine, EngineOptions
from tbot.engine.order_intents import OrderIntent, Purpose, client_order_id
from tbot.ledger.amounts import MONEY_PLACES, QUANTITY_PLACES, from_scaled
from tbot.ledger.verify import verify_ledger
from tbot.reconcile.statuses import PositionOutcome
from tbot.reconcile.sync import SyncTrigger
from tbot.risk.trading_state import TradingState
from tbot.strategy.signals import TAG_SHORT_SELL, Direction, EntrySignal, ExitReason, ExitSignal
from tests.engine.conftest import TRADING_DAY

D = Decimal
START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
MINUTE = timedelta(minutes=1)


def short_signal(symbol: str, at: datetime, price: Decimal,
                 strategy: StrategyName = StrategyName.CLOSE) -> EntrySignal:
    """A bearish entry that sells `symbol` short (as a strategy with SHORT_TYPE_*=ShortSell
    emits it). The close strategy's window is hours away: no live strategy hears of it."""
    return EntrySignal(strategy=strategy, underlying=symbol, instrument=symbol,
                       direction=Direction.BEARISH, trigger_price=price,
                       reference_price=price, at=at, reason=f"{symbol} fades; sold short",
                       tag=TAG_SHORT_SELL, leverage_multiplier=1)


def open_engine(home: Path, start: datetime | None = START) -> Engine:
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=start))
    engine.start_blocking()
    return engine


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    engine = open_engine(home)
    try:
        yield engine
    finally:
        engine.close_blocking()


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{engine.paths.ledger_db}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def trades(engine: Engine) -> list[tuple[Any, ...]]:
    """(trntype, symbol, side, size, tag, pnl) of every trade row, in order."""
    return [(trntype, symbol, side, from_scaled(size, QUANTITY_PLACES), tag,
             from_scaled(pnl, MONEY_PLACES))
            for trntype, symbol, side, size, tag, pnl in rows(
                engine, "SELECT trntype, symbol, side, size, tag, pnl FROM trades ORDER BY id")]


def equities_balance(engine: Engine, symbol: str) -> tuple[Decimal, Decimal]:
    (quantity, amount), = rows(engine, (
        "SELECT COALESCE(SUM(quantity), 0), COALESCE(SUM(amount), 0) FROM ledger_postings "
        f"WHERE account_code = '{engine.accounts.equities}' AND symbol = '{symbol}'"))
    return from_scaled(quantity, QUANTITY_PLACES), from_scaled(amount, MONEY_PLACES)


async def sell_pfe_short(engine: Engine, strategy: StrategyName = StrategyName.CLOSE
                         ) -> Decimal:
    """Start, see a minute of prices, signal a short sale of PFE and fill it; returns the
    shares sold short (sized like a purchase: 800 of allocation, in whole shares)."""
    await engine.start()
    await engine._process_minute(START)
    price = engine.last_prices["PFE"]
    await order_flow.on_entry_signal(engine, short_signal("PFE", START + MINUTE, price,
                                                          strategy))
    (intent,) = engine.intents.all()
    assert (intent.side, intent.purpose, intent.tag) == (OrderSide.SELL, Purpose.ENTRY,
                                                         TAG_SHORT_SELL)
    assert intent.quantity == (D(800) / price).to_integral_value(rounding="ROUND_DOWN")
    await engine._process_minute(START + MINUTE)
    assert intent.filled_quantity == intent.quantity
    return intent.quantity


def test_a_short_sale_is_sold_booked_marked_and_reconciled_then_a_flatten_covers_it(
    engine: Engine,
) -> None:
    async def scenario() -> None:
        shares = await sell_pfe_short(engine)
        held = engine.book.positions["PFE"]
        assert held.quantity == -shares and held.is_short and held.size == shares
        assert (held.position_side, held.tag, held.strategy) == ("short", TAG_SHORT_SELL,
                                                                 "close")
        quantity, proceeds = equities_balance(engine, "PFE")
        assert (quantity, held.cost) == (-shares, proceeds) and proceeds < 0
        assert engine.booker is not None
        assert engine.booker.lots.position("PFE").quantity == -shares
        assert engine.limits.open_positions() == {"PFE"}

        # marked to market: (average sale price - last) x shares
        last = engine.last_prices["PFE"]
        row = held.as_dict(engine.clock.now())
        assert row["quantity"] == -shares
        assert row["market_value"] == (-shares * last).quantize(D("0.000001"))
        assert row["unrealized_pnl"] == (-proceeds - shares * last).quantize(D("0.000001"))
        assert engine.book.pnl_today() == held.unrealized - engine.book.result("close").fees

        # the broker holds the same short: reconciliation finds no break
        broker_positions = await engine.gateway.call(  # type: ignore[union-attr]
            "positions", engine.gateway.broker.positions)  # type: ignore[union-attr]
        assert [(p.symbol, p.quantity) for p in broker_positions] == [("PFE", -shares)]
        result = await engine.require_reconciliation().service.sync(SyncTrigger.MANUAL,
                                                                    wait=True)
        assert result is not None and result.new_breaks == []
        (check,) = result.positions
        assert (check.symbol, check.outcome, check.broker_quantity, check.ledger_quantity,
                check.engine_quantity) == ("PFE", PositionOutcome.MATCHED, -shares, -shares,
                                           -shares)

        # the kill switch flattens: it buys the short back, exactly the shares short
        sent = await engine.kill("test flatten", actor="test")
        (cover,) = [engine.intents.get(coid) for coid in sent]
        assert cover is not None
        assert (cover.side, cover.quantity, cover.purpose) == (OrderSide.BUY, shares,
                                                               Purpose.FLATTEN)
        await engine._process_minute(START + 2 * MINUTE)
        return shares

    shares = asyncio.run(scenario())
    assert engine.book.positions == {}
    assert engine.limits.open_positions() == frozenset()
    assert [row[:5] for row in trades(engine)] == [
        ("SHORT", "PFE", "short", shares, TAG_SHORT_SELL),
        ("COVER", "PFE", "short", shares, TAG_SHORT_SELL),
    ]
    assert equities_balance(engine, "PFE") == (0, 0)
    assert engine.booker is not None and engine.booker.lots.open_symbols() == ()
    report = verify_ledger(engine.paths.ledger_db, engine.paths.coa_db())
    assert report.ok, report.problems
    # the round trip is in the trade history, as a short
    history = json.loads(engine.history.path.read_text())
    assert [(r["ticker"], r["side"], r["size"]) for r in history] == [
        ("PFE", "short", str(shares))]
    realized = engine.book.result("close").realized
    gains = -sum((D(a) for (a,) in rows(engine, (
        "SELECT amount FROM ledger_postings WHERE account_code = "
        f"'{engine.accounts.realized_gains}'"))), D(0)) / 10**MONEY_PLACES
    assert realized == gains  # the book's realized PnL is the ledger's


def test_a_strategy_exit_buys_the_short_back(engine: Engine) -> None:
    rejected: list[str] = []
    live = SimpleNamespace(strategy=SimpleNamespace(on_exit_rejected=rejected.append))

    async def scenario() -> None:
        shares = await sell_pfe_short(engine)
        exit_signal = ExitSignal(StrategyName.CLOSE, "PFE", ExitReason.TRAILING_STOP,
                                 START + 2 * MINUTE, "stop", None)
        await order_flow.on_exit_signal(engine, live, exit_signal)  # type: ignore[arg-type]
        await order_flow.on_exit_signal(engine, live, exit_signal)  # one exit works at once
        exits = [i for i in engine.intents.all() if i.purpose is Purpose.EXIT]
        assert [(i.side, i.quantity) for i in exits] == [(OrderSide.BUY, shares)]
        await engine._process_minute(START + 2 * MINUTE)

    asyncio.run(scenario())
    assert rejected == []
    assert engine.book.positions == {}
    assert [row[0] for row in trades(engine)] == ["SHORT", "COVER"]


def test_a_hard_to_borrow_short_sale_is_refused_with_its_reason_and_nothing_is_booked(
    engine: Engine,
) -> None:
    async def scenario() -> None:
        await engine.start()
        await engine._process_minute(START)
        await order_flow.on_entry_signal(
            engine, short_signal("SNAP", START + MINUTE, engine.last_prices["SNAP"]))
        await engine._process_minute(START + MINUTE)

    asyncio.run(scenario())
    (intent,) = engine.intents.all()
    assert intent.order is not None and intent.order.status is OrderStatus.REJECTED
    assert intent.order.reject_reason == (
        "hard to borrow: no SNAP shares are available to sell short")
    unresolved = [json.loads(line) for line in
                  engine.paths.unresolved_orders_log.read_text().splitlines()]
    assert [(u["kind"], u["symbol"], u["reason"]) for u in unresolved] == [
        ("rejected", "SNAP", "hard to borrow: no SNAP shares are available to sell short")]
    assert trades(engine) == []
    assert rows(engine, "SELECT trntype FROM ledger_entries") == [("CREDIT",)]  # funding
    assert engine.book.positions == {}
    # the trade counts, but no position is held: its slot is free again
    assert engine.limits.open_positions() == frozenset()
    assert engine.limits.trades_entered(StrategyName.CLOSE) == 1


def test_a_short_sale_is_refused_for_what_is_held_long(engine: Engine) -> None:
    async def scenario() -> None:
        await engine.start()
        await engine._process_minute(START)
        bought = OrderIntent(
            client_order_id=client_order_id("mid", START, "PFE", Purpose.ENTRY),
            strategy="mid", instrument="PFE", underlying="PFE", side=OrderSide.BUY,
            quantity=D(10), purpose=Purpose.ENTRY, position_side="long", tag="none",
            leverage_multiplier=1, signal_time=START, reason="long")
        await order_flow.submit(engine, bought)
        await engine._process_minute(START + MINUTE)
        await order_flow.on_entry_signal(
            engine, short_signal("PFE", START + 2 * MINUTE, engine.last_prices["PFE"]))

    asyncio.run(scenario())
    assert engine.book.positions["PFE"].quantity == D(10)
    assert [i.side for i in engine.intents.all()] == [OrderSide.BUY]  # no sell was sent


def test_a_restart_rebuilds_the_short_lots_and_adopts_the_short(home: Path) -> None:
    first = open_engine(home)
    try:
        shares = asyncio.run(sell_pfe_short(first))
        assert first.booker is not None
        lots_before = first.booker.lots.clone()
        cost_before = first.book.positions["PFE"].cost
    finally:
        first.close_blocking()  # a stop that keeps the position at the broker

    second = open_engine(home, start=None)  # resumes at the broker's own time
    try:
        assert second.booker is not None
        rebuilt = second.booker.lots
        assert rebuilt == lots_before == LotBook.from_ledger(second.paths.ledger_db,
                                                             second.accounts.equities)
        assert [(lot.quantity, lot.short) for lot in rebuilt.lots("PFE")] == [(shares, True)]

        async def restart() -> None:
            await second.start()
            held = second.book.positions["PFE"]
            assert (held.quantity, held.cost, held.size) == (-shares, cost_before, shares)
            assert (held.position_side, held.tag, held.strategy) == (
                "short", TAG_SHORT_SELL, "close")
            # the adopted short agrees with the broker: trading is not held back
            assert second.state.state is TradingState.ACTIVE
            assert second.limits.open_positions() == {"PFE"}
            await order_flow.flatten(second, Purpose.FLATTEN, "end of test")
            await second._process_minute(START + 2 * MINUTE)

        asyncio.run(restart())
        assert second.book.positions == {}
        assert [row[0] for row in trades(second)] == ["SHORT", "COVER"]
        report = verify_ledger(second.paths.ledger_db, second.paths.coa_db())
        assert report.ok, report.problems
    finally:
        second.close_blocking()


def test_after_a_restart_the_owning_strategy_adopts_the_short_s_shares(home: Path) -> None:
    first = open_engine(home)
    try:
        async def short_for_open() -> None:
            # The open window is live at START: keep its strategy out of the first run (it
            # would be told of a fill it never signalled), then own the short by "open".
            first.enabled["open"] = False
            await first.start()
            await first._process_minute(START)
            intent = OrderIntent(
                client_order_id=client_order_id("open", START, "PFE", Purpose.ENTRY),
                strategy="open", instrument="PFE", underlying="PFE", side=OrderSide.SELL,
                quantity=D(33), purpose=Purpose.ENTRY, position_side="short",
                tag=TAG_SHORT_SELL, leverage_multiplier=1, signal_time=START, reason="short")
            await order_flow.submit(first, intent)
            await first._process_minute(START + MINUTE)

        asyncio.run(short_for_open())
    finally:
        first.close_blocking()

    second = open_engine(home, start=None)
    try:
        async def adopt() -> None:
            await second.start()
            assert second.book.positions["PFE"].quantity == D(-33)
            await second._process_minute(START + 2 * MINUTE)  # the open window's strategy
            (live,) = second.live.values()
            assert live.strategy.holdings() == {"PFE": D(33)}

        asyncio.run(adopt())
    finally:
        second.close_blocking()


def test_the_simulated_clock_is_where_the_tests_expect_it() -> None:
    """The scenarios above process minutes from START on the generated market's day."""
    assert START.tzinfo is UTC and START.date().isoformat() == TRADING_DAY
