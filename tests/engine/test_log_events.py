"""The engine's log lines reach `logs` subscribers once: a line that was also published as
an alert is not sent again on `logs`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tbot.engine.engine import ALERTED
from tbot.engine.runner import LogEvents


class RecordingServer:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        self.published.append((topic, data))


def test_alerted_lines_are_not_sent_again_on_logs() -> None:
    server = RecordingServer()
    loop = asyncio.new_event_loop()
    logger = logging.getLogger("tbot.test.log_events")
    logger.setLevel(logging.INFO)
    handler = LogEvents(server, loop)  # type: ignore[arg-type]
    logger.addHandler(handler)
    try:
        logger.warning("strategy mid is not implemented yet", extra=ALERTED)
        logger.info("new trading day %s", "2026-11-20")
        logger.debug("below the handler's level")
    finally:
        logger.removeHandler(handler)
        loop.close()
    assert server.published == [
        ("logs", {"level": "info", "logger": "tbot.test.log_events",
                  "message": "new trading day 2026-11-20"}),
    ]
