"""The reads a sync makes per batch of ids look each id up by index: a plan that scans a
table once per id turns a re-sync of 100,000 records into hours."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tbot.admin.init_home import init_home
from tbot.clock import FrozenClock
from tbot.reconcile import ledger_view
from tests.reconcile.conftest import IDENTITY


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = init_home(tmp_path_factory.mktemp("plans") / "home", IDENTITY,
                     FrozenClock(datetime(2026, 11, 20, tzinfo=UTC)), actor="test")
    return Path(home.paths.ledger_db)


def plan_of(ledger: Path, read: object) -> list[str]:
    """The query plan of every statement `read(connection)` runs."""
    connection = sqlite3.connect(ledger)
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        read(connection)  # type: ignore[operator]
        connection.set_trace_callback(None)
        details: list[str] = []
        for statement in statements:
            if statement.lstrip().upper().startswith("SELECT"):
                details += [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]
        return details
    finally:
        connection.close()


def test_kept_records_are_looked_up_per_id_by_index(ledger: Path) -> None:
    plan = plan_of(ledger, lambda c: ledger_view.stored_records(c, "fill", ["A", "B"]))
    assert any(step.startswith("SCAN j") for step in plan), plan
    assert any("broker_records" in step or step.startswith("SEARCH b") for step in plan)
    assert any("kind=? AND broker_id=?" in step for step in plan), plan


def test_record_states_are_looked_up_per_id_by_index(ledger: Path) -> None:
    plan = plan_of(ledger, lambda c: ledger_view.latest_states_of(c, "fill", ["A", "B"]))
    assert any(step.startswith("SCAN j") for step in plan), plan
    assert any("kind=? AND trade_id=?" in step for step in plan), plan
    # The ids are the only thing scanned: never the log.
    assert all(step.startswith("SCAN j ") for step in plan if step.startswith("SCAN")), plan
