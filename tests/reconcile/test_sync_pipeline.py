"""A sync works on each batch of pages while the next ones are fetched: the ledger's side is
fixed before the broker is read, every record is accounted for once and in the broker's
order whatever the batching, and a failure mid-way writes nothing at all."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tbot.admin.bot_home import open_home
from tbot.broker.models import OrderSide
from tbot.ledger.verify import verify_ledger
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.statuses import SyncTrigger
from tbot.reconcile.sync import Reconciler, SyncResult
from tests.reconcile.conftest import Recon, bar
from tests.reconcile.test_fault_day import ALL_FAULTS, fault_day
from tests.reconcile.test_sync_crashes import snapshot

Log = list[tuple[str, str]]


class TracedConnection:
    """A read connection that logs its statements; `before(sql)` runs ahead of each."""

    def __init__(self, connection: sqlite3.Connection, log: Log,
                 before: Callable[[str], None]) -> None:
        self._connection = connection
        self._log = log
        self._before = before

    def execute(self, sql: str, *parameters: Any) -> sqlite3.Cursor:
        self._before(sql)
        self._log.append(("ledger", " ".join(sql.split())))
        return self._connection.execute(sql, *parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class TracedLedger:
    """A `LedgerPort` whose reads are logged (and may be made to fail: `fail_read`)."""

    def __init__(self, inner: Any, log: Log, before: Callable[[str], None] = lambda sql: None,
                 fail_read: int | None = None) -> None:
        self._inner = inner
        self._log = log
        self._before = before
        self._fail_read = fail_read
        self.reads = 0

    async def read(self, function: Callable[[Any], Any]) -> Any:
        self.reads += 1
        if self.reads == self._fail_read:
            raise sqlite3.OperationalError("disk I/O error")
        return await self._inner.read(
            lambda connection: function(TracedConnection(connection, self._log, self._before)))

    async def commit(self, *args: Any, **kwargs: Any) -> Any:
        return await self._inner.commit(*args, **kwargs)


class TracedBroker:
    """A `BrokerPort` whose fill pages are logged; `cash_bug` is raised by the cash
    listing (a bug, not a broker error: the sync fails)."""

    def __init__(self, inner: Any, log: Log, *, cash_bug: Exception | None = None) -> None:
        self._inner = inner
        self._log = log
        self._cash_bug = cash_bug
        self.pages = 0
        self.first_page = threading.Event()

    async def fill_reports(self, *args: Any) -> Any:
        self._log.append(("broker", "fill_reports"))
        self.first_page.set()
        self.pages += 1
        return await self._inner.fill_reports(*args)

    async def cash_reports(self, *args: Any) -> Any:
        if self._cash_bug is not None:
            raise self._cash_bug
        return await self._inner.cash_reports(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def reconciler_of(recon: Recon, *, page_size: int = 500,
                  ledger: Callable[[Any], Any] = lambda port: port,
                  broker: Callable[[Any], Any] = lambda port: port) -> Iterator[Reconciler]:
    """The offline service's reconciler over the home, with its ports wrapped."""
    with OfflineReconciliation(recon.home, recon.clock, actor="cli:test",
                               backoff_seconds=0.001) as offline:
        assert offline.service is not None
        base = offline.service.reconciler
        yield Reconciler(broker(base.broker), ledger(base.ledger), base.engine, base.accounts,
                         base.clock, replace(base.settings, page_size=page_size),
                         actor="cli:test", mapping=base.mapping)


def sync(reconciler: Reconciler) -> SyncResult:
    return asyncio.run(reconciler.sync(SyncTrigger.MANUAL))


@pytest.fixture
def traded(home: Any, session_of: Any, recon_of: Any) -> Any:
    session = session_of(home)
    for symbol, buy, sell in (("AAPL", "100.00", "101.00"), ("MSFT", "300.00", "299.00"),
                              ("NVDA", "150.00", "151.00"), ("AMD", "120.00", "121.00")):
        session.round_trip(symbol, "2", buy, sell)
    booked = [fill.fill_id for fill in session.booked]
    session.close()
    recon = recon_of(home)
    recon.booked = booked
    return recon


@pytest.fixture
def faulty(make_home: Any, session_of: Any, clock: Any, recon_of: Any) -> Any:
    """The fault day, and a fill of our own order the ledger lacks (the sync books it)."""
    home = make_home(SIM_FAULTS=ALL_FAULTS)
    session = session_of(home)
    fault_day(session)
    session.order("AMD", OrderSide.BUY, "2")
    at = session.minute
    clock.set(at + timedelta(minutes=1))
    session.broker.on_bars({"AMD": bar("AMD", at, "120.00")}, clock.now())
    session.close()
    return recon_of(home)


