"""`tbot archive purge`: nothing before seven years, never without a clearance, audited
before anything is deleted, and refused while the engine holds the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tbot.admin.bot_home import BotHome
from tbot.archive import ArchiveError, ArchiveRunReport, purge_archive
from tbot.archive.purge import earliest_allowed_cutoff
from tbot.clock import FrozenClock
from tbot.ledger.errors import LedgerLockedError
from tbot.ledger.posting import LedgerWriter
from tests.archive.conftest import LATER, POLICY, store_of
from tests.engine.engine_process import ledger_rows

SEVEN_YEARS_ON = datetime(2034, 6, 1, tzinfo=UTC)


def test_seven_years_back_from_a_leap_day_is_the_28th() -> None:
    assert earliest_allowed_cutoff(date(2032, 2, 29)) == date(2025, 2, 28)
    assert earliest_allowed_cutoff(date(2034, 6, 1)) == date(2027, 6, 1)


def test_a_purge_within_seven_years_is_refused_and_deletes_nothing(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    with pytest.raises(ArchiveError, match="kept 7 years"):
        purge_archive(home.paths, FrozenClock(LATER), POLICY, before=date(2026, 12, 31),
                      clearance="SEC-2027-001", actor="bookkeeper")
    assert len(store_of(home).all_entries()) == len(report.sealed)


@pytest.mark.parametrize("clearance", ["", "   ", "line\nbreak"])
def test_a_purge_without_a_clearance_reference_is_refused(
    archived_home: tuple[BotHome, ArchiveRunReport], clearance: str
) -> None:
    home, _ = archived_home
    with pytest.raises(ArchiveError, match="--clearance"):
        purge_archive(home.paths, FrozenClock(SEVEN_YEARS_ON), POLICY,
                      before=date(2027, 1, 1), clearance=clearance, actor="bookkeeper")


def test_a_cleared_purge_is_audited_then_deletes_and_the_manifest_remembers(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    store = store_of(home)
    result = purge_archive(home.paths, FrozenClock(SEVEN_YEARS_ON), POLICY,
                           before=date(2026, 11, 21), clearance="SEC-2034-042",
                           actor="bookkeeper")
    purged = {entry.file for entry in result.purged}
    assert purged and all(entry.day < "2026-11-21" for entry in result.purged)
    year_dir = home.paths.archive_year_dir(2026)
    assert not any((year_dir / name).exists() for name in purged)
    left = {entry.file for entry in store.all_entries()}
    assert left == {entry.file for entry in report.sealed} - purged
    ((_action, actor, details),) = ledger_rows(
        home.paths.home, "SELECT action, actor, details FROM audit_trail "
        "WHERE action = 'archive.purge'")
    assert actor == "bookkeeper" and "SEC-2034-042" in details
    assert all(name in details for name in purged)
    (_, manifest), = store.manifests(2026)
    assert {record.entry.file for record in manifest.purged} == purged
    assert {record.clearance for record in manifest.purged} == {"SEC-2034-042"}
    assert store.verify().ok


def test_a_purge_is_refused_while_the_engine_holds_the_ledger(
    archived_home: tuple[BotHome, ArchiveRunReport],
) -> None:
    home, report = archived_home
    with LedgerWriter(home.paths, FrozenClock(SEVEN_YEARS_ON), POLICY), \
            pytest.raises(LedgerLockedError):
        purge_archive(home.paths, FrozenClock(SEVEN_YEARS_ON), POLICY,
                      before=date(2027, 1, 1), clearance="SEC-2034-042", actor="bookkeeper")
    assert len(store_of(home).all_entries()) == len(report.sealed)
