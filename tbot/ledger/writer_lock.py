"""The writer lock: one process at a time writes a bot's ledgers.

An exclusive, non-blocking `flock` on `BotPaths.writer_lock_file`, holding the writer's pid
so a refused writer can say who holds it. The kernel drops the lock when the holder exits,
however it exits, so a crash never leaves a stale lock behind (a stale pid in the file is
harmless: only the flock counts).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from tbot.ledger.errors import LedgerError, LedgerLockedError


class WriterLock:
    """An exclusive lock on `lock_file`; `acquire` raises LedgerLockedError at once if
    another holder has it (also another WriterLock in this same process)."""

    def __init__(self, lock_file: Path) -> None:
        self.lock_file = Path(lock_file)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock and write our pid into the file; returns self."""
        if self._fd is not None:
            raise LedgerError(f"the writer lock {self.lock_file} is already held by this object")
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise LedgerLockedError(self.lock_file, holder) from None
        except BaseException:
            os.close(fd)
            raise
        # Only the holder rewrites the file, so a refused writer never erases the pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
