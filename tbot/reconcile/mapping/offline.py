"""The mapping room with no engine running: `tbot mapping ...` holds the ledger's writer
lock itself (an engine running stops it here: the CLI then goes through the engine's
socket) and runs exactly the service the engine runs."""

from __future__ import annotations

from types import TracebackType

from tbot.admin.bot_home import BotHome
from tbot.booking.broker_accounts import accounts_for
from tbot.clock import Clock
from tbot.config.setting_types import BrokerName
from tbot.engine.ledger_desk import LedgerDesk
from tbot.reconcile.adapters import DeskLedger
from tbot.reconcile.mapping.service import MappingService, MappingSettings


def mapping_settings(home: BotHome) -> MappingSettings:
    """The bot's mapping settings, from its config and identity."""
    bot = home.config.bot
    broker = BrokerName(bot.BROKER_NAME)
    return MappingSettings(
        broker=broker.value, cash_account=accounts_for(broker).cash, currency="USD",
        bot_identity=home.identity.bot_identity,
        threshold=float(bot.MAPPING_AUTO_APPLY_CONFIDENCE),
    )


class OfflineMapping:
    """`MappingService` over the bot's ledger with the writer lock held here. Use as a
    context manager; `LedgerLockedError` when an engine (or another writer) has it."""

    def __init__(self, home: BotHome, clock: Clock) -> None:
        self._home = home
        self._clock = clock
        self._desk: LedgerDesk | None = None
        self.service: MappingService | None = None

    def __enter__(self) -> MappingService:
        desk = LedgerDesk(self._home.paths, self._clock, self._home.backup_policy)
        try:
            desk.open_blocking()
        except BaseException:
            desk.close_blocking()
            raise
        self._desk = desk
        self.service = MappingService(DeskLedger(desk), self._clock,
                                      mapping_settings(self._home))
        return self.service

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._desk is not None:
            self._desk.close_blocking()
