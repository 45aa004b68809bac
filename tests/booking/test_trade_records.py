"""The trade history file: CSV rows appended under one header, a JSON array rewritten whole,
exact values, a round trip back to records, and foreign files left untouched."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tbot.booking.ledger_results import FeeCharge, RoundTrip
from tbot.booking.trade_records import (
    TRADE_FIELDS,
    TradeHistoryError,
    TradeHistoryWriter,
    read_trade_history,
    record_of_round_trip,
)
from tbot.config.paths import BotPaths
from tbot.config.setting_types import LogFormat

from .conftest import RecordFactory

D = Decimal


@pytest.fixture(params=[LogFormat.CSV, LogFormat.JSON])
def any_format(request: pytest.FixtureRequest) -> LogFormat:
    """Each LOG_FORMAT in turn."""
    return request.param  # type: ignore[no-any-return]


def test_csv_gets_one_header_and_one_row_per_round_trip(
    plain_paths: BotPaths, make_record: RecordFactory
) -> None:
    history = TradeHistoryWriter(plain_paths, LogFormat.CSV)
    history.append(make_record(ticker="AAPL"))
    history.append(make_record(ticker="MSFT", pnl="-4.25"))

    lines = history.path.read_text().splitlines()
    assert lines[0] == ",".join(TRADE_FIELDS)
    assert len(lines) == 3
    rows = list(csv.DictReader(lines))
    assert rows[0]["PnL"] == "22.0956"
    assert rows[0]["exit_price"] == "189.10"  # exact, trailing zero kept
    assert rows[0]["timestamp"] == "2026-11-20T15:21:00Z"
    assert rows[0]["error_code"] == ""
    assert rows[1]["ticker"] == "MSFT"


def test_json_is_one_array_of_records_with_decimals_as_strings(
    plain_paths: BotPaths, make_record: RecordFactory
) -> None:
    history = TradeHistoryWriter(plain_paths, LogFormat.JSON)
    history.append(make_record(ticker="AAPL"))
    history.append(make_record(ticker="MSFT", pnl="-4.25", error_code="E_PARTIAL"))

    rows = json.loads(history.path.read_text())
    assert [row["ticker"] for row in rows] == ["AAPL", "MSFT"]
    assert rows[1]["PnL"] == "-4.25"
    assert rows[0]["size"] == "12"
    assert rows[0]["error_code"] is None
    assert rows[1]["error_code"] == "E_PARTIAL"
    assert rows[0]["entry_time"] == "2026-11-20T14:51:00Z"
    assert list(rows[0]) == list(TRADE_FIELDS)


def test_records_read_back_equal_the_records_written(
    plain_paths: BotPaths, make_record: RecordFactory, any_format: LogFormat
) -> None:
    written = [
        make_record(),
        make_record(ticker="SQQQ", pnl="-0.000001", tag="InverseETF", signal_time=None),
        make_record(ticker="TSLA", error_code="E1", held=7),
    ]
    history = TradeHistoryWriter(plain_paths, any_format)
    for record in written:
        history.append(record)
    assert history.records() == written
    assert read_trade_history(history.path) == written


def test_only_the_log_formats_file_is_written(
    plain_paths: BotPaths, make_record: RecordFactory, any_format: LogFormat
) -> None:
    TradeHistoryWriter(plain_paths, any_format).append(make_record())
    other = LogFormat.JSON if any_format is LogFormat.CSV else LogFormat.CSV
    assert plain_paths.trade_history_file(any_format.value).exists()
    assert not plain_paths.trade_history_file(other.value).exists()


def test_a_new_writer_appends_to_the_existing_file(
    plain_paths: BotPaths, make_record: RecordFactory, any_format: LogFormat
) -> None:
    TradeHistoryWriter(plain_paths, any_format).append(make_record(ticker="AAPL"))
    TradeHistoryWriter(plain_paths, any_format).append(make_record(ticker="MSFT"))
    tickers = [r.ticker for r in TradeHistoryWriter(plain_paths, any_format).records()]
    assert tickers == ["AAPL", "MSFT"]


@pytest.mark.parametrize(
    ("log_format", "foreign", "message"),
    [
        (LogFormat.CSV, "date,amount\n2026-11-20,5\n", "different CSV header"),
        (LogFormat.CSV, ",".join(TRADE_FIELDS) + "\n2026-11-20T15:21:00Z,op",
         "incomplete row"),
        (LogFormat.JSON, '[{"ticker": "AAPL"', "not valid JSON"),
        (LogFormat.JSON, '{"trades": []}', "not a JSON array of trade records"),
        (LogFormat.JSON, '[{"ticker": "AAPL"}]', "not a JSON array of trade records"),
    ],
)
def test_a_foreign_or_damaged_file_is_never_overwritten(
    plain_paths: BotPaths, make_record: RecordFactory, log_format: LogFormat, foreign: str,
    message: str,
) -> None:
    path = plain_paths.trade_history_file(log_format.value)
    path.parent.mkdir(parents=True)
    path.write_text(foreign)
    with pytest.raises(TradeHistoryError, match=message):
        TradeHistoryWriter(plain_paths, log_format).append(make_record())
    assert path.read_text() == foreign


def test_times_in_other_zones_are_kept_as_utc(make_record: RecordFactory) -> None:
    eastern = timezone(timedelta(hours=-5))
    record = make_record(timestamp=datetime(2026, 11, 20, 10, 21, tzinfo=eastern))
    assert record.timestamp.utcoffset() == timedelta(0)
    assert record.as_row()["timestamp"] == "2026-11-20T15:21:00Z"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timestamp", datetime(2026, 11, 20, 15, 21)),  # noqa: DTZ001 (naive on purpose)
        ("PnL", 22.0956),
        ("size", "12"),
        ("holding_seconds", 1.5),
    ],
)
def test_a_record_refuses_inexact_or_naive_values(
    make_record: RecordFactory, field: str, value: object
) -> None:
    with pytest.raises((TypeError, ValueError)):
        make_record(**{field: value})


def test_a_record_has_the_history_columns_in_order() -> None:
    assert TRADE_FIELDS == (
        "timestamp", "strategy_name", "ticker", "side", "size", "entry_price", "exit_price",
        "PnL", "broker", "error_code", "signal_time", "entry_time", "exit_time", "exit_reason",
        "holding_seconds", "fitid", "order_id", "tag",
    )


def test_a_record_of_a_ledger_round_trip_takes_its_money_from_the_ledger() -> None:
    closed = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)
    opened = closed - timedelta(minutes=10)
    trip = RoundTrip(
        entry_id=9, fitid="SIM-F9", strategy="open", symbol="F", side="long", tag="none",
        quantity=D("13.870040000"), exit_price=D("12.267500000"), cost_basis=D("171.749870"),
        realized_gain=D("-1.595055"), exit_fee=D("0.190000"), entry_fees=D("0.194874"),
        opened_at=opened, closed_at=closed,
        charges=(FeeCharge("SIM-F3", opened, D("13.870040000"), D("0.194874")),),
    )
    record = record_of_round_trip(trip, side="long", broker="SIM", exit_reason="trailing_stop",
                                  order_id="SIM-O9", signal_time=opened - timedelta(minutes=1))
    assert record.PnL == D("-1.979929")  # the gain less the exit and entry fees: net
    assert (record.size, record.exit_price) == (D("13.87004"), D("12.2675"))
    assert record.as_row()["size"] == "13.87004"
    assert record.entry_price == D("12.3828")  # 171.749870 / 13.87004, half-even
    assert (record.entry_time, record.exit_time, record.timestamp) == (opened, closed, closed)
    assert (record.holding_seconds, record.fitid, record.order_id) == (600, "SIM-F9", "SIM-O9")
    assert (record.strategy_name, record.ticker, record.tag) == ("open", "F", "none")
    short = record_of_round_trip(trip, side="short", broker="SIM", exit_reason="x",
                                 order_id="O")
    assert short.side == "short" and short.signal_time is None
