"""What a broker call can fail with. Adapters translate their library's errors into these."""

from __future__ import annotations


class BrokerError(Exception):
    """A broker call failed. `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BrokerUnavailableError(BrokerError):
    """The broker could not be reached or did not answer in time."""

    retryable = True


class RateLimitedError(BrokerError):
    """The broker asked us to slow down (HTTP 429). `retry_after` in seconds if given."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OrderRejectedError(BrokerError):
    """The broker refused an order outright (bad symbol, no buying power...)."""


class UnknownOrderError(BrokerError):
    """No order with that id exists at the broker."""


class MalformedBrokerRecordError(BrokerError):
    """The broker returned a record missing fields we need; it is refused, not guessed."""


class BrokerAuthError(BrokerError):
    """The broker refused the credential (Alpaca's 401/403): a wrong key, or a key for the
    other environment (paper vs live). Never retried."""
