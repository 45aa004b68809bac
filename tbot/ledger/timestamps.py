"""Timestamps as the ledger stores them: fixed-width ISO-8601 UTC text.

``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (27 characters, always microseconds, always ``Z``), so that
text order is time order and an auditor's `WHERE dtposted < '2026-01-01'` just works.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tbot.clock import ensure_utc

TIMESTAMP_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def format_utc(moment: datetime) -> str:
    """`moment` (aware; converted to UTC) as stored text; naive datetimes raise ValueError."""
    utc = moment if moment.tzinfo is UTC else ensure_utc(moment)
    # isoformat always pads the year to 4 digits (strftime's %Y does not everywhere) and,
    # with timespec, always writes microseconds; "+00:00" becomes "Z".
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_utc(text: str) -> datetime:
    """The aware UTC datetime of a stored timestamp; anything not in the stored form raises."""
    if not TIMESTAMP_PATTERN.match(text):
        raise ValueError(f"{text!r} is not a stored UTC timestamp (YYYY-MM-DDTHH:MM:SS.ffffffZ)")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
