"""How CLI commands speak: rich tables for people, JSON for scripts (`--json`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def plain_decimal(value: Decimal) -> str:
    """Exact fixed-point text with at least two places: ``100184.30``, ``0.000125``, ``-185.00``.

    Stored scales (6 places for money) would otherwise print as ``100184.300000``.
    """
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _json_default(value: Any) -> Any:
    # Money stays exact in JSON: Decimals are written as strings, never floats.
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(payload: Any) -> str:
    """`payload` as indented JSON, Decimals as exact strings."""
    return json.dumps(payload, indent=2, default=_json_default, ensure_ascii=False)


class Output:
    """One command's output channel. In JSON mode only `emit_json` writes to stdout."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self.console = Console(highlight=False, soft_wrap=False)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit_json(self, payload: Any) -> None:
        """Write the command's machine-readable result."""
        sys.stdout.write(to_json(payload) + "\n")

    def say(self, text: str) -> None:
        """A line for people (suppressed in JSON mode)."""
        if not self.json_mode:
            # soft_wrap: long paths stay on one line, so they can be copied and grepped.
            self.console.print(text, soft_wrap=True)

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        right_align: Sequence[str] = (),
    ) -> None:
        """A table for people (suppressed in JSON mode)."""
        if self.json_mode:
            return
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, justify="right" if column in right_align else "left")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def error(self, text: str) -> None:
        """An error for people on stderr; in JSON mode, a JSON object on stdout instead."""
        if self.json_mode:
            self.emit_json({"ok": False, "error": text})
        else:
            self.errors.print(f"[bold red]error:[/] {escape(text)}")
