"""The records every broker adapter speaks, whatever the broker underneath.

Quantities and money are `Decimal`, times aware UTC. Ids are the broker's own and stable:
asking again for the same fill or activity returns the same id, which is what makes ledger
ingestion idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class OrderSide(StrEnum):
    """Direction of an order or fill."""

    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """Where an order is in its life. The last three are final."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        """True when nothing more will happen to the order."""
        return self in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order the engine asks for: market, or limit when `limit_price` is set.

    `client_order_id` is chosen by the engine and unique per bot; it carries the strategy
    (``open-20261120-0001``) so a fill can be attributed after a restart.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    limit_price: Decimal | None = None
    """A limit order's price (None: a market order). Adapters round it to their broker's
    increments, never in the trader's disfavour."""


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker reports it."""

    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    status: OrderStatus
    submitted_at: datetime
    updated_at: datetime
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution (a trade activity). A partially filled order has several."""

    fill_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class CashActivity:
    """A non-trade movement of cash: deposit, dividend, fee, interest...

    `activity_type` is the broker's own code (Alpaca's ``CSD``, ``DIV``, ``FEE``...), kept
    raw so the mapping work can learn it; `amount` is signed from the account's view
    (positive = cash in).
    """

    activity_id: str
    activity_type: str
    amount: Decimal
    occurred_at: datetime
    description: str
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Cash, buying power and equity at one instant."""

    account_id: str
    currency: str
    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    as_of: datetime


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A holding as the broker reports it: quantity > 0 long, < 0 sold short."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal
    market_price: Decimal | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a paged listing; `next_token` is None on the last page."""

    items: tuple[T, ...]
    next_token: str | None = None
