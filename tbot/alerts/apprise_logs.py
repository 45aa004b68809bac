"""apprise's log records: kept out of tbot's logs, read back as a failed send's reason.

apprise logs on one logger, ``apprise``, and some of its lines carry a URL or a piece of
one ("Unsupported URL: ...", a requests exception with the webhook's path, a rejected
token). Left alone, they would propagate to the root logger (and Python's last-resort
handler prints WARNING and above to stderr, i.e. the journal). So `quarantine()` stops
the propagation and makes a collector the logger's only handler: a record is kept only
while a send on the same thread asks for it (`collect()`), and the caller masks it with
the channel's URL fragments before anyone reads it (`tbot.alerts.redaction`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

APPRISE_LOGGER: Final = "apprise"
# The HTTP transport under apprise logs each request line, path and all, at DEBUG (a
# webhook's token is in its path). Its records are dropped while a send runs on the thread
# that logs them; its other users (a broker's session) are left alone.
TRANSPORT_LOGGERS: Final = ("urllib3.connectionpool",)
# A reason is a line or two; a plugin that logs more says nothing more useful.
MAX_LINES: Final = 8

_local = threading.local()
_lock = threading.Lock()


class _Collector(logging.Handler):
    """Keeps WARNING+ apprise records for the send running on the emitting thread."""

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(_local, "lines", None)
        if lines is None or len(lines) >= MAX_LINES:
            return
        try:
            lines.append(record.getMessage())
        except Exception:  # a malformed record must not fail a send
            lines.append(f"({record.levelname.lower()} from apprise, unreadable)")


class _DuringSend(logging.Filter):
    """Drops a record logged on a thread that is sending an alert."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(_local, "lines", None) is None


_collector = _Collector(level=logging.WARNING)
_during_send = _DuringSend()


def quarantine() -> None:
    """Route apprise's logger to the collector only (idempotent, thread-safe)."""
    logger = logging.getLogger(APPRISE_LOGGER)
    with _lock:
        logger.propagate = False
        # Below WARNING apprise logs every URL it loads: never even format those.
        logger.setLevel(logging.WARNING)
        for handler in list(logger.handlers):
            if handler is not _collector:
                logger.removeHandler(handler)
        if _collector not in logger.handlers:
            logger.addHandler(_collector)
        for name in TRANSPORT_LOGGERS:
            transport = logging.getLogger(name)
            if _during_send not in transport.filters:
                transport.addFilter(_during_send)


@contextmanager
def collect() -> Iterator[list[str]]:
    """The apprise WARNING+ lines logged on this thread while the block runs (unmasked:
    mask them before they go anywhere)."""
    quarantine()
    previous = getattr(_local, "lines", None)
    lines: list[str] = []
    _local.lines = lines
    try:
        yield lines
    finally:
        _local.lines = previous


quarantine()  # importing tbot.alerts is enough to keep apprise's lines out of tbot's logs
