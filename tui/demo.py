"""`tbot demo`'s processes: a throwaway bot home and a simulated engine running in it.

`DemoSession` makes the home, starts `tbot engine --sim` in the background and waits until
its control socket answers; leaving the `with` block (normally, by an exception, or by
SIGTERM/SIGHUP to this process) stops the engine and, unless the home is to be kept,
removes the home. The engine runs in its own session, so the terminal's ctrl+c and hangup
reach only the demo, which then stops it in order; if the demo itself is killed outright,
the kernel sends the engine SIGTERM (Linux `PR_SET_PDEATHSIG`). Either way no engine is
left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Final

from tbot.admin.bot_home import local_operator, open_home
from tbot.admin.demo_home import DEMO_IDENTITY
from tbot.admin.init_home import init_home
from tbot.clock import Clock, SystemClock
from tbot.config.atomic_write import atomic_write_bytes
from tbot.config.paths import BotPaths
from tbot.config.setting_types import SimFault
from tbot.control.client import EngineUnavailableError, RpcCallError, call_once
from tbot.control.socket_path import ControlSocketError, clear_stale
from tbot.errors import TbotError

DEFAULT_SPEED: Final = 60.0
DEMO_FAULTS: Final = ",".join(fault.value for fault in SimFault)
"""Every fault of the simulated broker: the demo day shows reconciliation breaks of each
kind and a fee no rule maps, for the operator to clear in views 4 and 5."""
READY_TIMEOUT_SECONDS: Final = 30.0
STOP_TIMEOUT_SECONDS: Final = 10.0
ENGINE_LOG_NAME: Final = "demo-engine.log"
PID_FILE_NAME: Final = "demo-engine.pid"
LOG_TAIL_LINES: Final = 20
# Signals that end the demo in order (the engine stopped, the home tidied up).
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP)

_PR_SET_PDEATHSIG: Final = 1
_READY_POLL_SECONDS: Final = 0.1
_KILL_WAIT_SECONDS: Final = 5.0


class DemoError(TbotError):
    """The demo engine could not be started (the message carries its log's tail)."""


class DemoInterrupted(Exception):
    """The demo received a stop signal (SIGTERM or SIGHUP) outside the console."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def set_bot_setting(paths: BotPaths, key: str, value: str) -> None:
    """Rewrite the `KEY=value` line of the home's plain `.env_bot` (atomically)."""
    path = paths.env_bot_file
    lines = path.read_text(encoding="utf-8").splitlines()
    replaced = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    if replaced == lines:
        raise DemoError(f"{path} has no {key}= line to set")
    atomic_write_bytes(path, ("\n".join(replaced) + "\n").encode("utf-8"))


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGTERM the child when this process dies (Linux
    only; elsewhere None). libc is loaded here, before the fork: loading a library in the
    forked child of a threaded parent can deadlock."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    parent = os.getpid()

    def die_with_parent() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(1)

    return die_with_parent


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no engine output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no engine output)"


