"""Timestamps: aware UTC only, stored as fixed-width text that sorts as time does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from peewee import AutoField, Model, SqliteDatabase

from tbot.ledger.fields import UtcTimestampField
from tbot.ledger.timestamps import format_utc, parse_utc


class Stamp(Model):
    """A throwaway table with one timestamp column."""

    id = AutoField()
    at = UtcTimestampField()


def test_format_is_fixed_width_with_microseconds_and_z() -> None:
    assert format_utc(datetime(2026, 3, 2, 14, 30, tzinfo=UTC)) == "2026-03-02T14:30:00.000000Z"
    assert format_utc(datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "0005-01-02T03:04:05.000006Z"


def test_other_zones_are_converted_to_utc() -> None:
    new_york_winter = timezone(timedelta(hours=-5))
    assert format_utc(datetime(2026, 3, 2, 9, 30, tzinfo=new_york_winter)) == (
        "2026-03-02T14:30:00.000000Z"
    )


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_utc(datetime(2026, 3, 2, 14, 30))  # noqa: DTZ001 (the point of the test)


def test_text_order_is_time_order() -> None:
    moments = [
        datetime(2026, 3, 2, 14, 30, 0, 999999, tzinfo=UTC),
        datetime(2026, 3, 2, 14, 30, 1, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(999, 1, 1, tzinfo=UTC),
    ]
    assert sorted(moments) == sorted(moments, key=format_utc)


def test_parse_round_trips() -> None:
    moment = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)
    assert parse_utc(format_utc(moment)) == moment


def test_parse_refuses_other_shapes() -> None:
    with pytest.raises(ValueError, match="not a stored UTC timestamp"):
        parse_utc("2026-03-02 14:30:00")


def test_field_refuses_naive_datetime_and_stores_nothing(tmp_path: Path) -> None:
    database = SqliteDatabase(str(tmp_path / "stamps.db"))
    with database.bind_ctx([Stamp]):
        database.create_tables([Stamp])
        with pytest.raises(ValueError, match="naive"):
            Stamp.create(at=datetime(2026, 3, 2, 14, 30))  # noqa: DTZ001
        assert Stamp.select().count() == 0
        row = Stamp.create(at=datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
        stored = database.execute_sql("SELECT at FROM stamp").fetchone()[0]
        assert stored == "2026-03-02T14:30:00.000000Z"
        assert Stamp.get_by_id(row.id).at == datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    database.close()
