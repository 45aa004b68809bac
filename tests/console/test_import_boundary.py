"""The console talks to the engine only over the socket: no module of `tui/` imports the
engine's runtime packages (they would drag the engine's state into the UI process)."""

from __future__ import annotations

import ast
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "tui"
FORBIDDEN = ("tbot.engine", "tbot.broker", "tbot.strategy", "tbot.risk", "tbot.booking")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_console_module_imports_the_engine_runtime() -> None:
    offenders = [
        f"{path.relative_to(TUI.parent)}: {name}"
        for path in sorted(TUI.rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    ]
    assert offenders == []


def test_the_boundary_check_sees_console_modules() -> None:
    # Guard against the check passing because it found nothing to read.
    assert len(list(TUI.rglob("*.py"))) > 10
