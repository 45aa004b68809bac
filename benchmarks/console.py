"""The console's speed, measured headless (issue 4's figures).

1. Process start to the first dashboard frame (target <= 1.0 s): `tbot console --home H`
   spawned in an 80x24 pseudo-terminal, timed until the dashboard is on that terminal.
2. Key-press-to-screen latency with 2,000 positions updating ten times a second
   (target <= 50 ms): the real app on a fixture link whose positions change every 100 ms;
   each `j`/`k` is timed from the key event to the first frame that shows the moved cursor.
3. A 1,000,000-entry ledger: the journal's first page (target <= 100 ms) and the jump to its
   end (target <= 200 ms), the busiest account's first page and end, and how long the
   trial balance takes in its background worker.
4. Peak memory of the process that ran 2 and 3 (target <= 200 MB).
5. The review views on 100,000 open breaks and 10,000 queued items (benchmarks/
   review_views.py): each view's first page against a real engine (target <= 100 ms), and
   key-to-screen latency on view 4 while breaks arrive at 20 a second (target p95 <= 50 ms).

Run: `python benchmarks/console.py` (builds the big ledger once under the temp dir, about a
minute; the review home once too, about 40 s). `--entries`, `--positions`, `--presses`,
`--breaks` and `--queued` shrink it for a smoke run; `--only-review` runs part 5 alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import resource
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from benchmarks import review_views  # noqa: E402
from benchmarks.big_ledger import build_big_ledger  # noqa: E402
from benchmarks.frame_clock import FrameClock, timed  # noqa: E402
from tbot.clock import FrozenClock  # noqa: E402
from tests.console import console_fixtures as fixtures  # noqa: E402
from tui.app import ConsoleApp  # noqa: E402
from tui.ledger.screens import AccountScreen, JournalScreen, TrialBalanceScreen  # noqa: E402
from tui.link.fixture_link import FixtureLink  # noqa: E402
from tui.settings import ConsoleSettings  # noqa: E402
from tui.widgets.data_grid import DataGrid  # noqa: E402

TARGETS = {"first_frame_s": 1.0, "key_latency_ms": 50.0, "ledger_first_page_ms": 100.0,
           "ledger_end_ms": 200.0, "peak_memory_mb": 200.0, "breaks_first_page_ms": 100.0,
           "queue_first_page_ms": 100.0, "review_key_latency_ms": 50.0}

def _first_frame_seconds(runs: int, home: Path) -> list[float]:
    """Wall time from spawning `tbot console --home H` in a pseudo-terminal (80x24, as over
    `ssh -t`) to the first dashboard frame on that terminal: the whole path an operator
    waits for (the CLI, config and identity, the ledger, Textual's first paint)."""
    tbot = Path(sys.executable).with_name("tbot")
    argv = [str(tbot), "console", "--home", str(home)] if tbot.exists() else [
        sys.executable, "-m", "tbot.cli.main", "console", "--home", str(home)]
    timings = []
    for _ in range(runs):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                   env=environment, cwd=REPO, start_new_session=True)
        os.close(slave)
        written = b""
        elapsed = None
        deadline = started + 30
        try:
            # The dashboard's positions header is in the first frame Textual writes.
            while elapsed is None and time.perf_counter() < deadline:
                ready, _, _ = select.select([master], [], [], 0.5)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                written += chunk
                if b"Dashboard" in written and b"Positions" in written:
                    elapsed = time.perf_counter() - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            # Keep draining: an app blocked on a full terminal never exits.
            while process.poll() is None:
                if select.select([master], [], [], 0.1)[0]:
                    with contextlib.suppress(OSError):
                        os.read(master, 65536)
            os.close(master)
        if elapsed is None:
            tail = written[-400:].decode(errors="replace")
            raise SystemExit(f"the console did not paint a dashboard within 30 s: {tail!r}")
        timings.append(elapsed)
    return timings


