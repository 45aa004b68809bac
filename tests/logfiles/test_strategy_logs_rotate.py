"""The engine's logs as written by `StrategyLogs` and the error journal rotate across a
day change: each day's lines in its own file, none lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tbot.booking.strategy_logs import StrategyLogs
from tbot.clock import FrozenClock
from tbot.config.paths import BotPaths
from tbot.engine.error_journal import ErrorJournal


def test_strategy_unresolved_and_traceback_logs_rotate_at_the_day_change(
    paths: BotPaths,
) -> None:
    friday = datetime(2026, 11, 20, 20, 59, tzinfo=UTC)
    clock = FrozenClock(friday)
    with StrategyLogs(paths, clock) as logs:
        journal = ErrorJournal(paths.error_tracebacks_log, logs, clock, "SIM")
        logs.log("open", "ENTRY", "AAPL", qty=1)
        logs.unresolved("reject", symbol="AAPL")
        journal.record(RuntimeError("friday's failure"), where="minute")
        clock.advance(timedelta(days=3))
        logs.log("open", "ENTRY", "MSFT", qty=2)
        journal.record(RuntimeError("monday's failure"), where="minute")
    folder = paths.rotated_logs_dir(friday.date())
    assert "AAPL" in (folder / "open.001.log").read_text()
    assert "MSFT" in paths.strategy_log_file("open").read_text()
    assert "AAPL" not in paths.strategy_log_file("open").read_text()
    assert "friday's failure" in (folder / "error_tracebacks.001.log").read_text()
    assert "monday's failure" in paths.error_tracebacks_log.read_text()
    assert "friday's failure" not in paths.error_tracebacks_log.read_text()
    friday_unresolved = (folder / "unresolved_orders.001.log").read_text()
    assert '"kind": "reject"' in friday_unresolved and "friday" in friday_unresolved
    assert "monday's failure" in paths.unresolved_orders_log.read_text()
