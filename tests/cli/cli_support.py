"""Helpers shared by the CLI tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class CliResult:
    """What one `tbot` invocation printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)


Runner = Callable[..., CliResult]


def audit_actions(ledger: Path) -> list[str]:
    """The `action` column of the ledger's audit trail, oldest first."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        return [row[0] for row in connection.execute("SELECT action FROM audit_trail ORDER BY id")]


def replace_setting(home: Path, key: str, value: str) -> None:
    """Rewrite one `KEY=value` line of the home's plain .env_bot."""
    path = home / ".env_bot"
    lines = path.read_text().splitlines()
    replaced = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    assert replaced != lines, f"{key} not found in .env_bot"
    path.write_text("\n".join(replaced) + "\n")