class DemoSession:
    """A demo bot home with a simulated engine running in it, as a context manager.

    `home=None` makes a temporary home that `stop()` removes; a given `home` must not be a
    bot home yet, and is kept. If the engine died by itself, a temporary home is kept too,
    so its log can be read.

    Call `start()` (or enter the `with` block) from the main thread: the kernel's
    parent-death signal follows the thread that started the engine, and only the main
    thread can install the SIGTERM/SIGHUP handlers.
    """

    def __init__(
        self,
        *,
        speed: float = DEFAULT_SPEED,
        home: Path | None = None,
        clock: Clock | None = None,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        faults: bool = True,
    ) -> None:
        self.speed = speed
        self.faults = faults
        self._requested_home = home.expanduser().resolve() if home is not None else None
        self._home: Path | None = self._requested_home
        self._clock = clock or SystemClock()
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._paths: BotPaths | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._previous_handlers: dict[int, object] = {}
        self._stopping = False
        self._stopped = False
        self.engine_returncode: int | None = None
        """The engine's exit status once stopped."""
        self.engine_died_by_itself = False
        """Whether the engine had exited before `stop()` asked it to."""

    # -- what the session is ---------------------------------------------------------------

    @property
    def home(self) -> Path:
        """The demo's bot home (made by `start()`)."""
        if self._home is None:
            raise DemoError("the demo session has not been started")
        return self._home

    @property
    def keeps_home(self) -> bool:
        """Whether the home stays after `stop()`."""
        return self._requested_home is not None or self.engine_died_by_itself

    @property
    def paths(self) -> BotPaths:
        """The demo bot's paths."""
        if self._paths is None:
            raise DemoError("the demo session has not been started")
        return self._paths

    @property
    def socket_path(self) -> Path:
        """The engine's control socket."""
        return self.paths.control_socket

    @property
    def log_path(self) -> Path:
        """Where the engine's output (stdout and stderr) goes."""
        return self.home / ENGINE_LOG_NAME

    @property
    def pid_file(self) -> Path:
        """Holds the engine's pid while it runs (removed once it has stopped)."""
        return self.paths.control_dir / PID_FILE_NAME

    @property
    def engine_pid(self) -> int | None:
        """The engine's process id, once started."""
        return self._process.pid if self._process is not None else None

    @property
    def was_started(self) -> bool:
        """Whether an engine process was launched."""
        return self._process is not None

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> DemoSession:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Make the home, start the engine and wait until its socket answers. On any
        failure everything made so far is undone before the error propagates."""
        if self._process is not None or self._stopped:
            raise DemoError("a demo session starts only once")
        self._install_signal_handlers()
        try:
            self._make_home()
            self._launch_engine()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL after the stop timeout) and tidy up.
        Safe to call more than once."""
        if self._stopped:
            return
        self._stopping = True
        try:
            if self._process is not None:
                self._stop_engine(self._process)
            if self._paths is not None:
                self.pid_file.unlink(missing_ok=True)
            if self._home is not None and not self.keeps_home:
                shutil.rmtree(self._home, ignore_errors=True)
        finally:
            self._stopped = True
            self._restore_signal_handlers()

    # -- steps -------------------------------------------------------------------------------

    def _make_home(self) -> None:
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix="tbot-demo-")).resolve()
        bot = init_home(self._home, DEMO_IDENTITY, self._clock, actor=local_operator())
        # Quitting the demo stops the engine; selling every open position first would make
        # the operator wait on a simulated market for nothing, so the positions stay.
        set_bot_setting(bot.paths, "CLOSE_POSITIONS_ON_SHUTDOWN", "false")
        if self.faults:
            set_bot_setting(bot.paths, "SIM_FAULTS", DEMO_FAULTS)
        self._paths = open_home(self._home).paths  # still a valid home after the edit

    def _engine_command(self) -> list[str]:
        return [
            sys.executable, "-m", "tbot.cli.main", "engine",
            "--home", str(self.home),
            "--sim", "--speed", str(self.speed),
            # Explicit, so a $TBOT_CONTROL_SOCKET meant for a real engine is never used.
            "--socket", str(self.socket_path),
        ]

    def _launch_engine(self) -> None:
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in ("TBOT_CONTROL_SOCKET", "TBOT_HOME")
        }
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self._engine_command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                # Its own session: the terminal's ctrl+c and hangup go to the demo only,
                # which stops the engine in order.
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{self._process.pid}\n", encoding="utf-8")

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._ready_timeout
        while True:
            status = self._process.poll()
            if status is not None:
                raise DemoError(
                    f"the demo engine exited with status {status} before it was ready; "
                    f"the end of its output:\n{_tail(self.log_path)}\n"
                    f"(all of it: {self.log_path})"
                )
            try:
                call_once(self.socket_path, "engine.status", None, timeout=2.0)
                return
            except RpcCallError:
                return  # it answered, even if with an error: the socket is up
            except EngineUnavailableError:
                if time.monotonic() >= deadline:
                    raise DemoError(
                        f"the demo engine did not answer on {self.socket_path} within "
                        f"{self._ready_timeout:g} s; the end of its output:\n"
                        f"{_tail(self.log_path)}"
                    ) from None
                time.sleep(_READY_POLL_SECONDS)

    def _stop_engine(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is not None:
            self.engine_died_by_itself = process.returncode != 0
        else:
            # The whole group (pgid = pid, its own session): nothing the engine started
            # survives it. Only while it is unreaped, so the pid cannot belong to anyone else.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(_KILL_WAIT_SECONDS)
        self.engine_returncode = process.returncode
        if self._paths is not None:
            # A killed engine leaves its socket file behind; a graceful one removed it.
            with contextlib.suppress(ControlSocketError, OSError):
                clear_stale(self.socket_path)

    # -- signals -----------------------------------------------------------------------------

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            return  # already on the way out: let stop() finish
        raise DemoInterrupted(signum)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            self._previous_handlers[signum] = signal.signal(signum, self._on_stop_signal)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous_handlers.clear()

    # -- reporting ---------------------------------------------------------------------------

    def farewell(self) -> str:
        """One line for after the demo: that the engine stopped and where the home is."""
        if self.engine_died_by_itself:
            engine = (
                f"The demo engine had exited by itself (status {self.engine_returncode}); "
                f"its output: {self.log_path}."
            )
        else:
            engine = "The demo engine stopped."
        if self.keeps_home and self._home is not None:
            return f"{engine} The demo home is kept at {self._home}."
        return f"{engine} The demo home was removed."
