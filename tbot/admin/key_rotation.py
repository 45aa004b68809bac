"""`tbot keys rotate`: new keys for everything, with the audit row the ledger keeps of it.

Runs beside a running engine as `tbot secrets set` does (`config_changes`): the file work
under the home's rotation lock, the audit row by this command when the ledger's writer lock
is free, else by the engine over its control socket (`keys.rotated`). The engine keeps the
values it decrypted and reads the files again, with the new keys, on `config.reload`.
"""

from __future__ import annotations

from tbot.admin.bot_home import BotHome
from tbot.admin.config_changes import AuditRow, audit_route
from tbot.clock import Clock
from tbot.config.key_rotation import RotationReport, rotate_keys, rotation_lock

COMMAND = "tbot keys rotate"


def rotate_all_keys(bot: BotHome, clock: Clock, *, actor: str) -> RotationReport:
    """Rotate every key of the home under the rotation lock, then audit it.

    The audit route is settled first (the ledger's writer lock, or a running engine that
    will write the row): when neither is available nothing is rotated.
    """
    with audit_route(bot, clock, actor=actor, command=COMMAND) as route:
        with rotation_lock(bot.paths):
            report = rotate_keys(bot.paths, clock)
        route.record([AuditRow("keys.rotate", "all keys", report.as_audit_details())])
    return report
