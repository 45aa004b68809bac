"""Every broker call the engine makes goes through here: off the event loop, one at a time,
with a timeout, retries with backoff for what may pass (timeouts, 429s), and a health
record the control plane reports.

Broker libraries block, so calls run on one dedicated worker thread; serialising them also
keeps the adapter free of concurrency. A failure that is not a `BrokerError` (a bug or an
unexpected library exception) is wrapped into one: the engine fails the call, not itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from tbot.broker.errors import BrokerError, BrokerUnavailableError, RateLimitedError
from tbot.broker.protocol import BrokerAdapter
from tbot.clock import Clock, utc_text

T = TypeVar("T")
log = logging.getLogger("tbot.engine.broker")


@dataclass
class BrokerHealth:
    """What the control plane says about the broker."""

    name: str
    healthy: bool = True
    last_ok: datetime | None = None
    last_error: str | None = None
    errors: int = 0
    retries: int = 0

    def as_dict(self) -> dict[str, object]:
        """The `broker` block of `engine.status`."""
        return {
            "name": self.name,
            "healthy": self.healthy,
            "last_ok": utc_text(self.last_ok) if self.last_ok else None,
            "last_error": self.last_error,
        }


def _retryable(error: BaseException) -> bool:
    return isinstance(error, BrokerError) and error.retryable


class BrokerGateway:
    """Runs an adapter's calls on one worker thread with timeouts and retries."""

    def __init__(
        self,
        broker: BrokerAdapter,
        clock: Clock,
        *,
        retry_limit: int,
        timeout_seconds: float,
        backoff_seconds: float = 0.5,
    ) -> None:
        self.broker = broker
        self.health = BrokerHealth(name=broker.name)
        self._clock = clock
        self._retry_limit = retry_limit
        self._timeout = timeout_seconds
        self._backoff = backoff_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker")

    async def call(self, label: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` on the broker thread; BrokerError when it fails for
        good (after `retry_limit` retries of retryable failures)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry_limit + 1),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    result = await self._attempt(label, function, *args, **kwargs)
        except BrokerError as error:
            self._record_failure(label, error)
            raise
        self.health.healthy = True
        self.health.last_ok = self._clock.now()
        return result

    async def _attempt(
        self, label: str, function: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        loop = asyncio.get_running_loop()
        # Time the adapter spent waiting for its own request budget (a page of 500 orders
        # is 100s of requests at 200 a minute) is not the broker failing to answer: the
        # timeout is extended by it, so it bounds only the time spent on the broker.
        throttled = getattr(self.broker, "throttled_seconds", None)
        credited = throttled() if callable(throttled) else 0.0  # before the call starts
        allowed = self._timeout
        future = loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), allowed)
                except TimeoutError:
                    waited = (throttled() if callable(throttled) else credited) - credited
                    if waited <= 0:
                        future.cancel()
                        raise BrokerUnavailableError(
                            f"{label}: no answer from the broker within {self._timeout:g} s"
                        ) from None
                    credited += waited
                    allowed = waited
        except BrokerError:
            raise
        except Exception as error:  # an adapter bug must not take the engine down
            log.exception("broker call %s raised", label)
            raise BrokerError(f"{label} failed: {type(error).__name__}: {error}") from error

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return max(0.0, float(error.retry_after))
        backoff = wait_exponential(multiplier=self._backoff, max=30)
        return float(backoff(state))

    def _count_retry(self, state: RetryCallState) -> None:
        self.health.retries += 1
        error = state.outcome.exception() if state.outcome else None
        log.warning("broker call failed (%s); retry %d", error, state.attempt_number)

    def _record_failure(self, label: str, error: BrokerError) -> None:
        self.health.errors += 1
        self.health.last_error = f"{label}: {error.message}"
        # An outright refusal (bad order) says nothing about the link; the rest does.
        if error.retryable or type(error) is BrokerError:
            self.health.healthy = False

    def close(self) -> None:
        """Close the adapter (on the broker thread) and stop the thread."""
        try:
            self._executor.submit(self.broker.close).result(timeout=self._timeout)
        except TimeoutError:
            log.warning("the broker did not close within %g s", self._timeout)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
