"""Client order ids: derived from the decision, readable after a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tbot.broker.models import BrokerOrder, OrderSide, OrderStatus
from tbot.engine.order_intents import (
    OrderIntent,
    Purpose,
    client_order_id,
    parse_client_order_id,
)

AT = datetime(2026, 11, 20, 14, 51, tzinfo=UTC)


def test_the_same_decision_gets_the_same_id() -> None:
    first = client_order_id("open", AT, "AAPL", Purpose.ENTRY)
    assert first == client_order_id("open", AT, "AAPL", Purpose.ENTRY)
    assert first == "open-20261120T1451-AAPL-entry"
    assert client_order_id("open", AT, "AAPL", Purpose.EXIT, attempt=2).endswith("-exit-2")


def test_an_id_reads_back_as_strategy_instrument_and_purpose() -> None:
    parsed = parse_client_order_id("open-20261120T1451-BRK.B-flatten-1")
    assert parsed is not None
    assert (parsed.strategy, parsed.instrument, parsed.purpose) == ("open", "BRK.B",
                                                                    Purpose.FLATTEN)


def test_ids_the_engine_did_not_make_are_not_ours() -> None:
    assert parse_client_order_id("phantom-20261120") is None
    assert parse_client_order_id("manual order") is None


def intent(quantity: str = "10") -> OrderIntent:
    return OrderIntent("open-20261120T1451-AAPL-entry", "open", "AAPL", "AAPL", OrderSide.BUY,
                       Decimal(quantity), Purpose.ENTRY, "long", "none", 1, AT, "breakout")


def order(status: OrderStatus, filled: str) -> BrokerOrder:
    return BrokerOrder("O1", "open-20261120T1451-AAPL-entry", "AAPL", OrderSide.BUY,
                       Decimal(10), Decimal(filled), None, status, AT, AT)


def test_an_intent_works_until_filled_final_or_failed() -> None:
    working = intent()
    assert working.is_working  # submitted, no answer yet
    working.order = order(OrderStatus.PARTIALLY_FILLED, "4")
    working.filled_quantity = Decimal(4)
    assert working.is_working
    working.filled_quantity = Decimal(10)
    assert not working.is_working
    canceled = intent()
    canceled.order = order(OrderStatus.CANCELED, "4")
    assert not canceled.is_working
    failed = intent()
    failed.failed = True
    assert not failed.is_working
