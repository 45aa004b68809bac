"""The pipelined listing: pages handed on in order while the next ones are fetched, each
record's newest version winning, a failed page ending the listing with the span not read,
and a failing consumer stopping the fetching."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tbot.broker.errors import BrokerUnavailableError
from tbot.broker.models import BrokerFill, OrderSide, Page
from tbot.broker.reports import FillReport, Provenance, RefusedReport, ReportKind
from tbot.reconcile import listing as listing_module
from tbot.reconcile.listing import Key, read_listing

SINCE = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)


def fill(fill_id: str, minute: int, price: str = "10") -> FillReport:
    raw = {"id": fill_id, "price": price}
    return FillReport(
        BrokerFill(fill_id, "O-" + fill_id, "C-" + fill_id, "AAPL", OrderSide.BUY,
                   Decimal(1), Decimal(price), Decimal(0), SINCE + timedelta(minutes=minute)),
        True, Provenance.of(raw, broker_local_time=None, source="test"))


def refused(broker_id: str) -> RefusedReport:
    raw = {"id": broker_id}
    return RefusedReport(ReportKind.FILL, broker_id, "no symbol",
                         Provenance.of(raw, broker_local_time=None, source="test"))


class Pages:
    """A broker port's paging over fixed pages; page `fail_at` raises; every call logged."""

    def __init__(self, pages: list[list[Any]], *, fail_at: int | None = None,
                 error: Exception | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.error = error or BrokerUnavailableError("page never arrived (timed out)")
        self.calls: list[int] = []

    async def fetch(self, since: datetime, until: datetime, token: str | None,
                    size: int) -> Page[Any]:
        number = 0 if token is None else int(token)
        self.calls.append(number)
        await asyncio.sleep(0)
        if number == self.fail_at:
            raise self.error
        last = number == len(self.pages) - 1
        return Page(tuple(self.pages[number]), None if last else str(number + 1))


def run(pages: Pages, consume: Any) -> Any:
    return asyncio.run(read_listing(ReportKind.FILL, pages.fetch, SINCE, UNTIL, 100, consume))


def test_records_are_handed_on_in_the_brokers_order_each_page_once():
    pages = Pages([[fill("A", 1), fill("B", 2)], [fill("C", 3)], [refused("D")]])
    seen: list[Key] = []

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        seen.extend(key for key, _ in batch)

    listing = run(pages, consume)

    assert seen == [("A", ""), ("B", ""), ("C", ""), ("D", refused("D").provenance.sha256)]
    assert pages.calls == [0, 1, 2]
    assert listing.records == 4 and not listing.missing and listing.span_not_read is None


def test_the_next_page_is_fetched_while_a_batch_is_worked_on():
    pages = Pages([[fill("A", 1)], [fill("B", 2)], [fill("C", 3)]])
    asked_meanwhile: list[bool] = []

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        if batch[0][0] == ("A", ""):
            # Working on page 0 (waiting, as for a ledger read): page 1 is asked for now,
            # not once this returns. (A reader that fetched after working would time out.)
            async def page_one_asked() -> None:
                while 1 not in pages.calls:
                    await asyncio.sleep(0)

            await asyncio.wait_for(page_one_asked(), 1)
            asked_meanwhile.append(True)

    run(pages, consume)

    assert asked_meanwhile == [True]


def test_a_record_served_again_is_handed_on_again_its_newest_version_kept_in_place():
    pages = Pages([[fill("A", 1, "10"), fill("B", 2)], [fill("A", 1, "11"), fill("C", 3)]])
    kept: dict[Key, Any] = {}

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        kept.update(batch)

    listing = run(pages, consume)

    assert list(kept) == [("A", ""), ("B", ""), ("C", "")]
    assert kept[("A", "")].fill.price == Decimal("11")
    assert listing.records == 3


def test_a_page_that_never_arrives_ends_the_listing_with_the_span_not_read():
    pages = Pages([[fill("A", 1)], [fill("B", 7)], [fill("C", 9)]], fail_at=2)
    seen: list[Key] = []

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        seen.extend(key for key, _ in batch)

    listing = run(pages, consume)

    assert seen == [("A", ""), ("B", "")]  # the pages before it stand
    assert listing.missing
    assert listing.span_not_read == {
        "listing": "fill", "since": "2026-11-20T00:07:00Z", "until": "2026-11-21T00:00:00Z",
        "error": "page never arrived (timed out)"}


def test_a_failing_consumer_stops_the_fetching_and_raises():
    pages = Pages([[fill(str(n), n)] for n in range(50)])

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        raise RuntimeError("the ledger refused the read")

    with pytest.raises(RuntimeError, match="refused the read"):
        run(pages, consume)
    assert len(pages.calls) < 50


def test_a_fetch_that_fails_with_a_bug_raises_it():
    pages = Pages([[fill("A", 1)], [fill("B", 2)]], fail_at=1, error=KeyError("token"))

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        pass

    with pytest.raises(KeyError, match="token"):
        run(pages, consume)


def test_a_batch_holds_at_most_max_batch_pages(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(listing_module, "MAX_BATCH_PAGES", 2)
    pages = Pages([[fill(str(n), n)] for n in range(6)])
    sizes: list[int] = []

    async def consume(batch: list[tuple[Key, Any]]) -> None:
        await asyncio.sleep(0.01)  # slower than the broker: pages pile up
        sizes.append(len(batch))

    run(pages, consume)

    assert sum(sizes) == 6 and max(sizes) <= 2
