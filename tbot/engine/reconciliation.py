"""The engine's side of reconciliation: it lends the reconciler a narrow `EnginePort`
(book a missed fill of ours, say what the book holds, reload lots after a correction),
runs the start-up sync, the checks every RECONCILIATION_SYNC_INTERVAL of engine time during
a session and the end-of-day sync, and keeps trading REDUCING while a position difference
is unexplained (STARTUP_RECON_BLOCKS_TRADING).

It is handed callables, never the `Engine`: what it may touch is exactly what it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.broker.errors import BrokerError
from tbot.broker.models import BrokerFill
from tbot.clock import Clock
from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import BrokerName
from tbot.engine.broker_gateway import BrokerGateway
from tbot.engine.ledger_desk import LedgerDesk
from tbot.engine.order_intents import parse_client_order_id
from tbot.ledger.errors import LedgerError
from tbot.reconcile import ledger_view
from tbot.reconcile.adapters import DeskLedger, GatewayBroker
from tbot.reconcile.mapping.service import MappingError, MappingService, MappingSettings
from tbot.reconcile.resolution import Resolver
from tbot.reconcile.service import Publish, ReconService
from tbot.reconcile.statuses import RunOutcome, SyncTrigger
from tbot.reconcile.sync import Reconciler, ReconSettings, SyncResult

log = logging.getLogger("tbot.engine")

BLOCK_PREFIX = "reconciliation: "
"""The start of the REDUCING reason this module sets (and alone lifts)."""


@dataclass(frozen=True)
class EngineHooks:
    """What the engine lends reconciliation."""

    book_fill: Callable[[BrokerFill], Awaitable[None]]
    """Book a fill as the engine books any (ledger first, then lots, book, strategy)."""
    book_positions: Callable[[], Mapping[str, Decimal]]
    """The position book's quantity by symbol."""
    reload_lots: Callable[[frozenset[str]], Awaitable[None]]
    """Rebuild the lots (and the book's quantities of `symbols`) from the ledger."""
    block: Callable[[str | None], None]
    """Stay REDUCING with this reason (a string), or lift our own block (None)."""
    alert: Callable[[str, str, str], None]
    """Tell the operator once: (key, level, message)."""


class EnginePortAdapter:
    """`EnginePort` over the hooks; quiet about the book until the engine has adopted
    the broker's positions (before that an empty book means nothing)."""

    def __init__(self, hooks: EngineHooks, desk: LedgerDesk) -> None:
        self._hooks = hooks
        self._desk = desk
        self.book_ready = False

    def is_own_order(self, client_order_id: str) -> bool:
        return parse_client_order_id(client_order_id) is not None

    async def book_own_fill(self, fill: BrokerFill) -> int | None:
        await self._hooks.book_fill(fill)
        return await self._desk.run(
            self._desk.read_with, lambda c: ledger_view.entry_id_of(c, fill.fill_id))

    def book_positions(self) -> Mapping[str, Decimal] | None:
        return self._hooks.book_positions() if self.book_ready else None

    async def ledger_corrected(self, symbols: frozenset[str]) -> None:
        await self._hooks.reload_lots(symbols)


