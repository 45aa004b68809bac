"""The `broker` secret of an Alpaca bot, read and checked without ever printing the keys.

Shape (`tbot secrets set broker --from-file F`)::

    {"alpaca": {"api_key_id": "...", "secret_key": "...", "paper": true,
                "trading_url": null, "data_url": null, "stream_url": null,
                "data_stream_url": null, "data_feed": "iex"}}

The URLs are optional overrides (tests point them at a local fake). Paper is the default;
a live account needs ``"paper": false`` *and* ``LIVE_TRADING=true`` in `.env_bot`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from tbot.errors import TbotError

DATA_FEEDS = ("iex", "sip")
_URL_FIELDS = ("trading_url", "data_url", "stream_url", "data_stream_url")
_FIELDS = frozenset({"api_key_id", "secret_key", "paper", "data_feed", *_URL_FIELDS})


class AlpacaCredentialsError(TbotError):
    """The broker secret is missing, malformed, or not allowed here; never names a key."""


@dataclass(frozen=True)
class AlpacaCredentials:
    """What the adapter needs to reach one Alpaca account."""

    api_key_id: str
    secret_key: str = field(repr=False)
    paper: bool = True
    trading_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    data_stream_url: str | None = None
    data_feed: str = "iex"

    @classmethod
    def from_secret(cls, values: Mapping[str, Any] | None) -> AlpacaCredentials:
        """The credentials in the decrypted `broker` secret; AlpacaCredentialsError naming
        the field (never its value) when anything is missing or malformed."""
        if not isinstance(values, Mapping) or not isinstance(values.get("alpaca"), Mapping):
            raise AlpacaCredentialsError(
                "the broker secret has no \"alpaca\" object: set it with `tbot secrets set "
                "broker --from-file F` (see docs/configuration.md, Alpaca)")
        raw: Mapping[str, Any] = values["alpaca"]
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise AlpacaCredentialsError(
                f"the broker secret's alpaca object has unknown field(s) {', '.join(unknown)}")
        key_id, secret = raw.get("api_key_id"), raw.get("secret_key")
        for name, value in (("api_key_id", key_id), ("secret_key", secret)):
            if not isinstance(value, str) or not value.strip():
                raise AlpacaCredentialsError(f"the broker secret's alpaca.{name} is missing")
        paper = raw.get("paper", True)
        if not isinstance(paper, bool):
            raise AlpacaCredentialsError("the broker secret's alpaca.paper must be true or false")
        feed = raw.get("data_feed", "iex") or "iex"
        if feed not in DATA_FEEDS:
            raise AlpacaCredentialsError(
                f"the broker secret's alpaca.data_feed must be one of {', '.join(DATA_FEEDS)}")
        urls: dict[str, str | None] = {}
        for name in _URL_FIELDS:
            value = raw.get(name)
            if value in (None, ""):
                urls[name] = None
                continue
            parsed = urlparse(str(value))
            if not isinstance(value, str) or parsed.scheme not in ("http", "https", "ws",
                                                                    "wss") or not parsed.netloc:
                raise AlpacaCredentialsError(
                    f"the broker secret's alpaca.{name} is not a URL (http(s):// or ws(s)://)")
            urls[name] = value.rstrip("/")
        return cls(api_key_id=str(key_id).strip(), secret_key=str(secret).strip(),
                   paper=paper, data_feed=str(feed), **urls)

    def fingerprint(self, account_id: str = "") -> str:
        """SHA-256 over the key id, the secret and the account: says whether two records
        were fetched with the same credential, never which."""
        text = "\x1f".join((self.api_key_id, self.secret_key, account_id))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def masked_key(self) -> str:
        """The key id with all but its first four characters hidden."""
        return self.api_key_id[:4] + "…" if len(self.api_key_id) > 4 else "…"


def check_live_allowed(credentials: AlpacaCredentials, live_trading: bool) -> None:
    """A live account needs LIVE_TRADING=true: refuse it otherwise, plainly."""
    if not credentials.paper and not live_trading:
        raise AlpacaCredentialsError(
            "the broker secret names a LIVE Alpaca account (\"paper\": false) but "
            "LIVE_TRADING is not true in .env_bot: refusing to trade real money by accident")
