"""`recon.breaks` with `search`: the console's `/` filter runs in SQL, so it pages over a
hundred thousand breaks like the unfiltered list. It matches symbol, trade id, detail, kind
and status, ignoring case, and a `%` or `_` typed is a plain character, not a wildcard."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from tbot.admin.init_home import init_home
from tbot.clock import FrozenClock
from tbot.reconcile import queries
from tbot.reconcile.methods import BreaksParams
from tests.reconcile.conftest import IDENTITY

NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ledger file with five breaks and one resolved record."""
    home = init_home(tmp_path_factory.mktemp("break-search") / "home", IDENTITY,
                     FrozenClock(datetime(2026, 11, 20, tzinfo=UTC)), actor="test")
    with sqlite3.connect(home.paths.ledger_db) as connection:
        for kind, trade_id, status, symbol, detail in (
            ("fill", "SIM-F_001", "mismatch", "MSFT", "price 300.06 in the ledger"),
            ("fill", "SIM-F%002", "broker-only", "AAPL", "an order the engine never placed"),
            ("cash", "SIM-A000004", "unmapped", None, "MISCFEE waiting for a mapping"),
            ("position", "AMD", "broker-only", "AMD", "broker holds 5, the ledger 0"),
            ("balance", "USD", "mismatch", None, "unexplained -0.37 FAILS"),
            ("fill", "SIM-F000009", "resolved", "MSFT", "kept: a known delay"),
        ):
            resolution = ((1, "keep-ledger", "test", "checked") if status == "resolved"
                          else (None, None, None, None))
            connection.execute(
                "INSERT INTO reconciliation_log (kind, trade_id, status, symbol, "
                "compare_fields, timestamp_utc, detail, resolves_id, resolution_action, "
                "actor, reason, schema_version) "
                "VALUES (?, ?, ?, ?, '[]', '2026-11-20T15:00:00.000000Z', ?, ?, ?, ?, ?, 1)",
                (kind, trade_id, status, symbol, detail, *resolution))
    return Path(home.paths.ledger_db)


@pytest.fixture
def connection(ledger: Path) -> Iterator[sqlite3.Connection]:
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as opened:
        yield opened


def found(connection: sqlite3.Connection, search: str | None, **filters: object
          ) -> list[str]:
    answer = queries.list_breaks(connection, NOW, search=search, limit=500, **filters)
    assert answer["total"] == len(answer["breaks"])
    return [row["trade_id"] for row in answer["breaks"]]


@pytest.mark.parametrize(("search", "trade_ids"), [
    ("msft", ["SIM-F_001"]),  # symbol, any case; the resolved MSFT row is not open
    ("a000004", ["SIM-A000004"]),  # trade id
    ("never placed", ["SIM-F%002"]),  # detail
    ("BALANCE", ["USD"]),  # kind
    ("broker-only", ["AMD", "SIM-F%002"]),  # status, newest first
    ("nothing like it", []),
])
def test_search_matches_symbol_trade_id_detail_kind_and_status(
        connection: sqlite3.Connection, search: str, trade_ids: list[str]) -> None:
    assert found(connection, search) == trade_ids


def test_wildcards_typed_in_a_search_are_plain_characters(
        connection: sqlite3.Connection) -> None:
    assert found(connection, "F_0") == ["SIM-F_001"]
    assert found(connection, "F%0") == ["SIM-F%002"]
    assert found(connection, "%") == ["SIM-F%002"]
    assert found(connection, "_") == ["SIM-F_001"]


def test_search_combines_with_the_other_filters_and_pages(
        connection: sqlite3.Connection) -> None:
    assert found(connection, "msft", status="resolved") == ["SIM-F000009"]
    assert found(connection, "sim", kind="fill") == ["SIM-F%002", "SIM-F_001"]
    page = queries.list_breaks(connection, NOW, search="sim", limit=1, offset=1)
    assert page["total"] == 3
    assert [row["trade_id"] for row in page["breaks"]] == ["SIM-F%002"]
    # The counts by kind stay those of every open break: the header does not shrink.
    assert sum(sum(by.values()) for by in page["open_by_kind"].values()) == 5


def test_blank_search_is_no_filter(connection: sqlite3.Connection) -> None:
    assert len(found(connection, "  ")) == len(found(connection, None)) == 5


@pytest.mark.parametrize("search", ["", "x" * 65])
def test_the_method_refuses_an_empty_or_overlong_search(search: str) -> None:
    with pytest.raises(ValidationError):
        BreaksParams(search=search)
    assert BreaksParams(search="x" * 64).search == "x" * 64
