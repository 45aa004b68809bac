"""Faults around the pre-write backups: a SIGKILL while an increment is being written, a
full backup disk, and a drill that finds the live ledger and its backups apart."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.ledger.backups import restore_ledger, run_drill, take_snapshot
from tbot.ledger.backups.durable import PARTIAL_SUFFIX
from tbot.ledger.posting import BackupPolicy, LedgerWriter
from tbot.ledger.verify import verify_ledger

from .backup_support import increment_files, ledger_rows, newest_set
from .conftest import EntryFactory

REPO = Path(__file__).resolve().parents[2]

_CHILD_PRELUDE = textwrap.dedent("""
    import json, sys
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal
    from pathlib import Path
    from tbot.clock import FrozenClock
    from tbot.config.identity import BotIdentity
    from tbot.config.paths import BotPaths
    from tbot.ledger.posting import BackupPolicy, EntryDraft, LedgerWriter, PostingDraft
    identity = BotIdentity(entity_code="ACME", jurisdiction_code="US", broker_code="ALP",
                           bot_id="B01")
    paths = BotPaths(Path(sys.argv[1]), identity)
    clock = FrozenClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    def entry(fitid):
        return EntryDraft(fitid, clock.now(), "BUY", "child", (
            PostingDraft("1111", Decimal("1.00"), "USD"),
            PostingDraft("1030", Decimal("-1.00"), "USD")))
""")

_KILLED_WRITER = _CHILD_PRELUDE + textwrap.dedent("""
    import os, time
    # A slow disk: each increment's .partial lives 50 ms before its fsync, so the parent
    # catches one on a busy machine too (it lived a few ms, and was sometimes missed).
    _fsync = os.fsync
    def slow_fsync(descriptor):
        time.sleep(0.05)
        _fsync(descriptor)
    os.fsync = slow_fsync
    with LedgerWriter(paths, clock, BackupPolicy(30, 1000)) as writer:
        for batch in range(10_000):
            print(batch, flush=True)
            writer.post_batch([entry(f"K-{batch}-{n}") for n in range(1500)], actor="child")
            clock.advance(timedelta(seconds=1))
