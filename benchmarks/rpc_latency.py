"""Control-plane latency of a running engine: prints the figures of issue 3.

1. `engine.status` round trips: the engine runs the simulated market at --speed (60 by
   default); --clients processes (10) each make --calls sequential calls (5,000) on their
   own connection. Prints p50 / p99 / max. Target: p99 <= 2 ms.
2. Event fan-out: ten subscribers to `fills` (and `orders`) while the simulated session
   trades; latency = arrival time - the notification's `at` stamp (wall clock, set when the
   engine publishes). Target: p99 <= 20 ms.
3. Idle CPU: the engine on the real clock outside any window (or a simulated weekend) for
   --idle-seconds; CPU time / wall time from /proc. Target: < 1%.

Run: .venv/bin/python benchmarks/rpc_latency.py [--calls 5000] [--clients 10]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TBOT = [sys.executable, "-m", "tbot.cli.main"]


def connect(path: Path) -> socket.socket:
    """A blocking connection to the control socket (following a symlinked long path)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.path.realpath(path))
    return sock


class LineClient:
    """The smallest JSON-RPC client: one request, read one line back."""

    def __init__(self, path: Path) -> None:
        self.sock = connect(path)
        self.buffer = b""
        self.next_id = 0

    def call(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            line = self.read_line()
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                return reply

    def read_line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("engine closed the connection")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


def status_worker(
    path: str, calls: int, start: multiprocessing.synchronize.Event, results: multiprocessing.Queue
) -> None:
    client = LineClient(Path(path))
    client.call("engine.status")  # warm the connection
    start.wait()
    samples: list[float] = []
    errors = 0
    for _ in range(calls):
        began = time.perf_counter()
        reply = client.call("engine.status")
        samples.append(time.perf_counter() - began)
        errors += "error" in reply
    results.put((samples, errors))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_engine(home: Path, *extra: str) -> subprocess.Popen[bytes]:
    log = (home / "engine-bench.log").open("wb")
    return subprocess.Popen(
        [*TBOT, "engine", "--home", str(home), *extra],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for_socket(home: Path, engine: subprocess.Popen[bytes], timeout: float = 60) -> Path:
    path = home / "control" / "engine.sock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.poll() is not None:
            raise SystemExit(
                f"the engine exited ({engine.returncode}); see {home}/engine-bench.log"
            )
        if path.exists():
            try:
                LineClient(path).call("engine.status")
                return path
            except OSError:
                pass
        time.sleep(0.1)
    raise SystemExit("the engine did not open its socket in time")


def stop_engine(engine: subprocess.Popen[bytes]) -> None:
    if engine.poll() is None:
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(60)
        except subprocess.TimeoutExpired:
            engine.kill()


def init_home(home: Path) -> None:
    subprocess.run(
        [*TBOT, "init", "--home", str(home)], cwd=REPO, check=True, stdout=subprocess.DEVNULL
    )


def subscriber(
    path: Path, latencies: list[float], stop: threading.Event, ready: threading.Barrier
) -> None:
    client = LineClient(path)
    client.call("events.subscribe", {"topics": ["fills", "orders"]})
    client.sock.settimeout(0.5)
    ready.wait()
    while not stop.is_set():
        try:
            line = client.read_line()
        except TimeoutError:
            continue
        except (OSError, ConnectionError):
            return
        arrived = time.time()
        message = json.loads(line)
        if message.get("method") != "events.notify":
            continue
        stamp = datetime.fromisoformat(message["params"]["at"].replace("Z", "+00:00"))
        latencies.append(arrived - stamp.timestamp())


def measure_session(home: Path, args: argparse.Namespace) -> None:
    engine = start_engine(home, "--sim", "--speed", str(args.speed), "--start", args.start)
    try:
        path = wait_for_socket(home, engine)
        latencies: list[float] = []
        stop = threading.Event()
        ready = threading.Barrier(11)
        threads = [
            threading.Thread(target=subscriber, args=(path, latencies, stop, ready), daemon=True)
            for _ in range(10)
        ]
        for thread in threads:
            thread.start()
        ready.wait()

        context = multiprocessing.get_context("fork")
        go = context.Event()
        results: multiprocessing.Queue = context.Queue()
        workers = [
            context.Process(target=status_worker, args=(str(path), args.calls, go, results))
            for _ in range(args.clients)
        ]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        began = time.perf_counter()
        go.set()
        samples: list[float] = []
        errors = 0
        for _ in workers:
            part, failed = results.get()
            samples += part
            errors += failed
        elapsed = time.perf_counter() - began
        for worker in workers:
            worker.join()
        print(
            f"engine.status: {len(samples):,} calls from {args.clients} clients in "
            f"{elapsed:.2f} s ({len(samples) / elapsed:,.0f} calls/s), {errors} errors"
        )
        print(
            f"  p50 {percentile(samples, 0.50) * 1e3:.3f} ms   "
            f"p99 {percentile(samples, 0.99) * 1e3:.3f} ms   "
            f"max {max(samples) * 1e3:.3f} ms   (target p99 <= 2 ms)"
        )

        # Let the session trade until enough events arrived (or the window is over).
        deadline = time.monotonic() + args.session_seconds
        while time.monotonic() < deadline and len(latencies) < 10 * args.min_events:
            time.sleep(0.5)
        stop.set()
        status = LineClient(path).call("engine.status")["result"]
        counters = status["counters"]
        if latencies:
            print(
                f"event fan-out to 10 subscribers: {len(latencies)} deliveries "
                f"({counters['fills']} fills, {counters['orders']} orders so far)"
            )
            print(
                f"  p50 {percentile(latencies, 0.50) * 1e3:.3f} ms   "
                f"p99 {percentile(latencies, 0.99) * 1e3:.3f} ms   "
                f"max {max(latencies) * 1e3:.3f} ms   (target p99 <= 20 ms)"
            )
        else:
            print(
                "event fan-out: no fills or orders happened in the measured time "
                f"(counters {counters}); try another --start"
            )
    finally:
        stop_engine(engine)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def measure_idle(home: Path, args: argparse.Namespace) -> None:
    # A simulated Saturday at real speed: no session, no window; the engine must sleep.
    engine = start_engine(home, "--sim", "--speed", "1", "--start", args.idle_start)
    try:
        wait_for_socket(home, engine)
        time.sleep(2)
        cpu_before, wall_before = process_cpu_seconds(engine.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        cpu = process_cpu_seconds(engine.pid) - cpu_before
        wall = time.monotonic() - wall_before
        print(
            f"idle CPU: {cpu:.3f} s of CPU in {wall:.1f} s = {100 * cpu / wall:.3f}% (target < 1%)"
        )
    finally:
        stop_engine(engine)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--speed", type=float, default=60)
    parser.add_argument(
        "--start",
        default="2026-11-20T14:48:00Z",
        help="simulated start of the measured session (default: just before "
        "the open strategy's breakout phase)",
    )
    parser.add_argument(
        "--session-seconds",
        type=float,
        default=60,
        help="longest real time to wait for fill events",
    )
    parser.add_argument("--min-events", type=int, default=20)
    parser.add_argument("--idle-start", default="2026-11-21T12:00:00Z")
    parser.add_argument("--idle-seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tbot-bench-") as scratch:
        home = Path(scratch) / "session"
        init_home(home)
        measure_session(home, args)
        idle_home = Path(scratch) / "idle"
        init_home(idle_home)
        measure_idle(idle_home, args)
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
