"""Fixtures for the archive's tests: a home that traded one simulated day (built once per
session by the real CLI and engine, then copied per test), and its archive store."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tbot.admin.bot_home import BotHome, open_home
from tbot.archive import ArchiveRunReport, ArchiveStore, run_archive
from tbot.ledger.backups import BackupPolicy, take_snapshot
from tests.engine.engine_process import init_home, run_tbot

TRADING_DAY = date(2026, 11, 20)
LATER = datetime(2027, 1, 20, 12, tzinfo=UTC)
"""A moment when everything the fixture home holds is older than ARCHIVE_AFTER_DAYS."""
POLICY = BackupPolicy(retention_days=2, keep_per_day=5)
ROTATED_LOG_LINES = b"2026-11-20T14:31:00Z ENTRY AAPL side=long qty=12 price=187.25\n" * 50


@pytest.fixture(scope="session")
def traded_home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home after one simulated trading day, a sync, rotated logs of that day, and
    backup sets in three day folders: 2026-11-20 (beyond POLICY's two days, so archived),
    2026-11-21, and today's (the engine's first write started it)."""
    home = init_home(tmp_path_factory.mktemp("archive") / "home")
    day = run_tbot("engine", "--home", home, "--sim", "--speed", "3000", "--start",
                   f"{TRADING_DAY.isoformat()}T14:25:00Z", "--until-close")
    assert day.returncode == 0, day.stderr[-3000:]
    synced = run_tbot("recon", "sync", "--home", home)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    paths = open_home(home).paths
    rotated = paths.rotated_logs_dir(TRADING_DAY)
    rotated.mkdir(parents=True)
    (rotated / "open.001.log").write_bytes(ROTATED_LOG_LINES)
    (rotated / "engine.001.log").write_bytes(b"2026-11-20 14:25:00 INFO tbot: started\n")
    take_snapshot(paths, datetime(2026, 11, 20, 22, tzinfo=UTC))
    take_snapshot(paths, datetime(2026, 11, 21, 22, tzinfo=UTC))
    return home


@pytest.fixture
def traded_home(traded_home_template: Path, tmp_path: Path) -> BotHome:
    """A copy of the traded home for one test."""
    home = tmp_path / "home"
    shutil.copytree(traded_home_template, home, symlinks=True)
    return open_home(home)


@pytest.fixture
def archived_home(traded_home: BotHome) -> tuple[BotHome, ArchiveRunReport]:
    """The traded home after one archive run at LATER."""
    report = run_archive(traded_home.paths, archive_after_days=30, backup_policy=POLICY,
                         now=LATER)
    return traded_home, report


def store_of(home: BotHome) -> ArchiveStore:
    """The home's archive with its key loaded."""
    store = ArchiveStore(home.paths, now=lambda: LATER)
    store.open_key(create=False)
    return store