class EngineReconciliation:
    """The reconciliation service of one running engine, and when it runs."""

    def __init__(
        self,
        *,
        bot: BotSettings,
        clock: Clock,
        desk: LedgerDesk,
        gateway: BrokerGateway,
        accounts: BrokerAccounts,
        broker_name: BrokerName,
        hooks: EngineHooks,
        publish: Publish,
        bot_identity: str,
    ) -> None:
        self._bot = bot
        self._clock = clock
        self._hooks = hooks
        self.port = EnginePortAdapter(hooks, desk)
        ledger = DeskLedger(desk)
        broker = GatewayBroker(gateway)
        settings = ReconSettings(
            lookback_days=bot.SYNC_LOOKBACK_DAYS,
            cash_tolerance=bot.RECON_CASH_TOLERANCE,
        )
        self.mapping = MappingService(ledger, clock, MappingSettings(
            broker=broker_name.value, cash_account=accounts.cash, currency="USD",
            bot_identity=bot_identity,
            threshold=float(bot.MAPPING_AUTO_APPLY_CONFIDENCE),
        ), publish=publish)
        reconciler = Reconciler(broker, ledger, self.port, accounts, clock, settings,
                                mapping=self.mapping)
        resolver = Resolver(ledger, broker, accounts, broker_name, clock)
        self.service = ReconService(
            reconciler, resolver, min_interval_seconds=float(bot.SYNC_MIN_INTERVAL_SECONDS),
            publish=publish,
        )
        self._interval = timedelta(seconds=float(bot.RECONCILIATION_SYNC_INTERVAL))
        self._next_check: datetime | None = None
        self.blocking: str | None = None

    async def startup(self) -> SyncResult | None:
        """The start-up sync: books fills of ours the ledger missed, records everything
        else. A broker that cannot be read is logged; it never means flat."""
        try:
            await self.mapping.ensure_defaults()
            return await self.service.sync(SyncTrigger.STARTUP, wait=True)
        except (BrokerError, LedgerError, MappingError) as error:
            log.error("start-up reconciliation failed: %s", error)
            self._apply_block(f"{BLOCK_PREFIX}the start-up sync failed ({error}); "
                              "positions are unverified")
            return None

    async def after_adoption(self, result: SyncResult | None) -> None:
        """Once the book holds the broker's positions: check again with the book and
        block entries while a difference is unexplained."""
        self.port.book_ready = True
        check = await self.service.check(SyncTrigger.STARTUP, always=True)
        self._judge(check or result, startup=True)

    async def on_minute(self, at: datetime) -> None:
        """Positions and cash every RECONCILIATION_SYNC_INTERVAL of engine time."""
        if self._next_check is not None and at < self._next_check:
            return
        self._next_check = at + self._interval
        try:
            result = await self.service.check(SyncTrigger.SCHEDULE)
        except (BrokerError, LedgerError) as error:
            log.warning("reconciliation check failed: %s", error)
            return
        if result is not None:
            self._judge(result, startup=False)

    async def end_of_day(self) -> SyncResult | None:
        """The full sync with its assertions at the day's end."""
        try:
            result = await self.service.sync(SyncTrigger.END_OF_DAY, wait=True)
        except (BrokerError, LedgerError) as error:
            log.error("end-of-day reconciliation failed: %s", error)
            return None
        self._judge(result, startup=False)
        return result

    def _judge(self, result: SyncResult | None, *, startup: bool) -> None:
        if result is None:
            return
        self._announce_breaks(result)
        unexplained = result.unexplained_positions
        if unexplained:
            named = "; ".join(f"{p.symbol}: {p.reason}" for p in unexplained[:3])
            reason = f"{BLOCK_PREFIX}unexplained position difference ({named})"
            if startup or self.blocking is not None:
                self._apply_block(reason)
            return
        positions_unread = any(
            span.get("listing") == "positions" for span in result.spans_not_read)
        if positions_unread and (startup or self.blocking is not None):
            self._apply_block(f"{BLOCK_PREFIX}the broker's positions could not be read")
            return
        if self.blocking is not None:
            self.blocking = None
            self._hooks.block(None)

    def _announce_breaks(self, result: SyncResult) -> None:
        """An alert for the breaks a run opened (the records of each are `recon.breaks`)."""
        if not result.new_breaks and result.outcome is RunOutcome.COMPLETE:
            return
        run = f"run #{result.run_id}" if result.run_id else "check"
        words = [f"{len(result.new_breaks)} new break(s)"] if result.new_breaks else []
        words += [f"{span['listing']} not read: {span['error']}"
                  for span in result.spans_not_read]
        message = f"reconciliation {result.trigger} {run}: " + "; ".join(words)
        if result.breaks_detail:
            message += " (" + "; ".join(result.breaks_detail[:3]) + ")"
        message += "; see `tbot recon breaks`"
        self._hooks.alert(f"recon:{result.trigger}:{result.run_id}:{len(result.new_breaks)}",
                          "warning", message)

    def _apply_block(self, reason: str) -> None:
        if not self._bot.STARTUP_RECON_BLOCKS_TRADING:
            log.warning("%s (STARTUP_RECON_BLOCKS_TRADING=false: trading goes on)", reason)
            return
        if reason != self.blocking:
            self.blocking = reason
            self._hooks.block(reason)
