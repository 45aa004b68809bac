"""SIGKILL at random points of a sync, twenty times, each followed by a re-run: the ledger
ends exactly as one clean sync leaves it, and verifies clean."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import open_home
from tbot.broker.models import OrderSide
from tbot.ledger.verify import verify_ledger
from tests.reconcile.conftest import bar
from tests.reconcile.test_fault_day import ALL_FAULTS, fault_day

REPO = Path(__file__).resolve().parents[2]
KILLS = 12
"""Kill points drawn at random in the first 50 ms of a sync; 12 land in every phase of
the run (most before it finishes) at half the time 20 took."""

CHILD = """
import asyncio, sys
from datetime import datetime
from tbot.admin.bot_home import open_home
from tbot.clock import FrozenClock
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.statuses import SyncTrigger
from pathlib import Path

home = open_home(Path(sys.argv[1]))
clock = FrozenClock(datetime.fromisoformat(sys.argv[2]))
with OfflineReconciliation(home, clock, actor="cli:test") as offline:
    print("ready", flush=True)
    asyncio.run(offline.service.sync(SyncTrigger.MANUAL))
print("done", flush=True)
"""


def start_child(home: Path, at: datetime) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(home), at.isoformat()],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def snapshot(home: Path) -> dict[str, Any]:
    """The ledger's content without ids, times and run numbers (which differ by design)."""
    ledger = next((home / "output").glob("*/ledgers/*_BOT_ledger.db"))
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        entries = sorted(
            (fitid, trntype, source, json.dumps(db.execute(
                "SELECT account_code, amount, quantity, symbol FROM ledger_postings "
                "WHERE entry_id = ? ORDER BY id", (entry_id,)).fetchall()))
            for entry_id, fitid, trntype, source in db.execute(
                "SELECT id, fitid, trntype, source FROM ledger_entries"))
        log = sorted(db.execute(
            "SELECT kind, trade_id, status, record_hash, compare_fields, difference, detail, "
            "broker_value, ledger_value, symbol, resolves_id "
            "FROM reconciliation_log").fetchall(), key=repr)
        records = sorted(db.execute(
            "SELECT kind, broker_id, record_hash, raw_payload, refused_reason "
            "FROM broker_records").fetchall(), key=repr)
        trades = sorted(db.execute("SELECT fitid, strategy, size, pnl FROM trades").fetchall())
    return {"entries": entries, "log": log, "records": records, "trades": trades}


def test_sigkill_during_syncs_then_a_rerun_equals_one_clean_sync(make_home, session_of,
                                                                 clock, tmp_path):
    home = make_home(SIM_FAULTS=ALL_FAULTS)
    session = session_of(home)
    fault_day(session)
    # A fill of ours the "engine" never booked: the sync books it (a write mid-run).
    session.order("AMD", OrderSide.BUY, "2")
    at = session.minute
    clock.set(at + timedelta(minutes=1))
    session.broker.on_bars({"AMD": bar("AMD", at, "120.00")}, clock.now())
    session.close()
    pristine = home.paths.home
    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference, symlinks=True)
    now = clock.now()

    clean = start_child(reference, now)
    assert clean.wait(60) == 0, clean.stderr.read() if clean.stderr else ""

    expected = snapshot(reference)
    rng = random.Random(20261120)
    killed_mid_run = 0
    for attempt in range(KILLS):
        crashed = tmp_path / f"crash-{attempt}"
        shutil.copytree(pristine, crashed, symlinks=True)
        child = start_child(crashed, now)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        killed_mid_run += child.returncode == -signal.SIGKILL
        rerun = start_child(crashed, now)
        assert rerun.wait(60) == 0, rerun.stderr.read() if rerun.stderr else ""
        assert snapshot(crashed) == expected, f"attempt {attempt}"
        opened = open_home(crashed)
        report = verify_ledger(opened.paths.ledger_db, opened.paths.coa_db())
        assert report.ok, report.problems
        shutil.rmtree(crashed)
    assert killed_mid_run >= KILLS // 2  # most kills landed before the sync finished
