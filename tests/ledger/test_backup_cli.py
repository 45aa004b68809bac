"""`tbot ledger backup [--drill]`, `tbot ledger restore --to DIR [--as-of TIME]` and
`tbot ledger drill` on a home made by `tbot init`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tbot.admin.bot_home import open_home
from tbot.cli.main import main
from tbot.clock import SystemClock
from tbot.ledger.posting import LedgerWriter

from .backup_support import increment_files, newest_set


def _tbot(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(arg) for arg in args])
    return code, capsys.readouterr().out


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A home from `tbot init` with a backup set and a few audit rows after it."""
    target = tmp_path / "home"
    assert _tbot(capsys, "init", "--home", target)[0] == 0
    bot = open_home(target)
    with LedgerWriter(bot.paths, SystemClock(), bot.backup_policy) as writer:
        writer.wait_for_backups(timeout=30)
        for number in range(3):
            writer.record_event("test.event", actor="test", subject=f"event-{number}",
                                details={"number": number})
        writer.wait_for_backups(timeout=30)
    return target


def test_backup_takes_a_snapshot_that_starts_a_new_set(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _tbot(capsys, "ledger", "backup", "--home", home, "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["ok"] is True
    assert Path(payload["snapshot"]["set"]) == newest_set(open_home(home).paths)
    assert payload["snapshot"]["head"]["audit_id"] >= 4


def test_restore_rebuilds_and_verifies_and_prints_for_people(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _tbot(capsys, "ledger", "restore", "--home", home, "--to", tmp_path / "r")
    assert code == 0
    assert "Ledger restored" in out and "ledger verified" in out


def test_restore_json_names_what_it_rebuilt(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _tbot(capsys, "ledger", "restore", "--home", home, "--to", tmp_path / "r",
                      "--as-of", "2999-01-01", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["ok"] is True
    assert payload["verify"]["ok"] is True
    assert Path(payload["restore"]["ledger"]).is_file()


def test_restore_refuses_a_set_with_a_missing_increment_with_exit_2(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    increments = increment_files(newest_set(open_home(home).paths))
    assert len(increments) >= 2
    increments[0].unlink()
    code, out = _tbot(capsys, "ledger", "restore", "--home", home, "--to", tmp_path / "r",
                      "--json")
    assert code == 2
    assert "inc-00000001.jsonl.gz" in json.loads(out)["error"]


@pytest.mark.parametrize("moment", ["2026-03-02T15:00:00", "yesterday"])
def test_restore_refuses_a_time_without_a_zone_or_not_a_time(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], moment: str
) -> None:
    code, _ = _tbot(capsys, "ledger", "restore", "--home", home, "--to", tmp_path / "r",
                    "--as-of", moment)
    assert code == 2


def test_drill_passes_then_fails_with_exit_1_once_the_ledger_was_altered(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _tbot(capsys, "ledger", "drill", "--home", home, "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    ledger = open_home(home).paths.ledger_db
    intruder = sqlite3.connect(ledger, isolation_level=None)
    try:
        intruder.execute("DROP TRIGGER audit_trail_no_update")
        intruder.execute("UPDATE audit_trail SET actor = 'someone else' WHERE id = 2")
    finally:
        intruder.close()
    code, out = _tbot(capsys, "ledger", "drill", "--home", home, "--json")
    payload = json.loads(out)
    assert code == 1 and payload["ok"] is False
    assert any("audit_trail" in line for line in payload["differences"])


def test_backup_with_drill_exits_1_on_a_failed_drill_but_still_takes_the_snapshot(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = open_home(home).paths
    before = newest_set(paths)
    increment_files(before)[0].unlink()
    code, out = _tbot(capsys, "ledger", "backup", "--drill", "--home", home, "--json")
    payload = json.loads(out)
    assert code == 1
    assert payload["drill"]["ok"] is False
    assert newest_set(paths) != before
