"""Benchmark: a simulated trading day on a million-entry ledger against the same day on a
fresh home (target: within 10%), and the day's backups restored and compared.

The big home is `big_ledger.build_big_ledger(..., sim_account=True)` (cached): five years of
fills, flat at the end, its simulated broker account holding the ledger's cash, and a full
snapshot from the night after its last session (what the nightly backup timer leaves). The
fresh home is `tbot init`'s, its simulated account funded with the same cash, so both trade
the same day the same way (the benchmark checks they booked the same fills).

Each round runs `tbot engine --sim --speed S --start DAY --until-close` as a user would, in
a child process, once on a fresh home and once on a copy of the big one (the order
alternating between rounds), and times it from the command to its exit, with the start-up
(to the engine's "engine started" line) shown apart. After the last round, on the big home:
the day's pre-write backups (increments and bytes) and `tbot ledger drill` (rebuild the
newest backup set, compare it with the live ledger: entries, postings, trades, chain head).

    .venv/bin/python benchmarks/ledger_day.py [--entries 1000000] [--rounds 3]
        [--speed 3000] [--day 2026-11-20] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.big_ledger import (  # noqa: E402
    IDENTITY,
    big_ledger_cash,
    build_big_ledger,
    history_end,
)
from tbot.version import current_tag  # noqa: E402

TBOT = Path(sys.executable).with_name("tbot")
LOOKBACK_DAYS = 30
"""The template's SYNC_LOOKBACK_DAYS: the day must be further than this past the history
(the simulated account holds the history's cash, not its fills)."""


@dataclass(frozen=True)
class DayRun:
    """One engine day: wall seconds, seconds to "engine started", the day's entries."""

    seconds: float
    start_up: float
    booked: tuple[str, ...]
    """The memos of the day's entries (side, size, symbol, price: the day's trading)."""


def ledger_file(home: Path) -> Path:
    """The bot's ledger file in `home`."""
    bot = IDENTITY.bot_identity
    return home / "output" / bot / "ledgers" / f"{bot}_BOT_ledger.db"


def day_entries(home: Path, day: date) -> tuple[str, ...]:
    """The memos of the entries dated `day` (what the engine booked that day)."""
    connection = sqlite3.connect(f"file:{ledger_file(home)}?mode=ro", uri=True)
    try:
        return tuple(memo for (memo,) in connection.execute(
            "SELECT memo FROM ledger_entries WHERE dtposted LIKE ? AND memo NOT LIKE "
            "'funding:%' ORDER BY id", (f"{day.isoformat()}%",)))
    finally:
        connection.close()


def set_bot_keys(home: Path, **values: str) -> None:
    """Rewrite `.env_bot` keys of `home` in place."""
    settings = home / ".env_bot"
    lines = [next((f"{key}={value}" for key, value in values.items()
                   if line.startswith(f"{key}=")), line)
             for line in settings.read_text().splitlines()]
    settings.write_text("\n".join(lines) + "\n")


def fresh_home(path: Path, cash: str) -> Path:
    """`tbot init`'s home, its simulated account funded with `cash`."""
    subprocess.run([str(TBOT), "init", "--home", str(path), "--entity-code",
                    IDENTITY.entity_code, "--jurisdiction-code", IDENTITY.jurisdiction_code,
                    "--broker-code", IDENTITY.broker_code, "--bot-id", IDENTITY.bot_id],
                   check=True, stdout=subprocess.DEVNULL)
    set_bot_keys(path, SIM_STARTING_CASH=cash)
    return path


def run_day(home: Path, start: datetime, speed: float) -> DayRun:
    """`tbot engine --until-close` on `home`, timed; raises when it does not exit 0."""
    command = [str(TBOT), "engine", "--home", str(home), "--sim", "--speed", str(speed),
               "--start", start.isoformat().replace("+00:00", "Z"), "--until-close"]
    started = time.perf_counter()
    start_up = float("nan")
    log: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True) as engine:
        assert engine.stderr is not None
        for line in engine.stderr:
            log.append(line)
            if start_up != start_up and "engine started" in line:
                start_up = time.perf_counter() - started
        code = engine.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"the engine on {home} exited {code}:\n{''.join(log[-30:])}")
    return DayRun(seconds, start_up, day_entries(home, start.date()))


def backup_figures(home: Path, since: float) -> tuple[int, int, int]:
    """(increments, their bytes, the largest) the engine's pre-write backups wrote after
    `since` (a time.time()), in whichever set they went."""
    sizes = [stat.st_size
             for stat in (path.stat() for path in
                          (home / "storage" / "backups").glob("*/*.set/inc-*.jsonl.gz"))
             if stat.st_mtime >= since]
    return len(sizes), sum(sizes), max(sizes, default=0)


