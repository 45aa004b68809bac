"""Log files that rotate by size and by day, so the archive can take them day by day.

Every log under `output/{BOT_IDENTITY}/logs/` (strategy logs, unresolved orders, error
tracebacks, the defense-mode log, engine.log) is written through a `RotatingLog`:

- **By day.** A file holds the lines of one day, as the writer's clock tells (the engine's
  market clock: a simulated day's lines go to that day; engine.log, written by stdlib
  `logging` from anywhere, goes by the wall clock). Before the first line of another day the
  file moves to `logs/rotated/{day}/`. A file found at start belongs to the day of its last
  change (its mtime, UTC); it moves first if that day is before the clock's (a simulated
  clock replaying past days appends to it instead).
- **By size.** A file that would pass `LOG_ROTATE_MAX_MB` moves before the line that would
  pass it; a single longer line is written whole.
- **Names keep the order.** `logs/rotated/{day}/{stem}.{NNN}{suffix}` with NNN one past the
  highest number of that stem in that folder, never a reused one (`open.001.log`,
  `open.002.log`...).
- **A line is never lost.** A move that fails (a full disk, permissions) is logged once
  and the line is appended to the current file. The move is tried again at the next day
  change, or once the file has grown another `LOG_ROTATE_MAX_MB` (not before every line).
  The failure is logged after the line is written, so engine.log, whose handler writes
  through a `RotatingLog` too, takes the report without re-entering the move.
- Rotated files are `0640` with the home's group, like the ledger's backups, and
  `tbot archive run` seals them into the archive after `ARCHIVE_AFTER_DAYS`.
"""

from tbot.logfiles.logging_handler import RotatingLogHandler
from tbot.logfiles.rotating_log import DEFAULT_MAX_BYTES, RotatingLog, megabytes

__all__ = ["DEFAULT_MAX_BYTES", "RotatingLog", "RotatingLogHandler", "megabytes"]