def _console_home(cache: Path) -> Path:
    """A bot home made by `tbot init`, once, for the start-up runs."""
    home = cache / "console-home"
    if not (home / ".env").exists():
        subprocess.run([sys.executable, "-m", "tbot.cli.main", "init", "--home", str(home)],
                       check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return home


def _position_records(count: int, tick: int) -> list[dict[str, Any]]:
    """`count` positions whose prices move with `tick`."""
    records = []
    for number in range(count):
        cost = Decimal(20 + number % 300) + Decimal(number % 97) / 100
        last = cost + Decimal((number * 7 + tick * 13) % 41 - 20) / 100
        quantity = Decimal(10 + number % 50)
        unrealized = (last - cost) * quantity
        records.append({
            "symbol": f"S{number:04d}", "quantity": str(quantity), "average_cost": str(cost),
            "last_price": str(last), "market_value": str(last * quantity),
            "unrealized_pnl": str(unrealized),
            "unrealized_pnl_pct": str(((last - cost) / cost * 100).quantize(Decimal("0.01"))),
            "strategy": "open", "side": "long", "tag": "none",
            "opened_at": "2026-11-20T14:52:00Z", "age_seconds": 600 + tick,
        })
    return records


def _settings(ledger: Path | None) -> ConsoleSettings:
    return ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01",
                           socket_path=Path("/nonexistent/engine.sock"), ledger_path=ledger)


def _screen_grid(app: ConsoleApp, screen_type: type) -> DataGrid | None:
    """The first grid of the active screen when it is a `screen_type`."""
    if not isinstance(app.screen, screen_type):
        return None
    grids = app.screen.query(DataGrid)
    return grids.first() if grids else None


