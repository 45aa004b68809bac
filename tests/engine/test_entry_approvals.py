"""TRADE_CONFIRMATION_REQUIRED=true in the real engine (in this process) on the simulated
broker and ledger: an entry waits for an operator, who approves or rejects it through the
control methods (audited); one not approved in time, or whose price moved, is dropped;
exits and flattens never wait, and a flatten empties the queue."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.admin.bot_home import open_home
from tbot.control.methods import Caller, NoParams, RpcError
from tbot.control.roles import Role
from tbot.control.wire import INVALID_PARAMS, REFUSED
from tbot.engine import order_flow
from tbot.engine.control_methods import ApproveParams, ControlMethods, RejectParams
from tbot.engine.engine import Engine, EngineOptions
from tbot.engine.order_intents import Purpose
from tests.engine.conftest import TRADING_DAY
from tests.engine.in_process import entry, set_bot_keys, step

MINUTE = timedelta(minutes=1)
START = datetime.fromisoformat(f"{TRADING_DAY}T14:40:00+00:00")
OPERATOR = Caller(uid=1001, gid=1001, pid=1, role=Role.OPERATOR, name="olive(uid=1001)")




@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    set_bot_keys(home, TRADE_CONFIRMATION_REQUIRED="true")
    engine = Engine(open_home(home), EngineOptions(sim=True, speed=1.0, start=START))
    engine.start_blocking()
    yield engine
    engine.close_blocking()






def audited(engine: Engine, action: str) -> list[dict[str, object]]:
    with sqlite3.connect(f"file:{engine.paths.ledger_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT actor, created_at_utc, details FROM audit_trail "
                          "WHERE action = ? ORDER BY id", (action,)).fetchall()
    return [{"actor": actor, "at": at, **json.loads(details)} for actor, at, details in rows]


def audit(methods: ControlMethods, method: str, params: object, outcome: str) -> None:
    """What the control server does for every state-changing call."""
    asyncio.run(methods.audit_command(OPERATOR, method, params, outcome))


def test_an_entry_waits_and_goes_only_when_an_operator_approves_it(engine: Engine) -> None:
    methods = ControlMethods(engine)

    async def scenario() -> str:
        await engine.start()
        await step(engine, START)
        signal = entry(engine, "PFE", START + MINUTE)
        assert await order_flow.on_entry_signal(engine, signal) is None
        assert engine.intents.all() == []  # nothing sent
        await step(engine, START + MINUTE)
        await step(engine, START + 2 * MINUTE)
        assert "PFE" not in engine.book.positions
        pending = await methods.entries_pending(NoParams(), OPERATOR)
        (row,) = pending["entries"]
        assert pending["required"] is True and row["instrument"] == "PFE"
        assert row["seconds_left"] > 0
        assert engine.report.status()["approvals"] == {"required": True, "waiting": 1}
        answer = await methods.entries_approve(ApproveParams(id=row["id"]), OPERATOR)
        assert answer["client_order_id"] == row["id"]
        await step(engine, START + 3 * MINUTE)
        return str(row["id"])

    key = asyncio.run(scenario())
    assert "PFE" in engine.book.positions
    (intent,) = engine.intents.all()
    assert intent.client_order_id == key and intent.purpose is Purpose.ENTRY
    log = engine.paths.strategy_log_file("close").read_text()
    assert "AWAITING-APPROVAL PFE" in log and "APPROVED PFE" in log
    assert 'by="olive(uid=1001)"' in log
    audit(methods, "entries.approve", {"id": key}, "ok")
    (row,) = audited(engine, "control.entries.approve")
    assert row["actor"] == "control:olive(uid=1001)" and row["params"] == {"id": key}


def test_an_operator_may_reject_and_an_unknown_id_is_named(engine: Engine) -> None:
    methods = ControlMethods(engine)

    async def scenario() -> None:
        await engine.start()
        await step(engine, START)
        await order_flow.on_entry_signal(engine, entry(engine, "PFE", START + MINUTE))
        (row,) = (await methods.entries_pending(NoParams(), OPERATOR))["entries"]
        await methods.entries_reject(RejectParams(id=row["id"], reason="earnings tonight"),
                                     OPERATOR)
        with pytest.raises(RpcError) as unknown:
            await methods.entries_approve(ApproveParams(id=row["id"]), OPERATOR)
        assert unknown.value.code == INVALID_PARAMS
        assert "is waiting for approval" in unknown.value.message
        await step(engine, START + MINUTE)

    asyncio.run(scenario())
    assert engine.intents.all() == [] and "PFE" not in engine.book.positions
    assert "REJECTED-BY-OPERATOR PFE" in engine.paths.strategy_log_file("close").read_text()


def test_an_entry_whose_price_moved_is_dropped_and_cannot_be_approved(engine: Engine) -> None:
    methods = ControlMethods(engine)

    async def scenario() -> None:
        await engine.start()
        await step(engine, START)
        price = engine.last_prices["PFE"]
        # Chosen at a price 2% away from the market's: beyond MAX_SLIPPAGE_BPS (50).
        away = price * Decimal("1.02")
        await order_flow.on_entry_signal(engine, replace(
            entry(engine, "PFE", START + MINUTE), trigger_price=away, reference_price=away))
        (row,) = (await methods.entries_pending(NoParams(), OPERATOR))["entries"]
        with pytest.raises(RpcError) as refused:
            await methods.entries_approve(ApproveParams(id=row["id"]), OPERATOR)
        assert refused.value.code == REFUSED and "MAX_SLIPPAGE_BPS 50" in refused.value.message
        assert (await methods.entries_pending(NoParams(), OPERATOR))["entries"] == []

    asyncio.run(scenario())
    assert engine.intents.all() == []


def test_an_entry_not_approved_in_time_expires_on_the_minute(engine: Engine) -> None:
    def waiting_pfe() -> list[object]:
        return [e for e in engine.approvals.pending() if e.signal.instrument == "PFE"]

    async def scenario() -> None:
        await engine.start()
        await step(engine, START)
        await order_flow.on_entry_signal(engine, entry(engine, "PFE", START + MINUTE))
        (waiting,) = engine.approvals.waiting_for("PFE")
        minute = START + MINUTE
        while waiting_pfe() and minute <= waiting.expires_at:
            await step(engine, minute)
            minute += MINUTE
        assert waiting_pfe() == []

    asyncio.run(scenario())
    log = engine.paths.strategy_log_file("close").read_text()
    # Gone at its window's end, or earlier if its price wandered off first.
    assert "EXPIRED PFE" in log or "PRICE-MOVED PFE" in log
    assert [i for i in engine.intents.all() if i.instrument == "PFE"] == []
    # The open strategy's own breakouts waited too: nothing was entered unconfirmed.
    assert [i for i in engine.intents.all() if i.purpose is Purpose.ENTRY] == []


def test_exits_never_wait_and_a_flatten_empties_the_queue(engine: Engine) -> None:
    methods = ControlMethods(engine)

    async def scenario() -> None:
        await engine.start()
        await step(engine, START)
        await order_flow.on_entry_signal(engine, entry(engine, "PFE", START + MINUTE))
        (row,) = (await methods.entries_pending(NoParams(), OPERATOR))["entries"]
        await methods.entries_approve(ApproveParams(id=row["id"]), OPERATOR)
        await step(engine, START + MINUTE)
        await order_flow.on_entry_signal(engine, entry(engine, "F", START + 2 * MINUTE))
        assert len(engine.approvals) == 1
        sent = await order_flow.flatten(engine, Purpose.FLATTEN, "kill_switch")
        assert len(sent) == 1  # the PFE close went at once
        assert len(engine.approvals) == 0

    asyncio.run(scenario())
    log = engine.paths.strategy_log_file("close").read_text()
    assert "APPROVAL-DROPPED F" in log
