"""`AlpacaBroker`: the broker adapter protocol over alpaca-py's `TradingClient`.

Life of a call: the request budget admits it (one sliding window for the whole bot), the
session sends it with a timeout, the client raises for a non-2xx answer, and `_call`
translates what went wrong into the protocol's errors: unreachable, hung, 5xx or a body
that is not JSON → `BrokerUnavailableError` (retryable; the engine's gateway retries with
backoff and reports the broker unhealthy after API_RETRY_LIMIT); 429 →
`RateLimitedError` with its Retry-After; 401/403 → `BrokerAuthError` (never retried).

An order submission is never retried blind: after a timeout or a 5xx the order is looked up
by its client order id first; a resubmission with the same id is refused by Alpaca as a
duplicate, which is also looked up. So however often the gateway retries, one order results.

The sync source reads account activities (the SDK has no method for them: a raw GET),
ascending, 100 a page, the last id as the page token; FILL activities are fills (their
client order id looked up from the orders), every other type is cash activity, passed on
raw. Orders are paged by `submitted_at` with an overlap at each page boundary (ties there
would otherwise be skipped), deduplicated by id, and a full page on one timestamp fails
loudly instead of skipping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient

from tbot.broker.alpaca.api_errors import api_message, short
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.live_feed import AlpacaBarFeed
from tbot.broker.alpaca.payloads import (
    MARKET_ZONE,
    cash_report,
    fill_report,
    is_fill,
    read_account,
    read_order,
    read_position,
)
from tbot.broker.alpaca.request_budget import Headroom, RequestBudget, retry_after_seconds
from tbot.broker.alpaca.trade_updates import AlpacaTradeUpdates
from tbot.broker.alpaca.transport import BudgetedSession, disarm
from tbot.broker.errors import (
    BrokerAuthError,
    BrokerError,
    BrokerUnavailableError,
    MalformedBrokerRecordError,
    OrderRejectedError,
    RateLimitedError,
    UnknownOrderError,
)
from tbot.broker.models import (
    AccountSnapshot,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CashActivity,
    OrderRequest,
    OrderSide,
    OrderStatus,
    Page,
)
from tbot.broker.reports import CashReport, FillReport, RefusedReport, ReportKind
from tbot.clock import Clock
from tbot.market.calendar import TradingCalendar

T = TypeVar("T")

ACTIVITY_PAGE = 100
"""Alpaca's largest page of account activities."""
ORDER_PAGE = 500
"""Alpaca's largest page of orders."""
DUPLICATE_CLIENT_ID = "client_order_id must be unique"


