"""`tbot broker check`'s market-data answer: does this key get bars from its feed?

One request, the latest minute bar of SPY, never retried: a check reports what it sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alpaca.data.requests import StockLatestBarRequest

from tbot.broker.alpaca.bar_records import read_rest_bar
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.data_client import DataClient, data_feed, feed_name
from tbot.broker.alpaca.request_budget import RequestBudget
from tbot.broker.errors import BrokerError, MalformedBrokerRecordError
from tbot.clock import utc_text

CHECK_SYMBOL = "SPY"


@dataclass(frozen=True, slots=True)
class DataFeedCheck:
    """What the data feed answered: `ok`, the feed (``alpaca:iex``) and a plain sentence."""

    ok: bool
    feed: str
    detail: str

    def as_dict(self) -> dict[str, object]:
        """The `market_data` block of `tbot broker check --json`."""
        return {"feed": self.feed, "ok": self.ok, "detail": self.detail}


def check_data_feed(credentials: AlpacaCredentials, *, budget: RequestBudget,
                    timeout_seconds: float) -> DataFeedCheck:
    """Ask for the latest SPY minute bar once; ok with its time, else the problem (a key
    not allowed market data, no answer in time, a 5xx...). Never raises a BrokerError."""
    feed = feed_name(credentials)
    client = DataClient(credentials, budget=budget, timeout_seconds=timeout_seconds)
    request = StockLatestBarRequest(symbol_or_symbols=CHECK_SYMBOL,
                                    feed=data_feed(credentials))
    try:
        latest = client.call(f"the latest {CHECK_SYMBOL} bar",
                             lambda: client.client.get_stock_latest_bar(request))
    except BrokerError as error:
        return DataFeedCheck(False, feed, error.message)
    finally:
        client.close()
    record = latest.get(CHECK_SYMBOL) if isinstance(latest, Mapping) else None
    if record is None:
        return DataFeedCheck(False, feed, f"the {credentials.data_feed} feed answered but "
                                          f"has no bar of {CHECK_SYMBOL}")
    try:
        bar = read_rest_bar(CHECK_SYMBOL, record)
    except MalformedBrokerRecordError as error:
        return DataFeedCheck(False, feed, f"the latest bar is unreadable: {error.message}")
    return DataFeedCheck(True, feed, f"latest {CHECK_SYMBOL} bar at {utc_text(bar.start)} "
                                     f"(close {bar.close.normalize():f})")
