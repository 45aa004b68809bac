"""Fill and cash reports with provenance: raw payloads shaped like Alpaca's account
activities, their hashes, paging, pending fills, and the normalizers' refusals."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tbot.broker import protocol
from tbot.broker.models import OrderSide
from tbot.broker.reports import (
    CashReport,
    FillReport,
    RefusedReport,
    ReportKind,
    payload_sha256,
)
from tbot.broker.sim import SimBroker, SimBrokerSettings, SimFault
from tbot.broker.sim import sim_broker as sim_broker_module
from tbot.broker.sim.reports import normalize_cash_payload, normalize_fill_payload
from tbot.clock import FrozenClock
from tests.broker.conftest import (
    ACCOUNT_ID,
    LONG_AGO,
    START,
    BrokerOpener,
    Market,
    all_trades,
    order_of,
)

FillOrRefused = FillReport | RefusedReport
CashOrRefused = CashReport | RefusedReport
SOURCE = "test"

GOOD_FILL: dict[str, Any] = {
    "id": "F-1",
    "activity_type": "FILL",
    "type": "fill",
    "transaction_time": "2026-11-20T09:31:00-05:00",
    "symbol": "AAPL",
    "side": "sell",
    "qty": "10",
    "price": "101.0202",
    "fee": "0.05",
    "order_id": "O-1",
    "client_order_id": "close-20261120-0001",
    "order_status": "filled",
    "cum_qty": "10",
    "leaves_qty": "0",
    "status": "executed",
}
GOOD_CASH: dict[str, Any] = {
    "id": "A-1",
    "activity_type": "DIV",
    "date": "2026-11-20",
    "transaction_time": "2026-11-20T10:00:00-05:00",
    "net_amount": "2.50",
    "description": "Dividend on AAPL",
    "symbol": "AAPL",
    "status": "executed",
}


def fill_reports(broker: SimBroker, page_size: int = 1000) -> list[FillOrRefused]:
    """Every fill report, all pages."""
    reports: list[FillOrRefused] = []
    token: str | None = None
    while True:
        page = broker.fetch_fill_reports(LONG_AGO, page_token=token, page_size=page_size)
        reports.extend(page.items)
        token = page.next_token
        if token is None:
            return reports


def cash_reports(broker: SimBroker, page_size: int = 1000) -> list[CashOrRefused]:
    """Every cash report, all pages."""
    reports: list[CashOrRefused] = []
    token: str | None = None
    while True:
        page = broker.fetch_cash_reports(LONG_AGO, page_token=token, page_size=page_size)
        reports.extend(page.items)
        token = page.next_token
        if token is None:
            return reports


def only_fills(reports: list[FillOrRefused]) -> list[FillReport]:
    """`reports`, asserting none was refused."""
    assert all(isinstance(report, FillReport) for report in reports), reports
    return [report for report in reports if isinstance(report, FillReport)]


def only_cash(reports: list[CashOrRefused]) -> list[CashReport]:
    """`reports`, asserting none was refused."""
    assert all(isinstance(report, CashReport) for report in reports), reports
    return [report for report in reports if isinstance(report, CashReport)]


def bought_ten(market: Market) -> None:
    """Price AAPL, buy 10, fill them next minute (14:32 UTC) at 101.0202."""
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "10")
    market.minute(("AAPL", "101", "101.5"))


def without(payload: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`payload` without field `name`."""
    return {key: value for key, value in payload.items() if key != name}


def changed(payload: Mapping[str, Any], name: str, value: object) -> dict[str, Any]:
    """`payload` with field `name` set to `value`."""
    return {**payload, name: value}


# -- the adapter surface ------------------------------------------------------------------------


def test_the_sim_broker_has_every_call_of_the_adapter_protocol(broker: SimBroker) -> None:
    calls = [name for name in vars(protocol.BrokerAdapter) if not name.startswith("_")]

    assert {"fetch_fill_reports", "fetch_cash_reports", "credential_fingerprint"} <= set(calls)
    assert [name for name in calls if not hasattr(broker, name)] == []


