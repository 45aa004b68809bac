"""The engine: one asyncio process per bot that trades its strategies through a broker,
books every fill into the ledger, and answers the control socket.

Life of a run:

1. `start()` validates nothing itself (the caller hands it an opened, valid `BotHome`),
   takes the ledger writer lock, opens the broker, books the account's initial funding and
   any fill of ours the ledger missed (a crash between a fill and its post), adopts the
   broker's positions (missing reports never mean flat), then opens the control socket
   and tells systemd it is ready.
2. `run()` walks the market minute by minute: each minute's bars go to the broker (which
   fills working orders) and to the strategies (which signal); signals pass the risk gate
   and become orders. A strategy is built when its window comes up: over the universe
   (`trading_universe`), through the fundamentals screen (`entry_screen`), warmed up on
   the session's bars so far. Outside strategy windows, flat and with nothing working, it
   sleeps until the next window (in simulation it skips the night).
3. `stop()` (SIGTERM, `engine.shutdown`, or the end of a `--until-close` day) stops new
   entries, sells or keeps positions per CLOSE_POSITIONS_ON_SHUTDOWN, writes the session
   summary and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time as monotonic_time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final

from tbot.admin.bot_home import BotHome
from tbot.admin.broker_connection import open_broker, preflight
from tbot.admin.sim_account import sim_broker_settings
from tbot.booking.broker_accounts import BrokerAccounts, accounts_for
from tbot.booking.daily_summary import SessionStats, write_daily_summary
from tbot.booking.fifo_lots import LotBook
from tbot.booking.fill_entries import FillBooker
from tbot.booking.strategy_logs import StrategyLogs
from tbot.booking.trade_records import TradeHistoryWriter
from tbot.broker.errors import BrokerAuthError, BrokerError
from tbot.broker.models import (
    AccountSnapshot,
    BrokerFill,
)
from tbot.broker.order_updates import OrderUpdateStream
from tbot.broker.protocol import BrokerAdapter, MarketDataBroker, StreamingBroker
from tbot.broker.sim.sim_broker import SimBroker, SimBrokerSettings
from tbot.clock import Clock, FrozenClock, SwitchableClock, SystemClock
from tbot.config.bot_settings import BotSettings
from tbot.config.feature_status import unbuilt_settings
from tbot.config.key_rotation import recover_at_start
from tbot.config.setting_types import BrokerName, StrategyName
from tbot.engine import entry_approvals, fill_booking, order_flow, recovery
from tbot.engine.approval_queue import ApprovalQueue
from tbot.engine.broker_gateway import BrokerGateway
from tbot.engine.defense_watch import DefenseHooks, DefenseWatch
from tbot.engine.drawdown_watch import DrawdownHooks, DrawdownWatch, latest_guard_record
from tbot.engine.entry_screen import EntryScreen
from tbot.engine.error_journal import ErrorJournal
from tbot.engine.event_bus import EQUITY_TOPIC, MINUTE_TOPIC, EventBus
from tbot.engine.ledger_desk import ENGINE_ACTOR, LedgerDesk
from tbot.engine.market_watch import MarketHooks, MarketWatch
from tbot.engine.minutes import MINUTE, floor_minute
from tbot.engine.order_intents import (
    OrderIntents,
    Purpose,
)
from tbot.engine.order_updates import OrderUpdateHooks, OrderUpdates
from tbot.engine.pnl_curve import PnlCurve
from tbot.engine.position_book import PositionBook
from tbot.engine.reconciliation import BLOCK_PREFIX as RECON_BLOCK_PREFIX
from tbot.engine.reconciliation import EngineHooks, EngineReconciliation
from tbot.engine.scheduler import EngineState, SessionScheduler
from tbot.engine.sim_clock import SimClock
from tbot.engine.status_report import StatusReport
from tbot.engine.telemetry import GaugeSample
from tbot.engine.trading_universe import FeedCoverage, UniverseError, choose_universe
from tbot.engine.watchdog import Watchdog, WatchdogHooks
from tbot.errors import TbotError
from tbot.ledger.errors import LedgerError
from tbot.logfiles import megabytes
from tbot.market.bars import Bar, BarFeed, LiveBarFeed
from tbot.market.calendar import TradingCalendar
from tbot.market.feed_health import FeedHealth
from tbot.market.fundamentals import FundamentalsSource
from tbot.market.generated_extras import GeneratedFundamentals
from tbot.market.generated_feed import GeneratedFeed
from tbot.market.quotes import Quote
from tbot.market.replay_feed import ReplayFeed
from tbot.market.universe import ETF_POOLS
from tbot.risk.close_throttle import CloseThrottle
from tbot.risk.defense_mode import effective_settings
from tbot.risk.drawdown_guard import DrawdownLimits
from tbot.risk.limits import SessionLimits
from tbot.risk.risk_gate import RiskGate
from tbot.risk.trading_state import StateChange, TradingState, TradingStateMachine
from tbot.strategy.base import Strategy
from tbot.strategy.registry import MarketSources, UnknownStrategyError, build_strategy
from tbot.strategy.signals import EntrySignal, ExitReason, ExitSignal, SkipNote
from tbot.strategy.window import Phase, StrategyWindow

log = logging.getLogger("tbot.engine")

ALERTED_FLAG: Final = "tbot_alerted"
ALERTED: Final[Mapping[str, object]] = {ALERTED_FLAG: True}
"""`extra` of a log call whose line was also published as an alert: the `logs` topic skips
it, so a console subscribed to both shows it once."""

# How long a graceful stop waits for flattening orders to fill, in market minutes.
SHUTDOWN_FLATTEN_MINUTES = 5
# ...and, with a broker that fills on its own (not on the engine's bars), in real seconds.
SHUTDOWN_FLATTEN_SECONDS = 30.0
ZERO = timedelta(0)
# How far before start-up the order stream's fill catch-up reads (start-up recovery ran
# moments before; fills are idempotent, so reading some twice costs only a request).
FILL_CATCH_UP_MARGIN = timedelta(minutes=30)


class EngineStartError(TbotError):
    """The engine cannot start (unsupported broker, bad options...)."""


@dataclass(frozen=True)
class EngineOptions:
    """How `tbot engine` was asked to run."""

    sim: bool = False
    speed: float = 1.0
    start: datetime | None = None
    bars_file: Path | None = None
    socket_path: Path | None = None
    until_close: bool = False


@dataclass
class Counters:
    """Running totals shown by `engine.status`."""

    signals: int = 0
    orders: int = 0
    fills: int = 0
    rejections: int = 0
    errors: int = 0

    def as_dict(self, retries: int) -> dict[str, int]:
        """The `counters` block (retries come from the broker gateway)."""
        return {
            "signals": self.signals,
            "orders": self.orders,
            "fills": self.fills,
            "rejections": self.rejections,
            "errors": self.errors,
            "retries": retries,
        }


@dataclass
class LiveStrategy:
    """A strategy instance trading (or still unwinding) one window."""

    strategy: Strategy
    window: StrategyWindow
    alerts_sent: set[str] = field(default_factory=set)


class Engine:
    """One bot's engine. Build it, `await start()`, `await run()`; `request_stop()` ends it."""

    def __init__(self, home: BotHome, options: EngineOptions,
                 market_clock: Clock | None = None) -> None:
        """`market_clock` replaces the wall clock of a real broker's session (tests run one
        fast against a local fake); the simulated broker keeps its own simulated clock."""
        self.home = home
        self._injected_clock = market_clock
        self.options = options
        self.paths = home.paths
        self.bot: BotSettings = home.config.bot
        self.identity = home.identity
        self.started_monotonic = monotonic_time.monotonic()
        self.calendar = TradingCalendar()
        self.scheduler = SessionScheduler(self.bot, self.calendar)
        self.real_clock = SystemClock()
        self.clock: Clock = self.real_clock
        self.counters = Counters()
        self.intents = OrderIntents()
        self.book = PositionBook()
        self.pnl_curve = PnlCurve()
        self.stats = SessionStats()
        self.engine_state = EngineState.IDLE
        self.enabled: dict[str, bool] = {
            name.value: bool(getattr(self.bot, f"STRAT_{name.value.upper()}_ENABLED"))
            for name in StrategyName
        }
        self.live: dict[tuple[str, date], LiveStrategy] = {}
        self.last_prices: dict[str, Decimal] = {}
        self.account: AccountSnapshot | None = None
        self.session_start_equity: Decimal | None = None
        self.current_day: date | None = None
        self.day_started_at: datetime | None = None
        self.summarized_days: set[date] = set()
        self.config_loaded_at = self.real_clock.now()
        # What happens is published here; rooms subscribe (the runner's forwarder sends
        # the wire topics to the control server once it exists; until then, nobody).
        self.bus = EventBus()
        self._stop_requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._cursor: datetime | None = None
        self._heartbeat = monotonic_time.monotonic()
        self._alerted: set[str] = set()
        self.restored_entries: list[tuple[StrategyName, str, str]] = []
        self.stop_reason = ""
        self._broker_to_close: BrokerAdapter | None = None
        # Held while a minute is processed and while a pushed order update is applied:
        # one never lands in the middle of the other.
        self.trading_lock = asyncio.Lock()
        self.order_updates: OrderUpdates | None = None
        self._order_stream: OrderUpdateStream | None = None
        self._live_feed: LiveBarFeed | None = None
        self._feed_was_healthy = True
        self.accounts: BrokerAccounts = accounts_for(self.broker_name())
        self.desk = LedgerDesk(self.paths, self.real_clock, home.backup_policy)
        self.feed: BarFeed | None = None
        self.universe: tuple[str, ...] = ()
        self.screen: EntryScreen | None = None
        self._coverage = FeedCoverage()
        self.gateway: BrokerGateway | None = None
        self.booker: FillBooker | None = None
        self.state = TradingStateMachine.from_settings(self.bot, self.real_clock.now())
        self.limits = SessionLimits.from_settings(self.bot)
        self.gate = RiskGate(self.bot, self.state, self.limits)
        self.drawdown = DrawdownWatch(DrawdownLimits.from_settings(self.bot),
                                      self._drawdown_hooks())
        self.closes = CloseThrottle(timedelta(seconds=self.bot.CLOSE_MIN_INTERVAL_SECONDS))
        self.market = self._market_watch()
        self.approvals = ApprovalQueue(self.bot.MAX_SLIPPAGE_BPS)
        self.watchdog = Watchdog(timedelta(seconds=self.bot.BROKER_RECOVERY_SECONDS),
                                 self.bot.DATA_FAILURE_ACTION, self._watchdog_hooks())
        self.defense = DefenseWatch(
            self.bot, lambda line: self.logs.append_block(self.paths.disaster_mode_log, line),
            self._defense_hooks())
        self.exit_code = 0
        """The process's exit status once stopped (1: stopped to be restarted)."""
        self._background: set[asyncio.Task[None]] = set()
        # Strategy logs read with the market's time (simulated or real).
        self._market_clock = SwitchableClock(self.real_clock)
        self.logs = StrategyLogs(self.paths, self._market_clock,
                                 max_bytes=megabytes(self.bot.LOG_ROTATE_MAX_MB))
        self.journal = ErrorJournal(self.paths.error_tracebacks_log, self.logs,
                                    self._market_clock, self.bot.BROKER_NAME.value)
        self.history = TradeHistoryWriter(self.paths, self.bot.LOG_FORMAT)
        self.report = StatusReport(self)
        self.reconciliation: EngineReconciliation | None = None

    # == start-up ==========================================================================
    def broker_name(self) -> BrokerName:
        if self.options.sim:
            return BrokerName.SIM
        return BrokerName(self.bot.BROKER_NAME)

    def start_blocking(self) -> None:
        """The synchronous part of start-up: key recovery, the writer lock, the broker and
        the market feed. Raises a TbotError with a clear message on any problem."""
        name = self.broker_name()
        if name not in (BrokerName.SIM, BrokerName.ALPACA):
            raise EngineStartError(
                f"BROKER_NAME={self.bot.BROKER_NAME}: the engine cannot trade through "
                f"{self.bot.BROKER_NAME} yet; run the simulated broker with --sim or "
                "BROKER_NAME=SIM"
            )
        for unbuilt in unbuilt_settings(self.bot):
            if unbuilt.refuses_trading:
                raise EngineStartError(f"{unbuilt} (set {unbuilt.key}=false to trade)")
            log.warning("setting %s", unbuilt)
        if name is not BrokerName.SIM and self.options.bars_file is not None:
            raise EngineStartError(
                f"--bars replays a file for the simulated broker; BROKER_NAME={name} trades "
                "on its own market data (add --sim to replay the file on the simulated broker)"
            )
        recover_at_start(self.paths)  # waits for a rotation under way (its lock)
        self.desk.open_blocking()  # the writer lock: a second engine stops here
        if name is BrokerName.SIM:
            broker: BrokerAdapter = self._open_sim_broker()
        else:
            broker = self._open_real_broker()
        self._market_clock.target = self.clock
        self.gateway = BrokerGateway(
            broker,
            self.clock,
            retry_limit=self.bot.API_RETRY_LIMIT,
            timeout_seconds=float(self.bot.API_TIMEOUT),
        )
        lots = LotBook.from_ledger(self.paths.ledger_db, self.accounts.equities)
        self.booker = FillBooker(self.broker_name(), lots)
        self.reconciliation = EngineReconciliation(
            bot=self.bot,
            clock=self.clock,
            desk=self.desk,
            gateway=self.gateway,
            accounts=self.accounts,
            broker_name=self.broker_name(),
            hooks=EngineHooks(
                book_fill=lambda fill: self.book_fill(fill, recovered=True),
                book_positions=lambda: {
                    symbol: held.quantity for symbol, held in self.book.positions.items()
                },
                reload_lots=self._reload_lots,
                block=self._reconciliation_block,
                alert=self.alert_once,
            ),
            bot_identity=self.identity.bot_identity,
            publish=self.publish,  # the `recon` topic, on the engine's bus
        )

    def _open_sim_broker(self) -> SimBroker:
        """The simulated broker, its feed and clock. The broker stamps its records with the
        engine's clock, which in simulation resumes from the broker's own saved time:
        hence the switchable clock. (On any failure the runner's close_blocking releases
        the lock.) A new account's funding is dated at the simulated start."""
        provisional = self.options.start
        if self.options.sim and provisional is None:
            provisional = self.scheduler.default_sim_start(self.real_clock.now())
        broker_clock = SwitchableClock(
            FrozenClock(provisional) if provisional is not None else self.real_clock
        )
        broker = SimBroker.open(self.paths.sim_broker_file, self._sim_settings(), broker_clock)
        self._broker_to_close = broker
        resumed_at = broker.sim_time
        if (
            self.options.start is not None
            and resumed_at is not None
            and self.options.start < resumed_at
        ):
            raise EngineStartError(
                f"--start {self.options.start.isoformat()} is before the simulated broker's own "
                f"time {resumed_at.isoformat()}: a broker cannot go back in time. Start later, "
                f"or remove {self.paths.sim_broker_file} (and use a fresh home) to begin again"
            )
        self.feed = self._open_feed()
        self.universe = self._choose_universe(self.feed.symbols)
        self.clock = self._make_clock(broker)
        broker_clock.target = self.clock
        return broker

    def _open_real_broker(self) -> BrokerAdapter:
        """A real broker account (checked before anything trades: the key, the account's
        status), its order-update stream and its live market data, backfilled to now."""
        self.clock = self._injected_clock or self.real_clock
        self.universe = self._choose_universe(None)  # a setting to fix: before any request
        broker = open_broker(self.home, self.clock)
        self._broker_to_close = broker
        preflight(broker)
        if isinstance(broker, StreamingBroker):
            self._order_stream = broker.order_update_stream()
        if not isinstance(broker, MarketDataBroker):
            raise EngineStartError(f"{broker.name} sells no market data the engine can read")
        pools = [etf for name in ETF_POOLS for etf in ETF_POOLS[name]]
        feed = broker.market_feed(list(dict.fromkeys([*self.universe, *pools])), self.calendar,
                                  stale_seconds=float(self.bot.DATA_STALE_SECONDS))
        self._live_feed = feed
        self.feed = feed
        feed.start()
        return broker

    def _sim_settings(self) -> SimBrokerSettings:
        return sim_broker_settings(self.bot, self.identity.bot_identity)

    def _open_feed(self) -> BarFeed:
        if self.options.bars_file is not None:
            replay = ReplayFeed.from_csv(self.options.bars_file)
            for note in replay.notes[:20]:  # skipped lines (zero volume), said once
                log.warning("bars file %s line %d: %s", self.options.bars_file, note.line,
                            note.message)
            if len(replay.notes) > 20:
                log.warning("bars file %s: %d more lines skipped", self.options.bars_file,
                            len(replay.notes) - 20)
            return replay
        return GeneratedFeed(self.bot.SIM_SEED, self.calendar)

    def _make_clock(self, broker: SimBroker) -> Clock:
        if not self.options.sim:
            return self._injected_clock or self.real_clock
        start = self.options.start or broker.sim_time
        if start is None:
            start = self.scheduler.default_sim_start(self.real_clock.now())
        return SimClock(start, self.options.speed, held=True)  # released when run() begins

    async def start(self) -> None:
        """Start-up that needs the loop: recover fills and positions, snapshot the account."""
        await recovery.book_cash_activity(self)
        # The start-up sync books fills of ours the ledger missed and records the rest.
        startup = await self.require_reconciliation().startup()
        await self._refresh_account()
        self.session_start_equity = self.account.equity if self.account else None
        self.current_day = self.clock.now().date()
        self.day_started_at = self.clock.now()
        self.pnl_curve.start_day(self.current_day)
        await recovery.restore_day(self, self.current_day)
        await recovery.adopt_broker_positions(self)
        await self.require_reconciliation().after_adoption(startup)
        await self.drawdown.restore(self.account.equity if self.account else None)
        await self.defense.start()
        self._start_order_updates()
        self.screen = self._entry_screen()
        self.screen.prefetch(self.current_day, self.universe)
        self._cursor = floor_minute(self.clock.now())
        log.info(
            "engine started: bot %s, broker %s, clock %s, trading %s",
            self.identity.bot_identity,
            self.broker_name(),
            self._clock_description(),
            self.state.state,
        )

    def _entry_screen(self) -> EntryScreen:
        """The fundamentals guard each window's universe goes through (see entry_screen)."""
        simulated: FundamentalsSource | None = None
        if self._live_feed is None:  # simulated (generated or replayed) bars
            # A replayed file carries no fundamentals: its symbols get simulated figures
            # too (unless the screener_api secret points the guard at Finnhub).
            simulated = (self.feed if isinstance(self.feed, FundamentalsSource)
                         else GeneratedFundamentals())
        screen = EntryScreen.from_settings(
            self.bot, self.paths, simulated,
            log_block=self._screen_block,
            alert=lambda key, message: self.alert_once(key, "warning", message))
        if self.bot.ENABLE_FINNHUB_FUNDAMENTALS_FILTER:
            log.info("fundamentals filter on: %s", screen.source_words)
        return screen

    def _screen_block(self, strategy: str, symbol: str, reason: str) -> None:
        """A symbol the fundamentals screen keeps out of a window: the strategy log and the
        daily summary's count."""
        self.logs.log(strategy, "SKIP", symbol=symbol, reason=reason)
        self.stats.record_block(strategy, "fundamentals")

    def _start_order_updates(self) -> None:
        """Start the broker's order-update stream (a real broker's fills arrive there)."""
        stream = self._order_stream
        if stream is None:
            return
        gateway, _ = self.require_started()
        self.order_updates = OrderUpdates(
            stream,
            gateway,
            OrderUpdateHooks(
                intents=self.intents,
                book_fill=self.book_fill,
                order_changed=lambda order: self.publish("orders", self.report.order_row(order)),
                alert=self.alert_once,
                unresolved=self.logs.unresolved,
            ),
            self.clock,
            self.trading_lock,
            # Start-up recovery booked what came before; a margin covers its gaps.
            fills_since=self.clock.now() - FILL_CATCH_UP_MARGIN,
        )
        self.order_updates.start()

    async def stop_streams(self) -> None:
        """Stop the order-update stream (after shutdown: flattening needs its fills)."""
        if self.order_updates is not None:
            await self.order_updates.close()
            self.order_updates = None

    # == the market loop ===================================================================
    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the engine to stop gracefully (signal handlers, engine.shutdown)."""
        if not self._stop_requested.is_set():
            log.info("stopping: %s", reason)
            self.stop_reason = reason
            self._stop_requested.set()
            self._wake.set()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop_requested.is_set()

    def gauge_sample(self) -> GaugeSample:
        """How the engine stands now, for the telemetry's gauges (`engine.metrics`)."""
        drawdown = self.drawdown.status().get("drawdown_pct")
        return GaugeSample(
            open_positions=len(self.book.positions),
            equity=self.account.equity if self.account else None,
            drawdown_pct=drawdown if isinstance(drawdown, Decimal) else None,
            trading_state=self.state.state.value,
        )

    def heartbeat_age(self) -> float:
        """Seconds since the market loop last went round (the watchdog's health)."""
        return monotonic_time.monotonic() - self._heartbeat

    async def run(self) -> None:
        """Trade until a stop is requested."""
        if isinstance(self.clock, SimClock):
            self.clock.release()  # held while the engine started
        while not self.stopping:
            self._heartbeat = monotonic_time.monotonic()
            async with self.trading_lock:  # the guard's countdown runs on the engine's clock
                await self.drawdown.tick()
                await self.watchdog.tick()
            now = self.clock.now()
            cursor = self._require_cursor()
            # A live feed's bars arrive a little after their minute ends.
            due = cursor + MINUTE + (self._live_feed.publish_lag if self._live_feed else ZERO)
            if now >= due:
                if (self.options.until_close and self.summarized_days
                        and await self._stop_at_the_close(cursor, cursor.date(), False)):
                    continue  # a lagging engine closed the session past midnight: stop here
                try:
                    async with self.trading_lock:
                        await self._process_minute(cursor)
                except Exception as error:  # classified, written down, retried or escalated
                    await self._minute_failed(cursor, error)
                    continue
                self.journal.cleared()
                self._cursor = cursor + MINUTE
                continue
            if await self._idle_until_next_window(now):
                continue
            await self._sleep_until(self.drawdown.wake_before(due))

    async def _minute_failed(self, minute: datetime, error: Exception) -> None:
        """A market minute raised: written down (error_tracebacks.log, unresolved_orders.log),
        retried on the next turn, and after API_RETRY_LIMIT failures in a row escalated:
        trading HALTED, positions kept, and the engine stops with exit 1 for systemd to
        restart it (the seed: a critical exception shuts the system down)."""
        kind = self.journal.record(error, where=f"the minute {minute.isoformat()}")
        log.error("the minute %s failed (%s error, %d in a row): %s", minute.isoformat(),
                  kind.value, self.journal.consecutive, error, extra=ALERTED)
        self.publish("alerts", {"level": "error", "trigger": f"{kind.value}_error",
                                "message": f"the minute {minute:%H:%M}Z failed with a "
                                           f"{kind.value} error: {error!r}"})
        if self.journal.consecutive <= self.bot.API_RETRY_LIMIT:
            await asyncio.sleep(min(2.0 ** self.journal.consecutive, 30.0))  # then retried
            return
        reason = (f"escalated: {self.journal.consecutive} {kind.value} errors in a row "
                  f"(API_RETRY_LIMIT={self.bot.API_RETRY_LIMIT}), last {error!r}")
        await self.fail_closed(reason)
        self.exit_code = 1
        self.request_stop(reason)

    def _require_cursor(self) -> datetime:
        if self._cursor is None:
            raise RuntimeError("engine.start() has not run")
        return self._cursor

    async def _sleep_until(self, moment: datetime) -> None:
        seconds = self._real_seconds_until(moment)
        if seconds <= 0:
            return
        self._wake.clear()
        # Wake at least every few seconds: watchdog health and sim clock drift.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=min(seconds, 5.0))

    def _real_seconds_until(self, moment: datetime) -> float:
        if isinstance(self.clock, SimClock):
            return self.clock.real_seconds_until(moment)
        return (moment - self.clock.now()).total_seconds()

    async def _idle_until_next_window(self, now: datetime) -> bool:
        """When nothing is happening, skip ahead; True if time was skipped."""
        day = now.date()
        plan = self.scheduler.plan(day)
        session_over = plan.session is None or now >= plan.session.close
        closed_today = session_over and bool(plan.windows)
        if self.options.until_close and await self._stop_at_the_close(now, day, closed_today):
            return True
        if (self.book.positions or self.intents.working() or self._live_active(now)
                or self.drawdown.busy):
            return False
        if session_over and day not in self.summarized_days and plan.windows:
            await self._end_of_day(day)
        try:
            wake = self.scheduler.next_wake(now)
        except TbotError as error:
            self.alert_once("schedule", "error", str(error))
            return False
        target = wake - MINUTE
        if target - now <= 2 * MINUTE:
            return False
        slot = self.scheduler.slot_at(now)
        self._set_engine_state(slot.engine_state)
        if isinstance(self.clock, SimClock) and (session_over or plan.session is None):
            # Nights and weekends are skipped in simulation; inside a session the market
            # still runs at speed between windows.
            log.info("simulation: skipping to %s", target.isoformat())
            self.clock.jump_to(target)
            self._cursor = floor_minute(target)
            return True
        if isinstance(self.clock, SimClock):
            return False
        await self._sleep_until(target)
        self._cursor = floor_minute(self.clock.now())
        return True

    async def _stop_at_the_close(self, now: datetime, day: date, closed_today: bool) -> bool:
        """--until-close: once the first session since the start has closed (today's, or an
        earlier day's whose end of day ran when a lagging engine crossed midnight), stop;
        True when asked to. Positions that outlived the close do not hold the stop (an exit
        the broker kept refusing would hold it forever): shutdown flattens or keeps them, as
        CLOSE_POSITIONS_ON_SHUTDOWN says, and writes the day's summary."""
        if not (closed_today or self.summarized_days) or self.intents.working():
            return False
        if self.book.positions:
            log.warning("the session is over with positions still held (%s)",
                        ", ".join(sorted(self.book.positions)), extra=ALERTED)
            self.request_stop("the session is over (--until-close), positions still held")
            return True
        if self._live_active(now) or self.drawdown.busy:
            return False
        if closed_today and day not in self.summarized_days:
            await self._end_of_day(day)
        self.request_stop("the session is over (--until-close)")
        return True

    def _live_active(self, now: datetime) -> bool:
        slot = self.scheduler.slot_at(now)
        return slot.window is not None and slot.phase not in (None, Phase.PENDING, Phase.DONE)

    async def _process_minute(self, minute_start: datetime) -> None:
        """Deliver one minute's bars: broker fills first, then strategy signals."""
        gateway, _ = self.require_started()
        at = minute_start + MINUTE
        if at.date() != self.current_day:
            await self._new_day(at.date())
        feed = self.feed
        bars: Mapping[str, Bar] = feed.minute(minute_start) if feed is not None else {}
        # A simulating broker executes against the same bars (`on_bars`); a real broker
        # reports its fills on its own.
        execute_bars = getattr(gateway.broker, "on_bars", None)
        if execute_bars is not None:
            try:
                fills = await gateway.call("on_bars", execute_bars, bars, at)
            except BrokerError as error:
                self.broker_trouble(error)
                fills = []
            for fill in fills:
                await self.book_fill(fill)
        self._coverage.delivered(at.date(), bars)
        for symbol, bar in bars.items():
            self.last_prices[symbol] = bar.close
        self.book.mark(self.last_prices)
        # Before the strategies: an entry this minute in a symbol that just gapped is
        # refused (`order_flow.on_entry_signal` asks the guard).
        await self.market.on_minute(minute_start, at, bars)
        slot = self.scheduler.slot_at(minute_start)
        if self.state.state is not TradingState.HALTED and not self.stopping:
            self._set_engine_state(slot.engine_state)
        await self._ensure_strategy(slot.window, minute_start)
        for live in list(self.live.values()):
            await self._drive_strategy(live, bars, at)
        await order_flow.cancel_stale_entries(self, at)
        await order_flow.send_deferred_closes(self, at)
        if len(self.approvals):
            entry_approvals.sweep(self, at)
        if bars:
            await self._refresh_account()
            pnl = self.report.pnl_summary()
            self.pnl_curve.record_summary(at, pnl, self.account.equity if self.account else None)
            self.publish("pnl", pnl)
            await self._check_daily_loss()
            await self.drawdown.check(self.account.equity if self.account else None)
            drawdown = self.drawdown.status().get("drawdown_pct")
            await self.defense.observe_drawdown(drawdown if isinstance(drawdown, Decimal)
                                                else None)
            if self.order_updates is not None and self.intents.working():
                # Fills pushed while this minute held the lock wait behind it: read them
                # first, or the check below sees shares the ledger has not booked yet.
                await self.order_updates.catch_up_holding_lock("before the positions check")
            await self.require_reconciliation().on_minute(at)
        self._check_feed_health()
        self.publish(MINUTE_TOPIC, {"at": at})

    def feed_health(self) -> FeedHealth | None:
        """The live market data's health; None for generated or replayed bars."""
        return self._live_feed.health() if self._live_feed is not None else None

    def _check_feed_health(self) -> None:
        """A live feed that falls silent (or recovers) is said once per change."""
        feed = self._live_feed
        if feed is None:
            return
        health = feed.health()
        if health.healthy == self._feed_was_healthy:
            return
        self._feed_was_healthy = health.healthy
        if health.healthy:
            self.watchdog.data_back()
            log.warning("market data %s is flowing again", health.feed, extra=ALERTED)
            self.publish("alerts", {"level": "info", "trigger": "market_data",
                                    "message": f"market data {health.feed} is flowing again"})
        else:
            message = f"market data {health.feed} unhealthy: {health.reason}"
            self.counters.errors += 1
            log.error(message, extra=ALERTED)
            self.publish("alerts", {"level": "error", "message": message,
                                    "trigger": "market_data"})
            task = asyncio.get_running_loop().create_task(
                self.watchdog.data_failed(f"{health.feed}: {health.reason}"))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _new_day(self, day: date) -> None:
        if self.current_day is not None and self.current_day not in self.summarized_days:
            previous = self.scheduler.plan(self.current_day)
            if previous.windows:
                await self._end_of_day(self.current_day)
        self.current_day = day
        self.day_started_at = self.clock.now()
        await self.defense.new_day(day)
        if self.screen is not None:
            self.screen.prefetch(day, self.universe)
        self.pnl_curve.start_day(day)
        # The day's results start from the ledger (normally nothing yet), as after a restart.
        await recovery.restore_day(self, day)
        self.limits.rebuild(self.restored_entries, self.book.positions.keys())
        self.stats = SessionStats()
        await self._refresh_account()
        self.session_start_equity = self.account.equity if self.account else None
        self.live = {key: live for key, live in self.live.items() if live.strategy.holdings()}
        log.info("new trading day %s, equity %s", day, self.session_start_equity)

    async def _ensure_strategy(self, window: StrategyWindow | None, minute_start: datetime
                               ) -> None:
        if window is None:
            return
        key = (window.strategy.value, window.day)
        if key in self.live:
            return
        if not self.enabled.get(window.strategy.value, False):
            return
        try:
            strategy = build_strategy(window.strategy, self.trading_bot(), window,
                                      self.universe, self._market_sources())
        except UnknownStrategyError as error:
            self.alert_once(f"unbuilt:{key}", "warning", f"{error}; its window is skipped")
            return
        problems = strategy.self_check()
        if problems:
            self.alert_once(
                f"selfcheck:{key}",
                "error",
                f"strategy {window.strategy} failed its self-check and will not trade: "
                + "; ".join(problems),
            )
            return
        if self.screen is not None:
            outcome = await self.screen.screen(window, self.universe)
            strategy.block(outcome.blocked)
        self._warm_up(strategy, window, minute_start)
        self.live[key] = LiveStrategy(strategy, window)
        self._coverage.watching(window.day, strategy.watched_symbols())
        for held in self.book.positions.values():
            if held.strategy == window.strategy.value and held.last_price is not None:
                strategy.adopt_position(
                    held.symbol, held.size, held.average_cost, held.last_price, minute_start,
                    short=held.is_short,
                )
        self.logs.log(
            window.strategy.value,
            "WINDOW",
            day=window.day,
            start=window.start,
            analysis_end=window.analysis_end,
            breakout_end=window.breakout_end,
            monitoring_end=window.monitoring_end,
        )

    def _choose_universe(self, feed_symbols: Sequence[str] | None) -> tuple[str, ...]:
        try:
            universe = choose_universe(self.bot.TRADING_UNIVERSE, feed_symbols)
        except UniverseError as error:
            raise EngineStartError(str(error)) from None
        log.info("trading universe: %d symbols (%s)", len(universe),
                 "TRADING_UNIVERSE" if self.bot.TRADING_UNIVERSE else "the feed's stocks")
        return universe

    def _report_coverage(self, day: date) -> None:
        """At the day's end: what the feed and the strategies disagreed on (a symbol list
        that trades nothing must say why)."""
        symbols = getattr(self.feed, "symbols", None) if self._live_feed is None else None
        for line in self._coverage.report(day, symbols):
            log.warning("market data: %s", line)
            self.publish("alerts", {"level": "warning", "message": f"market data: {line}",
                                    "trigger": "market_data"})

    def _market_sources(self) -> MarketSources:
        """What strategies read besides bars: the generated market's VIX in simulation;
        a real broker's VIX is not read yet, so the close strategy's gate blocks (and
        says so) rather than trade on an unknown VIX."""
        vix = getattr(self.feed, "vix", None)
        return MarketSources(vix=vix() if callable(vix) else None)

    def _warm_up(self, strategy: Strategy, window: StrategyWindow, until: datetime) -> None:
        """Replay the session's bars before `until` (the window's start, or later after a
        restart mid-window), discarding the signals: VWAPs, ADX, bands and opening ranges
        are rebuilt from the open, nothing is traded twice."""
        feed = self.feed
        if feed is None:
            return
        session = self.scheduler.plan(window.day).session
        minute = min(session.open, window.start) if session is not None else window.start
        while minute < until:
            bars = feed.minute(minute)
            if bars:
                strategy.on_bars(bars, minute + MINUTE)
            minute += MINUTE

    async def _drive_strategy(
        self, live: LiveStrategy, bars: Mapping[str, Bar], at: datetime
    ) -> None:
        # Called every minute, bars or not: timeouts fire from the clock, not from trades.
        strategy = live.strategy
        try:
            signals = strategy.on_bars(bars, at)
        except Exception as error:  # a strategy bug stops that strategy, not the engine
            log.exception("strategy %s failed", strategy.name)
            self.counters.errors += 1
            self.alert_once(
                f"strategy-crash:{strategy.name}",
                "error",
                f"strategy {strategy.name} raised {error!r}; it stops trading",
                strategy=strategy.name.value,
            )
            self.live = {k: v for k, v in self.live.items() if v is not live}
            return
        for signal in signals:
            if isinstance(signal, SkipNote):
                self.logs.log(
                    signal.strategy.value, "SKIP", symbol=signal.symbol, reason=signal.reason
                )
                self.stats.record_block(signal.strategy.value, signal.code or "other")
                if signal.alert:  # a filter that could not judge, not an ordinary block
                    self.alert_once(f"filter:{signal.strategy}:{at.date()}", "warning",
                                    f"strategy {signal.strategy}: {signal.reason}",
                                    strategy=signal.strategy.value, symbol=signal.symbol)
            elif isinstance(signal, EntrySignal):
                await order_flow.on_entry_signal(self, signal)
            elif isinstance(signal, ExitSignal):
                await order_flow.on_exit_signal(self, live, signal)
        if (
            live.window.phase_at(at) is Phase.DONE
            and not strategy.holdings()
            and not any(i.strategy == strategy.name.value for i in self.intents.working())
        ):
            self.live = {k: v for k, v in self.live.items() if v is not live}

    async def book_fill(self, fill: BrokerFill, *, recovered: bool = False) -> None:
        """Post one fill, then update positions, the strategy and subscribers; then the
        drawdown guard checks the account again."""
        await fill_booking.book_fill(self, fill, recovered=recovered)
        if not recovered:
            await self.drawdown.on_fill()

    # == risk ==============================================================================
    async def _check_daily_loss(self) -> None:
        capital = self.session_start_equity
        if capital is None or self.state.state is TradingState.HALTED:
            return
        pnl = self.book.pnl_today()
        if self.gate.daily_loss_breached(pnl_today=pnl, capital=capital):
            self.stats.record_risk_trigger("daily_loss_limit")
            await self.kill(
                f"DAILY_LOSS_LIMIT: today's PnL {pnl} reached -{self.bot.DAILY_LOSS_LIMIT} "
                f"of {capital}",
                actor=ENGINE_ACTOR,
            )

    def _drawdown_hooks(self) -> DrawdownHooks:
        """What the drawdown guard may touch (`tbot.engine.drawdown_watch`)."""

        async def read_equity() -> Decimal | None:
            await self._refresh_account()
            return self.account.equity if self.account else None

        def alert(record: Mapping[str, object]) -> None:
            level = str(record.get("level", "error"))
            log.log(logging.CRITICAL if level == "critical" else logging.ERROR,
                    "%s", record.get("message"), extra=ALERTED)
            self.publish("alerts", record)

        return DrawdownHooks(
            now=lambda: self.clock.now(),
            read_equity=read_equity,
            read_latest=lambda: self.desk.run(self.desk.read_with, latest_guard_record),
            audit=lambda action, subject, details: self.desk.run(
                self.desk.record_event, action, ENGINE_ACTOR, subject, details),
            alert=alert,
            announce=lambda reason, guard: self.publish(
                "state", {**self._state_event(reason), "guard": guard}),
            pause=lambda reason: self._announce_state(self.state.pause(reason, self.clock.now())),
            halt=lambda reason: self._announce_state(self.state.halt(reason, self.clock.now())),
            close_all=lambda reason: order_flow.flatten(
                self, Purpose.FLATTEN, ExitReason.DRAWDOWN_GUARD.value),
            is_flat=lambda: not self.book.positions,
        )

    def _market_watch(self) -> MarketWatch:
        """The market guard and what it may touch (`tbot.engine.market_watch`)."""

        def quotes(minute_start: datetime) -> Mapping[str, Quote] | None:
            source = getattr(self.feed, "quotes", None)  # the simulated market's
            return source(minute_start) if callable(source) else None

        def alert(record: Mapping[str, object]) -> None:
            log.warning("%s", record.get("message"), extra=ALERTED)
            self.publish("alerts", record)

        async def close(symbol: str, reason: str) -> None:
            held = self.book.positions.get(symbol)
            if held is not None and held.quantity:
                await order_flow.exit_position(self, held, Purpose.EXIT, reason,
                                               floor_minute(self.clock.now()) + MINUTE)

        return MarketWatch(self.bot, MarketHooks(
            quotes=quotes,
            holds=lambda symbol: symbol in self.book.positions,
            close=close,
            alert=alert,
            log_line=lambda *args, **fields: self.logs.log(*args, **fields),
        ))

    async def kill(self, reason: str, *, actor: str) -> list[str]:
        """The kill switch: HALTED, working entries canceled, every position flattened, an
        audit row. Returns the client order ids of the flattening orders."""
        change = self.state.halt(reason, self.clock.now())
        self._announce_state(change)
        await self.desk.run(
            self.desk.record_event, "risk.kill", actor, "trading", {"reason": reason}
        )
        return await order_flow.flatten(self, Purpose.FLATTEN, reason)

    async def fail_closed(self, reason: str) -> None:
        self.counters.errors += 1
        log.error("halting: %s", reason, extra=ALERTED)
        change = self.state.halt(reason, self.clock.now())
        self._announce_state(change)
        self.publish("alerts", {"level": "error", "message": reason, "trigger": "trading_halted"})
        try:
            await self.desk.run(
                self.desk.record_event, "engine.halt", ENGINE_ACTOR, "trading", {"reason": reason}
            )
        except LedgerError:
            log.exception("could not audit the halt")

    def broker_trouble(self, error: BrokerError) -> None:
        self.counters.errors += 1
        self.publish("alerts", {"level": "error", "message": f"broker: {error.message}",
                                "trigger": "broker"})
        log.error("broker call failed: %s", error.message, extra=ALERTED)
        if error.retryable or isinstance(error, BrokerAuthError):
            # The broker is down (or refuses our key), not this one request: the watchdog
            # suspends trading. A task: this is called from inside broker calls.
            task = asyncio.get_running_loop().create_task(self.watchdog.broker_failed(error))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def trading_bot(self) -> BotSettings:
        """The settings the engine trades with now: defense mode's while it is on."""
        return effective_settings(self.bot) if self.defense.active else self.bot

    def apply_trading_settings(self) -> None:
        """Rebuild the risk gate and the session limits from `trading_bot()` (defense mode
        turned on or off, or a config reload)."""
        bot = self.trading_bot()
        self.limits.max_trades = bot.MAX_TRADES
        self.limits.max_open_positions = bot.MAX_OPEN_POSITIONS
        self.gate = RiskGate(bot, self.state, self.limits)

    async def _audit_trading(self, action: str, details: Mapping[str, object]) -> None:
        """An audit row about trading from the engine's own guards; a ledger that refuses it
        must not stop the guard (the refusal is logged)."""
        try:
            await self.desk.run(self.desk.record_event, action, ENGINE_ACTOR, "trading",
                                details)
        except LedgerError:
            log.exception("could not audit %s", action)

    def _defense_hooks(self) -> DefenseHooks:
        """What defense mode may do (`tbot.engine.defense_watch`)."""

        return DefenseHooks(
            now=lambda: self.clock.now(),
            apply_settings=lambda _active: self.apply_trading_settings(),
            alert=lambda record: self.publish("alerts", record),
            audit=self._audit_trading,
            announce=lambda reason: self.publish("state", self._state_event(reason)),
        )

    def _watchdog_hooks(self) -> WatchdogHooks:
        """What the watchdog may do (`tbot.engine.watchdog`)."""

        def suspend(reason: str) -> bool:
            change = self.state.pause(reason, self.clock.now())
            self._announce_state(change)
            return change is not None

        def resume(reason: str) -> None:
            self._announce_state(self.state.resume(self.clock.now(), reason))

        def halt(reason: str) -> None:
            self._announce_state(self.state.halt(reason, self.clock.now()))

        async def probe() -> bool:
            await self._refresh_account()
            return self.gateway is not None and self.gateway.health.healthy

        def stop(reason: str, code: int) -> None:
            self.exit_code = code
            self.request_stop(reason)

        def alert(record: Mapping[str, object]) -> None:
            self.publish("alerts", record)

        return WatchdogHooks(
            now=lambda: self.clock.now(),
            trading_state=lambda: (self.state.state.value, self.state.reason),
            suspend=suspend,
            resume=resume,
            halt=halt,
            cancel_entries=lambda: order_flow.cancel_working_entries(self),
            flatten=lambda reason: order_flow.flatten(self, Purpose.FLATTEN,
                                                      ExitReason.DATA_FAILURE.value),
            probe=probe,
            broker_healthy=lambda: self.gateway is not None and self.gateway.health.healthy,
            stop=stop,
            alert=alert,
            audit=self._audit_trading,
            announce=lambda reason: self.publish("state", self._state_event(reason)),
        )

    # == state and reporting ===============================================================
    def _set_engine_state(self, state: EngineState) -> None:
        if self.state.state is TradingState.HALTED and state not in (EngineState.SHUTDOWN,):
            state = EngineState.HALTED
        if state != self.engine_state:
            self.engine_state = state
            self.publish("state", self._state_event("engine state"))

    def _announce_state(self, change: StateChange | None) -> None:
        if change is None:
            return
        if change.after is TradingState.HALTED:
            self.engine_state = EngineState.HALTED
        elif self.engine_state is EngineState.HALTED:
            self.engine_state = self.scheduler.slot_at(self.clock.now()).engine_state
        log.warning("trading %s -> %s: %s", change.before, change.after, change.reason)
        self.publish("state", self._state_event(change.reason))

    def _state_event(self, reason: str) -> dict[str, object]:
        return {
            "engine_state": self.engine_state,
            "trading_state": self.state.snapshot(),
            "reason": reason,
        }

    def alert_once(self, key: str, level: str, message: str, *, strategy: str | None = None,
                   symbol: str | None = None) -> None:
        if key in self._alerted:
            return
        self._alerted.add(key)
        getattr(log, "error" if level == "error" else "warning")(message, extra=ALERTED)
        # The key's first word names the root trigger ("strategy-crash", "recon-block"...).
        self.publish("alerts", {"level": level, "message": message,
                                "trigger": key.partition(":")[0], "strategy": strategy,
                                "symbol": symbol})

    def publish(self, topic: str, data: Mapping[str, object]) -> None:
        """Publish an event on the engine's bus (`tbot.engine.event_bus` lists the topics).
        Never raises because of a subscriber."""
        self.bus.publish(topic, data)

    async def _refresh_account(self) -> None:
        gateway, _ = self.require_started()
        try:
            account = await gateway.call("account", gateway.broker.account)
        except BrokerError as error:
            self.broker_trouble(error)
            return
        self.account = account
        self.publish(
            EQUITY_TOPIC,
            {
                "cash": account.cash,
                "equity": account.equity,
                "buying_power": account.buying_power,
                "as_of": account.as_of,
            },
        )

    async def _end_of_day(self, day: date) -> None:
        """Close the day: the end-of-day sync (books any fill of ours the ledger lacks,
        records everything else the broker did, checks positions and cash), then the
        daily summary, once."""
        self.summarized_days.add(day)
        self._report_coverage(day)
        await self.require_reconciliation().end_of_day()
        try:  # lots and balances are read from here on, not from the ledger's first day
            await self.desk.run(self.desk.write_checkpoints, self.accounts.equities)
        except LedgerError as error:
            self.alert_once(f"checkpoints:{day}", "warning",
                            f"lot and balance checkpoints for {day} not written ({error}); "
                            "lots and balances are read from the last ones")
        try:  # every money figure of the summary is the ledger's
            booked = await self.desk.run(self.desk.booked_day, day, self.accounts)
        except LedgerError as error:
            self.counters.errors += 1
            self.alert_once(f"summary:{day}", "error",
                            f"daily summary for {day} not written: the ledger's results "
                            f"cannot be read ({error})")
            return
        summary = self.stats.build_summary(
            day=day,
            bot_identity=self.identity.bot_identity,
            broker=self.broker_name().value,
            started_at=self.day_started_at or self.clock.now(),
            ended_at=self.clock.now(),
            counters=self.counters.as_dict(self.retries()),
            results=booked.results,
        )
        await asyncio.to_thread(write_daily_summary, self.paths, day, summary)
        log.info("daily summary for %s written", day, extra=ALERTED)
        self.publish("alerts", {"level": "info", "message": f"daily summary for {day} written",
                                "trigger": "daily_summary"})

    def retries(self) -> int:
        return self.gateway.health.retries if self.gateway else 0

    def _clock_description(self) -> str:
        if isinstance(self.clock, SimClock):
            return f"simulated x{self.clock.speed:g} from {self.clock.now().isoformat()}"
        return "real time"

    # == shutdown ==========================================================================
    async def shutdown(self) -> None:
        """Stop entries, flatten or keep positions per config, write the summary."""
        self.engine_state = EngineState.SHUTDOWN
        if self.state.state is TradingState.ACTIVE:
            self._announce_state(self.state.pause("engine shutting down", self.clock.now()))
        self.publish("state", self._state_event("shutting down"))
        if self.bot.CLOSE_POSITIONS_ON_SHUTDOWN and self.book.positions:
            await order_flow.flatten(self, Purpose.FLATTEN, ExitReason.SHUTDOWN.value)
            await self._drain_flatten()
        elif self.book.positions:
            log.info(
                "keeping %d positions at the broker (CLOSE_POSITIONS_ON_SHUTDOWN=false)",
                len(self.book.positions),
            )
        day = self.current_day
        if day is not None and day not in self.summarized_days:
            await self._end_of_day(day)
        await self.drawdown.record_peak_at_stop()

    async def _drain_flatten(self) -> None:
        """Give flattening orders a few market minutes to fill."""
        if self._live_feed is not None and not isinstance(self.clock, SimClock):
            await self._await_flat()
            return
        deadline = monotonic_time.monotonic() + 30.0
        for _ in range(SHUTDOWN_FLATTEN_MINUTES):
            if not self.book.positions or monotonic_time.monotonic() > deadline:
                break
            cursor = self._require_cursor()
            if isinstance(self.clock, SimClock):
                await self._sleep_until(cursor + MINUTE)
            await self._process_minute(cursor)
            self._cursor = cursor + MINUTE
        if self.book.positions:
            symbols = ", ".join(sorted(self.book.positions))
            self.logs.unresolved("positions_left_at_shutdown", symbols=symbols)
            log.warning("positions still open at shutdown: %s", symbols)

    async def _await_flat(self) -> None:
        """A broker that fills on its own: wait (real time) for the book to go flat."""
        deadline = monotonic_time.monotonic() + SHUTDOWN_FLATTEN_SECONDS
        while self.book.positions and monotonic_time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        if self.book.positions:
            symbols = ", ".join(sorted(self.book.positions))
            self.logs.unresolved("positions_left_at_shutdown", symbols=symbols)
            log.warning("positions still open at shutdown: %s", symbols)

    def close_blocking(self) -> None:
        """Release the streams, the broker, the ledger and the writer lock (whatever got
        opened)."""
        try:
            if self._order_stream is not None:
                self._order_stream.close()
            if self._live_feed is not None:
                self._live_feed.close()
        except Exception:  # closing must go on to the ledger and the lock
            log.exception("closing the broker's streams failed")
        try:
            if self.gateway is not None:
                self.gateway.close()
            elif self._broker_to_close is not None:
                self._broker_to_close.close()
        finally:
            self.logs.close()
            self.desk.close_blocking()

    def require_reconciliation(self) -> EngineReconciliation:
        if self.reconciliation is None:
            raise RuntimeError("the engine has not been started")
        return self.reconciliation

    async def _reload_lots(self, symbols: frozenset[str]) -> None:
        """After a resolution posted corrections: lots from the ledger again, and the
        book's quantity and cost of `symbols` from them (a fill accepted from the broker
        for a symbol the book does not hold stays outside the book: no strategy owns it)."""
        _, booker = self.require_started()
        lots = await asyncio.to_thread(
            LotBook.from_ledger, self.paths.ledger_db, self.accounts.equities
        )
        booker.lots = lots
        for symbol in symbols:
            held = self.book.positions.get(symbol)
            if held is None:
                continue
            position = lots.position(symbol)
            if position.quantity == 0:  # a short has a negative quantity
                del self.book.positions[symbol]
            else:
                held.quantity, held.cost = position.quantity, position.cost
        self.publish("positions", {"symbols": sorted(symbols)})
        await self._refresh_account()

    def _reconciliation_block(self, reason: str | None) -> None:
        """Reconciliation's start-up guard: REDUCING with `reason`, or lift our own."""
        now = self.clock.now()
        if reason is not None:
            if self.state.state is TradingState.ACTIVE:
                self._announce_state(self.state.pause(reason, now))
            self.alert_once(f"recon-block:{reason}", "warning", reason)
            return
        if self.state.state is TradingState.REDUCING and self.state.reason.startswith(
            RECON_BLOCK_PREFIX
        ):
            self._announce_state(
                self.state.resume(now, "reconciliation: positions agree with the broker")
            )

    def require_started(self) -> tuple[BrokerGateway, FillBooker]:
        if self.gateway is None or self.booker is None:
            raise RuntimeError("the engine has not been started")
        return self.gateway, self.booker
