"""Where the console finds its bot: resolved once, before the app starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConsoleSettings:
    """The files and names one console session works with."""

    bot_name: str
    """The bot identity shown in the status bar, e.g. TBOT_US_SIM_BOT01; "" when the home
    could not be read (the engine's own name is shown once connected)."""
    bot_id: str
    """The short BOT_ID the kill switch asks the operator to type, e.g. BOT01; "" to take
    it from the engine's identity."""
    socket_path: Path
    ledger_path: Path | None
    """The bot's ledger, read-only; None when there is none to read yet."""
    keymap_path: Path | None = None
    """A user keymap file (TOML); None for the default bindings."""
    ledger_note: str | None = None
    """Why there is no ledger to read, when `ledger_path` is None for a reason worth
    showing (e.g. the home's `.env` is not readable by this user)."""