""")


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_a_sigkill_while_an_increment_is_written_leaves_the_set_and_the_ledger_consistent(
    ledger_paths: BotPaths, clock: FrozenClock, make_entry: EntryFactory, tmp_path: Path
) -> None:
    take_snapshot(ledger_paths, clock.now())
    set_dir = newest_set(ledger_paths)
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(ledger_paths.home)],
                             stdout=subprocess.PIPE, text=True, env=_child_env())
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if any(name.endswith(PARTIAL_SUFFIX) for name in os.listdir(set_dir)):
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.kill()
        output = child.communicate()[0]
    leftovers = [name for name in os.listdir(set_dir) if name.endswith(PARTIAL_SUFFIX)]
    assert leftovers, "the child was not caught while writing an increment"
    last_batch = int(output.split()[-1])
    # The write that followed the increment did not happen (or happened whole: never half).
    fitids = [row[1] for row in ledger_rows(ledger_paths.ledger_db)["ledger_entries"]]
    assert sum(f.startswith(f"K-{last_batch}-") for f in fitids) in (0, 1500)
    assert verify_ledger(ledger_paths.ledger_db, ledger_paths.coa_db()).ok
    # The set is consistent as it is, and the restarted writer carries on from its last
    # whole increment, replacing the partial one.
    result, report = restore_ledger(ledger_paths, tmp_path / "before-restart")
    assert report.ok
    with LedgerWriter(ledger_paths, clock, BackupPolicy(30, 1000)) as writer:
        writer.post(make_entry("AFTER-1"), actor="engine")
        writer.post(make_entry("AFTER-2"), actor="engine")
    assert not [name for name in os.listdir(set_dir) if name.endswith(PARTIAL_SUFFIX)]
    result, report = restore_ledger(ledger_paths, tmp_path / "after-restart")
    assert report.ok
    restored = ledger_rows(result.ledger_path)
    live = ledger_rows(ledger_paths.ledger_db)
    assert restored["ledger_entries"] == live["ledger_entries"][:-1]  # all but AFTER-2
    assert run_drill(ledger_paths).ok


_FULL_DISK = _CHILD_PRELUDE + textwrap.dedent("""
    import logging, sqlite3
    from tbot.ledger.backups import take_snapshot
    from tbot.ledger.errors import LedgerError
    alerts = []
    class Catch(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                alerts.append(record.getMessage())
    logging.getLogger("tbot.ledger.backups").addHandler(Catch())
    def rows():
        connection = sqlite3.connect(f"file:{paths.ledger_db}?mode=ro", uri=True)
        try:
            return [connection.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
                    for t in ("ledger_entries", "ledger_postings", "audit_trail")]
        finally:
            connection.close()
    take_snapshot(paths, clock.now())
    report = {}
    with LedgerWriter(paths, clock, BackupPolicy(30, 1000)) as writer:
        writer.post(entry("FIT-1"), actor="child")
        filler = paths.backups_dir / "filler"
        with open(filler, "wb", buffering=0) as sink:
            try:
                while True:
                    sink.write(b"x" * 4096)
            except OSError:
                pass
        before = rows()
        try:
            writer.post(entry("FIT-2"), actor="child")
            report["refused"] = None
        except LedgerError as error:
            report["refused"] = error.message
        report["untouched"] = rows() == before
        report["alerts"] = alerts
        filler.unlink()
        writer.post(entry("FIT-2"), actor="child")
        report["after_space_freed"] = len(rows()[0])
    print(json.dumps(report))
""")


def test_a_full_backup_disk_refuses_the_write_alerts_and_leaves_the_ledger_untouched(
    ledger_paths: BotPaths,
) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    backups = ledger_paths.backups_dir
    backups.mkdir(parents=True)
    script = (f"mount -t tmpfs -o size=1m tmpfs {backups} && "
              f'exec {sys.executable} -c "$0" {ledger_paths.home}')
    # A private mount namespace (as root of a private user namespace): a real, tiny,
    # full file system under storage/backups, without touching the machine's mounts.
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script, _FULL_DISK],
                            capture_output=True, text=True, env=_child_env(), check=False,
                            timeout=120)
    if "mount" in result.stderr and result.returncode != 0 and not result.stdout:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["refused"] is not None
    assert "the pre-write backup of the ledger failed" in report["refused"]
    assert "No space left on device" in report["refused"]
    assert report["untouched"] is True
    assert any(alert.startswith("ALERT ledger backup") for alert in report["alerts"])
    assert report["after_space_freed"] == 2  # once space is back, writes carry on


def test_the_drill_passes_on_a_set_that_rebuilds_the_live_ledger(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    for number in range(4):
        writer.post(make_entry(f"FIT-{number}"), actor="engine")
    report = run_drill(ledger_paths)
    assert report.ok, report.differences()
    compared = {table.table: table for table in report.tables}
    assert compared["ledger_entries"].restored_rows == 3
    assert {"ledger_postings", "trades", "audit_trail"} <= set(compared)
    assert not [p for p in ledger_paths.backups_dir.iterdir() if p.name.startswith(".drill")]


def test_the_drill_fails_and_alerts_when_the_live_ledger_differs_from_its_backups(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock,
    unguard: object, caplog: pytest.LogCaptureFixture,
) -> None:
    take_snapshot(ledger_paths, clock.now())
    for number in range(3):
        writer.post(make_entry(f"FIT-{number}"), actor="engine")
    intruder = unguard()  # type: ignore[operator]
    intruder.execute("UPDATE ledger_postings SET amount = amount + 1 WHERE id = 1")
    with caplog.at_level(logging.ERROR, logger="tbot.ledger.backups"):
        report = run_drill(ledger_paths)
    assert not report.ok
    assert any("ledger_postings" in difference for difference in report.differences())
    assert any(record.getMessage().startswith("ALERT ledger backup drill failed")
               for record in caplog.records)


def test_the_drill_fails_on_a_set_that_cannot_be_restored(
    writer: LedgerWriter, make_entry: EntryFactory, ledger_paths: BotPaths, clock: FrozenClock
) -> None:
    take_snapshot(ledger_paths, clock.now())
    for number in range(4):
        writer.post(make_entry(f"FIT-{number}"), actor="engine")
    increment_files(newest_set(ledger_paths))[0].unlink()
    report = run_drill(ledger_paths)
    assert not report.ok
    assert report.failure is not None and "inc-00000001.jsonl.gz" in report.failure
