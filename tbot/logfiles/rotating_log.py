"""One log file that rotates by day and by size (see the package doc)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from tbot.clock import Clock
from tbot.config.atomic_write import fsync_dir
from tbot.ledger.file_modes import (
    OPERATOR_FILE_MODE,
    give_to_operators,
    home_group,
    make_operator_dirs,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1_000_000
"""The template's LOG_ROTATE_MAX_MB=50."""


def megabytes(count: int) -> int:
    """`count` megabytes (LOG_ROTATE_MAX_MB) in bytes."""
    return count * 1_000_000


class RotatingLog:
    """Appends whole lines to `path`, rotating it into `rotated_dir(day)` by day and size.

    Not thread-safe by itself: one writer (the engine's loop, or a logging handler's
    lock) at a time. A failed move is reported through `logging` only after the line is
    written, so a handler writing through this very log (engine.log) can take the report
    without re-entering a rotation half done.
    """

    def __init__(self, path: Path, rotated_dir: Callable[[date], Path], clock: Clock, *,
                 max_bytes: int = DEFAULT_MAX_BYTES, home: Path | None = None) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        self.path = path
        self._rotated_dir = rotated_dir
        self._clock = clock
        self._max_bytes = max_bytes
        self._gid = home_group(home) if home is not None else None
        self._stream: TextIO | None = None
        self._day: date | None = None
        """The day of the lines in the file (None until it is opened)."""
        self._size = 0
        self._limit = max_bytes
        """The size the file may not pass: `max_bytes`, or after a failed move
        `max_bytes` more than it then had (a broken move is not retried every line)."""
        self._failure_told = False
        self._untold: str | None = None
        """A failed move to report once the line being written is in the file."""

    def write_line(self, line: str) -> None:
        """Append `line` (one or more lines, without the final newline) and a newline,
        rotating first if the day changed or the file would pass its size."""
        text = line + "\n"
        size = len(text.encode("utf-8"))
        day = self._clock.now().astimezone(UTC).date()
        if self._stream is None:
            self._open(day)
        if day != self._day:
            self._rotate()
            self._day = day
        elif self._size and self._size + size > self._limit:
            self._rotate()
        stream = self._stream
        assert stream is not None
        stream.write(text)
        self._size += size
        if self._untold is not None:
            message, self._untold = self._untold, None
            log.warning("%s", message)

    def close(self) -> None:
        """Close the file (idempotent; the next line reopens it)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # -- internals --------------------------------------------------------------------
    def _open(self, day: date) -> None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            info = None
        if info is not None and info.st_size > 0:
            self._day = datetime.fromtimestamp(info.st_mtime, UTC).date()
            self._size = info.st_size
            # Only a file of an earlier day moves: a simulated clock replaying past days
            # (mtime today, clock in the past) appends, as a restart within a day does.
            if self._day < day:
                self._reopen_after(self._move_out())
        self._day = day
        if self._stream is None:
            self._reopen_after(False)

    def _rotate(self) -> None:
        self.close()
        self._reopen_after(self._move_out())

    def _reopen_after(self, moved: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = self.path.open("a", buffering=1, encoding="utf-8")
        if moved:
            self._size = 0
            self._limit = self._max_bytes
        else:
            self._size = self._stream.tell()

    def _move_out(self) -> bool:
        """Move the current file into its day's folder; False (told once) if it failed."""
        assert self._day is not None
        folder = self._rotated_dir(self._day)
        try:
            make_operator_dirs(folder, self._gid)
            target = self._next_name(folder)
            os.rename(self.path, target)
            give_to_operators(target, self._gid, OPERATOR_FILE_MODE)
            fsync_dir(folder)
            fsync_dir(self.path.parent)
        except OSError as problem:
            self._limit = self._size + self._max_bytes
            if not self._failure_told:
                self._failure_told = True
                self._untold = (f"log {self.path} could not be rotated into {folder} "
                                f"({problem}); lines keep going to it")
            return False
        self._failure_told = False
        return True

    def _next_name(self, folder: Path) -> Path:
        """`{stem}.{NNN}{suffix}` with NNN one past the highest of that stem in `folder`
        (three digits at least; more past 999, never reusing a number)."""
        stem, suffix = self.path.stem, self.path.suffix
        pattern = re.compile(re.escape(stem) + r"\.(\d{3,})" + re.escape(suffix))
        taken = [int(found.group(1)) for found in map(pattern.fullmatch, os.listdir(folder))
                 if found is not None]
        return folder / f"{stem}.{max(taken, default=0) + 1:03d}{suffix}"
