"""Minute bars replayed from a CSV file: recorded or hand-made market days.

The file is long format, one bar per line, with the header exactly
``timestamp,symbol,open,high,low,close,volume``. `timestamp` is the minute the bar opens,
in ISO 8601 with ``Z`` or an offset (naive times are refused, never guessed); prices are
plain decimals kept exactly as written; volume is a whole number of shares.

A bad file is refused whole, with every problem (up to `MAX_LISTED_PROBLEMS`) listed by
line, so a person can fix them in one pass: prices that are not plain positive decimals
(NaN, infinite, negative or zero), a high below the low or an open/close outside
[low, high], and negative volumes among them.

A bar with volume 0 (no trade that minute) is well formed but carries no price anyone
traded at: it is skipped, and `ReplayFeed.notes` records the skipped line for the caller
to log. A symbol without a bar in some minute is simply absent from that minute (never a
zero bar, never the previous bar carried forward).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType

from tbot.clock import ensure_utc
from tbot.errors import EXIT_BAD_INPUT, TbotError
from tbot.market.bars import Bar

HEADER: tuple[str, ...] = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
MAX_LISTED_PROBLEMS = 20

_HEADER_TEXT = ",".join(HEADER)
_DECIMAL = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_WHOLE = re.compile(r"[+-]?\d+")
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,14}")
_EMPTY: Mapping[str, Bar] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class BarFileProblem:
    """One thing wrong with a bar file; `line` is None for the file as a whole."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class BarFileNote:
    """A line of a bar file that was read but not used (a zero-volume bar), and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class BarFileError(TbotError):
    """A bar file that cannot be replayed, with what is wrong and where."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: Path, problems: Sequence[BarFileProblem], total: int) -> None:
        self.path = path
        self.problems = tuple(problems)
        self.total = total
        listed = "\n".join(f"  {problem}" for problem in self.problems)
        more = total - len(self.problems)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        noun = "problem" if total == 1 else "problems"
        super().__init__(f"bar file {path} has {total} {noun}:\n{listed}{tail}")


class _Problems:
    """Collects problems, keeping the first `MAX_LISTED_PROBLEMS` and counting the rest."""

    def __init__(self) -> None:
        self.listed: list[BarFileProblem] = []
        self.total = 0

    def add(self, line: int | None, message: str) -> None:
        self.total += 1
        if len(self.listed) < MAX_LISTED_PROBLEMS:
            self.listed.append(BarFileProblem(line, message))