class AlpacaBroker:
    """One Alpaca account. Synchronous, like the protocol: the engine calls it from its
    broker thread."""

    name = "ALPACA"

    def __init__(self, credentials: AlpacaCredentials, clock: Clock, *,
                 timeout_seconds: float, max_requests_per_minute: int,
                 window_seconds: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.credentials = credentials
        self._clock = clock
        self.timeout_seconds = float(timeout_seconds)
        self.budget = RequestBudget(max_requests_per_minute, window_seconds=window_seconds,
                                    sleep=sleep)
        self._session = BudgetedSession(self.budget, self.timeout_seconds)
        self._client = TradingClient(credentials.api_key_id, credentials.secret_key,
                                     paper=credentials.paper, raw_data=True,
                                     url_override=credentials.trading_url)
        disarm(self._client, self._session)
        self._client_ids: dict[str, str] = {}
        """order id → client order id, from every order seen (fills need it)."""
        self._account_id: str | None = None

    # -- the protocol: account, positions, orders ------------------------------------------
    def account(self) -> AccountSnapshot:
        snapshot = read_account(self._call("account", self._client.get, "/account"),
                                self._clock.now())
        self._account_id = snapshot.account_id
        return snapshot

    def account_record(self) -> dict[str, Any]:
        """`GET /v2/account` as sent (for `tbot broker check`)."""
        record = self._call("account", self._client.get, "/account")
        if not isinstance(record, dict):
            raise MalformedBrokerRecordError("the account: expected a JSON object")
        return record

    def market_clock(self) -> dict[str, Any]:
        """`GET /v2/clock`: is the market open, the next open and close."""
        record = self._call("clock", self._client.get, "/clock")
        if not isinstance(record, dict):
            raise MalformedBrokerRecordError("the market clock: expected a JSON object")
        return record

    def positions(self) -> list[BrokerPosition]:
        records = self._call("positions", self._client.get, "/positions")
        if not isinstance(records, list):
            raise MalformedBrokerRecordError("positions: expected a JSON list")
        return [read_position(record) for record in records]

    def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        """Today's orders (since midnight in New York), or only those still working."""
        if open_only:
            records = self._call("orders", self._client.get, "/orders",
                                 {"status": "open", "limit": ORDER_PAGE, "direction": "asc"})
            if not isinstance(records, list):
                raise MalformedBrokerRecordError("orders: expected a JSON list")
            return [self._remember(read_order(record)) for record in records]
        now = self._clock.now()
        midnight = now.astimezone(MARKET_ZONE).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        return [self._remember(read_order(record))
                for record in self.order_records(midnight.astimezone(UTC), None)]

    def order(self, order_id: str) -> BrokerOrder:
        """One order by Alpaca's id; UnknownOrderError if there is none."""
        return self._remember(read_order(self._call(
            f"order {order_id}", self._client.get, f"/orders/{order_id}")))

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order placed under `client_order_id`, or None when Alpaca has none."""
        try:
            record = self._call(f"order {client_order_id}", self._client.get,
                                "/orders:by_client_order_id",
                                {"client_order_id": client_order_id})
        except UnknownOrderError:
            return None
        return self._remember(read_order(record))

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """A DAY market order (a limit order when the request has a price, rounded to
        Alpaca's increments) under our client order id; see the module docstring for why
        it is never resubmitted blind."""
        body: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": format(request.quantity.normalize(), "f"),
            "side": request.side.value,
            "type": "market",
            "time_in_force": "day",  # fractional quantities are DAY-only at Alpaca
            "client_order_id": request.client_order_id,
        }
        if request.limit_price is not None:
            body["type"] = "limit"
            body["limit_price"] = format(
                price_increment(request.limit_price, request.side), "f")
        try:
            record = self._call(f"submit {request.client_order_id}", self._client.post,
                                "/orders", body, submitting=True)
        except BrokerUnavailableError:
            # It may have been placed before the answer was lost: look before anyone
            # retries (a retry with the same id is refused as a duplicate anyway).
            existing = self.order_by_client_id(request.client_order_id)
            if existing is not None:
                return existing
            raise
        except OrderRejectedError as refused:
            if DUPLICATE_CLIENT_ID in refused.message:
                existing = self.order_by_client_id(request.client_order_id)
                if existing is not None:
                    return existing
            now = self._clock.now()
            return BrokerOrder(
                order_id=f"rejected:{request.client_order_id}",
                client_order_id=request.client_order_id, symbol=request.symbol,
                side=request.side, quantity=request.quantity, filled_quantity=Decimal(0),
                average_price=None, status=OrderStatus.REJECTED, submitted_at=now,
                updated_at=now, reject_reason=refused.message)
        return self._remember(read_order(record))

    def cancel(self, order_id: str) -> BrokerOrder:
        self._call(f"cancel {order_id}", self._client.delete, f"/orders/{order_id}")
        return self.order(order_id)

    # -- the sync source ----------------------------------------------------------------------
    def order_records(self, since: datetime, until: datetime | None) -> list[dict[str, Any]]:
        """Every order submitted in [since, until) (`status=all`), oldest first, each once;
        see the module docstring for the paging."""
        found: dict[str, dict[str, Any]] = {}
        after = _rfc3339(since - timedelta(microseconds=1))
        while True:
            params: dict[str, Any] = {"status": "all", "direction": "asc", "limit": ORDER_PAGE,
                                      "after": after}
            if until is not None:
                params["until"] = _rfc3339(until)
            page = self._call("orders", self._client.get, "/orders", params)
            if not isinstance(page, list):
                raise MalformedBrokerRecordError("orders: expected a JSON list")
            for record in page:
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    found[record["id"]] = record
            if len(page) < ORDER_PAGE:
                break
            first, last = str(page[0].get("submitted_at")), str(page[-1].get("submitted_at"))
            if _nanoseconds(first) == _nanoseconds(last):
                raise BrokerError(
                    f"{ORDER_PAGE} orders share the submitted_at {last}: Alpaca's order listing "
                    "cannot be paged past them by time; refusing to skip any")
            after = _just_before(last)  # overlap: the whole tie at the boundary again
        for order_id, record in found.items():
            client_id = record.get("client_order_id")
            if isinstance(client_id, str):
                self._client_ids[order_id] = client_id
        return sorted(found.values(),
                      key=lambda r: (_nanoseconds(str(r.get("submitted_at"))), r["id"]))

    def fetch_fill_reports(self, since: datetime, until: datetime | None = None, *,
                           page_token: str | None = None, page_size: int = ACTIVITY_PAGE
                           ) -> Page[FillReport | RefusedReport]:
        if page_token is None:
            # The orders of the window first: their client order ids attribute the fills.
            self.order_records(since - timedelta(days=1), until)
        records, token = self._activities({"activity_types": "FILL"}, since, until,
                                          page_token, page_size)
        return Page(tuple(fill_report(record, source="fetch_fill_reports",
                                      client_order_id=self._client_order_id)
                          for record in records if is_fill(record)), token)

    def fetch_cash_reports(self, since: datetime, until: datetime | None = None, *,
                           page_token: str | None = None, page_size: int = ACTIVITY_PAGE
                           ) -> Page[CashReport | RefusedReport]:
        records, token = self._activities({"category": "non_trade_activity"}, since, until,
                                          page_token, page_size)
        return Page(tuple(cash_report(record, source="fetch_cash_reports")
                          for record in records if not is_fill(record)), token)

    def fetch_all_trades(self, since: datetime, until: datetime | None = None, *,
                         page_token: str | None = None, page_size: int = ACTIVITY_PAGE
                         ) -> Page[BrokerFill]:
        page = self.fetch_fill_reports(since, until, page_token=page_token,
                                       page_size=page_size)
        return Page(tuple(r.fill for r in page.items if isinstance(r, FillReport)),
                    page.next_token)

    def fetch_cash_activity(self, since: datetime, until: datetime | None = None, *,
                            page_token: str | None = None, page_size: int = ACTIVITY_PAGE
                            ) -> Page[CashActivity]:
        page = self.fetch_cash_reports(since, until, page_token=page_token,
                                       page_size=page_size)
        return Page(tuple(r.activity for r in page.items if isinstance(r, CashReport)),
                    page.next_token)

    def normalize_report(self, kind: ReportKind, raw: dict[str, Any]
                         ) -> FillReport | CashReport | RefusedReport:
        """A kept payload read again (to accept the broker's version of it)."""
        if kind is ReportKind.FILL:
            return fill_report(raw, source="normalize_report",
                               client_order_id=self._client_order_id)
        return cash_report(raw, source="normalize_report")

    def credential_fingerprint(self) -> str:
        if self._account_id is None:
            self.account()
        return self.credentials.fingerprint(self._account_id or "")

    def order_update_stream(self) -> AlpacaTradeUpdates:
        """A new, unstarted trade-updates stream of this account (the engine's fast path
        for order states; its fills are read from the activities, see tbot.engine)."""
        return AlpacaTradeUpdates(self.credentials)

    def market_feed(self, symbols: Sequence[str], calendar: TradingCalendar, *,
                    stale_seconds: float) -> AlpacaBarFeed:
        """A new, unstarted live feed of `symbols`' minute bars from the credentials' data
        feed, under this account's one request budget."""
        return AlpacaBarFeed(self.credentials, symbols, self._clock, calendar,
                             budget=self.budget, timeout_seconds=self.timeout_seconds,
                             stale_seconds=stale_seconds)

    def throttled_seconds(self) -> float:
        """Seconds this account's calls have spent waiting for the request budget so far
        (the engine's broker gateway does not count them against its timeout)."""
        return self.budget.waited_seconds

    def headroom(self) -> Headroom:
        """The request budget's count and the server's last rate-limit figures."""
        return self.budget.headroom()

    def close(self) -> None:
        self._session.close()

    # -- internals ------------------------------------------------------------------------
    def _activities(self, selector: dict[str, str], since: datetime, until: datetime | None,
                    page_token: str | None, page_size: int
                    ) -> tuple[list[dict[str, Any]], str | None]:
        size = max(1, min(int(page_size), ACTIVITY_PAGE))
        params: dict[str, Any] = {**selector, "direction": "asc", "page_size": size,
                                  "after": _rfc3339(since - timedelta(microseconds=1))}
        if until is not None:
            params["until"] = _rfc3339(until)
        if page_token is not None:
            params["page_token"] = page_token
        page = self._call("account activities", self._client.get, "/account/activities", params)
        if not isinstance(page, list):
            raise MalformedBrokerRecordError("account activities: expected a JSON list")
        records = [record for record in page if isinstance(record, dict)]
        last = records[-1].get("id") if records else None
        token = str(last) if len(page) >= size and isinstance(last, str) else None
        return records, token

    def _client_order_id(self, order_id: str) -> str | None:
        known = self._client_ids.get(order_id)
        if known is not None:
            return known
        try:
            return self.order(order_id).client_order_id
        except UnknownOrderError:
            return None

    def _remember(self, order: BrokerOrder) -> BrokerOrder:
        if order.client_order_id:
            self._client_ids[order.order_id] = order.client_order_id
        return order

    def _call(self, what: str, function: Callable[..., T], *args: Any,
              submitting: bool = False) -> T:
        """One request, its failure translated (see the module docstring). Submitting,
        a 403 is Alpaca refusing the order (buying power), not the credential."""
        try:
            return function(*args)
        except requests.Timeout:
            raise BrokerUnavailableError(
                f"{what}: Alpaca did not answer within {self.timeout_seconds:g} s") from None
        except requests.ConnectionError as error:
            raise BrokerUnavailableError(f"{what}: cannot reach Alpaca ({short(error)})") from None
        except APIError as error:
            raise _translate(what, error, submitting=submitting) from None
        except (ValueError, json.JSONDecodeError) as error:
            raise BrokerUnavailableError(
                f"{what}: Alpaca's answer is not JSON ({short(error)})") from None


def price_increment(price: Decimal, side: OrderSide) -> Decimal:
    """`price` on Alpaca's grid (0.01 at or above $1, 0.0001 below; a sub-penny price is
    refused), rounded never in the trader's disfavour: a buy's limit down, a sell's up."""
    if not price.is_finite() or price <= 0:
        raise ValueError(f"a limit price must be above zero, not {price}")
    rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    step = Decimal("0.01") if price >= 1 else Decimal("0.0001")
    rounded = price.quantize(step, rounding=rounding)
    # A sell just under a dollar may round up to it: written on the dollar grid then.
    return rounded.quantize(Decimal("0.01")) if rounded >= 1 else rounded


def _translate(what: str, error: APIError, *, submitting: bool) -> BrokerError:
    status = error.status_code or 0
    message = api_message(error)
    if submitting and status in (403, 422):
        return OrderRejectedError(f"{what}: {message}")
    if status in (401, 403):
        return BrokerAuthError(
            f"{what}: Alpaca refused the credential ({status}: {message}); check the broker "
            "secret's key and whether it is a paper or a live key")
    if status == 404:
        return UnknownOrderError(f"{what}: not found at Alpaca ({message})")
    if status == 429:
        headers = error.response.headers if error.response is not None else {}
        return RateLimitedError(f"{what}: Alpaca's rate limit ({message})",
                                retry_after_seconds(headers))
    if status == 422:
        return OrderRejectedError(f"{what}: {message}")
    if status >= 500:
        return BrokerUnavailableError(f"{what}: Alpaca answered {status} ({message})")
    return BrokerError(f"{what}: Alpaca answered {status} ({message})")


def _rfc3339(moment: datetime) -> str:
    """`moment` as Alpaca reads times: UTC with ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _nanoseconds(stamp: str) -> int:
    """RFC 3339 UTC `stamp` (Alpaca trims trailing zeros, so texts do not sort) as integer
    nanoseconds since the epoch; 0 for a stamp that cannot be read (sorts first)."""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = int(datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp())
        return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0")[:9])
    except ValueError:
        return 0


def _just_before(stamp: str) -> str:
    """The instant one nanosecond before RFC 3339 `stamp` (nanoseconds kept as text:
    Python's datetime has only microseconds, and Alpaca's `after` is exclusive)."""
    total = _nanoseconds(stamp) - 1
    seconds, nanos = divmod(total, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC)
    return f"{base.strftime('%Y-%m-%dT%H:%M:%S')}.{nanos:09d}Z"

