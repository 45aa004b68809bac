"""The trade history: one `TradeRecord` per round trip, in CSV or JSON.

A round trip is the ledger's (`tbot.booking.ledger_results`): one exit fill (a SELL trade
row, or a COVER that buys back a short sale) and the entry fills whose shares it closed, so
an exit filled in parts gives one record per part. For a short sale the record's
`entry_price` is the average price the shares were sold short at and `exit_price` the
price they were bought back at. `record_of_round_trip` takes every money figure from that
ledger reading: `PnL` is the round trip's realized gain less its exit fee and its share of
the entry fees (net), so the day's records add up to the ledger's round trips to the
micro-unit.

LOG_FORMAT picks the one file written (`BotPaths.trade_history_file`). CSV is appended a
row at a time and fsynced; JSON is one array, rewritten atomically on every record. Values
are written exactly: Decimals as plain strings, times as ISO-8601 UTC with ``Z``. A file
that is not a trade history of this shape is never overwritten.

The text forms of values (`decimal_text`, `utc_text`, `report_json_default`) are shared by
the strategy logs and the daily summary, so every report of a session writes values alike.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import Enum
from pathlib import Path

from tbot.booking.ledger_results import RoundTrip
from tbot.clock import ensure_utc, utc_text
from tbot.config.atomic_write import atomic_write_bytes, fsync_dir
from tbot.config.paths import BotPaths
from tbot.config.setting_types import LogFormat
from tbot.errors import TbotError
from tbot.ledger.amounts import PRICE_PLACES

REPORT_FILE_MODE = 0o640
"""Report files are readable by the operators' group, never by others."""


