"""`engine.log` through the stdlib `logging`, rotating like every other log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tbot.clock import Clock, SystemClock
from tbot.logfiles.rotating_log import DEFAULT_MAX_BYTES, RotatingLog


class RotatingLogHandler(logging.Handler):
    """A `logging.Handler` writing each formatted record (a traceback stays one record)
    to a `RotatingLog`; wall-clock days unless given another clock."""

    def __init__(self, path: Path, rotated_dir: Callable[[date], Path], *,
                 clock: Clock | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 home: Path | None = None) -> None:
        super().__init__()
        self._log = RotatingLog(path, rotated_dir, clock or SystemClock(),
                                max_bytes=max_bytes, home=home)

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record (`handle` holds the handler's lock around this)."""
        try:
            self._log.write_line(self.format(record))
        except Exception:  # logging must never raise into the code that logs
            self.handleError(record)

    def close(self) -> None:
        """Close the file, then the handler."""
        self.acquire()
        try:
            self._log.close()
        finally:
            self.release()
        super().close()
