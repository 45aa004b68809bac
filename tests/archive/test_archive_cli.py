"""The `tbot archive` commands as an operator runs them: exit codes and JSON answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import BotHome
from tbot.archive import ArchiveRunReport
from tests.engine.engine_process import run_tbot


def archive(home: BotHome, *args: str | Path) -> tuple[int, Any]:
    result = run_tbot("archive", *args, "--home", home.paths.home, "--json")
    try:
        return result.returncode, json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(result.stdout + result.stderr) from None


def test_list_verify_and_restore_from_the_command_line(
    archived_home: tuple[BotHome, ArchiveRunReport], tmp_path: Path
) -> None:
    home, report = archived_home
    code, listed = archive(home, "list", "--kind", "log")
    assert code == 0
    assert {item["file"] for item in listed["files"]} == {
        entry.file for entry in report.sealed if entry.kind == "log"}
    code, verified = archive(home, "verify")
    assert code == 0 and verified["ok"] and verified["files_checked"] == len(report.sealed)
    name = listed["files"][0]["file"]
    code, restored = archive(home, "restore", name, "--to", tmp_path / "out")
    assert code == 0 and Path(restored["restored"][0]).is_file()


def test_verify_exits_1_naming_an_altered_file(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    victim = report.sealed[0]
    path = home.paths.archive_year_dir(2026) / victim.file
    path.write_bytes(path.read_bytes()[:-1])
    code, verified = archive(home, "verify")
    assert code == 1 and not verified["ok"]
    assert [finding["file"] for finding in verified["findings"]] == [victim.file]


def test_a_purge_within_seven_years_exits_2_and_run_today_exits_0(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    code, answer = archive(home, "purge", "--before", "2026-12-01", "--clearance", "REF-1")
    assert code == 2 and "kept 7 years" in answer["error"]
    code, answer = archive(home, "run")
    assert code == 0 and answer["ok"]
    code, listed = archive(home, "list")
    assert len(listed["files"]) >= len(report.sealed)
