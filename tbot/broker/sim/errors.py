"""What the simulated broker fails with, beyond the shared broker errors."""

from __future__ import annotations

from tbot.broker.errors import BrokerError


class SimStateError(BrokerError):
    """The simulated broker's state file cannot be used as asked: not an SQLite file, not a
    state file, a schema this version does not read, another account, or already closed.
    The file is left exactly as it was."""
