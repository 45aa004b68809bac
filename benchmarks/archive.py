"""The cold archive's nightly cost at scale: sealing a million-entry backup set, verifying
and restoring it, and a month of rotated logs.

A copy of `benchmarks/big_ledger.py`'s home (--entries journal entries, cached) gets two
backup sets in day folders of their own (the older beyond a one-day retention, so the
archive must take it) and --log-days days of rotated logs (--log-files files of
--log-mb MB each per day, realistic strategy-log lines). Then, as the nightly service
would on that home:

1. `tbot archive run` (in process: `run_archive`): seal the set (a tar of snapshot, chart
   copy and manifest), the logs and the per-day exports, list them, remove the originals,
   prune the set;
2. `tbot archive verify`: every stored SHA-256, then every file decrypted and its content
   checked;
3. `tbot archive restore` of the set.

Printed: seconds and MB/s of each step, bytes in and out (the compression the archive
gets on a ledger), and the peak memory of this process (frames keep it flat).

    .venv/bin/python benchmarks/archive.py [--entries 1000000] [--log-days 30]
        [--log-files 5] [--log-mb 1] [--cache DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from big_ledger import build_big_ledger

from tbot.admin.bot_home import open_bot_paths
from tbot.archive import ArchiveStore, run_archive
from tbot.config.paths import BotPaths
from tbot.ledger.backups import BackupPolicy, take_snapshot

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
LOG_LINE = (b"2027-01-05T14:31:00Z ENTRY AAPL side=long qty=12 price=187.25 "
            b"reason=\"range break\" window=open stop=185.10 target=191.40\n")


def _mb(count: int) -> float:
    return count / 1e6


def _write_logs(paths: BotPaths, days: int, files: int, megabytes: float) -> int:
    written = 0
    per_file = int(megabytes * 1e6) // len(LOG_LINE) + 1
    for back in range(days):
        day = (NOW - timedelta(days=40 + back)).date()
        folder = paths.rotated_logs_dir(day)
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(files):
            path = folder / f"strategy{index}.001.log"
            path.write_bytes(LOG_LINE * per_file)
            written += path.stat().st_size
    return written


def paths_sets(home: Path) -> list[Path]:
    """Backup sets and single-file backups under the home's storage/backups/."""
    backups = home / "storage" / "backups"
    return [path for path in backups.glob("*/*") if path.suffix in (".set", ".db")
            ] if backups.is_dir() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--log-days", type=int, default=30)
    parser.add_argument("--log-files", type=int, default=5)
    parser.add_argument("--log-mb", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tbot-bench")
    args = parser.parse_args()

    ledger = build_big_ledger(args.cache, args.entries)
    scratch = Path(tempfile.mkdtemp(prefix="tbot-archive-bench-"))
    try:
        home_dir = scratch / "home"
        print(f"copying the {args.entries:,}-entry home ({_mb(ledger.stat().st_size):,.0f} MB)"
              " ...", flush=True)
        shutil.copytree(ledger.parents[3], home_dir)
        for leftover in [*paths_sets(home_dir)]:
            # Backups an earlier benchmark left in the cached home: only ours are measured.
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        paths = open_bot_paths(home_dir)  # the cached home's .env_bot may be of an older version
        take_snapshot(paths, NOW - timedelta(days=45))
        take_snapshot(paths, NOW - timedelta(days=1))
        log_bytes = _write_logs(paths, args.log_days, args.log_files, args.log_mb)
        set_dir = next(path for path in paths.backups_dir.rglob("*.set")
                       if path.parent.name == (NOW - timedelta(days=45)).date().isoformat())
        set_bytes = sum(path.stat().st_size for path in set_dir.iterdir())

        started = time.perf_counter()
        report = run_archive(paths, archive_after_days=30,
                             backup_policy=BackupPolicy(retention_days=1, keep_per_day=5),
                             now=NOW)
        run_seconds = time.perf_counter() - started
        sealed_set = next(entry for entry in report.sealed if entry.kind == "ledger-set"
                          and entry.source.endswith(set_dir.name))
        logs = [entry for entry in report.sealed if entry.kind == "log"]

        store = ArchiveStore(paths, now=lambda: NOW)
        store.open_key(create=False)
        started = time.perf_counter()
        verified = store.verify()
        verify_seconds = time.perf_counter() - started
        started = time.perf_counter()
        store.restore(sealed_set.file, scratch / "restored")
        restore_seconds = time.perf_counter() - started

        stored_total = sum(entry.stored_bytes for entry in report.sealed)
        content_total = sum(entry.content_bytes for entry in report.sealed)
        print(f"\narchive run: {len(report.sealed)} files sealed in {run_seconds:.1f} s "
              f"({_mb(content_total) / run_seconds:,.0f} MB/s of content)")
        print(f"  backup set: {_mb(set_bytes):,.0f} MB on disk -> "
              f"{_mb(sealed_set.stored_bytes):,.0f} MB sealed "
              f"({sealed_set.stored_bytes / set_bytes:.0%})")
        print(f"  logs: {len(logs)} files, {_mb(log_bytes):,.0f} MB -> "
              f"{_mb(sum(e.stored_bytes for e in logs)):,.1f} MB sealed")
        print(f"  other kinds: {report.counts()}")
        print(f"  originals removed: {len(report.removed)}; pruned: "
              f"{[path.name for path in report.sets_pruned]}")
        print(f"verify: {'ok' if verified.ok else verified.findings} - "
              f"{verified.files_checked} files, {_mb(verified.bytes_checked):,.0f} MB in "
              f"{verify_seconds:.1f} s ({_mb(content_total) / verify_seconds:,.0f} MB/s of "
              "content)")
        print(f"restore of the set: {restore_seconds:.1f} s "
              f"({_mb(sealed_set.content_bytes) / restore_seconds:,.0f} MB/s)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"total sealed: {_mb(stored_total):,.0f} MB for {_mb(content_total):,.0f} MB of "
              f"content; peak memory {peak:,.0f} MB")
        return 0 if verified.ok else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
