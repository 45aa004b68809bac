"""The account's own SQLite file: created on first use, resumed after a restart, refused
(and left untouched) when it is not ours, consistent after a SIGKILL at any instant."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.broker.models import OrderStatus
from tbot.broker.reports import FillReport
from tbot.broker.sim import SimBroker, SimBrokerSettings, SimFault, SimStateError
from tbot.broker.sim.faults import CASH_DRIFT_AMOUNT, TRANSFER_IN_QUANTITY
from tbot.broker.sim.state_schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_V1,
    SCHEMA_VERSION,
)
from tbot.clock import FrozenClock
from tests.broker.conftest import ACCOUNT_ID, LONG_AGO, START, BrokerOpener, Market, all_trades

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def closed_state_file(open_broker: BrokerOpener, clock: FrozenClock, state_file: Path) -> Path:
    """A state file with some history (a fill, a last price), closed again."""
    broker = open_broker()
    market = Market(broker, clock)
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "101"))
    broker.close()
    return state_file


# -- creation and resumption --------------------------------------------------------------------


def test_first_open_creates_the_file_and_its_folder_without_leftovers(
    broker: SimBroker, state_file: Path
) -> None:
    assert state_file.is_file()
    assert broker.state_file == state_file
    leftovers = {path.name for path in state_file.parent.iterdir()} - {
        "broker.db", "broker.db-wal", "broker.db-shm",
    }
    assert leftovers == set()


def test_resume_finds_cash_positions_orders_prices_and_sim_time(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker()
    market = Market(broker, clock)
    market.minute(("AAPL", "100"), ("MSFT", "400"))
    market.buy("c1", "AAPL", "10")
    market.buy("c2", "MSFT", "100000")  # rejected, kept
    market.minute(("AAPL", "101", "101.5"))
    before = (
        broker.account(), broker.positions(), broker.orders(), broker.sim_time,
        broker.last_price("AAPL"), all_trades(broker), broker.fetch_cash_activity(LONG_AGO),
    )
    broker.close()

    resumed = open_broker()

    after = (
        resumed.account(), resumed.positions(), resumed.orders(), resumed.sim_time,
        resumed.last_price("AAPL"), all_trades(resumed), resumed.fetch_cash_activity(LONG_AGO),
    )
    assert after == before
    assert resumed.sim_time == START + timedelta(minutes=2)


def test_an_open_order_keeps_filling_after_resume(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker()
    market = Market(broker, clock)
    market.minute(("AAPL", "100", "100", 50))
    order = market.buy("c1", "AAPL", "8")
    market.minute(("AAPL", "100", "100", 50))  # 5 of 8
    broker.close()

    resumed = open_broker()
    fills = Market(resumed, clock).minute(("AAPL", "102", "102", 50))

    assert [(fill.fill_id, fill.quantity) for fill in fills] == [
        (f"{ACCOUNT_ID}-F000002", Decimal(3))
    ]
    (finished,) = resumed.orders()
    assert (finished.order_id, finished.status) == (order.order_id, OrderStatus.FILLED)
    # (5 * 100.02 + 3 * 102.0204) / 8
    assert finished.average_price == Decimal("100.770150")


def test_resume_keeps_the_recorded_cash_not_the_settings(
    closed_state_file: Path, open_broker: BrokerOpener, settings: SimBrokerSettings
) -> None:
    resumed = open_broker(settings=replace(settings, starting_cash=Decimal("5")))

    assert resumed.account().cash == Decimal("100000") - Decimal("1010.202") - Decimal("0.05")
    assert len(resumed.fetch_cash_activity(LONG_AGO).items) == 1


# -- simulated time -----------------------------------------------------------------------------


def test_sim_time_is_none_on_a_new_file(broker: SimBroker) -> None:
    assert broker.sim_time is None


def test_recorded_sim_time_never_moves_backwards_and_survives_a_restart(
    open_broker: BrokerOpener,
) -> None:
    broker = open_broker()
    later = START + timedelta(hours=1)
    broker.record_sim_time(later)
    broker.record_sim_time(START)
    assert broker.sim_time == later
    broker.close()

    assert open_broker().sim_time == later


def test_on_bars_records_the_delivery_time(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100"))

    assert broker.sim_time == START + timedelta(minutes=1)


def test_bars_older_than_the_sim_time_are_refused_and_change_nothing(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100"))
    order = market.buy("c1", "AAPL", "10")
    broker.record_sim_time(START + timedelta(hours=1))

    with pytest.raises(SimStateError, match="already at"):
        market.minute(("AAPL", "120"))

    assert broker.orders() == [order]
    assert broker.last_price("AAPL") == Decimal("100")


def test_a_closed_broker_refuses_calls(broker: SimBroker) -> None:
    broker.close()
    broker.close()

    with pytest.raises(SimStateError, match="closed"):
        broker.account()


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"account,cash\nSIM,100000\n", b""], ids=["text", "empty"]
)
def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(
    state_file: Path, settings: SimBrokerSettings, clock: FrozenClock, content: bytes
) -> None:
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(content)

    with pytest.raises(SimStateError, match="not an SQLite database") as refusal:
        SimBroker.open(state_file, settings, clock)

    assert str(state_file) in refusal.value.message
    assert state_file.read_bytes() == content
    assert sorted(path.name for path in state_file.parent.iterdir()) == ["broker.db"]


def test_another_sqlite_database_is_refused_and_left_untouched(
    state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    state_file.parent.mkdir(parents=True)
    other = sqlite3.connect(state_file)
    other.execute("CREATE TABLE ledger_entries (id INTEGER PRIMARY KEY, memo TEXT)")
    other.execute("INSERT INTO ledger_entries (memo) VALUES ('keep me')")
    other.commit()
    other.close()
    content = state_file.read_bytes()

    with pytest.raises(SimStateError, match="another kind"):
        SimBroker.open(state_file, settings, clock)

    assert state_file.read_bytes() == content


def test_a_state_file_of_another_schema_version_is_refused(
    closed_state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    tamper = sqlite3.connect(closed_state_file)
    tamper.execute("PRAGMA user_version = 99")
    tamper.close()
    content = closed_state_file.read_bytes()

    with pytest.raises(SimStateError, match="schema version 99"):
        SimBroker.open(closed_state_file, settings, clock)

    assert closed_state_file.read_bytes() == content


def test_a_state_file_missing_a_table_is_refused(
    closed_state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    tamper = sqlite3.connect(closed_state_file)
    tamper.execute("DROP TABLE fault_log")
    tamper.commit()
    tamper.close()

    with pytest.raises(SimStateError, match="damaged schema"):
        SimBroker.open(closed_state_file, settings, clock)


def test_a_corrupt_state_file_is_refused_and_left_untouched(
    closed_state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    content = bytearray(closed_state_file.read_bytes())
    content[100:600] = b"\xff" * 500  # the schema page's b-tree, past the file header
    closed_state_file.write_bytes(bytes(content))

    with pytest.raises(SimStateError, match=str(closed_state_file)):
        SimBroker.open(closed_state_file, settings, clock)

    assert closed_state_file.read_bytes() == bytes(content)


def test_a_state_file_of_another_account_is_refused(
    closed_state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    content = closed_state_file.read_bytes()
    stranger = replace(settings, account_id="SIM-SOMEONE_ELSE")

    with pytest.raises(SimStateError, match=f"belongs to account {ACCOUNT_ID}") as refusal:
        SimBroker.open(closed_state_file, stranger, clock)

    assert "SIM-SOMEONE_ELSE" in refusal.value.message
    assert closed_state_file.read_bytes() == content


def test_a_folder_in_place_of_the_file_is_refused(
    state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    state_file.mkdir(parents=True)

    with pytest.raises(SimStateError, match="not a regular file"):
        SimBroker.open(state_file, settings, clock)


# -- schema migration ---------------------------------------------------------------------------


def _version_1_file(path: Path) -> None:
    """A state file as a version-1 tbot wrote it: funded, one order filled by one fill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("PRAGMA user_version = 1")
        connection.execute("BEGIN")
        for statement in SCHEMA_V1:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("account_id", ACCOUNT_ID), ("currency", "USD"), ("cash", "98989.748"),
                ("created_at", "2026-03-02T14:30:00.000000Z"),
                ("sim_time", "2026-03-02T14:32:00.000000Z"),
            ],
        )
        connection.execute(
            "INSERT INTO cash_activities VALUES (1, ?, 'CSD', '100000', "
            "'2026-03-02T14:30:00.000000Z', 'Initial funding of the simulated account', NULL)",
            (f"{ACCOUNT_ID}-FUNDING",),
        )
        connection.execute(
            "INSERT INTO orders VALUES (1, ?, 'c1', 'AAPL', 'buy', '10', '10', '101.0202', "
            "'filled', '2026-03-02T14:31:00.000000Z', '2026-03-02T14:32:00.000000Z', NULL)",
            (f"{ACCOUNT_ID}-O000001",),
        )
        connection.execute(
            "INSERT INTO fills VALUES (1, ?, ?, 'c1', 'AAPL', 'buy', '10', '101.0202', '0.05', "
            "'2026-03-02T14:32:00.000000Z', '101.0202', 1)",
            (f"{ACCOUNT_ID}-F000001", f"{ACCOUNT_ID}-O000001"),
        )
        connection.execute(
            "INSERT INTO positions VALUES ('AAPL', '10', '101.0202')"
        )
        connection.execute(
            "INSERT INTO last_prices VALUES ('AAPL', '101.5', '2026-03-02T14:32:00.000000Z')"
        )
        connection.execute("COMMIT")
    finally:
        connection.close()


