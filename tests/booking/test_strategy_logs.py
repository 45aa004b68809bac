"""Strategy log lines (time, EVENT, symbol, key=value with quoting) and the JSON lines of
the unresolved-orders log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.booking.strategy_logs import StrategyLogs
from tbot.broker.models import OrderSide
from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths

D = Decimal


@pytest.fixture
def log_clock() -> FrozenClock:
    """14:51:00.250 UTC: log lines show whole seconds."""
    return FrozenClock(datetime(2026, 11, 20, 14, 51, 0, 250_000, tzinfo=UTC))


@pytest.fixture
def logs(plain_paths: BotPaths, log_clock: FrozenClock) -> Iterator[StrategyLogs]:
    """Open logs of a bot whose log directory does not exist yet."""
    with StrategyLogs(plain_paths, log_clock) as open_logs:
        yield open_logs


def test_an_entry_line_reads_time_event_symbol_then_fields(
    logs: StrategyLogs, plain_paths: BotPaths
) -> None:
    logs.log("open", "entry", "AAPL", side="long", qty=D(12), price=D("187.25"),
             reason="range break above 186.90")
    # line-buffered: on disk before close
    assert plain_paths.strategy_log_file("open").read_text() == (
        '2026-11-20T14:51:00Z ENTRY AAPL side=long qty=12 price=187.25 '
        'reason="range break above 186.90"\n'
    )


def test_values_are_quoted_only_when_they_need_it(logs: StrategyLogs) -> None:
    line = logs.log("mid", "SKIP", symbol="TSLA", note='said "no"', empty="", dash="-",
                    missing=None, flag=True, side=OrderSide.BUY, multi="a\nb",
                    at=datetime(2026, 11, 20, 9, 51, tzinfo=UTC) + timedelta(hours=5))
    assert line == (
        '2026-11-20T14:51:00Z SKIP TSLA note="said \\"no\\"" empty="" dash="-" missing=- '
        'flag=true side=buy multi="a\\nb" at=2026-11-20T14:51:00Z'
    )


def test_each_strategy_has_its_own_file_and_lines_accumulate(
    plain_paths: BotPaths, log_clock: FrozenClock
) -> None:
    with StrategyLogs(plain_paths, log_clock) as first:
        first.log("open", "ENTRY", "AAPL", qty=1)
        first.log("close", "EXIT", "MSFT", qty=2)
    log_clock.advance(timedelta(minutes=5))
    with StrategyLogs(plain_paths, log_clock) as second:
        second.log("open", "EXIT", "AAPL", qty=1)
    assert plain_paths.strategy_log_file("open").read_text().splitlines() == [
        "2026-11-20T14:51:00Z ENTRY AAPL qty=1",
        "2026-11-20T14:56:00Z EXIT AAPL qty=1",
    ]
    assert plain_paths.strategy_log_file("close").read_text().splitlines() == [
        "2026-11-20T14:51:00Z EXIT MSFT qty=2",
    ]


@pytest.mark.parametrize(
    ("strategy", "event"),
    [("../engine", "ENTRY"), ("Open", "ENTRY"), ("open", "TWO WORDS"), ("open", "")],
)
def test_names_that_would_break_a_file_or_a_line_are_refused(
    logs: StrategyLogs, strategy: str, event: str
) -> None:
    with pytest.raises(ValueError):
        logs.log(strategy, event, "AAPL")


def test_unresolved_orders_are_json_lines(
    logs: StrategyLogs, plain_paths: BotPaths, log_clock: FrozenClock
) -> None:
    logs.unresolved("partial_fill_canceled", order_id="SIM-ORDER-0007", symbol="AAPL",
                    requested=D(10), filled=D("4.5"), strategy="open")
    log_clock.advance(timedelta(seconds=30))
    logs.unresolved("rejected", order_id="SIM-ORDER-0008", reason="insufficient buying power")
    lines = plain_paths.unresolved_orders_log.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"at": "2026-11-20T14:51:00.250000Z", "kind": "partial_fill_canceled",
         "order_id": "SIM-ORDER-0007", "symbol": "AAPL", "requested": "10", "filled": "4.5",
         "strategy": "open"},
        {"at": "2026-11-20T14:51:30.250000Z", "kind": "rejected", "order_id": "SIM-ORDER-0008",
         "reason": "insufficient buying power"},
    ]


def test_unresolved_fields_cannot_hide_the_time_or_the_kind(logs: StrategyLogs) -> None:
    with pytest.raises(ValueError, match="reserved"):
        logs.unresolved("stale", at="yesterday")


def test_events_may_be_hyphenated_words(logs: StrategyLogs) -> None:
    line = logs.log("open", "exit-refused", symbol="AAPL", reason="nothing held")
    assert line == '2026-11-20T14:51:00Z EXIT-REFUSED AAPL reason="nothing held"'


def test_a_closed_log_reopens_on_the_next_line(
    logs: StrategyLogs, plain_paths: BotPaths
) -> None:
    logs.log("open", "ENTRY", "AAPL")
    logs.close()
    logs.close()  # idempotent
    logs.log("open", "EXIT", "AAPL")
    assert len(plain_paths.strategy_log_file("open").read_text().splitlines()) == 2
