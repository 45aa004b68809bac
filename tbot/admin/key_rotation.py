"""`tbot keys rotate`: new keys for everything, with the audit row the ledger keeps of it."""

from __future__ import annotations

from tbot.admin.bot_home import BotHome
from tbot.clock import Clock
from tbot.config.key_rotation import RotationReport, rotate_keys
from tbot.ledger.posting import LedgerWriter


def rotate_all_keys(bot: BotHome, clock: Clock, *, actor: str) -> RotationReport:
    """Rotate every key of the home while holding the ledger's writer lock, then audit it.

    Holding the lock first means no engine is running on this home mid-rotation.
    """
    with LedgerWriter(bot.paths, clock, bot.backup_policy) as writer:
        report = rotate_keys(bot.paths, clock)
        writer.record_event(
            "keys.rotate",
            actor=actor,
            subject="all keys",
            details=report.as_audit_details(),
        )
    return report
