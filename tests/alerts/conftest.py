"""Fixtures for the alert tests: real local servers, never mocks of apprise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tbot.alerts.message import Alert, AlertKind, Severity
from tests.alerts.servers import SmtpServer, Webhook, smtp_server, webhook

AT = datetime(2026, 11, 20, 14, 51, tzinfo=UTC)
BOT = "TBOT_US_SIM_BOT01"


@pytest.fixture
def hook() -> Iterator[Webhook]:
    """A local webhook receiver answering 200."""
    with webhook() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A local SMTP server."""
    with smtp_server() as server:
        yield server


def failure(text: str = "broker: timeout", severity: Severity = Severity.ERROR,
            **fields: object) -> Alert:
    """An engine failure alert."""
    return Alert(at=AT, bot=BOT, severity=severity, kind=AlertKind.FAILURE, text=text,
                 **fields)  # type: ignore[arg-type]