def _user_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def test_a_version_1_state_file_is_migrated_in_place_on_open(
    state_file: Path, open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    _version_1_file(state_file)
    clock.set(START + timedelta(minutes=2))

    broker = open_broker(faults=frozenset({SimFault.PENDING_FILL}))

    assert _user_version(state_file) == SCHEMA_VERSION == 2
    (old,) = broker.fetch_fill_reports(LONG_AGO).items
    assert isinstance(old, FillReport)
    assert (old.provenance.raw["status"], old.final) == ("executed", True)
    assert old.fill.price == Decimal("101.0202")
    assert broker.account().cash == Decimal("98989.748")
    market = Market(broker, clock)
    market.buy("c2", "AAPL", "1")
    (new,) = market.minute(("AAPL", "101"))
    statuses = {
        report.broker_id: report.provenance.raw["status"]
        for report in broker.fetch_fill_reports(LONG_AGO).items
    }
    assert statuses == {old.broker_id: "executed", new.fill_id: "pending"}
    broker.close()
    connection = sqlite3.connect(state_file)
    try:
        assert connection.execute(
            "SELECT fill_id, pending_until FROM fills ORDER BY seq"
        ).fetchall() == [
            (old.broker_id, None), (new.fill_id, "2026-03-02T15:03:00.000000Z"),
        ]
    finally:
        connection.close()


def test_a_migrated_file_opens_again_unchanged(
    state_file: Path, open_broker: BrokerOpener
) -> None:
    _version_1_file(state_file)
    first = open_broker()
    before = (first.account(), first.positions(), first.fetch_fill_reports(LONG_AGO))
    first.close()

    again = open_broker()

    assert (again.account(), again.positions(), again.fetch_fill_reports(LONG_AGO)) == before
    assert _user_version(state_file) == SCHEMA_VERSION


def test_a_damaged_version_1_file_is_refused_and_left_at_version_1(
    state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    _version_1_file(state_file)
    tamper = sqlite3.connect(state_file)
    tamper.execute("ALTER TABLE fills ADD COLUMN pending_until TEXT")  # v2's column, v1's label
    tamper.close()

    with pytest.raises(SimStateError, match="damaged schema"):
        SimBroker.open(state_file, settings, clock)

    assert _user_version(state_file) == 1


def test_a_failed_migration_leaves_the_file_at_version_1_unchanged(
    state_file: Path,
    settings: SimBrokerSettings,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _version_1_file(state_file)
    monkeypatch.setitem(MIGRATIONS, 1, (*MIGRATIONS[1], "ALTER TABLE no_such_table ADD x TEXT"))

    with pytest.raises(SimStateError, match="could not be opened"):
        SimBroker.open(state_file, settings, clock)

    assert _user_version(state_file) == 1
    connection = sqlite3.connect(state_file)
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(fills)")]
        indexes = [row[1] for row in connection.execute("PRAGMA index_list(fills)")]
    finally:
        connection.close()
    assert "pending_until" not in columns and "fills_by_order" not in indexes


def test_version_1_schema_plus_migrations_is_the_current_schema() -> None:
    def layout(statements: tuple[str, ...]) -> list[tuple[str, str]]:
        connection = sqlite3.connect(":memory:")
        try:
            for statement in statements:
                connection.execute(statement)
            return connection.execute(
                "SELECT m.name, p.name || ' ' || p.type || ' ' || p.\"notnull\" "
                "FROM sqlite_master AS m, pragma_table_info(m.name) AS p "
                "WHERE m.type = 'table' ORDER BY m.name, p.cid"
            ).fetchall() + connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "ORDER BY name"
            ).fetchall()
        finally:
            connection.close()

    migrated = SCHEMA_V1 + tuple(
        statement for version in sorted(MIGRATIONS) for statement in MIGRATIONS[version]
    )
    assert layout(migrated) == layout(SCHEMA)


# -- crash consistency --------------------------------------------------------------------------

TRADING_LOOP = """
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tbot.broker.models import OrderRequest, OrderSide
from tbot.broker.sim import SimBroker, SimBrokerSettings, SimFault
from tbot.clock import FrozenClock
from tbot.market.bars import Bar

clock = FrozenClock(datetime(2026, 3, 2, 14, 40, tzinfo=UTC))
settings = SimBrokerSettings(
    "SIM-KILL", Decimal(100000), Decimal("0.005"), Decimal(2), Decimal("0.1"),
    faults=frozenset(SimFault),
)
broker = SimBroker.open(Path(sys.argv[1]), settings, clock)
minute = 0
while True:
    start = clock.now()
    clock.set(start + timedelta(minutes=1))
    price = Decimal(100 + minute % 7) + Decimal("0.37")
    bars = {s: Bar(s, start, price, price, price, price, 30) for s in ("AAPL", "MSFT")}
    broker.on_bars(bars, clock.now())
    side = OrderSide.SELL if minute % 3 == 0 else OrderSide.BUY
    for symbol in ("AAPL", "MSFT"):
        broker.submit(OrderRequest(f"k{minute}-{symbol}", symbol, side, Decimal("4.5")))
    minute += 1
    print(minute, flush=True)
"""


def _check_books_balance(state_file: Path) -> None:
    """Cash equals funding and activities plus every fill's cash flow (and the silent cash
    drifts); each order's filled quantity is the sum of its fills; each position is buys
    less sells (plus the silent transfers-in)."""
    connection = sqlite3.connect(state_file)
    try:
        cash = Decimal(
            connection.execute("SELECT value FROM meta WHERE key = 'cash'").fetchone()[0]
        )
        expected = sum(
            (Decimal(amount) for (amount,) in connection.execute(
                "SELECT amount FROM cash_activities"
            )),
            Decimal(0),
        )
        filled_by_order: dict[str, Decimal] = defaultdict(Decimal)
        held: dict[str, Decimal] = defaultdict(Decimal)
        for order_id, symbol, side, quantity, price, fee in connection.execute(
            "SELECT order_id, symbol, side, quantity, price, fee FROM fills"
        ):
            amount, cost = Decimal(quantity), Decimal(quantity) * Decimal(price)
            sign = 1 if side == "buy" else -1
            expected += -sign * cost - Decimal(fee)
            filled_by_order[order_id] += amount
            held[symbol] += sign * amount
        for fault, detail in connection.execute("SELECT fault, detail FROM fault_log"):
            if fault == SimFault.CASH_DRIFT:
                expected += CASH_DRIFT_AMOUNT
            elif fault == SimFault.UNKNOWN_POSITION:
                transferred = re.search(r"position (\S+):", detail)
                assert transferred is not None, detail
                held[transferred.group(1)] += TRANSFER_IN_QUANTITY
        assert cash == expected
        for order_id, filled in connection.execute(
            "SELECT order_id, filled_quantity FROM orders"
        ):
            assert Decimal(filled) == filled_by_order[order_id]
        positions = {
            symbol: Decimal(quantity)
            for symbol, quantity in connection.execute("SELECT symbol, quantity FROM positions")
        }
        assert positions == {symbol: amount for symbol, amount in held.items() if amount}
    finally:
        connection.close()


@pytest.mark.parametrize("kill_after_minutes", [2, 17, 41])
def test_a_sigkill_mid_trading_leaves_a_consistent_file(
    tmp_path: Path, kill_after_minutes: int
) -> None:
    state_file = tmp_path / "killed" / "broker.db"
    child = subprocess.Popen(
        [sys.executable, "-c", TRADING_LOOP, str(state_file)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if int(line) >= kill_after_minutes:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        _, errors = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, errors

    settings = SimBrokerSettings(
        "SIM-KILL", Decimal(100000), Decimal("0.005"), Decimal(2), Decimal("0.1")
    )
    with SimBroker.open(state_file, settings, FrozenClock(START)) as resumed:
        assert resumed.sim_time is not None
        assert resumed.sim_time >= START + timedelta(minutes=10 + kill_after_minutes)
    _check_books_balance(state_file)
