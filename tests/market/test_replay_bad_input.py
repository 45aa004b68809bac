"""Replay files with bad numbers: refused with their line; zero-volume bars skipped with a
note; a symbol missing from a minute is absent from it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tbot.market.replay_feed import HEADER, BarFileError, BarFileNote, ReplayFeed

HEADER_LINE = ",".join(HEADER)
AT = "2026-11-20T14:30:00Z"
NEXT = "2026-11-20T14:31:00Z"
GOOD = f"{AT},AAPL,10.00,10.50,9.90,10.20,1200"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text("\n".join((HEADER_LINE, *lines)) + "\n", encoding="utf-8")
    return path


def refused(path: Path) -> BarFileError:
    with pytest.raises(BarFileError) as caught:
        ReplayFeed.from_csv(path)
    return caught.value


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (f"{NEXT},AAPL,nan,10.50,9.90,10.20,1200", "line 3: open 'nan' is not a number"),
        (f"{NEXT},AAPL,10.00,NaN,9.90,10.20,1200", "line 3: high 'NaN' is not a number"),
        (f"{NEXT},AAPL,10.00,10.50,9.90,sNaN,1200", "line 3: close 'sNaN' is not a number"),
        (f"{NEXT},AAPL,10.00,inf,9.90,10.20,1200", "line 3: high 'inf' is infinite"),
        (f"{NEXT},AAPL,10.00,10.50,-Infinity,10.20,1200", "line 3: low '-Infinity' is infinite"),
        (f"{NEXT},AAPL,-10.00,10.50,9.90,10.20,1200", "line 3: open '-10.00' is negative"),
        (f"{NEXT},AAPL,10.00,10.50,-0.01,10.20,1200", "line 3: low '-0.01' is negative"),
        (f"{NEXT},AAPL,10.00,10.50,9.90,0.00,1200", "line 3: close '0.00'; expected a price"),
        (f"{NEXT},AAPL,10.00,9.80,9.90,9.85,1200", "line 3: high 9.80 is below low 9.90"),
        (f"{NEXT},AAPL,10.00,10.50,9.90,10.60,1200", "line 3: high 10.50 is below open 10.00"),
        (f"{NEXT},AAPL,10.00,10.50,9.90,9.80,1200", "line 3: low 9.90 is above open 10.00"),
        (f"{NEXT},AAPL,9.85,10.50,9.90,10.20,1200", "line 3: low 9.90 is above open 9.85"),
        (f"{NEXT},AAPL,10.00,10.50,9.90,10.20,-1", "line 3: volume -1 is negative"),
    ],
)
def test_bad_numbers_are_refused_with_their_line(tmp_path: Path, row: str, expected: str) -> None:
    error = refused(write(tmp_path, GOOD, row))
    assert [problem.line for problem in error.problems] == [3] * len(error.problems)
    assert any(expected in f"line {p.line}: {p.message}" for p in error.problems), error
    assert expected in str(error)


def test_every_bad_price_of_a_row_is_named(tmp_path: Path) -> None:
    error = refused(write(tmp_path, f"{AT},AAPL,nan,inf,-1,0,5"))
    messages = " | ".join(str(problem) for problem in error.problems)
    assert error.total == 4
    for part in ("open 'nan'", "high 'inf'", "low '-1'", "close '0'"):
        assert part in messages


def test_zero_volume_bars_are_skipped_with_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD,
        f"{AT},MSFT,20.00,20.00,20.00,20.00,0",
        f"{NEXT},AAPL,10.20,10.30,10.10,10.25,800",
        f"{NEXT},MSFT,20.00,20.10,19.90,20.05,300",
    )
    feed = ReplayFeed.from_csv(path)
    first = feed.minute(datetime(2026, 11, 20, 14, 30, tzinfo=UTC))
    assert set(first) == {"AAPL"}  # no zero bar, no carried bar: simply absent
    assert set(feed.minute(datetime(2026, 11, 20, 14, 31, tzinfo=UTC))) == {"AAPL", "MSFT"}
    assert [bar.volume for bar in feed.day_bars(date(2026, 11, 20))["MSFT"]] == [300]
    assert feed.notes == (
        BarFileNote(3, "MSFT at 2026-11-20T14:30:00+00:00 has volume 0; skipped (no trade that "
                    "minute)"),
    )
    assert str(feed.notes[0]).startswith("line 3: MSFT at 2026-11-20T14:30:00+00:00")


def test_a_file_without_notes_has_none(tmp_path: Path) -> None:
    assert ReplayFeed.from_csv(write(tmp_path, GOOD)).notes == ()


def test_a_zero_volume_bar_must_still_be_well_formed(tmp_path: Path) -> None:
    error = refused(write(tmp_path, GOOD, f"{NEXT},MSFT,20.00,19.00,20.00,20.00,0"))
    assert error.problems[0].line == 3
    assert "high 19.00 is below low 20.00" in error.problems[0].message


def test_a_zero_volume_bar_still_counts_for_duplicates(tmp_path: Path) -> None:
    error = refused(write(tmp_path, GOOD, f"{AT},AAPL,10.00,10.50,9.90,10.20,0"))
    assert error.problems[0].line == 3
    assert "a second bar for AAPL" in error.problems[0].message


def test_a_file_whose_every_bar_has_no_volume_is_refused(tmp_path: Path) -> None:
    error = refused(write(tmp_path, f"{AT},AAPL,10,10,10,10,0", f"{NEXT},AAPL,10,10,10,10,0"))
    assert "every bar has volume 0 (2 skipped)" in str(error)


def test_a_symbol_missing_from_a_minute_is_absent_not_zero_or_carried(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD,
        f"{AT},MSFT,20.00,20.10,19.90,20.05,300",
        f"{NEXT},AAPL,10.20,10.30,10.10,10.25,800",
        "2026-11-20T14:32:00Z,MSFT,20.05,20.20,20.00,20.15,200",
    )
    feed = ReplayFeed.from_csv(path)
    gap = feed.minute(datetime(2026, 11, 20, 14, 31, tzinfo=UTC))
    assert "MSFT" not in gap and set(gap) == {"AAPL"}
    msft = feed.day_bars(date(2026, 11, 20))["MSFT"]
    assert [bar.start.minute for bar in msft] == [30, 32]
    assert feed.notes == ()
