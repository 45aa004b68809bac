"""One writer at a time: the second one is refused at once, naming the lock and its holder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.ledger.errors import LedgerFileError, LedgerLockedError
from tbot.ledger.posting import BackupPolicy, LedgerWriter
from tbot.ledger.writer_lock import WriterLock

from .conftest import EntryFactory

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def other_process_holding(ledger_paths: BotPaths) -> Iterator[int]:
    """Another process that holds the writer lock until the test ends; yields its pid."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from tbot.ledger.writer_lock import WriterLock
        lock = WriterLock(Path({str(ledger_paths.writer_lock_file)!r})).acquire()
        print("locked", flush=True)
        sys.stdin.read()
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        cwd=REPO_ROOT, text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    yield holder.pid
    holder.stdin.close()
    holder.wait(timeout=10)


def test_second_writer_in_this_process_is_refused(
    writer: LedgerWriter, ledger_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    with pytest.raises(LedgerLockedError) as refused:
        LedgerWriter(ledger_paths, clock, policy).open()
    assert refused.value.holder_pid == os.getpid()
    assert str(ledger_paths.writer_lock_file) in str(refused.value)
    assert f"pid {os.getpid()}" in str(refused.value)


def test_writer_in_another_process_is_named_by_its_pid(
    other_process_holding: int, ledger_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    with pytest.raises(LedgerLockedError, match=f"pid {other_process_holding}") as refused:
        LedgerWriter(ledger_paths, clock, policy).open()
    assert refused.value.lock_file == ledger_paths.writer_lock_file


def test_lock_is_free_again_after_close(
    ledger_paths: BotPaths, clock: FrozenClock, policy: BackupPolicy, make_entry: EntryFactory
) -> None:
    with LedgerWriter(ledger_paths, clock, policy) as first:
        first.post(make_entry("FIT-1"), actor="engine")
    with LedgerWriter(ledger_paths, clock, policy) as second:
        second.post(make_entry("FIT-2"), actor="engine")


def test_lock_is_free_once_the_holding_process_exits(ledger_paths: BotPaths) -> None:
    subprocess.run(
        [sys.executable, "-c",
         "from pathlib import Path; from tbot.ledger.writer_lock import WriterLock; "
         f"WriterLock(Path({str(ledger_paths.writer_lock_file)!r})).acquire()"],
        check=True, cwd=REPO_ROOT,
    )
    with WriterLock(ledger_paths.writer_lock_file) as lock:
        assert lock.held
        assert ledger_paths.writer_lock_file.read_text().strip() == str(os.getpid())


def test_failed_open_releases_the_lock(
    paths: BotPaths, clock: FrozenClock, policy: BackupPolicy
) -> None:
    with pytest.raises(LedgerFileError, match="does not exist"):
        LedgerWriter(paths, clock, policy).open()
    with WriterLock(paths.writer_lock_file) as lock:
        assert lock.held


def test_refused_lock_keeps_the_holders_pid_in_the_file(tmp_path: Path) -> None:
    lock_file = tmp_path / "writer.lock"
    with WriterLock(lock_file):
        with pytest.raises(LedgerLockedError):
            WriterLock(lock_file).acquire()
        assert lock_file.read_text().strip() == str(os.getpid())
    assert lock_file.read_text() == ""
