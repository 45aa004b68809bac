"""Running a real `tbot engine` in a child process for the engine's tests."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tbot.control.client import EngineUnavailableError, RpcCallError, call_once

REPO = Path(__file__).resolve().parents[2]
IDENTITY = "TBOT_US_SIM_BOT01"


def tbot_command(*args: str | Path) -> list[str]:
    """`tbot ARGS` run with this interpreter."""
    return [sys.executable, "-m", "tbot.cli.main", *map(str, args)]


def init_home(home: Path) -> Path:
    """A fresh bot home made by `tbot init`."""
    subprocess.run(tbot_command("init", "--home", home), check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return home


def run_tbot(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`tbot ARGS` to completion, output captured."""
    return subprocess.run(tbot_command(*args), cwd=REPO, capture_output=True, text=True)


def ledger_rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows of `sql` on the home's ledger, read-only."""
    path = home / "output" / IDENTITY / "ledgers" / f"{IDENTITY}_BOT_ledger.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def verify_clean(home: Path) -> None:
    """`tbot ledger verify` finds nothing."""
    result = run_tbot("ledger", "verify", "--home", home, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is True


def set_env_key(home: Path, key: str, value: str) -> None:
    """Rewrite one `.env` key in place."""
    path = home / ".env"
    lines = path.read_text().splitlines()
    lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    path.write_text("\n".join(lines) + "\n")


class EngineProcess:
    """A `tbot engine --sim` child process and a way to call it."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = home
        self.socket = home / "control" / "engine.sock"
        self.log_path = home / f"engine-test-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            tbot_command("engine", "--home", home, *args),
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """What the engine printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> EngineProcess:
        """Wait until the control socket answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"engine exited {self.process.returncode}:\n{self.output()}")
            try:
                self.call("engine.status")
                return self
            except EngineUnavailableError:
                time.sleep(0.1)
        raise AssertionError(f"engine not ready in {timeout} s:\n{self.output()}")

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One RPC; raises RpcCallError on an error reply."""
        return call_once(self.socket, method, params, timeout=20.0)

    def error_of(self, method: str, params: dict[str, Any] | None = None) -> RpcCallError:
        """The RPC error a call must produce."""
        try:
            result = self.call(method, params)
        except RpcCallError as error:
            return error
        raise AssertionError(f"{method} succeeded with {result!r}")

    def wait_until(self, predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
        """Poll `engine.status` until `predicate(status)` is truthy."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.call("engine.status")
            if predicate(status):
                return status
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last status {status}\n{self.output()}")

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the graceful stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for the process to end; its exit status."""
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def close(self) -> None:
        """Make sure nothing is left running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()