class ReplayFeed:
    """A `BarFeed` over a fixed set of bars (from a CSV file, or built in memory).

    `notes` are the lines of the file that were skipped (zero-volume bars), for the caller
    to log; empty for bars built in memory unless given.
    """

    def __init__(self, bars: Iterable[Bar], notes: Sequence[BarFileNote] = ()) -> None:
        self._notes = tuple(notes)
        by_minute: dict[datetime, dict[str, Bar]] = {}
        by_day: dict[date, dict[str, list[Bar]]] = {}
        for bar in bars:
            start = ensure_utc(bar.start)
            minute = by_minute.setdefault(start, {})
            if bar.symbol in minute:
                raise ValueError(f"two bars for {bar.symbol} at {start.isoformat()}")
            minute[bar.symbol] = bar
            by_day.setdefault(start.date(), {}).setdefault(bar.symbol, []).append(bar)
        self._by_minute = {start: MappingProxyType(bars) for start, bars in by_minute.items()}
        self._by_day = {
            day: MappingProxyType(
                {
                    symbol: tuple(sorted(series, key=lambda bar: bar.start))
                    for symbol, series in sorted(by_symbol.items())
                }
            )
            for day, by_symbol in by_day.items()
        }
        self._symbols = tuple(sorted({s for minute in by_minute.values() for s in minute}))

    @classmethod
    def from_csv(cls, path: Path) -> ReplayFeed:
        """Read a bar file; every problem found is reported together in one `BarFileError`.
        Zero-volume bars are left out and recorded in `notes`."""
        bars, notes = _read_bar_file(path)
        return cls(bars, notes)

    @staticmethod
    def write_csv(path: Path, bars: Iterable[Bar]) -> None:
        """Write `bars` as a bar file `from_csv` reads back identically, in time order."""
        ordered = sorted(bars, key=lambda bar: (bar.start, bar.symbol))
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADER)
            for bar in ordered:
                writer.writerow(
                    (
                        ensure_utc(bar.start).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        bar.symbol,
                        # Fixed-point text: str() would write some Decimals as 1E+2.
                        format(bar.open, "f"),
                        format(bar.high, "f"),
                        format(bar.low, "f"),
                        format(bar.close, "f"),
                        str(bar.volume),
                    )
                )

    @property
    def notes(self) -> tuple[BarFileNote, ...]:
        """The lines skipped while reading the file (zero-volume bars), in file order."""
        return self._notes

    @property
    def symbols(self) -> Sequence[str]:
        """Every symbol with at least one bar, sorted."""
        return self._symbols

    @property
    def days(self) -> tuple[date, ...]:
        """Every UTC day with at least one bar, in order."""
        return tuple(sorted(self._by_day))

    def has_day(self, day: date) -> bool:
        """True when the feed holds bars on `day`."""
        return day in self._by_day

    def minute(self, at: datetime) -> Mapping[str, Bar]:
        """The bars of the minute starting at `at`, by symbol; empty when there are none."""
        at = ensure_utc(at)
        if at.second or at.microsecond:
            raise ValueError(f"bars start on whole minutes; got {at.isoformat()}")
        return self._by_minute.get(at, _EMPTY)

    def day_bars(self, day: date) -> Mapping[str, Sequence[Bar]]:
        """Every bar of `day` by symbol, in time order; empty when the feed has none."""
        return self._by_day.get(day, MappingProxyType({}))


def _read_bar_file(path: Path) -> tuple[list[Bar], list[BarFileNote]]:
    """The bars of a bar file and the notes of the lines skipped (zero-volume bars)."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    if tuple(header) != HEADER:
        shown = ",".join(header)
        raise _file_error(path, 1, f"the header is {shown!r}; expected exactly {_HEADER_TEXT}")

    problems = _Problems()
    bars: list[Bar] = []
    notes: list[BarFileNote] = []
    first_seen: dict[tuple[datetime, str], int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines (a trailing newline or two) are harmless
        bar = _parse_row(row, line, problems)
        if bar is None:
            continue
        key = (bar.start, bar.symbol)
        if key in first_seen:
            problems.add(
                line,
                f"a second bar for {bar.symbol} at {bar.start.isoformat()} "
                f"(the first is on line {first_seen[key]}); expected one bar per minute",
            )
            continue
        first_seen[key] = line
        if bar.volume == 0:
            # No trade that minute: the prices are nobody's, so the minute has no bar.
            notes.append(
                BarFileNote(
                    line,
                    f"{bar.symbol} at {bar.start.isoformat()} has volume 0; skipped "
                    "(no trade that minute)",
                )
            )
            continue
        bars.append(bar)
    if not bars and not problems.total:
        if notes:
            problems.add(
                None,
                f"every bar has volume 0 ({len(notes)} skipped); expected at least one "
                "minute with trades",
            )
        else:
            problems.add(None, "the file has a header but no bars")
    if problems.total:
        raise BarFileError(path, problems.listed, problems.total)
    return bars, notes


def _read_text(path: Path) -> str:
    """The file's text; unreadable, non-UTF-8 and empty files are refused."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise _file_error(path, None, f"cannot be read ({error.strerror or error})") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (spreadsheet exports) is fine
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        byte = raw[error.start]
        raise _file_error(
            path, line, f"is not UTF-8 text (byte 0x{byte:02x}); expected UTF-8"
        ) from None
    if not text.strip():
        raise _file_error(path, None, f"the file is empty; expected the header {_HEADER_TEXT}")
    return text