def drill(home: Path) -> tuple[int, float, str]:
    """`tbot ledger drill` on `home`: (exit code, seconds, its verdict line)."""
    started = time.perf_counter()
    done = subprocess.run([str(TBOT), "ledger", "drill", "--home", str(home), "--json"],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
        verdict = json.dumps({key: report[key] for key in report
                              if not isinstance(report[key], dict | list)})
    except (ValueError, TypeError):
        verdict = (done.stdout + done.stderr).strip().splitlines()[-1:]
        verdict = verdict[0] if verdict else ""
    return done.returncode, seconds, verdict


def run(entries: int, rounds: int, speed: float, day: date, cache: Path, root: Path) -> int:
    """Build or reuse the big home, run the rounds, print the figures; 1 on a mismatch."""
    started = time.perf_counter()
    cached = build_big_ledger(cache, entries, sim_account=True).parents[3]
    prepared = time.perf_counter() - started
    if (day - history_end(entries).date()).days <= LOOKBACK_DAYS:
        raise SystemExit(f"--day {day} is within {LOOKBACK_DAYS} days of the big ledger's "
                         f"last session ({history_end(entries).date()}); pick a later day")
    cash = big_ledger_cash(ledger_file(cached))
    size = ledger_file(cached).stat().st_size
    start = datetime.fromisoformat(f"{day.isoformat()}T14:25:00+00:00")
    print(f"ledger_day: {day} at x{speed:g}; big home {entries:,} entries, "
          f"{size / 1e6:,.0f} MB (ready in {prepared:.1f} s), cash {cash:,.2f}")
    fresh_runs: list[DayRun] = []
    big_runs: list[DayRun] = []
    big = root / "big"
    big_started = time.time()
    for number in range(1, rounds + 1):
        fresh = fresh_home(root / f"fresh{number}", format(cash, "f"))
        if big.exists():
            shutil.rmtree(big)
        shutil.copytree(cached, big)
        set_bot_keys(big, VERSION_TAG=current_tag())  # a cache built by an older tbot
        order = [("fresh", fresh), ("big", big)]
        if number % 2 == 0:
            order.reverse()
        results = {}
        for label, home in order:
            if label == "big":
                big_started = time.time()
            results[label] = run_day(home, start, speed)
        fresh_runs.append(results["fresh"])
        big_runs.append(results["big"])
        print(f"round {number}: fresh {results['fresh'].seconds:6.2f} s (start-up "
              f"{results['fresh'].start_up:5.2f} s)  big {results['big'].seconds:6.2f} s "
              f"(start-up {results['big'].start_up:5.2f} s)  ratio "
              f"{results['big'].seconds / results['fresh'].seconds:.2f}x  entries booked "
              f"{len(results['fresh'].booked)} / {len(results['big'].booked)}")
        shutil.rmtree(fresh)
    fresh_median = median(run.seconds for run in fresh_runs)
    big_median = median(run.seconds for run in big_runs)
    print(f"  fresh home: {fresh_median:6.2f} s (median of {rounds}), start-up "
          f"{median(run.start_up for run in fresh_runs):.2f} s")
    print(f"  big home:   {big_median:6.2f} s (median of {rounds}), start-up "
          f"{median(run.start_up for run in big_runs):.2f} s")
    print(f"  ratio big/fresh: {big_median / fresh_median:.2f}x (target <= 1.10x)")
    increments, written, largest = backup_figures(big, big_started)
    print(f"  the day's pre-write backups on the big home: {increments} increments, "
          f"{written:,} bytes in all, the largest {largest:,} bytes")
    code, seconds, verdict = drill(big)
    print(f"  restore drill (rebuild the newest set, compare with the live ledger): "
          f"exit {code} in {seconds:.1f} s  {verdict}")
    days = {run.booked for run in fresh_runs + big_runs}
    if len(days) != 1:
        print(f"  MISMATCH: the homes traded differently ({sorted(len(d) for d in days)} "
              "entries); the figures do not compare the same day")
        return 1
    print(f"  both homes booked the same {len(days.pop())} entries each round")
    return 0 if code == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--speed", type=float, default=3000.0)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 11, 20),
                        help="the trading day to simulate (default 2026-11-20, a Friday)")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "tbot-bench",
                        help="where big ledgers are built once and reused")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger_day.") as root:
        return run(args.entries, args.rounds, args.speed, args.day, args.cache, Path(root))


if __name__ == "__main__":
    sys.exit(main())
