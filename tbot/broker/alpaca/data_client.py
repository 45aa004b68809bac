"""alpaca-py's market-data REST client on our transport, and its failures in our terms.

The client is `StockHistoricalDataClient` in raw-data mode over a `BudgetedSession` (the
shared request budget, a timeout on every request) with the SDK's own retry loop switched
off (`disarm`: it would sleep 3 s on a 429 whatever Retry-After says). What went wrong is
translated like the trading adapter does it: unreachable, hung, 5xx or an answer that is not
the JSON expected → `BrokerUnavailableError` (retryable); 429 → `RateLimitedError`;
401/403 → `BrokerAuthError` (the key may not read this feed; never retried); anything
else → `BrokerError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient

from tbot.broker.alpaca.api_errors import api_message, short
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.broker.alpaca.request_budget import RequestBudget, retry_after_seconds
from tbot.broker.alpaca.transport import BudgetedSession, disarm
from tbot.broker.errors import (
    BrokerAuthError,
    BrokerError,
    BrokerUnavailableError,
    RateLimitedError,
)

T = TypeVar("T")


def feed_name(credentials: AlpacaCredentials) -> str:
    """How the feed is named in health and checks: ``alpaca:iex`` or ``alpaca:sip``."""
    return f"alpaca:{credentials.data_feed}"


def data_feed(credentials: AlpacaCredentials) -> DataFeed:
    """The SDK's enum for the credentials' feed."""
    return DataFeed(credentials.data_feed)


class DataClient:
    """The market-data REST client of one key; `call` runs one SDK call and translates
    its failure. Close it to release its connections."""

    def __init__(self, credentials: AlpacaCredentials, *, budget: RequestBudget,
                 timeout_seconds: float) -> None:
        self.credentials = credentials
        self.timeout_seconds = float(timeout_seconds)
        self._session = BudgetedSession(budget, self.timeout_seconds)
        self.client = StockHistoricalDataClient(
            credentials.api_key_id, credentials.secret_key, raw_data=True,
            url_override=credentials.data_url)
        disarm(self.client, self._session)

    def call(self, what: str, function: Callable[[], T]) -> T:
        """`function()` (one SDK call), its failure translated (see the module docstring)."""
        try:
            return function()
        except requests.Timeout:
            raise BrokerUnavailableError(
                f"{what}: Alpaca's data API did not answer within {self.timeout_seconds:g} s"
            ) from None
        except requests.ConnectionError as error:
            raise BrokerUnavailableError(
                f"{what}: cannot reach Alpaca's data API ({short(error)})") from None
        except APIError as error:
            raise translate(what, error) from None
        except (ValueError, AttributeError, TypeError, KeyError) as error:
            # Non-JSON bodies (requests' JSONDecodeError is a ValueError), and JSON the SDK
            # cannot take apart (it raises ValueError or AttributeError on a strange shape).
            raise BrokerUnavailableError(
                f"{what}: Alpaca's data API answered something that is not the JSON "
                f"expected ({short(error)})") from None
        except requests.RequestException as error:
            raise BrokerUnavailableError(f"{what}: {short(error)}") from None

    def close(self) -> None:
        """Release the session's connections."""
        self._session.close()


def translate(what: str, error: APIError) -> BrokerError:
    """An SDK `APIError` (a non-2xx answer) as one of our broker errors."""
    status = error.status_code or 0
    message = api_message(error)
    if status in (401, 403):
        return BrokerAuthError(
            f"{what}: this key is not allowed Alpaca market data ({status}: {message}); "
            "check the key, and that its plan includes the feed (SIP needs a subscription)")
    if status == 429:
        headers = error.response.headers if error.response is not None else {}
        return RateLimitedError(f"{what}: Alpaca's rate limit ({message})",
                                retry_after_seconds(headers))
    if status >= 500:
        return BrokerUnavailableError(f"{what}: Alpaca's data API answered {status} "
                                      f"({message})")
    return BrokerError(f"{what}: Alpaca's data API answered {status} ({message})")