def test_credential_fingerprint_is_the_sha256_of_the_account_identity(
    broker: SimBroker, state_file: Path, settings: SimBrokerSettings, clock: FrozenClock
) -> None:
    fingerprint = broker.credential_fingerprint()

    assert fingerprint == hashlib.sha256(f"SIM:{ACCOUNT_ID}".encode()).hexdigest()
    assert ACCOUNT_ID not in fingerprint
    other_account = replace(settings, account_id="SIM-OTHER")
    with SimBroker.open(state_file.with_name("other.db"), other_account, clock) as other:
        assert other.credential_fingerprint() != fingerprint


# -- payload shapes -----------------------------------------------------------------------------


def test_a_fill_payload_is_shaped_like_an_alpaca_fill_activity(
    market: Market, broker: SimBroker
) -> None:
    bought_ten(market)

    (report,) = only_fills(fill_reports(broker))

    raw = report.provenance.raw
    assert raw == {
        "id": f"{ACCOUNT_ID}-F000001",
        "activity_type": "FILL",
        "type": "fill",
        "transaction_time": "2026-03-02T09:32:00-05:00",
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "price": "101.0202",
        "fee": "0.05",
        "order_id": f"{ACCOUNT_ID}-O000001",
        "client_order_id": "c1",
        "order_status": "filled",
        "cum_qty": "10",
        "leaves_qty": "0",
        "status": "executed",
    }
    assert json.loads(json.dumps(raw)) == raw  # plain JSON types only
    assert report.fill == all_trades(broker)[0]
    assert report.fill.filled_at == START + timedelta(minutes=2)
    assert report.final and report.metadata == {}
    assert report.provenance.sha256 == payload_sha256(raw)
    assert report.provenance.broker_local_time == "2026-03-02T09:32:00-05:00"
    assert report.provenance.source == "fetch_fill_reports"
    assert report.broker_id == raw["id"]


def test_fill_times_follow_new_york_daylight_saving(market: Market, broker: SimBroker) -> None:
    market.jump_to(datetime(2026, 7, 1, 13, 30, tzinfo=UTC))
    bought_ten(market)

    (report,) = only_fills(fill_reports(broker))

    assert report.provenance.raw["transaction_time"] == "2026-07-01T09:32:00-04:00"
    assert report.fill.filled_at == datetime(2026, 7, 1, 13, 32, tzinfo=UTC)
    assert report.fill.filled_at.tzinfo is UTC


def test_cash_payloads_are_shaped_like_alpaca_non_trade_activities(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker(faults=frozenset({SimFault.DIVIDEND}))
    market = Market(broker, clock)
    bought_ten(market)
    market.jump_to(START.replace(hour=15, minute=0))
    market.minute(("AAPL", "101"))

    funding, dividend = only_cash(cash_reports(broker))

    assert funding.provenance.raw == {
        "id": f"{ACCOUNT_ID}-FUNDING",
        "activity_type": "CSD",
        "date": "2026-03-02",
        "transaction_time": "2026-03-02T09:30:00-05:00",
        "net_amount": "100000",
        "description": "Initial funding of the simulated account",
        "status": "executed",
    }
    assert dividend.provenance.raw == {
        "id": f"{ACCOUNT_ID}-A000002",
        "activity_type": "DIV",
        "date": "2026-03-02",
        "transaction_time": "2026-03-02T10:01:00-05:00",
        "net_amount": "2.50",
        "description": "Simulated dividend on AAPL",
        "symbol": "AAPL",
        "status": "executed",
    }
    assert [report.activity for report in (funding, dividend)] == list(
        broker.fetch_cash_activity(LONG_AGO).items
    )
    assert funding.final and dividend.final
    assert dividend.provenance.broker_local_time == "2026-03-02T10:01:00-05:00"
    assert dividend.provenance.source == "fetch_cash_reports"
    assert dividend.provenance.sha256 == payload_sha256(dividend.provenance.raw)


def test_a_cash_payload_is_dated_on_the_brokers_own_calendar(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 3, 3, 2, 0, tzinfo=UTC))  # still March 2nd in New York
    broker = open_broker()

    (funding,) = only_cash(cash_reports(broker))

    assert funding.provenance.raw["date"] == "2026-03-02"
    assert funding.provenance.raw["transaction_time"] == "2026-03-02T21:00:00-05:00"
    assert funding.activity.occurred_at == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