def test_the_ledger_side_is_fixed_before_the_broker_is_read_and_read_beside_it(traded):
    log: Log = []
    broker_ports: list[TracedBroker] = []
    waited: list[bool] = []

    def before(sql: str) -> None:
        if "FROM ledger_entries WHERE dtposted" in sql and not waited:
            # The snapshot is fixed: the broker is asked for its first page meanwhile.
            waited.append(broker_ports[0].first_page.wait(5))

    def broker(port: Any) -> TracedBroker:
        broker_ports.append(TracedBroker(port, log))
        return broker_ports[0]

    with reconciler_of(traded, broker=broker,
                       ledger=lambda port: TracedLedger(port, log, before)) as reconciler:
        result = sync(reconciler)

    assert result.counts == {"ok": 9}
    snapshot_at = log.index(("ledger", "SELECT MAX(id) FROM ledger_entries"))
    first_page_at = log.index(("broker", "fill_reports"))
    entries_at = next(i for i, (who, sql) in enumerate(log)
                      if who == "ledger" and "FROM ledger_entries WHERE dtposted" in sql)
    assert snapshot_at < first_page_at < entries_at
    assert waited == [True]


def test_every_record_once_in_the_brokers_order_whatever_the_batching(traded, tmp_path):
    other = Recon(open_home(shutil.copytree(traded.home.paths.home, tmp_path / "other",
                                            symlinks=True)), traded.clock)

    with reconciler_of(traded, page_size=3) as reconciler:  # a batch of pages at a time
        paged = sync(reconciler)
    with reconciler_of(other, page_size=500) as reconciler:  # one page
        whole = sync(reconciler)

    records = [r[0] for r in traded.read(
        "SELECT broker_id FROM broker_records WHERE kind = 'fill' ORDER BY id")]
    logged = [r[0] for r in traded.read(
        "SELECT trade_id FROM reconciliation_log WHERE kind = 'fill' ORDER BY id")]
    assert records == logged == traded.booked  # the broker's order, each record once
    assert paged.counts == whole.counts == {"ok": 9}
    assert snapshot(traded.home.paths.home) == snapshot(other.home.paths.home)


@pytest.mark.parametrize("failure", ["ledger read mid-listing", "bug after the fills"])
def test_a_failure_mid_pipeline_writes_nothing_and_a_rerun_is_one_clean_sync(
        faulty, tmp_path, failure):
    reference = Recon(open_home(shutil.copytree(faulty.home.paths.home, tmp_path / "clean",
                                                symlinks=True)), faulty.clock)
    with reconciler_of(reference, page_size=3) as reconciler:
        clean = sync(reconciler)
    assert clean.booked  # the run books a fill: a write the failed run must not make
    before = snapshot(faulty.home.paths.home)
    broker_ports: list[TracedBroker] = []

    def broker(port: Any) -> TracedBroker:
        # Every fill page is worked on first (the own fill marked for booking among them).
        broker_ports.append(TracedBroker(port, [], cash_bug=RuntimeError("adapter bug")))
        return broker_ports[0]

    wrap = ({"ledger": lambda port: TracedLedger(port, [], fail_read=3)}
            if failure == "ledger read mid-listing" else {"broker": broker})
    with reconciler_of(faulty, page_size=3, **wrap) as reconciler, \
            pytest.raises((sqlite3.OperationalError, RuntimeError)):
        sync(reconciler)

    assert snapshot(faulty.home.paths.home) == before  # not one row, not one booking
    assert not broker_ports or broker_ports[0].pages >= 2  # after every fill page
    assert faulty.read("SELECT COUNT(*) FROM sync_runs") == [(0,)]
    with reconciler_of(faulty, page_size=3) as reconciler:
        rerun = sync(reconciler)
    assert rerun.counts == clean.counts and rerun.booked == clean.booked
    assert snapshot(faulty.home.paths.home) == snapshot(reference.home.paths.home)
    opened = open_home(Path(faulty.home.paths.home))
    assert verify_ledger(opened.paths.ledger_db, opened.paths.coa_db()).ok


def test_a_resync_of_unchanged_records_reads_nothing_per_batch(traded):
    traded.sync()
    ledger_ports: list[TracedLedger] = []

    def ledger(port: Any) -> TracedLedger:
        ledger_ports.append(TracedLedger(port, []))
        return ledger_ports[0]

    with reconciler_of(traded, page_size=3, ledger=ledger) as reconciler:
        again = sync(reconciler)

    assert again.counts == {"ok": 9}
    # The side (before the broker), the rest (none left), the holdings: no read per batch.
    assert ledger_ports[0].reads == 3
