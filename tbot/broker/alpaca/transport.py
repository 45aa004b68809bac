"""The HTTP session under alpaca-py's client: a timeout on every request, the request
budget before it, the rate-limit headers after it. The SDK's own retry loop is switched off
(`disarm`): retries are ours, and never blind for an order submission."""

from __future__ import annotations

from typing import Any

import requests

from tbot.broker.alpaca.request_budget import RequestBudget


class BudgetedSession(requests.Session):
    """`requests.Session` whose every request waits for the budget and has a timeout."""

    def __init__(self, budget: RequestBudget, timeout_seconds: float) -> None:
        super().__init__()
        self.budget = budget
        self.timeout_seconds = float(timeout_seconds)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_seconds)
        self.budget.acquire()
        response = super().request(method, url, *args, **kwargs)
        self.budget.observe(response.status_code, response.headers)
        return response


def disarm(client: Any, session: requests.Session) -> None:
    """Put `session` under `client` and turn its retries off (private attributes of
    alpaca-py's RESTClient, pinned by a test: `_session`, `_retry`, `_retry_codes`)."""
    client._session = session
    client._retry = 0
    client._retry_codes = []