async def _key_latency_ms(positions: int, presses: int) -> list[float]:
    clock = FrozenClock(fixtures.FROZEN_NOW)
    variants = [_position_records(positions, tick) for tick in range(10)]
    link_box: list[FixtureLink] = []

    def factory(state: Any, notify: Any) -> FixtureLink:
        link = FixtureLink(state, notify, clock, status=fixtures.status_record(),
                           positions=variants[0], orders=fixtures.orders_records(),
                           pnl=fixtures.pnl_record(), account=fixtures.account_record(),
                           discover=fixtures.discover_record())
        link_box.append(link)
        return link

    app = ConsoleApp(_settings(None), factory, clock=clock)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        frames = FrameClock(app)
        await pilot.pause(0.5)
        grid = app.screen.query(DataGrid).first()
        grid.focus()
        await pilot.pause(0.2)

        async def stream() -> None:
            tick = 0
            while True:
                await asyncio.sleep(0.1)
                tick += 1
                link_box[0].set_positions(variants[tick % 10])

        streamer = asyncio.create_task(stream())
        try:
            await pilot.pause(0.5)
            for press in range(presses):
                key = "j" if (press // 20) % 2 == 0 else "k"
                before = grid.cursor_index
                seconds = await timed(pilot, frames, key,
                                       lambda b=before: grid.cursor_index != b)
                latencies.append(seconds * 1000)
                await asyncio.sleep(0.03)
        finally:
            streamer.cancel()
    return latencies


async def _ledger_figures(ledger: Path) -> dict[str, float]:
    clock = FrozenClock(fixtures.FROZEN_NOW)

    def factory(state: Any, notify: Any) -> FixtureLink:
        return FixtureLink(state, notify, clock, online=False)

    app = ConsoleApp(_settings(ledger), factory, clock=clock)
    figures: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        frames = FrameClock(app)
        await pilot.pause(0.3)

        def shown(screen_type: type, check: Callable[[DataGrid], bool]) -> Callable[[], bool]:
            def ready() -> bool:
                grid = _screen_grid(app, screen_type)
                return grid is not None and check(grid)
            return ready

        def has_rows(grid: DataGrid) -> bool:
            return grid.row_count > 0

        def at_end(grid: DataGrid) -> bool:
            return grid.row_count > 0 and grid.cursor_index == grid.row_count - 1

        figures["trial_balance_s"] = await timed(
            pilot, frames, "3", shown(TrialBalanceScreen, has_rows), timeout=300)
        seconds = await timed(pilot, frames, "a", shown(JournalScreen, has_rows))
        figures["journal_first_page_ms"] = seconds * 1000
        journal = _screen_grid(app, JournalScreen)
        assert journal is not None
        figures["journal_rows"] = journal.row_count
        journal.focus()
        await pilot.pause(0.2)
        seconds = await timed(pilot, frames, "end", shown(JournalScreen, at_end))
        figures["journal_end_ms"] = seconds * 1000

        await pilot.press("escape")
        await pilot.pause(0.2)
        balance = _screen_grid(app, TrialBalanceScreen)
        reader = app.ledger
        assert balance is not None and reader is not None
        busiest = max(reader.trial_balance(), key=lambda row: row.postings)
        balance.focus()
        balance.move_cursor_to_key(f"{busiest.code} {busiest.currency}")
        seconds = await timed(pilot, frames, "enter", shown(AccountScreen, has_rows))
        figures["account_first_page_ms"] = seconds * 1000
        account = _screen_grid(app, AccountScreen)
        assert account is not None
        figures["account_rows"] = account.row_count
        account.focus()
        await pilot.pause(0.2)
        seconds = await timed(pilot, frames, "end", shown(AccountScreen, at_end))
        figures["account_end_ms"] = seconds * 1000
    return figures


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _review_figures(args: argparse.Namespace) -> dict[str, float]:
    """Part 5: prints its figures and returns those with a target."""
    started = time.perf_counter()
    home = review_views.review_home(args.cache, args.breaks, args.queued)
    print(f"review home of {args.breaks:,} open fill breaks and {args.queued:,} queued items "
          f"ready in {time.perf_counter() - started:.1f} s: {home}")
    pages = review_views.measure_first_pages(home)
    print(f"engine start and start-up sync of that home: "
          f"{pages['engine_start_and_sync_s']:.1f} s")
    for view, name in (("4", "breaks"), ("5", "queue")):
        print(f"view {view} first page: {pages[f'{name}_first_page_ms']:.1f} ms (target <= "
              f"100 ms); first visit, the view built too: {pages[f'{name}_cold_ms']:.1f} ms")
    latencies, arrived = review_views.measure_live_latency(home, args.presses, args.arrivals)
    print(f"view 4 key to screen, breaks arriving at {args.arrivals:g}/s ({arrived} arrived), "
          f"{len(latencies)} presses: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {_percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms "
          f"(target <= 50 ms)")
    return {"breaks_first_page_ms": pages["breaks_first_page_ms"],
            "queue_first_page_ms": pages["queue_first_page_ms"],
            "review_key_latency_ms": _percentile(latencies, 0.95)}


def main(argv: list[str] | None = None) -> int:
    """Measure and print every figure with its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--positions", type=int, default=2_000)
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "tbot-bench")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--breaks", type=int, default=100_000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--arrivals", type=float, default=20.0,
                        help="breaks arriving a second during part 5's key presses")
    parser.add_argument("--only-review", action="store_true", help="run part 5 alone")
    args = parser.parse_args(argv)

    review = _review_figures(args)
    if args.only_review:
        missed = [name for name, value in review.items() if value > TARGETS[name]]
        print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
        return 0

    build_started = time.perf_counter()
    # Built in a child process so its memory does not count against the console's peak.
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "big_ledger.py"),
                    "--entries", str(args.entries), "--cache", str(args.cache)],
                   check=True, stdout=subprocess.DEVNULL)
    ledger = build_big_ledger(args.cache, args.entries)
    print(f"ledger of {args.entries:,} entries ready in "
          f"{time.perf_counter() - build_started:.1f} s: {ledger}")

    starts = _first_frame_seconds(args.starts, _console_home(args.cache))
    latencies = asyncio.run(_key_latency_ms(args.positions, args.presses))
    ledger_figures = asyncio.run(_ledger_figures(ledger))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures = {
        "first_frame_s": statistics.median(starts),
        "key_latency_ms": _percentile(latencies, 0.95),
        "ledger_first_page_ms": ledger_figures["journal_first_page_ms"],
        "ledger_end_ms": ledger_figures["journal_end_ms"],
        "peak_memory_mb": peak_mb,
    }
    print(f"first dashboard frame: median {statistics.median(starts):.3f} s, "
          f"max {max(starts):.3f} s over {len(starts)} starts (target <= 1.0 s)")
    print(f"key to screen, {args.positions:,} positions at 10 Hz, {len(latencies)} presses: "
          f"p50 {statistics.median(latencies):.1f} ms, p95 {_percentile(latencies, 0.95):.1f} ms,"
          f" max {max(latencies):.1f} ms (target <= 50 ms)")
    print(f"ledger of {int(ledger_figures['journal_rows']):,} entries: journal first page "
          f"{ledger_figures['journal_first_page_ms']:.1f} ms (target <= 100 ms), jump to end "
          f"{ledger_figures['journal_end_ms']:.1f} ms (target <= 200 ms)")
    print(f"busiest account, {int(ledger_figures['account_rows']):,} postings: first page "
          f"{ledger_figures['account_first_page_ms']:.1f} ms, jump to end "
          f"{ledger_figures['account_end_ms']:.1f} ms")
    print(f"trial balance (background worker): {ledger_figures['trial_balance_s']:.2f} s")
    print(f"peak memory: {peak_mb:.0f} MB (target <= 200 MB)")
    figures.update(review)
    missed = [name for name, value in figures.items() if value > TARGETS[name]]
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
    if args.json:
        print(json.dumps({**figures, **ledger_figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
