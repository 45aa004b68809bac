"""Log files rotate by the writer's day and by size, keep their order, and never lose a
line, whatever happens to the move."""

from __future__ import annotations

import logging
import os
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tbot.clock import FrozenClock
from tbot.logfiles import RotatingLog, RotatingLogHandler

DAY = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DAY)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


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
