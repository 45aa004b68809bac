"""Log files rotate by the writer's day and by size, keep their order, and never lose a
line, whatever happens to the move."""

from __future__ import annotations

import logging
import os
import stat
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.logfiles import RotatingLog, RotatingLogHandler
from tests.logfiles.conftest import DAY


def rotated(logs: Path, day: date) -> Path:
    return logs / "rotated" / day.isoformat()


def opener(logs: Path, clock: FrozenClock, **options: int) -> RotatingLog:
    return RotatingLog(logs / "open.log", lambda day: rotated(logs, day), clock, **options)


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def test_a_new_day_moves_the_file_into_the_previous_days_folder(
    logs: Path, clock: FrozenClock
) -> None:
    log = opener(logs, clock)
    log.write_line("friday 1")
    log.write_line("friday 2")
    clock.advance(timedelta(days=3))
    log.write_line("monday 1")
    log.close()
    assert (rotated(logs, DAY.date()) / "open.001.log").read_text() == "friday 1\nfriday 2\n"
    assert (logs / "open.log").read_text() == "monday 1\n"


def test_size_rotation_keeps_the_order_within_a_day(logs: Path, clock: FrozenClock) -> None:
    log = opener(logs, clock, max_bytes=20)
    lines = [f"line {n:02d} ....." for n in range(5)]  # 15 bytes each with the newline
    for line in lines:
        log.write_line(line)
    log.close()
    folder = rotated(logs, DAY.date())
    assert sorted(os.listdir(folder)) == ["open.001.log", "open.002.log", "open.003.log",
                                          "open.004.log"]
    written = [(folder / name).read_text() for name in sorted(os.listdir(folder))]
    written.append((logs / "open.log").read_text())
    assert "".join(written) == "".join(line + "\n" for line in lines)


def test_a_line_longer_than_the_limit_is_written_whole(logs: Path, clock: FrozenClock) -> None:
    log = opener(logs, clock, max_bytes=10)
    log.write_line("x" * 50)
    log.close()
    assert (logs / "open.log").read_text() == "x" * 50 + "\n"


def test_a_stale_file_found_at_start_is_rotated_into_its_own_day(
    logs: Path, clock: FrozenClock
) -> None:
    logs.mkdir()
    (logs / "open.log").write_text("yesterday\n")
    set_mtime(logs / "open.log", DAY - timedelta(days=1))
    log = opener(logs, clock)
    log.write_line("today")
    log.close()
    assert (rotated(logs, (DAY - timedelta(days=1)).date()) / "open.001.log").read_text() == \
        "yesterday\n"
    assert (logs / "open.log").read_text() == "today\n"


def test_a_file_of_the_same_or_a_later_day_is_appended_to(logs: Path, clock: FrozenClock
                                                           ) -> None:
    logs.mkdir()
    (logs / "open.log").write_text("earlier today\n")
    set_mtime(logs / "open.log", DAY - timedelta(hours=1))
    log = opener(logs, clock)
    log.write_line("now")
    log.close()
    assert (logs / "open.log").read_text() == "earlier today\nnow\n"
    set_mtime(logs / "open.log", DAY + timedelta(days=15))  # a replay of past days
    log = opener(logs, clock)
    log.write_line("replayed")
    log.close()
    assert (logs / "open.log").read_text() == "earlier today\nnow\nreplayed\n"
    assert not (logs / "rotated").exists()