def _file_error(path: Path, line: int | None, message: str) -> BarFileError:
    return BarFileError(path, [BarFileProblem(line, message)], 1)


def _parse_row(row: list[str], line: int, problems: _Problems) -> Bar | None:
    """One bar from one CSV row, or None after adding what is wrong with it to `problems`."""
    if len(row) != len(HEADER):
        problems.add(line, f"{len(row)} columns; expected {len(HEADER)} ({_HEADER_TEXT})")
        return None
    stamp, symbol, *price_cells, volume_cell = (cell.strip() for cell in row)
    before = problems.total

    start = _parse_timestamp(stamp, line, problems)
    if not _SYMBOL.fullmatch(symbol):
        problems.add(
            line,
            f"symbol {symbol!r}; expected an upper-case ticker of letters, digits, "
            "'.' or '-' (at most 15 characters)",
        )
    prices: dict[str, Decimal] = {}
    for name, cell in zip(HEADER[2:6], price_cells, strict=True):
        price = _parse_price(name, cell, line, problems)
        if price is not None:
            prices[name] = price
    volume = None
    if not _WHOLE.fullmatch(volume_cell):
        problems.add(line, f"volume {volume_cell!r}; expected a whole number of shares")
    elif int(volume_cell) < 0:
        problems.add(line, f"volume {volume_cell} is negative; expected 0 or more")
    else:
        volume = int(volume_cell)

    if len(prices) == 4:
        _check_price_shape(prices, line, problems)
    if problems.total != before or start is None or volume is None:
        return None
    return Bar(
        symbol=symbol,
        start=start,
        open=prices["open"],
        high=prices["high"],
        low=prices["low"],
        close=prices["close"],
        volume=volume,
    )


def _parse_price(name: str, cell: str, line: int, problems: _Problems) -> Decimal | None:
    """A plain positive decimal, or None after saying what is wrong with `cell`."""
    expected = "expected a price above 0 such as 12.34"
    if _DECIMAL.fullmatch(cell):
        price = Decimal(cell)
        if price > 0:
            return price
        problems.add(line, f"{name} {cell!r}; {expected}")
        return None
    try:
        value = Decimal(cell)
    except InvalidOperation:
        value = None
    if value is not None and value.is_nan():
        problems.add(line, f"{name} {cell!r} is not a number; {expected}")
    elif value is not None and value.is_infinite():
        problems.add(line, f"{name} {cell!r} is infinite; {expected}")
    elif value is not None and value < 0:
        problems.add(line, f"{name} {cell!r} is negative; {expected}")
    else:
        problems.add(line, f"{name} {cell!r}; {expected}")
    return None


def _parse_timestamp(text: str, line: int, problems: _Problems) -> datetime | None:
    example = "such as 2026-11-20T14:30:00Z"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.add(line, f"timestamp {text!r}; expected ISO 8601 {example}")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        problems.add(line, f"timestamp {text!r} has no UTC offset; expected Z or +HH:MM, {example}")
        return None
    if moment.second or moment.microsecond:
        problems.add(line, f"timestamp {text!r}; expected the start of a whole minute")
        return None
    return moment.astimezone(UTC)


def _check_price_shape(prices: Mapping[str, Decimal], line: int, problems: _Problems) -> None:
    """A bar's high is its highest price and its low its lowest."""
    open_, high, low, close = prices["open"], prices["high"], prices["low"], prices["close"]
    if high < low:
        problems.add(line, f"high {high} is below low {low}; expected high >= low")
    if high < max(open_, close):
        problems.add(
            line, f"high {high} is below open {open_} or close {close}; expected the highest"
        )
    if low > min(open_, close):
        problems.add(line, f"low {low} is above open {open_} or close {close}; expected the lowest")
