"""The engine's record of why each order exists, keyed by the client order id.

A client order id is derived from the decision itself: strategy, the minute it was taken,
instrument and purpose (``open-20261120T1451-AAPL-entry``). Submitting the same decision
twice (a retry, a restart in the same minute) is therefore idempotent at the broker, and
after a restart the strategy and purpose of any fill can be read back from its order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tbot.broker.models import BrokerOrder, OrderSide
from tbot.strategy.signals import TAG_SHORT_SELL


class Purpose(StrEnum):
    """Why an order was placed. An entry buys, or sells short; an exit or a flatten sells
    what is held long, or buys a short back (a cover)."""

    ENTRY = "entry"
    EXIT = "exit"
    FLATTEN = "flatten"  # kill switch, daily loss limit, shutdown


_CLIENT_ID = re.compile(
    r"(?P<strategy>open|mid|close)-(?P<minute>\d{8}T\d{4})-(?P<instrument>[A-Z0-9.]+)-"
    r"(?P<purpose>entry|exit|flatten)(?:-(?P<retry>\d+))?"
)


def client_order_id(
    strategy: str, at: datetime, instrument: str, purpose: Purpose, attempt: int = 0
) -> str:
    """The client order id of one decision (`attempt` > 0 for a deliberate resubmission)."""
    base = f"{strategy}-{at:%Y%m%dT%H%M}-{instrument}-{purpose.value}"
    return f"{base}-{attempt}" if attempt else base


@dataclass(frozen=True)
class ParsedClientId:
    """What a client order id says about its order."""

    strategy: str
    instrument: str
    purpose: Purpose


def parse_client_order_id(value: str) -> ParsedClientId | None:
    """The strategy, instrument and purpose in `value`; None for an id the engine did not
    make (a manual order, or a fill the broker reports that the engine never placed)."""
    match = _CLIENT_ID.fullmatch(value)
    if match is None:
        return None
    return ParsedClientId(
        match["strategy"], match["instrument"], Purpose(match["purpose"])
    )


@dataclass
class OrderIntent:
    """One order the engine placed, with the context its fills are booked with."""

    client_order_id: str
    strategy: str
    instrument: str
    underlying: str
    side: OrderSide
    quantity: Decimal
    purpose: Purpose
    position_side: str  # "long", or "short": bearish, through an inverse ETF or a short sale
    tag: str  # "none", "InverseETF" or "ShortSell" (the trades row's tag)
    leverage_multiplier: int
    signal_time: datetime
    reason: str
    order: BrokerOrder | None = None
    filled_quantity: Decimal = field(default=Decimal(0))
    failed: bool = False  # the submission never reached the broker
    reference_price: Decimal | None = None
    """The instrument's price when the order was decided (slippage is measured from it)."""
    defense: bool = False
    """Placed while defense mode was on (tagged in the strategy log, memo and history)."""

    @property
    def is_short_sale(self) -> bool:
        """True for an order of a short sale: its entry sells, its exit buys to cover."""
        return self.tag == TAG_SHORT_SELL

    @property
    def is_working(self) -> bool:
        """True while the broker may still fill it."""
        if self.failed or (self.quantity > 0 and self.filled_quantity >= self.quantity):
            return False
        return self.order is None or not self.order.status.is_final


class OrderIntents:
    """Every order of this engine run by client order id (plus those recovered at start)."""

    def __init__(self) -> None:
        self._by_client_id: dict[str, OrderIntent] = {}

    def add(self, intent: OrderIntent) -> None:
        """Remember `intent` (replacing one with the same id: a resubmission)."""
        self._by_client_id[intent.client_order_id] = intent

    def get(self, client_id: str) -> OrderIntent | None:
        """The intent of `client_id`, if this engine knows it."""
        return self._by_client_id.get(client_id)

    def working(self) -> list[OrderIntent]:
        """Intents whose orders may still fill."""
        return [intent for intent in self._by_client_id.values() if intent.is_working]

    def working_for(self, instrument: str) -> list[OrderIntent]:
        """Working intents on `instrument`."""
        return [i for i in self.working() if i.instrument == instrument]

    def all(self) -> list[OrderIntent]:
        """Every intent, oldest first."""
        return list(self._by_client_id.values())
