"""The engine's intraday PnL curve: a sample a minute, one day at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.engine.pnl_curve import MAX_POINTS, PnlCurve

OPEN = datetime(2026, 11, 20, 14, 31, tzinfo=UTC)


def minute(number: int) -> datetime:
    return OPEN + timedelta(minutes=number)


def test_samples_come_back_oldest_first_as_exact_text_ready_records() -> None:
    curve = PnlCurve()
    curve.start_day(date(2026, 11, 20))
    curve.record(minute(0), Decimal("0"), Decimal("100000"))
    curve.record(minute(1), Decimal("-1.18"), Decimal("99998.82"))
    wire = curve.as_wire("USD")
    assert wire["currency"] == "USD" and wire["day"] == date(2026, 11, 20)
    assert wire["points"] == [
        {"at": minute(0), "total": Decimal("0"), "equity": Decimal("100000")},
        {"at": minute(1), "total": Decimal("-1.18"), "equity": Decimal("99998.82")},
    ]


def test_a_second_sample_of_a_minute_replaces_it_and_an_older_one_is_ignored() -> None:
    curve = PnlCurve()
    curve.start_day(date(2026, 11, 20))
    curve.record(minute(1), Decimal("1"), None)
    curve.record(minute(1), Decimal("2"), None)
    curve.record(minute(0), Decimal("3"), None)
    assert [point["total"] for point in curve.as_wire("USD")["points"]] == [Decimal("2")]


def test_a_new_day_starts_an_empty_curve() -> None:
    curve = PnlCurve()
    curve.start_day(date(2026, 11, 20))
    curve.record(minute(0), Decimal("5"), None)
    curve.start_day(date(2026, 11, 23))
    assert len(curve) == 0 and curve.as_wire("USD")["day"] == date(2026, 11, 23)


def test_the_curve_keeps_at_most_a_day_of_minutes() -> None:
    curve = PnlCurve()
    for number in range(MAX_POINTS + 10):
        curve.record(minute(number), Decimal(number), None)
    points = curve.as_wire("USD")["points"]
    assert len(points) == MAX_POINTS and points[0]["total"] == Decimal(10)


def test_a_summary_without_a_decimal_total_is_refused() -> None:
    curve = PnlCurve()
    curve.record_summary(minute(0), {"today": {"total": Decimal("1.5")}}, None)
    assert len(curve) == 1
    with pytest.raises(TypeError, match=r"today\.total"):
        curve.record_summary(minute(1), {"today": {"total": 1.5}}, None)
