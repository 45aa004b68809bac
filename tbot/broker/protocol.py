"""The broker adapter protocol: what the engine and sync/reconciliation may ask of any
broker, simulated or real.

Calls are synchronous (the real client libraries are); the engine runs them off its event
loop. Implementations must be safe to call from one worker thread while the engine's loop
thread reads nothing of theirs directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from tbot.broker.models import (
    AccountSnapshot,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CashActivity,
    OrderRequest,
    Page,
)
from tbot.broker.order_updates import OrderUpdateStream
from tbot.broker.reports import CashReport, FillReport, RefusedReport
from tbot.market.bars import LiveBarFeed
from tbot.market.calendar import TradingCalendar


class BrokerAdapter(Protocol):
    """One broker account."""

    @property
    def name(self) -> str:
        """The broker's name as `.env_bot` spells it: ``SIM``, ``ALPACA``, ``IBKR``."""
        ...

    def account(self) -> AccountSnapshot:
        """Cash, buying power and equity now."""
        ...

    def positions(self) -> list[BrokerPosition]:
        """Every open position."""
        ...

    def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        """Orders of the current session (only those not final when `open_only`)."""
        ...

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Place a market order. A refused order comes back with status REJECTED and a
        reason; a repeated `client_order_id` returns the existing order (idempotent)."""
        ...

    def cancel(self, order_id: str) -> BrokerOrder:
        """Cancel what is left of an order; UnknownOrderError if there is no such order."""
        ...

    def fetch_all_trades(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[BrokerFill]:
        """Fills with `since <= filled_at < until`, oldest first, one page at a time."""
        ...

    def fetch_cash_activity(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[CashActivity]:
        """Non-trade cash movements with `since <= occurred_at < until`, oldest first."""
        ...

    def fetch_fill_reports(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[FillReport | RefusedReport]:
        """Every fill the broker reports with `since <= time < until`, oldest first, paged
        like `fetch_all_trades`, each with its raw payload, hash and broker-local time. A
        payload that cannot be normalized comes as a `RefusedReport` in its place."""
        ...

    def fetch_cash_reports(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[CashReport | RefusedReport]:
        """Every non-trade cash movement the broker reports with `since <= time < until`,
        oldest first, paged like `fetch_cash_activity`, with provenance."""
        ...

    def credential_fingerprint(self) -> str:
        """SHA-256 (hex) of the credential and account identity this adapter uses, never the
        key itself: tells whether records were fetched with the same account."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class StreamingBroker(Protocol):
    """A broker that pushes order updates (a real one); the simulated broker instead
    executes against the engine's bars."""

    def order_update_stream(self) -> OrderUpdateStream:
        """A new, unstarted stream of this account's order updates."""
        ...


@runtime_checkable
class MarketDataBroker(Protocol):
    """A broker that also sells the market's minute bars."""

    def market_feed(self, symbols: Sequence[str], calendar: TradingCalendar, *,
                    stale_seconds: float) -> LiveBarFeed:
        """A new, unstarted live feed of `symbols`' minute bars."""
        ...
