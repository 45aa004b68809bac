"""`tbot console` in a real terminal of each kind an operator may SSH in with: truecolor,
256 colours, 16 colours, and with or without the mouse. What reaches the terminal is read
byte for byte: a 16-colour terminal must never get a 256- or 24-bit colour code, and
`--no-mouse` must never switch mouse reporting on."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.console.terminal_screen import TerminalScreen
from tests.engine.engine_process import REPO, tbot_command

TRUECOLOR_CODE = re.compile(rb"\x1b\[[0-9;]*[34]8;2;")
PALETTE_256_CODE = re.compile(rb"\x1b\[[0-9;]*[34]8;5;")
MOUSE_REPORTING_ON = re.compile(rb"\x1b\[\?100[0236]h")


def console_bytes(home: Path, *, term: str, colorterm: str | None,
                  options: tuple[str, ...] = ()) -> tuple[str, bytes]:
    """Open the console on `home` (no engine runs: it opens offline on the ledger) at
    80x24, wait for the dashboard, quit; the screen's text and every byte written."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM"}}
    if colorterm is not None:
        environment["COLORTERM"] = colorterm
    terminal = TerminalScreen(tbot_command("console", "--home", home, *options),
                              columns=80, lines=24, env=environment, cwd=REPO, term=term)
    try:
        screen = terminal.wait_for("Dashboard", timeout=30)
        screen = terminal.wait_for("OFFLINE since", timeout=15)
        terminal.press("q")
        assert terminal.wait_exit(timeout=20) == 0
        return screen, bytes(terminal.transcript)
    finally:
        terminal.close()


@pytest.mark.parametrize(
    ("term", "colorterm", "truecolor", "palette_256"),
    [
        pytest.param("xterm-256color", "truecolor", True, False, id="truecolor"),
        pytest.param("xterm-256color", None, False, True, id="256-colours"),
        pytest.param("xterm", None, False, False, id="16-colours"),
    ],
)
def test_the_console_speaks_only_the_colours_the_terminal_has(
    home: Path, term: str, colorterm: str | None, truecolor: bool, palette_256: bool
) -> None:
    screen, written = console_bytes(home, term=term, colorterm=colorterm)
    assert "TBOT_US_SIM_BOT01 · Dashboard" in screen
    assert "Positions" in screen and "Recent orders & fills" in screen
    assert bool(TRUECOLOR_CODE.search(written)) is truecolor
    assert bool(PALETTE_256_CODE.search(written)) is palette_256


def test_no_mouse_never_turns_mouse_reporting_on(home: Path) -> None:
    _, with_mouse = console_bytes(home, term="xterm-256color", colorterm=None)
    assert MOUSE_REPORTING_ON.search(with_mouse)
    _, without = console_bytes(home, term="xterm-256color", colorterm=None,
                               options=("--no-mouse",))
    assert not MOUSE_REPORTING_ON.search(without)
