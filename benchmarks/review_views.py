"""The console's review views (4 and 5) on a big backlog: part 5 of benchmarks/console.py.

1. First page: a real `tbot engine --sim` on a home with N open breaks and M queued items
   (benchmarks/review_ledger.py), a real console in this process on its real socket at
   80x24; from pressing `4` (then `5`) to the first frame that shows the page's rows
   (target <= 100 ms each). The engine's first `recon.breaks` also counts the open breaks
   once (the dashboard's count asks for it as the console connects): shown as "cold".
2. Key to screen while breaks arrive at R a second (target p95 <= 50 ms): view 4 on a link
   that answers `recon.*` by running the engine's own queries on a copy of that ledger
   (off the event loop, as the engine does) while a writer appends R break rows a second
   and a `recon` event announces each; `j`/`k` timed to the frame that moves the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.frame_clock import FrameClock, timed
from tbot.clock import FrozenClock, SystemClock
from tbot.control.client import EngineUnavailableError, call_once
from tbot.ledger.timestamps import parse_utc
from tbot.reconcile import queries
from tbot.reconcile.open_breaks import OpenBreakCounts
from tests.console import console_fixtures as fixtures
from tests.console import recon_fixtures
from tui.app import ConsoleApp
from tui.launch import settings_for_home
from tui.link.console_link import ConsoleLink, Notify
from tui.link.engine_link import EngineLink
from tui.link.fixture_link import FixtureLink
from tui.model.live_state import LiveState
from tui.settings import ConsoleSettings
from tui.widgets.data_grid import DataGrid

REPO = Path(__file__).resolve().parents[1]
SIZE = (80, 24)


def review_home(cache: Path, fills: int, queued: int) -> Path:
    """The big review home, built once under `cache` in a child process (its memory is
    not the console's)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "review_ledger.py"), "--fills", str(fills),
         "--queued", str(queued), "--cache", str(cache)],
        check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


class Engine:
    """`tbot engine --sim` on the home, quiet (after the close), until `stop()`."""

    def __init__(self, home: Path, socket: Path) -> None:
        self.socket = socket
        self.log = home.parent / "bench-engine.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tbot.cli.main", "engine", "--home", str(home),
                 "--sim", "--speed", "1", "--start", "2026-11-27T22:00:00Z",
                 "--socket", str(socket)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        return call_once(self.socket, method, dict(params) if params else None, timeout=60)

    def wait_synced(self, timeout: float = 600.0) -> float:
        """Seconds until the socket answers and the start-up sync has ended."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"the engine exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(EngineUnavailableError, OSError):
                status = self.call("recon.status")
                if status["running"] is None and status["last_sync"] is not None:
                    return time.monotonic() - started
            time.sleep(0.2)
        raise SystemExit(f"no start-up sync within {timeout:g} s")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _grid_with_rows(app: ConsoleApp, screen_name: str) -> Callable[[], bool]:
    """True once the view `screen_name` shows at least one real row of data."""
    def ready() -> bool:
        screen = app.screen
        if type(screen).__name__ != screen_name:
            return False
        grids = screen.query(DataGrid)
        if not grids:
            return False
        grid = grids.first()
        rows = grid.source.rows(0, 1) if grid.row_count else []
        return bool(rows) and not rows[0].key.startswith("…")
    return ready


async def first_pages(home: Path, socket: Path) -> dict[str, float]:
    """Press 4, then 5, on a console connected to the engine: each to its first page (the
    view built on first use: "cold"); then `g` on each: a fresh read of the first page,
    timed to the frame painted after the engine's answer arrived."""
    settings = settings_for_home(home, socket)
    clock = SystemClock()

    def link(state: LiveState, notify: Notify) -> ConsoleLink:
        return EngineLink(settings.socket_path, state, notify, clock, poll_seconds=1.0,
                          reconnect_max_seconds=0.5)

    app = ConsoleApp(settings, link, clock=clock)
    answered: dict[str, float] = {}
    original = app.link.call

    async def call(method: str, params: Mapping[str, Any] | None = None, *,
                   timeout: float = 30.0) -> object:
        result = await original(method, params, timeout=timeout)
        answered[method] = time.perf_counter()
        return result

    app.link.call = call  # type: ignore[method-assign]
    figures: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        frames = FrameClock(app)
        deadline = time.monotonic() + 60
        while not (app.live.connection.online and app.live.status is not None):
            if time.monotonic() > deadline:
                raise SystemExit("the console never came online")
            await pilot.pause(0.05)
        await pilot.pause(1.0)  # the dashboard's own reads (and the count of open breaks)
        for key, view, method, name in (("4", "ReconciliationScreen", "recon.breaks", "breaks"),
                                        ("5", "MappingQueueScreen", "mapping.queue", "queue")):
            ready = _grid_with_rows(app, view)
            figures[f"{name}_cold_ms"] = 1000 * await timed(pilot, frames, key, ready,
                                                            timeout=60)
            await pilot.pause(1.0)
            pressed = time.perf_counter()
            figures[f"{name}_first_page_ms"] = 1000 * await timed(
                pilot, frames, "g",
                lambda m=method, r=ready, t=pressed: answered.get(m, 0.0) > t and r(),
                timeout=60)
    return figures


def measure_first_pages(home: Path) -> dict[str, float]:
    """Run the engine on (a copy of) `home` and time both views' first pages."""
    with tempfile.TemporaryDirectory(prefix="tbot-bench-review-") as scratch:
        copy = Path(scratch) / "home"
        shutil.copytree(home, copy, symlinks=True)
        socket = Path(scratch) / "engine.sock"
        engine = Engine(copy, socket)
        try:
            startup = engine.wait_synced()
            figures = asyncio.run(first_pages(copy, socket))
            figures["engine_start_and_sync_s"] = startup
        finally:
            engine.stop()
    return figures


