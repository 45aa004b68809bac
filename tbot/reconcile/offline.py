"""Reconciliation with no engine running: `tbot recon ...` takes the writer lock itself and
opens the broker account directly, then runs exactly the code the engine runs.

A fill of our own order found missing is booked as the engine would book it (same drafts,
same lots); there is no position book to compare with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import TracebackType

from tbot.admin.bot_home import BotHome
from tbot.admin.broker_connection import open_broker
from tbot.booking.broker_accounts import BrokerAccounts, accounts_for
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker, FillContext
from tbot.broker.models import BrokerFill
from tbot.broker.protocol import BrokerAdapter
from tbot.clock import Clock
from tbot.config.setting_types import BrokerName
from tbot.engine.broker_gateway import BrokerGateway
from tbot.engine.ledger_desk import ENGINE_ACTOR, LedgerDesk
from tbot.engine.order_intents import parse_client_order_id
from tbot.ledger.errors import DuplicateFitidError, LedgerError
from tbot.market.universe import is_inverse_etf
from tbot.reconcile import ledger_view
from tbot.reconcile.adapters import DeskLedger, GatewayBroker
from tbot.reconcile.mapping.offline import mapping_settings
from tbot.reconcile.mapping.service import MappingService
from tbot.reconcile.resolution import Resolver
from tbot.reconcile.service import ReconService
from tbot.reconcile.sync import Reconciler, ReconSettings


class OfflineEngine:
    """`EnginePort` without an engine: own fills booked with a `FillBooker` over the
    ledger's lots; no position book."""

    def __init__(self, desk: LedgerDesk, broker: BrokerName, accounts: BrokerAccounts) -> None:
        self._desk = desk
        self._broker = broker
        self._accounts = accounts

    def is_own_order(self, client_order_id: str) -> bool:
        return parse_client_order_id(client_order_id) is not None

    async def book_own_fill(self, fill: BrokerFill) -> int | None:
        parsed = parse_client_order_id(fill.client_order_id)
        if parsed is None:
            return None
        lots = await self._desk.run(
            self._desk.read_with, lambda c: LotBook.from_connection(c, self._accounts.equities)
        )
        booker = FillBooker(self._broker, lots)
        inverse = is_inverse_etf(fill.symbol)
        try:
            draft = booker.entry_for_fill(fill, FillContext(
                strategy=parsed.strategy,
                side="short" if inverse else "long",
                tag="InverseETF" if inverse else "none",
                memo_hint="booked by an offline reconciliation",
            ))
            posted = await self._desk.run(self._desk.post, draft, ENGINE_ACTOR)
        except DuplicateFitidError:
            pass
        except LedgerError:
            return None
        else:
            return posted.entry_id
        return await self._desk.run(
            self._desk.read_with, lambda c: ledger_view.entry_id_of(c, fill.fill_id))

    def book_positions(self) -> Mapping[str, Decimal] | None:
        return None

    async def ledger_corrected(self, symbols: frozenset[str]) -> None:
        """Nothing holds lots in memory offline."""


class OfflineReconciliation:
    """The bot's reconciliation service with the writer lock and the broker held here.
    Use as a context manager; `LedgerLockedError` when an engine (or another writer) has
    the lock."""

    def __init__(self, home: BotHome, clock: Clock, *, actor: str,
                 wrap_broker: Callable[[BrokerAdapter], BrokerAdapter] | None = None,
                 backoff_seconds: float = 0.5) -> None:
        self._home = home
        self._clock = clock
        self._actor = actor
        # How the account is reached: the simulated broker itself, or (in tests) a
        # misbehaving edge in front of it.
        self._wrap_broker = wrap_broker
        self._backoff = backoff_seconds
        self._desk: LedgerDesk | None = None
        self._gateway: BrokerGateway | None = None
        self.service: ReconService | None = None
        self.mapping: MappingService | None = None
        self.ledger: DeskLedger | None = None

    def __enter__(self) -> OfflineReconciliation:
        home, bot = self._home, self._home.config.bot
        broker_name = BrokerName(bot.BROKER_NAME)
        desk = LedgerDesk(home.paths, self._clock, home.backup_policy)
        try:
            desk.open_blocking()  # the writer lock: an engine running stops us here
        except BaseException:
            desk.close_blocking()
            raise
        self._desk = desk
        try:
            broker = open_broker(home, self._clock)
            adapter = self._wrap_broker(broker) if self._wrap_broker else broker
            self._gateway = BrokerGateway(adapter, self._clock, retry_limit=bot.API_RETRY_LIMIT,
                                          timeout_seconds=float(bot.API_TIMEOUT),
                                          backoff_seconds=self._backoff)
        except BaseException:
            desk.close_blocking()
            raise
        accounts = accounts_for(broker_name)
        self.ledger = DeskLedger(desk)
        broker_port = GatewayBroker(self._gateway)
        settings = ReconSettings(lookback_days=bot.SYNC_LOOKBACK_DAYS,
                                 cash_tolerance=bot.RECON_CASH_TOLERANCE)
        self.mapping = MappingService(self.ledger, self._clock, mapping_settings(home))
        reconciler = Reconciler(broker_port, self.ledger,
                                OfflineEngine(desk, broker_name, accounts), accounts,
                                self._clock, settings, actor=self._actor, mapping=self.mapping)
        resolver = Resolver(self.ledger, broker_port, accounts, broker_name, self._clock)
        # Offline, one process runs one command: no rate limit to keep.
        self.service = ReconService(reconciler, resolver, min_interval_seconds=0)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._gateway is not None:
                self._gateway.close()
        finally:
            if self._desk is not None:
                self._desk.close_blocking()