# -- hashes -------------------------------------------------------------------------------------


def test_payloads_and_hashes_are_stable_across_calls_and_a_restart(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker(faults=frozenset({SimFault.DEPOSIT}))
    market = Market(broker, clock)
    bought_ten(market)
    market.jump_to(START.replace(hour=15))
    market.minute(("AAPL", "101"))

    def snapshot(broker: SimBroker) -> list[tuple[str, str]]:
        reports = [*fill_reports(broker), *cash_reports(broker)]
        return [
            (report.provenance.sha256, json.dumps(report.provenance.raw, sort_keys=True))
            for report in reports
        ]

    first = snapshot(broker)
    assert len(first) == 3
    assert snapshot(broker) == first
    broker.close()
    assert snapshot(open_broker(faults=frozenset({SimFault.DEPOSIT}))) == first


def test_a_restated_price_gives_another_hash(
    tmp_path: Path, settings: SimBrokerSettings
) -> None:
    def traded(name: str, faults: frozenset[SimFault]) -> FillReport:
        clock = FrozenClock(START)
        with SimBroker.open(
            tmp_path / name / "broker.db", replace(settings, faults=faults), clock
        ) as broker:
            bought_ten(Market(broker, clock))
            (report,) = only_fills(fill_reports(broker))
            return report

    honest = traded("honest", frozenset())
    restated = traded("restated", frozenset({SimFault.RESTATE_PRICE}))

    assert restated.broker_id == honest.broker_id
    assert (honest.fill.price, restated.fill.price) == (Decimal("101.0202"), Decimal("101.0302"))
    assert restated.provenance.raw == {**honest.provenance.raw, "price": "101.0302"}
    assert restated.provenance.sha256 != honest.provenance.sha256


# -- which fills are reported -------------------------------------------------------------------


def test_fill_reports_are_the_reported_fills_dropped_restated_and_phantom_included(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    faults = frozenset({SimFault.DROP_FILL, SimFault.RESTATE_PRICE, SimFault.PHANTOM_FILL})
    broker = open_broker(faults=faults)
    market = Market(broker, clock)
    market.minute(("AAPL", "100"))
    market.buy("c1", "AAPL", "5")
    market.buy("c2", "AAPL", "5")
    dropped, restated = market.minute(("AAPL", "101"))

    reports = only_fills(fill_reports(broker))

    assert [report.fill for report in reports] == all_trades(broker)
    ids = [report.broker_id for report in reports]
    assert dropped.fill_id not in ids
    (restated_report,) = [report for report in reports if report.broker_id == restated.fill_id]
    assert restated_report.fill.price != restated.price
    assert any(report.fill.client_order_id.startswith("phantom-") for report in reports)


# -- paging -------------------------------------------------------------------------------------


@pytest.fixture
def five_fills(market: Market, broker: SimBroker) -> None:
    """One order filled one share a minute over five minutes."""
    market.minute(("AAPL", "100", "100", 10))
    market.buy("c1", "AAPL", "5")
    for _ in range(5):
        market.minute(("AAPL", "100", "100", 10))


@pytest.mark.usefixtures("five_fills")
def test_fill_reports_come_page_by_page_oldest_first(broker: SimBroker) -> None:
    first = broker.fetch_fill_reports(LONG_AGO, page_size=2)
    second = broker.fetch_fill_reports(LONG_AGO, page_token=first.next_token, page_size=2)
    third = broker.fetch_fill_reports(LONG_AGO, page_token=second.next_token, page_size=2)

    assert [len(page.items) for page in (first, second, third)] == [2, 2, 1]
    assert (first.next_token, second.next_token, third.next_token) == ("2", "4", None)
    reports = only_fills(list(first.items + second.items + third.items))
    assert [report.fill for report in reports] == all_trades(broker)
    assert [report.provenance.raw["cum_qty"] for report in reports] == ["1", "2", "3", "4", "5"]
    assert [report.provenance.raw["type"] for report in reports] == ["partial_fill"] * 4 + ["fill"]


@pytest.mark.usefixtures("five_fills")
def test_fill_report_window_includes_since_and_excludes_until(broker: SimBroker) -> None:
    fills = all_trades(broker)
    middle = fills[2].filled_at

    before = only_fills(list(broker.fetch_fill_reports(LONG_AGO, middle).items))
    after = only_fills(list(broker.fetch_fill_reports(middle).items))

    assert [report.fill for report in before] == fills[:2]
    assert [report.fill for report in after] == fills[2:]


@pytest.mark.usefixtures("five_fills")
def test_a_full_last_page_of_fill_reports_has_no_next_token(broker: SimBroker) -> None:
    page = broker.fetch_fill_reports(LONG_AGO, page_size=5)

    assert len(page.items) == 5 and page.next_token is None


def test_cash_reports_come_page_by_page_oldest_first(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker(faults=frozenset({SimFault.DEPOSIT}))
    market = Market(broker, clock)
    for day in range(3):
        market.jump_to(START.replace(hour=15) + timedelta(days=day))
        market.minute(("AAPL", "100"))

    first = broker.fetch_cash_reports(LONG_AGO, page_size=3)
    second = broker.fetch_cash_reports(LONG_AGO, page_token=first.next_token, page_size=3)
    middle = START.replace(hour=15) + timedelta(days=1)
    window = broker.fetch_cash_reports(middle, middle + timedelta(days=1))

    assert [len(first.items), len(second.items), second.next_token] == [3, 1, None]
    reports = only_cash(list(first.items + second.items))
    assert [report.activity for report in reports] == list(
        broker.fetch_cash_activity(LONG_AGO).items
    )
    assert [report.activity.occurred_at for report in only_cash(list(window.items))] == [
        middle + timedelta(minutes=1)
    ]


@pytest.mark.parametrize("token", ["abc", "-1", "", "1.5", " 2", "２"])
def test_bad_page_tokens_are_refused(broker: SimBroker, token: str) -> None:
    with pytest.raises(ValueError, match="page token"):
        broker.fetch_fill_reports(LONG_AGO, page_token=token)
    with pytest.raises(ValueError, match="page token"):
        broker.fetch_cash_reports(LONG_AGO, page_token=token)


@pytest.mark.parametrize("size", [0, 1001, -5, True])
def test_page_sizes_outside_one_to_a_thousand_are_refused(broker: SimBroker, size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        broker.fetch_fill_reports(LONG_AGO, page_size=size)
    with pytest.raises(ValueError, match="page_size"):
        broker.fetch_cash_reports(LONG_AGO, page_size=size)


def test_naive_report_windows_are_refused(broker: SimBroker) -> None:
    with pytest.raises(ValueError, match="naive"):
        broker.fetch_fill_reports(datetime(2026, 1, 1))  # noqa: DTZ001 - the refusal is the point
    with pytest.raises(ValueError, match="naive"):
        broker.fetch_cash_reports(datetime(2026, 1, 1))  # noqa: DTZ001


# -- pending and final --------------------------------------------------------------------------


def test_a_pending_fill_becomes_final_30_minutes_after_it_was_filled(
    open_broker: BrokerOpener, clock: FrozenClock
) -> None:
    broker = open_broker(faults=frozenset({SimFault.PENDING_FILL}))
    bought_ten(Market(broker, clock))
    filled_at = START + timedelta(minutes=2)

    (pending,) = only_fills(fill_reports(broker))
    clock.set(filled_at + timedelta(minutes=29, seconds=59))
    (still_pending,) = only_fills(fill_reports(broker))
    clock.set(filled_at + timedelta(minutes=30))
    (final,) = only_fills(fill_reports(broker))

    assert (pending.provenance.raw["status"], pending.final) == ("pending", False)
    assert still_pending == pending
    assert (final.provenance.raw["status"], final.final) == ("executed", True)
    assert final.fill == pending.fill
    assert final.provenance.sha256 != pending.provenance.sha256


def test_a_partial_fill_of_an_open_order_is_pending_until_the_order_is_final(
    market: Market, broker: SimBroker
) -> None:
    market.minute(("AAPL", "100", "100", 50))
    market.buy("c1", "AAPL", "8")
    market.minute(("AAPL", "100", "100", 50))  # 5 of 8

    (partial,) = only_fills(fill_reports(broker))

    assert not partial.final
    assert {name: partial.provenance.raw[name] for name in (
        "type", "order_status", "cum_qty", "leaves_qty", "status",
    )} == {
        "type": "partial_fill", "order_status": "partially_filled", "cum_qty": "5",
        "leaves_qty": "3", "status": "executed",
    }

    market.minute(("AAPL", "100", "100", 50))  # the last 3

    first, last = only_fills(fill_reports(broker))
    assert first.final and first.provenance.raw["order_status"] == "filled"
    assert first.provenance.raw["type"] == "partial_fill"
    assert first.provenance.sha256 != partial.provenance.sha256
    assert (last.provenance.raw["type"], last.provenance.raw["leaves_qty"]) == ("fill", "0")
    assert last.final


def test_a_partial_fill_of_a_canceled_order_is_final(market: Market, broker: SimBroker) -> None:
    market.minute(("AAPL", "100", "100", 50))
    order = market.buy("c1", "AAPL", "8")
    market.minute(("AAPL", "100", "100", 50))  # 5 of 8

    broker.cancel(order.order_id)

    (partial,) = only_fills(fill_reports(broker))
    assert partial.final
    assert partial.provenance.raw["order_status"] == order_of(broker, order.order_id).status


# -- normalizers: refusals, metadata ------------------------------------------------------------

FILL_REFUSALS: list[tuple[dict[str, Any], str]] = [
    *[(without(GOOD_FILL, name), f"'{name}' is missing") for name in (
        "id", "activity_type", "transaction_time", "symbol", "side", "qty", "price", "fee",
        "order_id", "client_order_id", "order_status", "status",
    )],
    (changed(GOOD_FILL, "qty", "ten"), "'qty' is not a number"),
    (changed(GOOD_FILL, "price", "101,02"), "'price' is not a number"),
    (changed(GOOD_FILL, "fee", "NaN"), "'fee' is not a number"),
    (changed(GOOD_FILL, "qty", [10]), "'qty' is not a number"),
    (changed(GOOD_FILL, "qty", "0"), "'qty' must be above zero"),
    (changed(GOOD_FILL, "qty", "-10"), "'qty' must be above zero"),
    (changed(GOOD_FILL, "price", "0"), "'price' must be above zero"),
    (changed(GOOD_FILL, "price", "-101.0202"), "'price' must be above zero"),
    (changed(GOOD_FILL, "fee", "-0.01"), "'fee' must not be negative"),
    (changed(GOOD_FILL, "side", "short"), "'side' is 'short'"),
    (changed(GOOD_FILL, "transaction_time", "2026-11-20T09:31:00"), "'transaction_time' has no"),
    (changed(GOOD_FILL, "transaction_time", "09:31 Friday"), "'transaction_time' is not an ISO"),
    (changed(GOOD_FILL, "status", "settled"), "'status' is 'settled'"),
    (changed(GOOD_FILL, "order_status", "done_for_day"), "'order_status' is 'done_for_day'"),
    (changed(GOOD_FILL, "activity_type", "DIV"), "'activity_type' is 'DIV'"),
    (changed(GOOD_FILL, "type", "fill_correction"), "'type' is 'fill_correction'"),
    (changed(GOOD_FILL, "cum_qty", "lots"), "'cum_qty' is not a number"),
    (changed(GOOD_FILL, "leaves_qty", "-1"), "'leaves_qty' must not be negative"),
]
CASH_REFUSALS: list[tuple[dict[str, Any], str]] = [
    *[(without(GOOD_CASH, name), f"'{name}' is missing") for name in (
        "id", "activity_type", "transaction_time", "net_amount", "status",
    )],
    (changed(GOOD_CASH, "net_amount", "2.50 USD"), "'net_amount' is not a number"),
    (changed(GOOD_CASH, "net_amount", "Infinity"), "'net_amount' is not a number"),
    (changed(GOOD_CASH, "transaction_time", "2026-11-20T10:00:00"), "'transaction_time' has no"),
    (changed(GOOD_CASH, "status", "correct"), "'status' is 'correct'"),
    (changed(GOOD_CASH, "activity_type", "FILL"), "'activity_type' is 'FILL'"),
    (changed(GOOD_CASH, "date", "2026-11-21"), "'date' 2026-11-21 is not the date"),
    (changed(GOOD_CASH, "date", "20 Nov"), "'date' is not an ISO date"),
    (changed(GOOD_CASH, "symbol", ""), "'symbol' is missing or empty"),
    (changed(GOOD_CASH, "description", 7), "'description' is not text"),
]


def _check_refused_in_a_page(
    cases: list[tuple[dict[str, Any], str]],
    good: dict[str, Any],
    normalize: Callable[..., Any],
    kind: ReportKind,
    accepted: type,
) -> None:
    """Interleave every bad payload with good ones: each bad one is refused on its own,
    naming its field; every good one is normalized."""
    page: list[dict[str, Any]] = []
    for number, (bad, _) in enumerate(cases):
        page += [changed(good, "id", f"good-{number}"), bad]
    page.append(changed(good, "id", "good-last"))

    reports = [normalize(raw, source=SOURCE) for raw in page]

    refused = [report for report in reports if isinstance(report, RefusedReport)]
    normalized = [report for report in reports if isinstance(report, accepted)]
    assert len(refused) == len(cases) and len(normalized) == len(cases) + 1
    assert [report.broker_id for report in normalized] == [
        *(f"good-{number}" for number in range(len(cases))), "good-last",
    ]
    for report, (bad, reason) in zip(refused, cases, strict=True):
        assert reason in report.reason, (report.reason, reason)
        assert report.kind is kind
        assert report.broker_id == bad.get("id")
        assert report.provenance.raw == bad
        assert report.provenance.sha256 == payload_sha256(bad)
        assert report.provenance.source == SOURCE


def test_each_malformed_fill_payload_is_refused_on_its_own() -> None:
    _check_refused_in_a_page(
        FILL_REFUSALS, GOOD_FILL, normalize_fill_payload, ReportKind.FILL, FillReport
    )


def test_each_malformed_cash_payload_is_refused_on_its_own() -> None:
    _check_refused_in_a_page(
        CASH_REFUSALS, GOOD_CASH, normalize_cash_payload, ReportKind.CASH, CashReport
    )


def test_a_refused_payload_keeps_its_broker_local_time() -> None:
    report = normalize_fill_payload(changed(GOOD_FILL, "qty", "ten"), source=SOURCE)

    assert isinstance(report, RefusedReport)
    assert report.provenance.broker_local_time == GOOD_FILL["transaction_time"]


def test_a_good_fill_payload_is_normalized_to_utc() -> None:
    report = normalize_fill_payload(GOOD_FILL, source=SOURCE)

    assert isinstance(report, FillReport)
    fill = report.fill
    assert (fill.fill_id, fill.order_id, fill.client_order_id, fill.symbol, fill.side) == (
        "F-1", "O-1", "close-20261120-0001", "AAPL", OrderSide.SELL,
    )
    assert (fill.quantity, fill.price, fill.fee) == (
        Decimal("10"), Decimal("101.0202"), Decimal("0.05"),
    )
    assert fill.filled_at == datetime(2026, 11, 20, 14, 31, tzinfo=UTC)
    assert fill.filled_at.tzinfo is UTC
    assert report.final


@pytest.mark.parametrize(
    ("status", "order_status", "final"),
    [
        ("executed", "filled", True),
        ("executed", "canceled", True),
        ("executed", "rejected", True),
        ("executed", "partially_filled", False),
        ("executed", "new", False),
        ("pending", "filled", False),
    ],
)
def test_a_fill_is_final_only_when_executed_and_its_order_is_final(
    status: str, order_status: str, final: bool
) -> None:
    raw = {**GOOD_FILL, "status": status, "order_status": order_status}

    report = normalize_fill_payload(raw, source=SOURCE)

    assert isinstance(report, FillReport) and report.final is final


@pytest.mark.parametrize(("status", "final"), [("executed", True), ("pending", False)])
def test_a_cash_activity_is_final_when_executed(status: str, final: bool) -> None:
    report = normalize_cash_payload({**GOOD_CASH, "status": status}, source=SOURCE)

    assert isinstance(report, CashReport) and report.final is final


def test_a_cash_payload_without_symbol_or_description_is_normalized() -> None:
    raw = without(without(without(GOOD_CASH, "symbol"), "description"), "date")

    report = normalize_cash_payload({**raw, "symbol": None}, source=SOURCE)

    assert isinstance(report, CashReport)
    assert (report.activity.symbol, report.activity.description) == (None, "")
    assert report.activity.amount == Decimal("2.50")
    assert report.activity.occurred_at == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def test_unknown_fill_fields_go_to_metadata_not_the_record() -> None:
    extra = {"venue": "XNAS", "legs": [{"qty": "10"}], "net_amount": "-1010.20"}
    plain = normalize_fill_payload(GOOD_FILL, source=SOURCE)

    report = normalize_fill_payload({**GOOD_FILL, **extra}, source=SOURCE)

    assert isinstance(report, FillReport) and isinstance(plain, FillReport)
    assert report.metadata == extra
    assert report.fill == plain.fill
    assert report.provenance.raw == {**GOOD_FILL, **extra}
    assert report.provenance.sha256 != plain.provenance.sha256


def test_unknown_cash_fields_go_to_metadata_not_the_record() -> None:
    extra = {"per_share_amount": "0.25", "qty": "10"}
    plain = normalize_cash_payload(GOOD_CASH, source=SOURCE)

    report = normalize_cash_payload({**GOOD_CASH, **extra}, source=SOURCE)

    assert isinstance(report, CashReport) and isinstance(plain, CashReport)
    assert report.metadata == extra
    assert report.activity == plain.activity


def test_the_kept_payload_does_not_change_with_the_callers_dict() -> None:
    raw = dict(GOOD_FILL)
    report = normalize_fill_payload(raw, source=SOURCE)

    raw["price"] = "1"

    assert report.provenance.raw == GOOD_FILL
    assert report.provenance.sha256 == payload_sha256(GOOD_FILL)


def test_a_malformed_payload_in_the_brokers_page_does_not_stop_the_rest(
    market: Market, broker: SimBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    market.minute(("AAPL", "100", "100", 10))
    market.buy("c1", "AAPL", "3")
    for _ in range(3):
        market.minute(("AAPL", "100", "100", 10))
    build = sim_broker_module.fill_payload

    def garbled(*args: Any, **kwargs: Any) -> dict[str, Any]:
        payload = build(*args, **kwargs)
        return changed(payload, "price", "n/a") if payload["cum_qty"] == "2" else payload

    monkeypatch.setattr(sim_broker_module, "fill_payload", garbled)

    first, second, third = broker.fetch_fill_reports(LONG_AGO).items

    assert isinstance(first, FillReport) and isinstance(third, FillReport)
    assert isinstance(second, RefusedReport)
    assert second.broker_id == f"{ACCOUNT_ID}-F000002"
    assert "'price'" in second.reason
    assert second.provenance.source == "fetch_fill_reports"
