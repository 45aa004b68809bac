"""One request budget for every call the bot makes to Alpaca.

A sliding window, not a token bucket: a bucket of C tokens refilled at C a minute lets
up to 2C requests through in some rolling minute (a full bucket spent, then a minute of
refill), and Alpaca counts by the rolling minute. The window holds the send times of the
last `limit` requests; the next one waits until the oldest leaves the window. The server's
own word comes on top: ``X-Ratelimit-Remaining: 0`` pauses until ``X-Ratelimit-Reset``, and
a 429's ``Retry-After`` pauses everyone for that long.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Headroom:
    """What the budget knows now: our own count and the server's last word."""

    limit: int
    used_in_window: int
    server_limit: int | None
    server_remaining: int | None


class RequestBudget:
    """Thread-safe: `acquire()` before each request, `observe()` its response headers."""

    def __init__(self, limit: int, *, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if limit < 1:
            raise ValueError("the request budget must allow at least one request a window")
        self.limit = limit
        self.window = float(window_seconds)
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.server_limit: int | None = None
        self.server_remaining: int | None = None
        self.waited_seconds = 0.0

    def acquire(self) -> None:
        """Wait (sleeping) until one more request fits, then count it as sent."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                wait = max(self._paused_until - now, 0.0)
                if not wait and len(self._sent) >= self.limit:
                    wait = self._sent[0] + self.window - now
                if wait <= 0:
                    self._sent.append(now)
                    return
            self.waited_seconds += wait
            self._sleep(wait)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Take in the server's rate-limit headers (and a 429's Retry-After)."""
        limit = _int(headers.get("X-Ratelimit-Limit"))
        remaining = _int(headers.get("X-Ratelimit-Remaining"))
        reset = _float(headers.get("X-Ratelimit-Reset"))
        with self._lock:
            if limit is not None:
                self.server_limit = limit
            if remaining is not None:
                self.server_remaining = remaining
            pause = 0.0
            if remaining == 0 and reset is not None:
                pause = max(reset - self._wall(), 0.0)
            if status == 429:
                pause = max(pause, retry_after_seconds(headers) or 1.0)
            if pause:
                self._paused_until = max(self._paused_until, self._clock() + pause)

    def headroom(self) -> Headroom:
        """Our count in the current window and the server's last figures."""
        with self._lock:
            now = self._clock()
            used = sum(1 for sent in self._sent if sent > now - self.window)
            return Headroom(self.limit, used, self.server_limit, self.server_remaining)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """A ``Retry-After`` in seconds (a number; the HTTP-date form is not sent by Alpaca),
    or None."""
    return _float(headers.get("Retry-After"))


def _int(value: str | None) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        number = float(str(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None
