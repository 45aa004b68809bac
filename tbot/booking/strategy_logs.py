"""The per-strategy logs and the unresolved-orders log.

`logs/{strategy}.log` gets one line per decision or trade, for people and grep:

    2026-11-20T14:51:00Z ENTRY AAPL side=long qty=12 price=187.25 reason="range break"

`logs/unresolved_orders.log` gets one JSON object per line (rejects, partial fills left
when an order is canceled, stale orders) for whoever reconciles them.

Files are opened in append mode, line-buffered, on first use, so every line reaches the
file as it is written; a crash loses at most the line being written. Each file rotates by
day (this writer's clock) and by size into `logs/rotated/{day}/` (`tbot.logfiles`).
`append_block` writes the same way for the engine's other logs (error tracebacks).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import TracebackType

from tbot.booking.trade_records import decimal_text, report_json_default
from tbot.clock import Clock, utc_text
from tbot.config.paths import BotPaths
from tbot.logfiles import DEFAULT_MAX_BYTES, RotatingLog

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_EVENT = re.compile(r"[A-Z][A-Z0-9_-]{0,63}")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_BARE_VALUE = re.compile(r'[^\s"=\\]+')
_UNRESOLVED_RESERVED = frozenset({"at", "kind"})
_EMPTY = "-"
"""How a field whose value is None is written."""


class StrategyLogs:
    """Writes the strategy logs and the unresolved-orders log of one bot; `close()` (or a
    `with` block) closes them. Times come from `clock`."""

    def __init__(self, paths: BotPaths, clock: Clock, *,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._paths = paths
        self._clock = clock
        self._max_bytes = max_bytes
        self._logs: dict[Path, RotatingLog] = {}

    def log(self, strategy: str, event: str, /, symbol: str | None = None,
            **fields: object) -> str:
        """Append one line to `strategy`'s log and return it (without the newline).

        `event` is written upper-case (ENTRY, EXIT, SKIP...); `symbol`, when given, follows
        it bare; then ``key=value`` per field in the order given, quoting values that hold
        spaces, quotes, ``=`` or nothing, and writing None as ``-``.
        """
        if not _NAME.fullmatch(strategy):
            raise ValueError(f"strategy name {strategy!r} must be lower-case letters, digits, "
                             "'_' or '-' (it names the log file)")
        event_word = event.upper()
        if not _EVENT.fullmatch(event_word):
            raise ValueError(f"event {event!r} must be one word of letters, digits, '_' or '-'")
        parts = [utc_text(self._clock.now().replace(microsecond=0)), event_word]
        if symbol is not None:
            parts.append(_value_text(symbol))
        for key, value in fields.items():
            if not _KEY.fullmatch(key):
                raise ValueError(f"field name {key!r} must be an identifier")
            parts.append(f"{key}={_value_text(value)}")
        line = " ".join(parts)
        self._write(self._paths.strategy_log_file(strategy), line)
        return line

    def unresolved(self, kind: str, /, **fields: object) -> str:
        """Append one JSON object to the unresolved-orders log and return it:
        ``{"at": ..., "kind": kind, ...fields}`` (Decimals and times as text)."""
        if not kind or not kind.isprintable():
            raise ValueError(f"unresolved kind {kind!r} must be printable text")
        clash = _UNRESOLVED_RESERVED & fields.keys()
        if clash:
            raise ValueError(f"field names {sorted(clash)} are reserved in the unresolved log")
        document = {"at": self._clock.now(), "kind": kind, **fields}
        line = json.dumps(document, default=report_json_default, ensure_ascii=False)
        self._write(self._paths.unresolved_orders_log, line)
        return line

    def append_block(self, path: Path, text: str) -> None:
        """Append `text` (lines, without a final newline) to the log file `path` of this
        bot, rotating it like the others; the block never splits across two files."""
        self._write(path, text)

    def close(self) -> None:
        """Close every open log file (idempotent; a later line reopens its file)."""
        logs, self._logs = self._logs, {}
        for rotating in logs.values():
            rotating.close()

    def __enter__(self) -> StrategyLogs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, path: Path, line: str) -> None:
        rotating = self._logs.get(path)
        if rotating is None:
            rotating = RotatingLog(path, self._paths.rotated_logs_dir, self._clock,
                                   max_bytes=self._max_bytes, home=self._paths.home)
            self._logs[path] = rotating
        rotating.write_line(line)


def _value_text(value: object) -> str:
    """A field value as it appears after ``key=``: bare when it is one plain word, else a
    JSON string (which escapes quotes, backslashes and newlines, keeping one line)."""
    if value is None:
        return _EMPTY
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Decimal):
        text = decimal_text(value)
    elif isinstance(value, datetime):
        text = utc_text(value)
    elif isinstance(value, Enum):
        text = str(value.value)
    else:
        text = str(value)
    if _BARE_VALUE.fullmatch(text) and text != _EMPTY and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)
