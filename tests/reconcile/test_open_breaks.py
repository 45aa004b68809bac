"""Open-break counts followed row by row agree with counting the whole log from scratch,
whatever order rows arrive in (new breaks, re-statements, resolutions, fixes)."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tbot.admin.init_home import init_home
from tbot.clock import FrozenClock
from tbot.ledger.recon_models import RECON_STATUSES
from tbot.reconcile import queries
from tbot.reconcile.ledger_view import LATEST_ROW
from tbot.reconcile.open_breaks import OpenBreakCounts
from tests.reconcile.conftest import IDENTITY

KINDS = ("fill", "cash", "position", "balance")
NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (empty) ledger file; each test copies its reconciliation_log away first."""
    home = init_home(tmp_path_factory.mktemp("open-breaks") / "home", IDENTITY,
                     FrozenClock(datetime(2026, 11, 20, tzinfo=UTC)), actor="test")
    return home.paths.ledger_db


def append(connection: sqlite3.Connection, kind: str, record: int, status: str) -> None:
    resolved = status == "resolved"
    connection.execute(
        "INSERT INTO reconciliation_log (kind, trade_id, status, compare_fields, "
        "timestamp_utc, detail, resolves_id, resolution_action, actor, reason, schema_version) "
        "VALUES (?, ?, ?, '[]', '2026-11-20T15:00:00.000000Z', 'test', ?, ?, ?, ?, 1)",
        (kind, f"R{record}", status,
         *((1, "keep-ledger", "test", "checked") if resolved else (None, None, None, None))),
    )


Row = tuple[str, int, str]
rows = st.tuples(st.sampled_from(KINDS), st.integers(0, 6), st.sampled_from(RECON_STATUSES))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(rows, max_size=12), min_size=1, max_size=6))
def test_followed_counts_equal_a_fresh_count(ledger: Path, batches: list[list[Row]]) -> None:
    connection = sqlite3.connect(ledger, isolation_level=None)
    connection.execute("BEGIN")
    try:
        followed = OpenBreakCounts()
        append(connection, "fill", 99, "mismatch")  # the first call counts from scratch
        for batch in batches:
            followed.current(connection)
            for kind, record, status in batch:
                append(connection, kind, record, status)
            assert followed.current(connection) == OpenBreakCounts().current(connection)
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def test_a_shorter_log_is_counted_again(ledger: Path, tmp_path: Path) -> None:
    # The log only grows, except when a backup is restored: then the counts start over.
    longer, shorter = tmp_path / "longer.db", tmp_path / "shorter.db"
    shutil.copyfile(ledger, longer)
    shutil.copyfile(ledger, shorter)
    with sqlite3.connect(longer) as connection:
        append(connection, "cash", 1, "unmapped")
        append(connection, "cash", 2, "unmapped")
    with sqlite3.connect(shorter) as connection:
        append(connection, "cash", 1, "unmapped")
    counts = OpenBreakCounts()
    for path, expected in ((longer, 2), (shorter, 1)):
        connection = sqlite3.connect(path)
        try:
            assert counts.current(connection) == {"cash": {"unmapped": expected}}
        finally:
            connection.close()


def test_page_totals_from_followed_counts_equal_counting_the_rows(ledger: Path,
                                                                  tmp_path: Path) -> None:
    copy = tmp_path / "ledger.db"
    shutil.copyfile(ledger, copy)
    with sqlite3.connect(copy) as connection:
        for number, (kind, status) in enumerate((
                ("fill", "mismatch"), ("fill", "broker-only"), ("cash", "unmapped"),
                ("fill", "resolved"), ("position", "broker-only"), ("fill", "ok"))):
            append(connection, kind, number, status)
        append(connection, "fill", 0, "ok")  # the first mismatch fixed by a later sync
    connection = sqlite3.connect(copy)
    followed = OpenBreakCounts()
    try:
        for status in (None, "mismatch", "broker-only", "unmapped", "resolved", "ok"):
            for kind in (None, "fill", "cash", "position"):
                kept = queries.list_breaks(connection, NOW, status=status, kind=kind,
                                           counts=followed)
                where = ["l.status IN ('mismatch','local-only','broker-only','pending',"
                         "'unmapped')" if status is None else f"l.status = '{status}'", LATEST_ROW]
                if kind:
                    where.append(f"l.kind = '{kind}'")
                (counted,) = connection.execute(
                    f"SELECT COUNT(*) FROM reconciliation_log l WHERE {' AND '.join(where)}"
                ).fetchone()
                assert kept["total"] == counted == len(kept["breaks"]), (status, kind)
    finally:
        connection.close()
