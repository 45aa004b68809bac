"""The position book holds a short as a negative quantity marked to market."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tbot.engine.position_book import HeldPosition, PositionBook

D = Decimal
T0 = datetime(2026, 11, 20, 19, 35, tzinfo=UTC)


def short_pfe() -> HeldPosition:
    return HeldPosition(symbol="PFE", strategy="close", underlying="PFE",
                        position_side="short", tag="ShortSell", leverage_multiplier=1,
                        opened_at=T0, signal_time=T0)


def test_a_short_is_negative_and_its_unrealized_pnl_is_entry_less_last_times_shares() -> None:
    book = PositionBook()
    # 33 sold short at 24.20 (proceeds 798.60): the equities leg is -33 for -798.60
    held = book.add(short_pfe(), D(-33), D("-798.60"))
    book.mark({"PFE": D("24.00")})

    assert (held.is_short, held.size, held.average_cost) == (True, D(33), D("24.2000"))
    assert held.market_value == D("-792.00")
    assert held.unrealized == (D("24.20") - D("24.00")) * 33 == D("6.60")
    row = held.as_dict(T0 + timedelta(minutes=5))
    assert (row["quantity"], row["side"], row["tag"]) == (D(-33), "short", "ShortSell")
    assert row["unrealized_pnl_pct"] == D("0.83")  # a gain shows positive: 6.60 / 798.60
    book.mark({"PFE": D("25.00")})
    assert held.unrealized == D("-26.40") and book.pnl_today() == D("-26.40")


def test_covers_take_the_short_off_until_it_leaves_the_book() -> None:
    book = PositionBook()
    book.add(short_pfe(), D(-33), D("-798.60"))
    left = book.cover("PFE", D(13), D("314.60"))  # 13 of 33, at their sale proceeds
    assert left is not None and (left.quantity, left.cost) == (D(-20), D("-484.00"))
    assert "PFE" in book.positions
    book.cover("PFE", D(20), D("484.00"))
    assert book.positions == {}
