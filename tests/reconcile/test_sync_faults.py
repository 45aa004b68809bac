"""Bad input from the broker and overlapping requests: each record refused on its own, a
listing that never completes concludes nothing, and the ledger stays intact."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from tbot.broker.errors import BrokerUnavailableError
from tbot.broker.models import Page
from tbot.broker.sim.reports import normalize_fill_payload
from tbot.broker.sim.sim_broker import SimBroker
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.service import SyncBusyError
from tbot.reconcile.statuses import RunOutcome, SyncTrigger


class EdgeOfTheWorld:
    """The simulated broker as a flaky remote would serve it: extra payloads mixed into
    pages, a page served twice, a page that never arrives."""

    def __init__(self, broker: SimBroker, *, extra_fill_payloads: list[dict[str, Any]] = (),
                 fail_fill_page: int | None = None, repeat_pages: bool = False) -> None:
        self._broker = broker
        self._extra = list(extra_fill_payloads)
        self._fail_page = fail_fill_page
        self._repeat = repeat_pages
        self.fill_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    def fetch_fill_reports(self, since: datetime, until: datetime | None = None, *,
                           page_token: str | None = None, page_size: int = 100) -> Page[Any]:
        self.fill_calls += 1
        page_number = 0 if page_token is None else int(page_token) // page_size
        if self._fail_page is not None and page_number == self._fail_page:
            raise BrokerUnavailableError("page never arrived (timed out)")
        page = self._broker.fetch_fill_reports(since, until, page_token=page_token,
                                               page_size=page_size)
        items = list(page.items)
        if page_token is None and self._extra:
            items[1:1] = [normalize_fill_payload(raw, source="fetch_fill_reports")
                          for raw in self._extra]
        if self._repeat:
            items = items + items  # the same records served twice
        return replace(page, items=tuple(items))


def good_payload(recon: Any) -> dict[str, Any]:
    import json

    (raw,) = recon.read("SELECT raw_payload FROM broker_records WHERE kind = 'fill' "
                        "ORDER BY id LIMIT 1")[0]
    return json.loads(raw)


def run_with(recon: Any, wrap: Any, **kwargs: Any) -> Any:
    with OfflineReconciliation(recon.home, recon.clock, actor="cli:test", wrap_broker=wrap,
                               backoff_seconds=0.001) as offline:
        return asyncio.run(offline.service.sync(SyncTrigger.MANUAL, **kwargs))


@pytest.fixture
def traded(home: Any, session_of: Any, recon_of: Any) -> Any:
    session = session_of(home)
    session.round_trip("AAPL", "10", "100.00", "101.00")
    session.round_trip("MSFT", "4", "300.00", "299.00")
    session.close()
    return recon_of(home)


MALFORMED = {
    "missing_symbol": lambda p: {k: v for k, v in p.items() if k != "symbol"},
    "non_numeric_price": lambda p: {**p, "price": "12,5"},
    "negative_quantity": lambda p: {**p, "qty": "-3"},
    "unknown_side": lambda p: {**p, "side": "sell_short_exempt"},
    "naive_time": lambda p: {**p, "transaction_time": "2026-11-20T09:31:00"},
}


def test_malformed_records_are_refused_each_on_its_own(traded):
    traded.sync()
    template = good_payload(traded)
    extra = [{**make(template), "id": f"BAD-{name}"} for name, make in MALFORMED.items()]
    entries_before = traded.read("SELECT COUNT(*) FROM ledger_entries")

    result = run_with(traded, lambda broker: EdgeOfTheWorld(broker, extra_fill_payloads=extra))

    assert result.counts["refused"] == len(MALFORMED)
    assert result.counts["ok"] == 5  # the good records are all there
    assert {r["broker_id"] for r in result.refused} == {f"BAD-{n}" for n in MALFORMED}
    reasons = " ".join(r["reason"] for r in result.refused)
    for word in ("symbol", "price", "qty", "side", "time zone"):
        assert word in reasons
    assert traded.read("SELECT COUNT(*) FROM ledger_entries") == entries_before
    kept = traded.read("SELECT COUNT(*) FROM broker_records WHERE refused_reason IS NOT NULL")
    assert kept == [(len(MALFORMED),)]


def test_the_same_page_served_twice_counts_once(traded):
    first = traded.sync()
    log_before = traded.read("SELECT COUNT(*) FROM reconciliation_log")

    again = run_with(traded, lambda broker: EdgeOfTheWorld(broker, repeat_pages=True))

    assert again.counts == first.counts
    assert traded.read("SELECT COUNT(*) FROM reconciliation_log") == log_before


def test_a_page_that_fails_after_retries_makes_a_partial_run_with_no_local_only(traded):
    edge: list[EdgeOfTheWorld] = []

    def wrap(broker: SimBroker) -> EdgeOfTheWorld:
        edge.append(EdgeOfTheWorld(broker, fail_fill_page=0))
        return edge[0]

    result = run_with(traded, wrap)

    assert result.outcome is RunOutcome.PARTIAL
    assert "local-only" not in result.counts  # nothing concluded from a missing listing
    (span,) = result.spans_not_read
    assert span["listing"] == "fill" and "never arrived" in span["error"]
    assert edge[0].fill_calls == 1 + traded.home.config.bot.API_RETRY_LIMIT  # retried
    (outcome, spans) = traded.read("SELECT outcome, spans_not_read FROM sync_runs")[0]
    assert outcome == "partial" and "never arrived" in spans


def test_two_syncs_at_once_the_second_is_told_one_is_running(traded):
    async def both(service: Any) -> tuple[Any, Any]:
        first = asyncio.ensure_future(service.sync(SyncTrigger.MANUAL))
        await asyncio.sleep(0)  # the first has started
        with pytest.raises(SyncBusyError, match="running"):
            await service.sync(SyncTrigger.MANUAL)
        return await first, service.refusal()

    result, refusal = traded.run(both)

    assert result.outcome is RunOutcome.COMPLETE
    assert refusal is None  # offline keeps no rate limit between commands
    assert traded.read("SELECT COUNT(*) FROM sync_runs") == [(1,)]


def test_a_sync_within_the_minimum_interval_is_refused_with_when_to_retry(traded):
    async def twice(service: Any) -> None:
        service.min_interval = 10.0
        await service.sync(SyncTrigger.MANUAL)
        with pytest.raises(SyncBusyError) as busy:
            await service.sync(SyncTrigger.MANUAL)
        assert 0 < busy.value.retry_after <= 10.0

    traded.run(twice)
