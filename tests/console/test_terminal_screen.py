"""The pty helper of the end-to-end test reads a real terminal program's screen and types
into it like a person at a terminal."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator

import pytest

from tests.console.terminal_screen import TerminalScreen

# Draws its terminal's size and whether it owns the terminal, then echoes keys in raw mode
# (as Textual reads them) until "q", and exits with status 3.
KEY_ECHO = textwrap.dedent(
    """
    import os, sys, tty
    size = os.get_terminal_size(1)
    owner = os.tcgetpgrp(0) == os.getpgrp()
    tty.setraw(0)
    sys.stdout.write(f"\\x1b[2J\\x1b[Hsize {size.columns}x{size.lines} owner={owner}\\r\\n")
    sys.stdout.flush()
    while True:
        key = os.read(0, 16)
        sys.stdout.write(f"\\x1b[5;1Hgot {key!r}   ")
        sys.stdout.flush()
        if key == b"q":
            sys.exit(3)
    """
)


@pytest.fixture
def key_echo() -> Iterator[TerminalScreen]:
    terminal = TerminalScreen([sys.executable, "-c", KEY_ECHO], columns=100, lines=30)
    yield terminal
    terminal.close()


def test_the_program_sees_a_100x30_terminal_it_owns(key_echo: TerminalScreen) -> None:
    key_echo.wait_for("size 100x30 owner=True", timeout=10)


def test_keys_arrive_as_a_terminal_sends_them(key_echo: TerminalScreen) -> None:
    key_echo.wait_for("owner=True", timeout=10)
    key_echo.press("down")
    key_echo.wait_for("got b'\\x1b[B'")
    key_echo.press("ctrl+c")
    key_echo.wait_for("got b'\\x03'")
    # The fifth row holds the echo: the screen is read by position, like a person would.
    assert key_echo.display().splitlines()[4].startswith("got b'\\x03'")


def test_the_exit_status_is_reported_after_the_program_ends(key_echo: TerminalScreen) -> None:
    key_echo.wait_for("owner=True", timeout=10)
    key_echo.press("q")
    assert key_echo.wait_exit(timeout=10) == 3


def test_waiting_for_what_never_shows_fails_with_the_screen(key_echo: TerminalScreen) -> None:
    key_echo.wait_for("owner=True", timeout=10)
    with pytest.raises(AssertionError, match="size 100x30") as failure:
        key_echo.wait_for("a dashboard", timeout=0.5)
    assert "0.5 s passed" in str(failure.value)


def test_a_program_that_ends_first_fails_the_wait_at_once(key_echo: TerminalScreen) -> None:
    key_echo.wait_for("owner=True", timeout=10)
    key_echo.press("q")
    with pytest.raises(AssertionError, match="the program ended"):
        key_echo.wait_for("never drawn", timeout=30)