def test_a_failed_move_keeps_every_line_and_is_retried(
    logs: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    logs.mkdir()
    (logs / "rotated").write_text("a file where the folder should be")  # the move fails
    log = opener(logs, clock)
    log.write_line("friday")
    clock.advance(timedelta(days=1))
    with caplog.at_level(logging.WARNING):
        log.write_line("saturday")
        clock.advance(timedelta(days=1))
        log.write_line("sunday")
    assert (logs / "open.log").read_text() == "friday\nsaturday\nsunday\n"
    assert sum("could not be rotated" in r.message for r in caplog.records) == 1
    (logs / "rotated").unlink()
    clock.advance(timedelta(days=1))
    log.write_line("monday")  # the move works again
    log.close()
    assert (logs / "open.log").read_text() == "monday\n"


def test_rotated_files_are_0640_and_their_folders_0750(logs: Path, clock: FrozenClock) -> None:
    log = opener(logs, clock)
    log.write_line("a")
    clock.advance(timedelta(days=1))
    log.write_line("b")
    log.close()
    folder = rotated(logs, DAY.date())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert stat.S_IMODE((folder / "open.001.log").stat().st_mode) == 0o640


def test_the_engine_log_handler_rotates_by_day_and_keeps_a_traceback_whole(
    logs: Path, clock: FrozenClock
) -> None:
    handler = RotatingLogHandler(logs / "engine.log", lambda day: rotated(logs, day),
                                 clock=clock)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.logfiles.engine")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("before midnight")
        clock.advance(timedelta(days=1))
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("after midnight")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert (rotated(logs, DAY.date()) / "engine.001.log").read_text() == \
        "WARNING before midnight\n"
    today = (logs / "engine.log").read_text()
    assert today.startswith("ERROR after midnight\nTraceback") and "RuntimeError: boom" in today


def test_a_full_file_found_at_start_is_rotated_before_the_first_line(
    logs: Path, clock: FrozenClock
) -> None:
    logs.mkdir()
    (logs / "open.log").write_text("x" * 19 + "\n")
    set_mtime(logs / "open.log", DAY - timedelta(hours=1))  # today's: only size moves it
    log = opener(logs, clock, max_bytes=20)
    log.write_line("next")
    log.close()
    assert (rotated(logs, DAY.date()) / "open.001.log").read_text() == "x" * 19 + "\n"
    assert (logs / "open.log").read_text() == "next\n"


def test_numbers_go_past_999_without_reusing_one(logs: Path, clock: FrozenClock) -> None:
    folder = rotated(logs, DAY.date())
    folder.mkdir(parents=True)
    for name in ("open.998.log", "open.999.log", "open.1000.log", "other.5000.log"):
        (folder / name).write_text(name)
    log = opener(logs, clock)
    log.write_line("friday")
    clock.advance(timedelta(days=1))
    log.write_line("saturday")
    log.close()
    assert (folder / "open.1001.log").read_text() == "friday\n"
    assert (folder / "open.1000.log").read_text() == "open.1000.log"


def test_a_failed_size_move_is_retried_only_after_another_limit(
    logs: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[Path] = []
    real_rename = os.rename

    def failing_rename(source: Path, target: Path) -> None:
        attempts.append(Path(target))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", failing_rename)
    log = opener(logs, clock, max_bytes=20)
    lines = [f"l{n:02d}" for n in range(15)]  # 4 bytes each with the newline
    for line in lines:
        log.write_line(line)
    assert len(attempts) == 2  # at 20 bytes, then at 40: not before every line
    monkeypatch.setattr(os, "rename", real_rename)
    log.write_line("l15")  # 60 bytes: the next try, which works
    log.close()
    assert (rotated(logs, DAY.date()) / "open.001.log").read_text() == \
        "".join(line + "\n" for line in lines)
    assert (logs / "open.log").read_text() == "l15\n"


def test_a_failed_move_of_engine_log_reports_into_engine_log_without_recursing(
    logs: Path, clock: FrozenClock
) -> None:
    logs.mkdir()
    (logs / "rotated").write_text("a file where the folder should be")  # the move fails
    handler = RotatingLogHandler(logs / "engine.log", lambda day: rotated(logs, day),
                                 clock=clock)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    tbot_logger = logging.getLogger("tbot")  # where the engine puts its handler
    level = tbot_logger.level
    tbot_logger.addHandler(handler)
    tbot_logger.setLevel(logging.INFO)
    try:
        logger = logging.getLogger("tbot.tests.logfiles")
        logger.warning("before midnight")
        set_mtime(logs / "engine.log", DAY - timedelta(days=1))
        clock.advance(timedelta(days=1))
        logger.warning("after midnight")
        logger.warning("later")
    finally:
        tbot_logger.removeHandler(handler)
        tbot_logger.setLevel(level)
        handler.close()
    lines = (logs / "engine.log").read_text().splitlines()
    assert lines[0] == "tbot.tests.logfiles before midnight"
    assert lines[1] == "tbot.tests.logfiles after midnight"
    assert lines[2].startswith("tbot.logfiles.rotating_log log ")
    assert "could not be rotated" in lines[2]
    assert lines[3:] == ["tbot.tests.logfiles later"]


def test_a_simulated_clock_replaying_a_past_day_appends_to_todays_file(logs: Path) -> None:
    logs.mkdir()
    (logs / "open.log").write_text("written just now\n")  # mtime: the wall clock's today
    replay = FrozenClock(datetime(2024, 3, 1, 15, 0, tzinfo=DAY.tzinfo))
    log = opener(logs, replay)
    log.write_line("a replayed minute")
    log.close()
    assert (logs / "open.log").read_text() == "written just now\na replayed minute\n"
    assert not (logs / "rotated").exists()
