"""Alert fan-out throughput to a local webhook, through apprise's json:// plugin.

A local HTTP receiver runs in a child process (its work is the webhook's, not the bot's)
and answers every POST with 200. One channel group holds `--channels` json:// URLs to it;
`--alerts` distinct alerts (no deduplication) are submitted to the group as fast as the
engine's side can, with queues large enough that nothing is dropped. Printed: the engine's
cost per submit (what the event loop pays), and the delivered rate: alerts/s and
deliveries/s (one alert to one channel), from the first submit to the last delivery.

Usage: python benchmarks/alerts.py [--alerts 2000] [--channels 4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tbot.alerts.channels import parse_channels
from tbot.alerts.dispatcher import AlertDispatcher, DispatchSettings
from tbot.alerts.message import Alert, AlertKind, Severity


def _serve(ready: Connection) -> None:
    """The webhook: 200 to every POST, nothing logged."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ready.send(server.server_address[1])
    server.serve_forever()


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=4)
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
    receiver.start()
    try:
        port = parent.recv()
        urls = [f"json://127.0.0.1:{port}/hook/{n}" for n in range(args.channels)]
        channels = parse_channels({"channels": {"ops": urls}}, "benchmark")
        dispatcher = AlertDispatcher(channels, DispatchSettings(queue_size=args.alerts))
        dispatcher.start()
        at = datetime.now(UTC)
        alerts = [Alert(at=at, bot="TBOT_BENCH", severity=Severity.ERROR,
                        kind=AlertKind.FAILURE, text=f"broker: error {n}", strategy="open",
                        symbol="AAPL", trigger="broker") for n in range(args.alerts)]
        started = time.perf_counter()
        for alert in alerts:
            dispatcher.submit(alert, "ops")
        submitted = time.perf_counter() - started
        if not dispatcher.wait_idle(600):
            raise SystemExit("the deliveries did not finish in 600 s")
        elapsed = time.perf_counter() - started
        counters = dispatcher.counters()
        dispatcher.close()
    finally:
        receiver.kill()
    delivered = int(str(counters["sent"]))
    expected = args.alerts * args.channels
    print(f"alerts: {args.alerts} distinct to {args.channels} json:// channels "
          f"(one local webhook, child process)")
    print(f"engine side: {submitted * 1e6 / args.alerts:.1f} µs per submit")
    print(f"delivered {delivered} of {expected} ({counters['failed']} failed, "
          f"{counters['dropped']} dropped) in {elapsed:.2f} s")
    print(f"fan-out throughput: {args.alerts / elapsed:,.0f} alerts/s, "
          f"{delivered / elapsed:,.0f} deliveries/s")


if __name__ == "__main__":
    main()