def ledger_of(home: Path) -> Path:
    """The home's ledger file."""
    (ledger,) = (home / "output").glob("*/ledgers/*_BOT_ledger.db")
    return ledger


class LedgerAnswers(FixtureLink):
    """A fixture engine whose `recon.*` answers are the engine's own queries on a real
    ledger, run off the event loop as the engine runs them (each thread its own read-only
    connection); everything else from the console fixtures."""

    def __init__(self, ledger: Path, now: datetime, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ledger = ledger
        self._now = now
        self._local = threading.local()
        self._counts = OpenBreakCounts()

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(f"file:{self._ledger}?mode=ro", uri=True)
            self._local.connection = connection
        return connection

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   timeout: float = 30.0) -> object:
        given = dict(params or {})
        if method == "recon.breaks":
            return await asyncio.to_thread(lambda: queries.list_breaks(
                self._connection(), self._now, status=given.get("status"),
                search=given.get("search"), limit=int(given.get("limit", 100)),
                offset=int(given.get("offset", 0)), counts=self._counts))
        if method == "recon.status":
            runs = await asyncio.to_thread(
                lambda: queries.list_runs(self._connection(), limit=1))
            last = runs["runs"][0] if runs["runs"] else None
            return {"running": None, "last_sync": last, "last_check": None,
                    "min_interval_seconds": 10.0}
        if method == "recon.positions":
            return await asyncio.to_thread(
                lambda: queries.latest_positions(self._connection()))
        if method == "mapping.queue":
            return {"items": [], "total": 0, "limit": 1, "offset": 0}
        return await super().call(method, params, timeout=timeout)


class BreakWriter:
    """Appends open breaks to the ledger's reconciliation log at `rate` a second from its
    own thread (the engine writes from another process: its commits must not stall the
    console's loop) and announces each with a `recon` event, as the engine's checks do."""

    def __init__(self, ledger: Path, link: FixtureLink, rate: float, now: datetime) -> None:
        self._ledger = ledger
        self._link = link
        self._period = 1.0 / rate
        self._now = now
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="break-writer", daemon=True)
        self.written = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self._ledger, isolation_level=None)
        stamp = self._now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        try:
            while not self._stop.wait(self._period):
                cursor = connection.execute(
                    "INSERT INTO reconciliation_log (kind, trade_id, status, symbol, "
                    "compare_fields, timestamp_utc, detail, schema_version) VALUES ('fill', ?,"
                    " 'broker-only', 'LIVE', '[]', ?, 'a fill of an order the engine never "
                    "placed', 1)", (f"LIVE-{time.monotonic_ns()}", stamp))
                self.written += 1
                self._loop.call_soon_threadsafe(self._announce, cursor.lastrowid)
        finally:
            connection.close()

    def _announce(self, row_id: int | None) -> None:
        self._link.push_event("recon", {
            "event": "check_finished", "run_id": None, "trigger": "schedule",
            "outcome": "complete", "counts": {"broker-only": 1}, "new_breaks": [row_id],
            "closed": [], "spans_not_read": []}, self._now)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


async def live_key_latency(ledger: Path, presses: int, rate: float) -> tuple[list[float], int]:
    """`j`/`k` on view 4 while breaks arrive at `rate` a second: milliseconds per press,
    and how many breaks arrived meanwhile."""
    now = now_of(ledger)
    clock = FrozenClock(now)
    links: list[LedgerAnswers] = []

    def factory(state: Any, notify: Any) -> FixtureLink:
        link = LedgerAnswers(
            ledger, now, state, notify, clock, status=fixtures.status_record(),
            positions=fixtures.positions_records(), orders=fixtures.orders_records(),
            pnl=fixtures.pnl_record(), account=fixtures.account_record(),
            discover=recon_fixtures.discover_record())
        links.append(link)
        return link

    settings = ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01",
                               socket_path=Path("/nonexistent/engine.sock"), ledger_path=None)
    app = ConsoleApp(settings, factory, clock=clock)
    latencies: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        frames = FrameClock(app)
        await pilot.pause(0.3)
        ready = _grid_with_rows(app, "ReconciliationScreen")
        await timed(pilot, frames, "4", ready, timeout=60)
        grid = app.screen.query(DataGrid).first()
        grid.focus()
        writer = BreakWriter(ledger, links[0], rate, now)
        writer.start()
        try:
            await pilot.pause(1.0)
            for press in range(presses):
                key = "j" if (press // 10) % 2 == 0 else "k"
                before = grid.cursor_index
                seconds = await timed(pilot, frames, key,
                                      lambda b=before: grid.cursor_index != b)
                latencies.append(seconds * 1000)
                await asyncio.sleep(0.05)
        finally:
            writer.stop()
    return latencies, writer.written


def measure_live_latency(home: Path, presses: int, rate: float) -> tuple[list[float], int]:
    """On a copy of the home's ledger (the writer appends to it)."""
    with tempfile.TemporaryDirectory(prefix="tbot-bench-live-") as scratch:
        ledger = Path(scratch) / "ledger.db"
        shutil.copyfile(ledger_of(home), ledger)
        return asyncio.run(live_key_latency(ledger, presses, rate))


def now_of(ledger: Path) -> datetime:
    """A minute after the newest reconciliation row (the fixture's "now")."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        (stamp,) = connection.execute("SELECT MAX(timestamp_utc) FROM reconciliation_log"
                                      ).fetchone()
    return parse_utc(stamp) + timedelta(minutes=1)
