"""Company fundamentals from Finnhub's REST API (`FundamentalsSource`).

Endpoints and fields read (Finnhub API v1, https://finnhub.io/docs/api):

- ``GET /stock/metric?symbol=X&metric=all`` ("Basic Financials") → its ``metric`` object:

  - P/E: ``peTTM``, else ``peBasicExclExtraTTM`` (the same trailing twelve months, another
    basis). The seed names ``peNormalizedAnnual``; it is not read on purpose: it is the
    last fiscal year, up to a year stale, and Finnhub leaves the TTM P/E null for a company
    now losing money while an annual P/E of a profitable past year may still be there, so
    falling back to it would pass a loss-maker on an old figure.
  - debt/equity: ``totalDebt/totalEquityQuarterly`` (the latest balance sheet), else
    ``totalDebt/totalEquityAnnual`` (the seed's field). A ratio (0.51 = 51%), as
    MAX_DEBT_EQUITY is.
  - market cap: ``marketCapitalization``, in **millions** of USD.

- ``GET /stock/profile2?symbol=X`` ("Company Profile 2") → ``marketCapitalization`` (also
  in millions), asked only when the metric object has no market cap, so a symbol usually
  costs one call of the free tier's 60 a minute.

A symbol for which both answers are empty (Finnhub's answer for a symbol it does not know)
is left out. A figure Finnhub does not give, gives as null, or gives as something that is
not a finite number is None. Market caps of 0 or less are None; a negative P/E or
debt/equity is passed on as it is (the guard reads it as losses / negative equity).

Transport: the key goes in the ``X-Finnhub-Token`` header, never in a URL, a message or a
log. Every request has a timeout. 5xx answers, timeouts, connection errors and 429 are
retried with tenacity (429 after its ``Retry-After``, else with exponential backoff); 401,
403, other 4xx and bodies that are not a JSON object are not. Whatever goes wrong ends as
`FundamentalsUnavailable` with a plain message, never a traceback. A sliding-window limiter
keeps the process under `calls_per_minute` (the free tier allows 60 a minute; the default
leaves a margin). Finnhub only knows today's figures: `day` is not sent.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from tbot.errors import TbotError
from tbot.market.fundamentals import Fundamentals, FundamentalsUnavailable

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://finnhub.io/api/v1"
DEFAULT_CALLS_PER_MINUTE = 55  # the free tier's limit is 60; a margin for clock skew
METRIC_PATH = "/stock/metric"
PROFILE_PATH = "/stock/profile2"
PE_FIELDS = ("peTTM", "peBasicExclExtraTTM")
DEBT_EQUITY_FIELDS = ("totalDebt/totalEquityQuarterly", "totalDebt/totalEquityAnnual")
MARKET_CAP_FIELD = "marketCapitalization"
MILLION = Decimal(1_000_000)
_SECRET_FIELDS = frozenset({"api_key", "base_url"})


class FinnhubCredentialsError(TbotError):
    """The screener_api secret has no usable Finnhub key; never names the key."""


@dataclass(frozen=True)
class FinnhubCredentials:
    """The Finnhub part of the `screener_api` secret.

    Shape: ``{"finnhub": {"api_key": "...", "base_url": null}}`` (`base_url` overrides
    https://finnhub.io/api/v1, for tests). The seed's flat ``{"FINNHUB_API_KEY": "..."}`` is
    read too.
    """

    api_key: str = field(repr=False)
    base_url: str | None = None

    @classmethod
    def from_secret(cls, values: Mapping[str, Any] | None) -> FinnhubCredentials:
        """The credentials in the decrypted `screener_api` secret; FinnhubCredentialsError
        naming the field (never its value) when missing or malformed."""
        if not isinstance(values, Mapping):
            raise FinnhubCredentialsError(
                "the screener_api secret is not set: `tbot secrets set screener_api "
                "--from-file F` (see docs/configuration.md, Finnhub)"
            )
        raw = values.get("finnhub")
        if raw is None and "FINNHUB_API_KEY" in values:
            raw = {"api_key": values["FINNHUB_API_KEY"]}
        if not isinstance(raw, Mapping):
            raise FinnhubCredentialsError(
                'the screener_api secret has no "finnhub" object (see docs/configuration.md, '
                "Finnhub)"
            )
        unknown = sorted(set(raw) - _SECRET_FIELDS)
        if unknown:
            raise FinnhubCredentialsError(
                f"the screener_api secret's finnhub object has unknown field(s) "
                f"{', '.join(unknown)}"
            )
        key = raw.get("api_key")
        if not isinstance(key, str) or not key.strip():
            raise FinnhubCredentialsError("the screener_api secret's finnhub.api_key is missing")
        base_url = raw.get("base_url")
        if base_url in (None, ""):
            base_url = None
        elif not isinstance(base_url, str) or not _is_http_url(base_url):
            raise FinnhubCredentialsError(
                "the screener_api secret's finnhub.base_url is not an http(s):// URL"
            )
        return cls(api_key=key.strip(), base_url=base_url.rstrip("/") if base_url else None)


def _is_http_url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


class CallLimiter:
    """At most `limit` calls in any rolling `window_seconds` (a sliding window of send
    times, thread-safe): `acquire()` sleeps until the next call fits."""

    def __init__(
        self,
        limit: int,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("the call limiter must allow at least one call a window")
        self.limit = limit
        self.window = float(window_seconds)
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until one more call fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                if len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window - now
            self._sleep(max(wait, 0.001))


class _RetryableError(Exception):
    """A failure worth another attempt; `retry_after` is the server's word, if any."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class FinnhubFundamentals:
    """`FundamentalsSource` over Finnhub's REST API (see the module docstring)."""

    name = "finnhub"

    def __init__(
        self,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10,
        session: requests.Session | None = None,
        *,
        retries: int = 3,
        calls_per_minute: int = DEFAULT_CALLS_PER_MINUTE,
        max_retry_after: float = 60.0,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._api_key = api_key.strip() if api_key else None
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._own_session = session is None
        self._session = session or requests.Session()
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.backoff_seconds = backoff_seconds
        self._sleep, self._wall = sleep, wall
        self._limiter = CallLimiter(max(calls_per_minute, 1), clock=clock, sleep=sleep)

    @classmethod
    def from_secret(cls, values: Mapping[str, Any] | None, **options: Any) -> FinnhubFundamentals:
        """A source from the decrypted `screener_api` secret; `options` go to the
        constructor (timeout, retries...). FinnhubCredentialsError when the key is missing."""
        credentials = FinnhubCredentials.from_secret(values)
        return cls(credentials.api_key, credentials.base_url or DEFAULT_BASE_URL, **options)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"FinnhubFundamentals(base_url={self.base_url!r}, key={key})"

    def close(self) -> None:
        """Close the HTTP session if this source created it."""
        if self._own_session:
            self._session.close()

    def self_check(self) -> list[str]:
        """No key, a base URL that is not http(s), a timeout or retry count that cannot
        work."""
        problems: list[str] = []
        if not self._api_key:
            problems.append(
                "finnhub: no API key: set the screener_api secret (`tbot secrets set "
                "screener_api --from-file F`, see docs/configuration.md)"
            )
        if not _is_http_url(self.base_url):
            problems.append("finnhub: the base URL is not an http(s):// URL")
        if not self.timeout > 0:
            problems.append(f"finnhub: timeout {self.timeout} s must be above 0")
        if self.retries < 0:
            problems.append(f"finnhub: retries {self.retries} must be 0 or more")
        return problems

    # -- FundamentalsSource --------------------------------------------------------------

    def fundamentals(self, symbols: Sequence[str], day: date) -> dict[str, Fundamentals]:
        """Today's figures for each symbol Finnhub knows (`day` is only logged: Finnhub has
        no history of these figures). FundamentalsUnavailable when Finnhub cannot answer."""
        if not self._api_key:
            raise FundamentalsUnavailable(
                "no Finnhub API key: set the screener_api secret (see docs/configuration.md)"
            )
        found: dict[str, Fundamentals] = {}
        for symbol in dict.fromkeys(s.strip().upper() for s in symbols if s.strip()):
            figures = self._one(symbol)
            if figures is None:
                log.info("finnhub: no fundamentals for %s (unknown symbol) on %s", symbol, day)
            else:
                found[symbol] = figures
        return found

    def _one(self, symbol: str) -> Fundamentals | None:
        answer = self._get(METRIC_PATH, {"symbol": symbol, "metric": "all"})
        metric = answer.get("metric")
        metric = metric if isinstance(metric, Mapping) else {}
        market_cap = _market_cap(metric.get(MARKET_CAP_FIELD))
        profile: Mapping[str, Any] = {}
        if market_cap is None:
            profile = self._get(PROFILE_PATH, {"symbol": symbol})
            market_cap = _market_cap(profile.get(MARKET_CAP_FIELD))
        if not metric and not profile:
            return None
        return Fundamentals(
            symbol=symbol,
            pe_ratio=_first_number(metric, PE_FIELDS),
            debt_to_equity=_first_number(metric, DEBT_EQUITY_FIELDS),
            market_cap=market_cap,
        )

    # -- HTTP ----------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableError),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, path, params)
        except _RetryableError as error:
            attempts = self.retries + 1
            message = f"{error.message} (gave up after {attempts} attempt(s))"
        raise FundamentalsUnavailable(message)

    def _attempt(self, path: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        where = f"{path} for {params.get('symbol', '?')}"
        self._limiter.acquire()
        problem: str | None = None
        try:
            response = self._session.get(
                self.base_url + path,
                params=dict(params),
                headers={"X-Finnhub-Token": self._api_key or "", "Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise _RetryableError(
                f"Finnhub did not answer {where} within {self.timeout} s"
            ) from None
        except requests.ConnectionError as error:
            raise _RetryableError(
                f"cannot reach Finnhub at {self.base_url} ({type(error).__name__})"
            ) from None
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as error:
            raise _RetryableError(
                f"Finnhub's answer to {where} was cut off ({type(error).__name__})"
            ) from None
        except requests.RequestException as error:
            problem = f"cannot ask Finnhub {where} ({type(error).__name__})"
        if problem is not None:
            raise FundamentalsUnavailable(problem)
        return self._read(response, where)

    def _read(self, response: requests.Response, where: str) -> Mapping[str, Any]:
        status = response.status_code
        if status == 429:
            retry_after = self._retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.max_retry_after:
                raise FundamentalsUnavailable(
                    f"Finnhub rate-limited {where} for {retry_after:.0f} s (HTTP 429), longer "
                    f"than the {self.max_retry_after:.0f} s the bot waits"
                )
            raise _RetryableError(
                f"Finnhub rate-limited {where} (HTTP 429)", retry_after, rate_limited=True
            )
        if status >= 500:
            raise _RetryableError(f"Finnhub answered {where} with HTTP {status}")
        if status == 401:
            raise FundamentalsUnavailable(
                "Finnhub refused the API key (HTTP 401): check the screener_api secret"
            )
        if status == 403:
            raise FundamentalsUnavailable(
                f"Finnhub refused access to {where} (HTTP 403): the key's plan may not "
                "include it"
            )
        if status != 200:
            raise FundamentalsUnavailable(f"Finnhub answered {where} with HTTP {status}")
        body = response.content
        problem: str | None = None
        try:
            answer = json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            kind = response.headers.get("Content-Type") or "no content type"
            problem = (
                f"Finnhub answered {where} with a body that is not JSON "
                f"({kind}, {len(body)} bytes)"
            )
        if problem is not None:
            raise FundamentalsUnavailable(problem)
        if not isinstance(answer, dict):
            raise FundamentalsUnavailable(
                f"Finnhub answered {where} with JSON that is not an object"
            )
        if "error" in answer:
            raise FundamentalsUnavailable(
                f"Finnhub answered {where} with an error: {self._scrub(answer['error'])}"
            )
        return answer

    def _retry_after(self, value: str | None) -> float | None:
        """A Retry-After in seconds: a number, or an HTTP date; None when absent or bad."""
        if value is None:
            return None
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            seconds = moment.timestamp() - self._wall()
        return max(seconds, 0.0) if seconds == seconds else None  # NaN is not a wait

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryableError) and error.retry_after is not None:
            return error.retry_after
        backoff = min(self.backoff_seconds * 2 ** (state.attempt_number - 1), 8.0)
        if isinstance(error, _RetryableError) and error.rate_limited:
            return max(backoff, 1.0)  # rate-limited without a Retry-After: at least a second
        return backoff

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "finnhub: attempt %d failed (%s); retrying in %.1f s",
            state.attempt_number,
            error.message if isinstance(error, _RetryableError) else type(error).__name__,
            wait,
        )

    def _scrub(self, value: object) -> str:
        """Server text made safe to show: one line, at most 160 characters, no key."""
        text = " ".join(str(value).split())[:160]
        return text.replace(self._api_key, "•••") if self._api_key else text


def _no_constant(name: str) -> None:
    """NaN and Infinity in a body are read as null: not a figure."""
    return None


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    return None


def _first_number(metric: Mapping[str, Any], names: Sequence[str]) -> Decimal | None:
    for name in names:
        number = _number(metric.get(name))
        if number is not None:
            return number
    return None


def _market_cap(value: object) -> Decimal | None:
    millions = _number(value)
    if millions is None or millions <= 0:
        return None
    return millions * MILLION
