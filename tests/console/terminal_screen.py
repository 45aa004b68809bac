"""A command running in a real pseudo-terminal, its screen read through pyte.

The child gets the pty as its controlling terminal in a session of its own, exactly as a
program started from a shell in a terminal window (or over ``ssh -t``) does; what it draws
is fed to a `pyte.Screen`, so a test reads the screen the way a person would. Also here:
how a test sees which processes still run (`is_running`, `engine_processes`), from /proc.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyte

COLUMNS = 100
LINES = 30

# What a terminal sends for the keys a test presses by name; anything else is sent as typed.
KEY_BYTES: Mapping[str, bytes] = {
    "enter": b"\r",
    "escape": b"\x1b",
    "tab": b"\t",
    "backspace": b"\x7f",
    "space": b" ",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "ctrl+c": b"\x03",
    "ctrl+p": b"\x10",
}

ScreenCheck = str | Callable[[str], bool]


def _become_terminal_owner() -> None:
    # Runs in the child after setsid and after stdin became the pty: make the pty the
    # session's controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class TerminalScreen:
    """`argv` running in a pty of `columns` x `lines` (a `term` terminal); read its screen,
    press keys."""

    def __init__(
        self,
        argv: Sequence[str | Path],
        *,
        columns: int = COLUMNS,
        lines: int = LINES,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        term: str = "xterm-256color",
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        environment = dict(os.environ if env is None else env)
        environment.update({"TERM": term, "COLUMNS": str(columns), "LINES": str(lines)})
        try:
            self.process = subprocess.Popen(
                [str(arg) for arg in argv],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=environment,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_become_terminal_owner,
            )
        finally:
            os.close(slave)
        self._master: int | None = master
        self.screen = pyte.Screen(columns, lines)
        self._stream = pyte.ByteStream(self.screen)
        self.transcript = bytearray()
        """Every byte the program wrote, for failure messages."""

    # -- reading -----------------------------------------------------------------------------

    def _read_available(self, wait_seconds: float) -> bool:
        """Feed what the program wrote within `wait_seconds`; False once it is gone (EOF)."""
        if self._master is None:
            return False
        ready, _, _ = select.select([self._master], [], [], wait_seconds)
        if not ready:
            return True
        try:
            data = os.read(self._master, 65536)
        except OSError:  # EIO: the last holder of the pty's other end has closed it
            data = b""
        if not data:
            return False
        self.transcript += data
        self._stream.feed(data)
        return True

    def display(self) -> str:
        """The screen as text, one line per row."""
        self._read_available(0)
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, check: ScreenCheck, timeout: float = 10.0) -> str:
        """Read output until `check` (text on the screen, or a predicate of the screen's
        text) holds; the screen's text then. Fails with the screen shown on timeout or if
        the program ends first."""
        deadline = time.monotonic() + timeout
        holds = (lambda text: check in text) if isinstance(check, str) else check
        alive = True
        while True:
            text = "\n".join(line.rstrip() for line in self.screen.display)
            if holds(text):
                return text
            if not alive or time.monotonic() >= deadline:
                reason = "the program ended" if not alive else f"{timeout:g} s passed"
                raise AssertionError(
                    f"{reason} before the screen showed {check!r}; the screen:\n{text}"
                )
            alive = self._read_available(min(0.05, max(0.0, deadline - time.monotonic())))

    # -- writing -----------------------------------------------------------------------------

    def press(self, *keys: str) -> None:
        """Type `keys`: names from KEY_BYTES ("enter", "ctrl+c"...) or literal text."""
        if self._master is None:
            raise AssertionError("the terminal is closed")
        for key in keys:
            os.write(self._master, KEY_BYTES.get(key, key.encode()))

    # -- ending ------------------------------------------------------------------------------

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Keep reading (a program blocked on a full pty never exits) until the program
        ends; its exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"the program did not exit within {timeout:g} s; the screen:\n{self.display()}"
                )
            self._read_available(0.05)
        while self._master is not None and select.select([self._master], [], [], 0)[0]:
            if not self._read_available(0):  # what it wrote last, up to the end
                break
        return self.process.returncode

    def close(self) -> None:
        """End the program if it still runs (its whole session) and close the pty."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def __enter__(self) -> TerminalScreen:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- processes -------------------------------------------------------------------------------


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (an exited process nobody reaped,
    which is what an orphan becomes where PID 1 does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rpartition(")")[2].split()[0]  # the field after "(command name)"
    return state not in ("Z", "X")


def engine_processes(home: Path) -> list[int]:
    """The live `tbot engine` processes whose command line names `home`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [os.fsdecode(word) for word in argv]
        if "engine" in words and str(home) in words and is_running(int(entry.name)):
            found.append(int(entry.name))
    return found
