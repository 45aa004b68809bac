"""New ledger and chart-of-accounts files are 0640 with the bot home's group; keys stay 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

IDENTITY = "TBOT_US_SIM_BOT01"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _init(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "tbot.cli.main", "init", "--home", str(home)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def test_new_ledger_and_coa_files_are_0640_with_the_homes_group_and_keys_0600(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old_umask = os.umask(0o077)  # the strictest umask must not make ledgers unreadable
    try:
        _init(home)
    finally:
        os.umask(old_umask)
    ledgers = home / "output" / IDENTITY / "ledgers"
    ledger = ledgers / f"{IDENTITY}_BOT_ledger.db"
    coa = next(ledgers.glob("*COA*.db"))
    for path in (ledger, coa):
        assert _mode(path) == 0o640, path
        assert path.stat().st_gid == home.stat().st_gid, path
    for key in (home / "storage/keys").glob("*.key"):
        assert _mode(key) == 0o600, key