class TradeHistoryError(TbotError):
    """The trade history file cannot be appended to (not ours, or damaged)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeRecord:
    """One round trip as the trade history shows it.

    Times are aware (stored in UTC); `timestamp` is when the record was made (the exit
    fill), `signal_time` None when no signal preceded the exit (an operator's order).
    `entry_time` is the oldest entry fill the exit closed and `holding_seconds` whole
    seconds from it to the exit; `entry_price` is the cost basis per share; `PnL` is net of
    every fee of the round trip (see the module docstring); `fitid` and `order_id` are the
    exit fill's.
    """

    timestamp: datetime
    strategy_name: str
    ticker: str
    side: str
    size: Decimal
    entry_price: Decimal
    exit_price: Decimal
    PnL: Decimal
    broker: str
    error_code: str | None = None
    signal_time: datetime | None = None
    entry_time: datetime
    exit_time: datetime
    exit_reason: str
    holding_seconds: int
    fitid: str
    order_id: str
    tag: str = "none"

    def __post_init__(self) -> None:
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_FIELDS:
                continue
            if not isinstance(value, datetime):
                raise TypeError(f"TradeRecord.{name} must be a datetime, not {value!r}")
            object.__setattr__(self, name, ensure_utc(value))  # refuses naive times
        for name in _DECIMAL_FIELDS:
            value = getattr(self, name)
            if type(value) is not Decimal or not value.is_finite():
                raise TypeError(f"TradeRecord.{name} must be a finite Decimal, not {value!r}")
        if isinstance(self.holding_seconds, bool) or not isinstance(self.holding_seconds, int):
            raise TypeError(f"TradeRecord.holding_seconds must be an int, not "
                            f"{self.holding_seconds!r}")

    def as_row(self) -> dict[str, str | None]:
        """The record as text values, field by field (None stays None)."""
        return {name: _text_of(getattr(self, name)) for name in TRADE_FIELDS}

    @classmethod
    def from_row(cls, row: dict[str, str | None]) -> TradeRecord:
        """The record a row of `as_row` (or a CSV row, where None was written as "") holds."""
        if set(row) != set(TRADE_FIELDS):
            raise TradeHistoryError(f"a trade record needs exactly the fields {TRADE_FIELDS}")
        values: dict[str, object] = {}
        for name in TRADE_FIELDS:
            text = row[name]
            if text is None or (text == "" and name in _OPTIONAL_FIELDS):
                values[name] = None
            elif not isinstance(text, str):
                raise TradeHistoryError(f"trade record field {name} is not text: {text!r}")
            elif name in _TIME_FIELDS:
                values[name] = _parse_time(name, text)
            elif name in _DECIMAL_FIELDS:
                values[name] = _parse_decimal(name, text)
            elif name == "holding_seconds":
                values[name] = _parse_int(name, text)
            else:
                values[name] = text
        return cls(**values)  # type: ignore[arg-type]


TRADE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TradeRecord))
"""The columns of the trade history, in order (the CSV header)."""
_TIME_FIELDS = frozenset({"timestamp", "signal_time", "entry_time", "exit_time"})
_DECIMAL_FIELDS = frozenset({"size", "entry_price", "exit_price", "PnL"})
_OPTIONAL_FIELDS = frozenset({"error_code", "signal_time"})
_CSV_HEADER = ",".join(TRADE_FIELDS)


ENTRY_PRICE_QUANTUM = Decimal("0.0001")
"""The trade history's entry price (cost basis per share) is rounded half-even to this."""


def record_of_round_trip(
    trip: RoundTrip,
    *,
    side: str,
    broker: str,
    exit_reason: str,
    order_id: str,
    signal_time: datetime | None = None,
    error_code: str | None = None,
) -> TradeRecord:
    """The trade history's record of a round trip read from the ledger. `side` is the
    exposure (``short`` for a bearish inverse ETF, which the ledger books as long, and for
    a short sale); the other arguments are the engine's facts that the ledger does not
    keep."""
    exit_price = trip.exit_price
    if exit_price is None:  # a trade row without one: the exit's money per share
        # A sale's proceeds are its cost basis plus the gain; a cover's cost is the short
        # proceeds less the gain.
        exit_value = (trip.cost_basis - trip.realized_gain if trip.side == "short"
                      else trip.cost_basis + trip.realized_gain)
        exit_price = (exit_value / trip.quantity).quantize(
            Decimal(1).scaleb(-PRICE_PLACES), ROUND_HALF_EVEN)
    return TradeRecord(
        timestamp=trip.closed_at,
        strategy_name=trip.strategy,
        ticker=trip.symbol,
        side=side,
        size=trip.quantity.normalize(),
        entry_price=(trip.cost_basis / trip.quantity).quantize(ENTRY_PRICE_QUANTUM,
                                                               ROUND_HALF_EVEN),
        exit_price=exit_price.normalize(),
        PnL=trip.pnl,
        broker=broker,
        error_code=error_code,
        signal_time=signal_time,
        entry_time=trip.opened_at,
        exit_time=trip.closed_at,
        exit_reason=exit_reason,
        holding_seconds=trip.holding_seconds,
        fitid=trip.fitid,
        order_id=order_id,
        tag=trip.tag,
    )


class TradeHistoryWriter:
    """Appends round trips to the trade history file of `log_format` (csv or json)."""

    def __init__(self, paths: BotPaths, log_format: LogFormat) -> None:
        self.log_format = LogFormat(log_format)
        self.path = paths.trade_history_file(self.log_format.value)

    def append(self, record: TradeRecord) -> None:
        """Add `record` to the file, durably. TradeHistoryError (file untouched) when the
        existing file is not a trade history of this shape."""
        if self.log_format is LogFormat.CSV:
            self._append_csv(record)
        else:
            self._append_json(record)

    def records(self) -> list[TradeRecord]:
        """Every record in the file so far (empty when there is no file yet)."""
        return read_trade_history(self.path)

    def _append_csv(self, record: TradeRecord) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        has_rows = not created and _check_csv_file(path)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, REPORT_FILE_MODE)
        with open(descriptor, "a", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            if not has_rows:
                writer.writerow(TRADE_FIELDS)
            writer.writerow(["" if value is None else value
                             for value in record.as_row().values()])
            stream.flush()
            os.fsync(stream.fileno())
        if created:
            fsync_dir(path.parent)

    def _append_json(self, record: TradeRecord) -> None:
        path = self.path
        rows = _read_json_rows(path) if path.exists() else []
        rows.append(record.as_row())
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"), mode=REPORT_FILE_MODE)


def read_trade_history(path: Path) -> list[TradeRecord]:
    """The records of a trade history file (CSV or JSON by its suffix); [] when missing."""
    if not path.exists():
        return []
    if path.suffix == ".csv":
        if not _check_csv_file(path):
            return []
        with path.open(newline="", encoding="utf-8") as stream:
            return [TradeRecord.from_row(row) for row in csv.DictReader(stream)]
    return [TradeRecord.from_row(row) for row in _read_json_rows(path)]


def _check_csv_file(path: Path) -> bool:
    """True when `path` holds our header (and maybe rows), False when it is empty;
    TradeHistoryError when the header is not ours or the last row was cut short."""
    with path.open("rb") as raw:
        first_line = raw.readline()
        if not first_line:
            return False
        if first_line.rstrip(b"\r\n") != _CSV_HEADER.encode():
            raise TradeHistoryError(
                f"{path} has a different CSV header; it is not this bot's trade history and "
                "will not be written to. Move it aside to start a new file."
            )
        raw.seek(-1, os.SEEK_END)
        if raw.read(1) != b"\n":
            raise TradeHistoryError(
                f"{path} ends with an incomplete row (an interrupted write?); "
                "repair or move it aside before more trades are appended"
            )
    return True


def _read_json_rows(path: Path) -> list[dict[str, str | None]]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise TradeHistoryError(
            f"{path} is not valid JSON ({problem}); it will not be overwritten. "
            "Move it aside to start a new file."
        ) from None
    expected = set(TRADE_FIELDS)
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and set(row) == expected for row in rows
    ):
        raise TradeHistoryError(
            f"{path} is not a JSON array of trade records with the fields {TRADE_FIELDS}; "
            "it will not be overwritten. Move it aside to start a new file."
        )
    return rows


# -- text forms of values ----------------------------------------------------------------


def decimal_text(value: Decimal) -> str:
    """`value` exactly, in plain notation (never an exponent): 187.2500, -0.06."""
    return format(value, "f")




def report_json_default(value: object) -> object:
    """`json.dumps` default for report files: Decimals and times as text, enums by value,
    sets as sorted lists."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} {value!r} has no report form")


def _text_of(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return utc_text(value)
    return str(value)


def _parse_time(name: str, text: str) -> datetime:
    try:
        return ensure_utc(datetime.fromisoformat(text))
    except ValueError:
        raise TradeHistoryError(f"trade record {name} {text!r} is not an ISO UTC time") from None


def _parse_decimal(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise TradeHistoryError(f"trade record {name} {text!r} is not a decimal") from None
    if not value.is_finite():
        raise TradeHistoryError(f"trade record {name} {text!r} is not a finite decimal")
    return value


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise TradeHistoryError(f"trade record {name} {text!r} is not a whole number") from None
