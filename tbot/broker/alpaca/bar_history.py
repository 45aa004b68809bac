"""Minute bars from Alpaca's historical REST API, for filling what the stream missed.

One `bars()` call is one `get_stock_bars` of the SDK, which follows ``next_page_token``
itself and hands back every page merged (so a failure on page 3 loses pages 1-2 too and
the retry asks again from the start: a session's minutes are a page or two). Retryable
failures (429, 5xx, timeout, unreachable, non-JSON) are retried with exponential backoff
(tenacity); the request budget already makes the retry after a 429 wait out its
Retry-After. A 401/403 or a 4xx is not retried. `stop` ends the waiting early (closing).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from tbot.broker.alpaca.bar_records import read_rest_bar
from tbot.broker.alpaca.data_client import DataClient, data_feed
from tbot.broker.errors import BrokerError, BrokerUnavailableError, MalformedBrokerRecordError
from tbot.market.bars import Bar

log = logging.getLogger("tbot.market.alpaca")


class BarHistory:
    """Reads minute bars of a time range through `client`, retrying what may pass."""

    def __init__(self, client: DataClient, *, attempts: int = 4, backoff_seconds: float = 1.0,
                 stop: threading.Event | None = None) -> None:
        if attempts < 1:
            raise ValueError("a bar history needs at least one attempt")
        self.client = client
        self.attempts = attempts
        self.backoff_seconds = float(backoff_seconds)
        self._stop = stop if stop is not None else threading.Event()

    def bars(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[Bar]:
        """Every readable bar of `symbols` whose minute starts in [start, end). Raises the
        last `BrokerError` once the retries are spent (or at once when not retryable)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_when_event_set(self._stop),
            wait=wait_exponential(multiplier=self.backoff_seconds,
                                  max=self.backoff_seconds * 8),
            retry=retry_if_exception(_retryable),
            sleep=self._stop.wait,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._fetch, tuple(symbols), start, end)

    def _fetch(self, symbols: tuple[str, ...], start: datetime, end: datetime) -> list[Bar]:
        request = StockBarsRequest(
            symbol_or_symbols=list(symbols), timeframe=TimeFrame.Minute, start=start,
            # `end` is inclusive at Alpaca: stop a second short of the first minute not wanted.
            end=end - timedelta(seconds=1), feed=data_feed(self.client.credentials))
        what = f"minute bars {start:%H:%M}-{end:%H:%M} UTC"
        raw = self.client.call(what, lambda: self.client.client.get_stock_bars(request))
        if not isinstance(raw, Mapping):
            raise BrokerUnavailableError(f"{what}: expected bars by symbol, got {raw!r:.80}")
        wanted = set(symbols)
        found: list[Bar] = []
        for symbol, records in raw.items():
            if symbol not in wanted:
                continue
            if not isinstance(records, list):
                log.warning("skipped the bars of %s: not a list (%r)", symbol, records)
                continue
            found.extend(_readable(symbol, records, start, end))
        return found


def _readable(symbol: str, records: list[Any], start: datetime, end: datetime) -> list[Bar]:
    bars = []
    for record in records:
        try:
            bar = read_rest_bar(symbol, record)
        except MalformedBrokerRecordError as error:
            log.warning("skipped a malformed history bar: %s", error.message)
            continue
        if start <= bar.start < end:
            bars.append(bar)
    return bars


def _retryable(error: BaseException) -> bool:
    return isinstance(error, BrokerError) and error.retryable


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("minute bars: attempt %d failed (%s); retrying in %.1f s",
                state.attempt_number, getattr(error, "message", error), wait)
