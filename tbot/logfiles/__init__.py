"""Log files that rotate by size and by day, so the archive can take them day by day.

Every log under `output/{BOT_IDENTITY}/logs/` (strategy logs, unresolved orders, error
tracebacks, the defense-mode log, engine.log) is written through a `RotatingLog`:

- **By day.** A file holds the lines of one day, as the writer's clock tells (the engine's
  clock: a simulated day's lines go to that day). Before the first line of another day the
  file moves to `logs/rotated/{day}/`. A file found at start belongs to the day of its last
  change (its mtime, UTC); it moves first if that day is before the clock's (a simulated
  clock replaying past days appends to it instead).
- **By size.** A file that would pass `LOG_ROTATE_MAX_MB` moves before the line that would
  pass it; a single longer line is written whole.
- **Names keep the order.** `logs/rotated/{day}/{stem}.{NNN}{suffix}` with NNN the next free
  number of that stem in that folder (`open.001.log`, `open.002.log`...).
- **A line is never lost.** A move that fails (a full disk, permissions) is logged once
  and the line is appended to the current file; the next line tries again.
- Rotated files are `0640` with the home's group, like the ledger's backups, and
  `tbot archive run` seals them into the archive after `ARCHIVE_AFTER_DAYS`.
"""

from tbot.logfiles.logging_handler import RotatingLogHandler
from tbot.logfiles.rotating_log import DEFAULT_MAX_BYTES, RotatingLog, megabytes

__all__ = ["DEFAULT_MAX_BYTES", "RotatingLog", "RotatingLogHandler", "megabytes"]
