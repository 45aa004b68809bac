"""Replaying bars from CSV: exact prices, UTC minutes, and every problem reported by line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.errors import EXIT_BAD_INPUT
from tbot.market.bars import Bar, BarFeed
from tbot.market.calendar import TradingCalendar
from tbot.market.generated_feed import GeneratedFeed
from tbot.market.replay_feed import HEADER, MAX_LISTED_PROBLEMS, BarFileError, ReplayFeed

HEADER_LINE = ",".join(HEADER)
GOOD_ROW = "2026-11-20T14:30:00Z,AAPL,10.00,10.50,9.90,10.20,1200"

WriteBarFile = Callable[[str | bytes], Path]


@pytest.fixture
def bar_file(tmp_path: Path) -> WriteBarFile:
    """Write text (or raw bytes) to a CSV file and return its path."""

    def write(content: str | bytes) -> Path:
        path = tmp_path / "bars.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


def rows(*lines: str) -> str:
    return "\n".join((HEADER_LINE, *lines)) + "\n"


def problem_of(path: Path) -> BarFileError:
    with pytest.raises(BarFileError) as caught:
        ReplayFeed.from_csv(path)
    return caught.value


def test_round_trip_through_write_csv_keeps_every_bar_exactly(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    day_bars = GeneratedFeed(7, calendar, ["BAC", "SQQQ", "F"]).day_bars(date(2026, 11, 27))
    bars = [bar for series in day_bars.values() for bar in series]
    path = tmp_path / "day.csv"
    ReplayFeed.write_csv(path, bars)
    feed = ReplayFeed.from_csv(path)
    assert feed.symbols == ("BAC", "F", "SQQQ")
    assert feed.day_bars(date(2026, 11, 27)) == day_bars
    first = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert feed.minute(first) == {symbol: series[0] for symbol, series in day_bars.items()}


def test_prices_stay_exactly_as_written(bar_file: WriteBarFile) -> None:
    feed = ReplayFeed.from_csv(bar_file(rows("2026-11-20T14:30:00Z,F,12.3400,12.5,12.1,12.35,7")))
    bar = feed.minute(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))["F"]
    assert str(bar.open) == "12.3400"
    assert (bar.high, bar.low, bar.close) == (Decimal("12.5"), Decimal("12.1"), Decimal("12.35"))
    assert bar.volume == 7


def test_written_decimals_never_use_exponent_notation(tmp_path: Path) -> None:
    start = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    bar = Bar("X", start, Decimal("1E+2"), Decimal("1E+2"), Decimal("1E+2"), Decimal("1E+2"), 5)
    path = tmp_path / "bars.csv"
    ReplayFeed.write_csv(path, [bar])
    assert "100,100,100,100,5" in path.read_text(encoding="utf-8")
    assert ReplayFeed.from_csv(path).minute(start)["X"] == bar


def test_offsets_are_converted_to_utc(bar_file: WriteBarFile) -> None:
    feed = ReplayFeed.from_csv(bar_file(rows("2026-11-20T09:30:00-05:00,F,1,1,1,1,10")))
    bar = feed.minute(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))["F"]
    assert bar.start == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert bar.start.utcoffset() == timedelta(0)


def test_has_day_symbols_and_day_bars_follow_the_file(bar_file: WriteBarFile) -> None:
    path = bar_file(
        rows(
            "2026-11-20T14:31:00Z,MSFT,2,2,2,2,1",
            "2026-11-20T14:30:00Z,MSFT,1,1,1,1,1",
            "2026-11-23T14:30:00Z,AAPL,3,3,3,3,1",
            "",
        )
    )
    feed: BarFeed = ReplayFeed.from_csv(path)
    assert feed.symbols == ("AAPL", "MSFT")
    assert feed.has_day(date(2026, 11, 20)) and feed.has_day(date(2026, 11, 23))
    assert not feed.has_day(date(2026, 11, 21))
    replay = ReplayFeed.from_csv(path)
    assert replay.days == (date(2026, 11, 20), date(2026, 11, 23))
    assert [bar.close for bar in replay.day_bars(date(2026, 11, 20))["MSFT"]] == [1, 2]
    assert replay.day_bars(date(2026, 11, 21)) == {}
    assert replay.minute(datetime(2026, 11, 20, 15, 0, tzinfo=UTC)) == {}


def test_a_spreadsheet_byte_order_mark_is_accepted(bar_file: WriteBarFile) -> None:
    feed = ReplayFeed.from_csv(bar_file(b"\xef\xbb\xbf" + rows(GOOD_ROW).encode()))
    assert feed.symbols == ("AAPL",)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("2026-11-20T14:30:00Z,AAPL,10.00,10.50,9.90,10.20", "6 columns; expected 7"),
        (GOOD_ROW + ",extra", "8 columns; expected 7"),
        ("2026-11-20T14:30:00Z,AAPL,ten,10.50,9.90,10.20,1200", "open 'ten'; expected a price"),
        ("2026-11-20T14:30:00Z,AAPL,10.00,1e2,9.90,10.20,1200", "high '1e2'; expected a price"),
        ("2026-11-20T14:30:00Z,AAPL,0,10.50,9.90,10.20,1200", "open '0'; expected a price above"),
        ("2026-11-20T14:30:00Z,AAPL,10.00,10.50,9.90,10.20,-5", "volume -5 is negative"),
        ("2026-11-20T14:30:00Z,AAPL,10.00,10.50,9.90,10.20,1.5", "volume '1.5'; expected a whole"),
        ("2026-11-20T14:30:00Z,AAPL,10.00,9.80,9.90,9.95,1200", "high 9.80 is below low 9.90"),
        ("2026-11-20T14:30:00Z,AAPL,10.00,10.10,9.90,10.20,1200", "high 10.10 is below open"),
        ("2026-11-20T14:30:00Z,AAPL,10.00,10.50,10.10,10.20,1200", "low 10.10 is above open"),
        ("2026-11-20T14:30:30Z,AAPL,10.00,10.50,9.90,10.20,1200", "whole minute"),
        ("2026-11-20T14:30:00,AAPL,10.00,10.50,9.90,10.20,1200", "has no UTC offset"),
        ("20/11/2026 14:30,AAPL,10.00,10.50,9.90,10.20,1200", "expected ISO 8601"),
        ("2026-11-20T14:30:00Z,aapl,10.00,10.50,9.90,10.20,1200", "expected an upper-case ticker"),
    ],
)
def test_each_bad_row_is_reported_with_its_line_and_what_was_expected(
    bar_file: WriteBarFile, row: str, expected: str
) -> None:
    path = bar_file(rows(GOOD_ROW.replace("14:30", "14:29"), row))
    error = problem_of(path)
    assert error.exit_code == EXIT_BAD_INPUT
    assert str(path) in str(error)
    assert {problem.line for problem in error.problems} == {3}
    assert any(expected in str(problem) for problem in error.problems)


def test_a_duplicate_minute_names_both_lines(bar_file: WriteBarFile) -> None:
    error = problem_of(bar_file(rows(GOOD_ROW, GOOD_ROW.replace("AAPL", "MSFT"), GOOD_ROW)))
    assert len(error.problems) == 1
    assert error.problems[0].line == 4
    assert "first is on line 2" in error.problems[0].message


def test_a_wrong_header_is_refused(bar_file: WriteBarFile) -> None:
    error = problem_of(bar_file("time,symbol,open,high,low,close,volume\n" + GOOD_ROW + "\n"))
    assert error.problems[0].line == 1
    assert f"expected exactly {HEADER_LINE}" in str(error)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        (HEADER_LINE + "\n", "has a header but no bars"),
    ],
)
def test_a_file_without_bars_is_refused(
    bar_file: WriteBarFile, content: str, expected: str
) -> None:
    assert expected in str(problem_of(bar_file(content)))


def test_non_utf8_text_is_refused_with_its_line(bar_file: WriteBarFile) -> None:
    content = rows(GOOD_ROW).encode() + b"2026-11-20T14:31:00Z,\xff\xfe,1,1,1,1,1\n"
    error = problem_of(bar_file(content))
    assert error.problems[0].line == 3
    assert "not UTF-8" in str(error)


def test_a_missing_file_is_a_bar_file_error(tmp_path: Path) -> None:
    error = problem_of(tmp_path / "absent.csv")
    assert "cannot be read" in str(error)


def test_problems_are_collected_and_listed_together(bar_file: WriteBarFile) -> None:
    bad = [f"2026-11-20T14:{minute:02d}:00Z,AAPL,x,1,1,1,1" for minute in range(25)]
    error = problem_of(bar_file(rows(GOOD_ROW.replace("14:30", "15:30"), *bad)))
    assert error.total == 25
    assert len(error.problems) == MAX_LISTED_PROBLEMS
    assert [problem.line for problem in error.problems] == list(range(3, 23))
    assert "has 25 problems" in str(error)
    assert "... and 5 more" in str(error)


def test_several_problems_in_one_row_are_all_reported(bar_file: WriteBarFile) -> None:
    error = problem_of(bar_file(rows("2026-11-20T14:30:00,AAPL,x,1,1,1,-1")))
    assert error.total == 3


def test_naive_or_partial_minutes_are_refused_by_minute(bar_file: WriteBarFile) -> None:
    feed = ReplayFeed.from_csv(bar_file(rows(GOOD_ROW)))
    with pytest.raises(ValueError, match="naive"):
        feed.minute(datetime(2026, 11, 20, 14, 30))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="whole minutes"):
        feed.minute(datetime(2026, 11, 20, 14, 30, 1, tzinfo=UTC))


def test_duplicate_bars_in_memory_are_refused() -> None:
    start = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    bar = Bar("F", start, Decimal(1), Decimal(1), Decimal(1), Decimal(1), 1)
    with pytest.raises(ValueError, match="two bars for F"):
        ReplayFeed([bar, bar])
