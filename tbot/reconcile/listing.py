"""One broker listing read page by page, the pages already read worked on meanwhile.

A sync's listing can be long: 100,000 fills are a thousand Alpaca pages, and most of the
time they take is spent waiting on the broker's rate limit. Fetching the next pages (on
the broker's thread) while the ones already read are compared and turned into rows (on
the event loop and the ledger's thread) overlaps that local work with the waiting, instead
of adding it after the last page.

Records are handed on in the order the broker sent them, each batch of pages at once (as
many as arrived while the previous batch was worked on, up to `MAX_BATCH_PAGES`), and the
listing keeps none of them: what the consumer no longer needs is freed as the pages go by,
not all at once at the end. A record served again (the same page twice) is handed on
again: its newer version wins (a consumer keeping records in a dict by key keeps the
place of its first appearance). A page that still fails after the broker port's retries
ends the listing: the span not read is recorded and the pages before it stand; a listing
is never concluded from a partial read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from tbot.broker.errors import BrokerError
from tbot.broker.models import Page
from tbot.broker.reports import CashReport, FillReport, RefusedReport, ReportKind
from tbot.clock import utc_text

log = logging.getLogger("tbot.reconcile")

T = TypeVar("T", bound=FillReport | CashReport | RefusedReport)

Key = tuple[str | None, str]
"""A record's place in a listing: (broker id, "") for a normalized report, (broker id,
payload hash) for a refused one (each refused payload is kept)."""

MAX_BATCH_PAGES = 20
"""The most pages handed on at once: bounds how long the event loop works in one go."""

Fetch = Callable[[datetime, datetime, str | None, int], Awaitable[Page[T]]]
Consume = Callable[[list[tuple[Key, T]]], Awaitable[None]]
Progress = Callable[[str, int], None]


@dataclass
class Listing:
    """What one listing read: how many records (each once), whether a span could not be
    read, and that span."""

    kind: ReportKind
    records: int = 0
    missing: bool = False
    span_not_read: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class _Failed:
    """A fetch that raised something other than a BrokerError (a bug): re-raised here."""

    error: Exception



def record_key(item: FillReport | CashReport | RefusedReport) -> Key:
    """The key a listing keeps `item` under."""
    if isinstance(item, RefusedReport):
        return (item.broker_id, item.provenance.sha256)
    return (item.broker_id, "")


def _record_time(item: object) -> datetime | None:
    if isinstance(item, FillReport):
        return item.fill.filled_at
    if isinstance(item, CashReport):
        return item.activity.occurred_at
    return None


async def read_listing(
    kind: ReportKind,
    fetch: Fetch[T],
    since: datetime,
    until: datetime,
    page_size: int,
    consume: Consume[T],
    *,
    progress: Progress | None = None,
) -> Listing:
    """Every page of one listing in [since, until), each batch handed to `consume` (awaited)
    while the next pages are fetched. Raises what `consume` raises (the fetching stops)."""
    listing = Listing(kind)
    seen: set[Key] = set()
    arrivals: asyncio.Queue[Page[T] | BrokerError | _Failed | None] = asyncio.Queue()
    fetching = asyncio.ensure_future(_fetch_pages(fetch, since, until, page_size, arrivals))
    read_until = since
    try:
        ended = False
        while not ended:
            batch: dict[Key, T] = {}
            arrival = await arrivals.get()
            pages = 0
            while True:
                if arrival is None:  # the last page
                    ended = True
                    break
                if isinstance(arrival, _Failed):
                    raise arrival.error
                if isinstance(arrival, BrokerError):
                    listing.missing = True
                    listing.span_not_read = {
                        "listing": kind.value, "since": utc_text(read_until),
                        "until": utc_text(until), "error": arrival.message,
                    }
                    log.warning("sync: the %s listing stopped at %s: %s", kind.value,
                                utc_text(read_until), arrival.message)
                    ended = True
                    break
                for item in arrival.items:
                    key = record_key(item)
                    seen.add(key)
                    batch[key] = item
                    moment = _record_time(item)
                    if moment is not None and moment > read_until:
                        read_until = moment
                listing.records = len(seen)
                if progress is not None:
                    progress(kind.value, listing.records)
                pages += 1
                if pages >= MAX_BATCH_PAGES or arrivals.empty():
                    break
                arrival = arrivals.get_nowait()
            if batch:
                await consume(list(batch.items()))
    finally:
        if not fetching.done():
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetching
    return listing


async def _fetch_pages(
    fetch: Fetch[T], since: datetime, until: datetime, page_size: int,
    arrivals: asyncio.Queue[Page[T] | BrokerError | _Failed | None],
) -> None:
    """Fetch page after page into `arrivals`, ending with None, a BrokerError or _Failed."""
    token: str | None = None
    while True:
        try:
            page = await fetch(since, until, token, page_size)
        except BrokerError as error:
            arrivals.put_nowait(error)
            return
        except Exception as error:  # handed to the reader, which raises it
            arrivals.put_nowait(_Failed(error))
            return
        arrivals.put_nowait(page)
        if page.next_token is None:
            arrivals.put_nowait(None)
            return
        token = page.next_token
