"""Fixtures: the local fake Alpaca, and our adapter pointed at it through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tbot.broker.alpaca.adapter import AlpacaBroker
from tbot.broker.alpaca.credentials import AlpacaCredentials
from tbot.clock import FrozenClock
from tests.broker.alpaca.fake_alpaca import FakeAlpaca

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    """A fake Alpaca on 127.0.0.1 (closed after the test)."""
    with FakeAlpaca(now=NOW) as server:
        yield server


def credentials_for(fake: FakeAlpaca, **changes: Any) -> AlpacaCredentials:
    """Credentials that reach `fake` (its key unless changed)."""
    values = {"api_key_id": fake.key_id, "secret_key": fake.secret_key,
              "trading_url": fake.url, **changes}
    return AlpacaCredentials.from_secret({"alpaca": values})


@pytest.fixture
def make_broker(fake: FakeAlpaca) -> Iterator[Any]:
    """`make_broker(**options)`: an AlpacaBroker on the fake (closed after the test)."""
    made: list[AlpacaBroker] = []

    def make(*, timeout: float = 2.0, per_minute: int = 10_000, window: float = 60.0,
             **changes: Any) -> AlpacaBroker:
        broker = AlpacaBroker(credentials_for(fake, **changes), FrozenClock(NOW),
                              timeout_seconds=timeout, max_requests_per_minute=per_minute,
                              window_seconds=window)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()
