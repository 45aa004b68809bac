"""The engine's alert room: bus events in, alerts to a person out.

Subscribes to the engine's event bus (`tbot.engine.event_bus`), nothing else of the
engine: ``alerts`` (the engine's own alerts; warning and above are failures),
``fills`` (entry fills, and exit fills with their realized PnL), ``state`` (trading
going HALTED) and ``pnl`` (the day's PnL, quoted in failure alerts). Each event becomes
an `Alert`, `routing` picks its group and the `dispatcher` sends it from its own threads:
handling an event costs the engine a few dictionary operations.

With no `alert` secret the room sends nothing: alerts stay in the engine's log, on the
console and on the control socket, as before (said once at start).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

from tbot.alerts.channels import SECRET_NAME, AlertChannels
from tbot.alerts.dispatcher import AlertDispatcher, DispatchSettings, Outcome
from tbot.alerts.message import Alert, AlertKind, Severity, money_text
from tbot.alerts.routing import AlertRouting, load_routed_channels
from tbot.clock import Clock
from tbot.config.bot_settings import BotSettings
from tbot.config.paths import HomePaths
from tbot.engine.event_bus import EventBus, Subscription

log = logging.getLogger("tbot.alerts")

ALERTS_TOPIC: Final = "alerts"
FILLS_TOPIC: Final = "fills"
STATE_TOPIC: Final = "state"
PNL_TOPIC: Final = "pnl"
HALTED: Final = "halted"
HALT_TRIGGER: Final = "trading_halted"


class EngineAlerts:
    """Turns one engine's events into alerts for a person. `attach` to the engine's bus
    once its clock is final; `close` after the engine's last event."""

    def __init__(self, bot_identity: str, routing: AlertRouting,
                 channels: AlertChannels | None,
                 settings: DispatchSettings | None = None) -> None:
        self.bot_identity = bot_identity
        self.routing = routing
        self.channels = channels
        self.dispatcher = AlertDispatcher(channels, settings) if channels is not None else None
        self._clock: Clock | None = None
        self._subscriptions: list[Subscription] = []
        self._trading_state: str | None = None
        self._pnl_today: Decimal | None = None
        self._pnl_by_strategy: dict[str, Decimal] = {}
        self._secret_path = ""

    @classmethod
    def open(cls, paths: HomePaths, bot: BotSettings, bot_identity: str,
             settings: DispatchSettings | None = None) -> EngineAlerts:
        """The alert room of a bot home. Raises a ConfigError (or the secret store's
        error) for a malformed `alert` secret or a routed group it lacks: the engine must
        not start believing a pager is watching when none is."""
        routing = AlertRouting.from_settings(bot)
        alerts = cls(bot_identity, routing, load_routed_channels(paths, routing), settings)
        alerts._secret_path = str(paths.secret_file(SECRET_NAME))
        return alerts

    def attach(self, bus: EventBus, clock: Clock) -> None:
        """Subscribe to the bus and start the senders; says once what will be sent."""
        self._clock = clock
        if self.dispatcher is None:
            log.info("alerts: no %s secret (%s); alerts go to the engine log and the "
                     "console only", SECRET_NAME, self._secret_path or "not set")
            return
        for topic in (ALERTS_TOPIC, FILLS_TOPIC, STATE_TOPIC, PNL_TOPIC):
            self._subscriptions.append(bus.subscribe(topic, self.on_event))
        self.dispatcher.start()
        routing = self.routing
        channels = self.channels
        assert channels is not None  # a dispatcher exists only with channels
        groups = ", ".join(f"{name} ({len(channels.group(name))})" for name in channels.names)
        if not routing.sends_anything:
            log.info("alerts: channel groups %s; NOTIFY_ON_FILL, NOTIFY_ON_EXIT and "
                     "NOTIFY_ON_FAILURE are all false: nothing is sent", groups)
            return
        log.info("alerts: channel groups %s; failures to %r (warnings to %r), fills and exits "
                 "to %r; NOTIFY_ON_FILL=%s NOTIFY_ON_EXIT=%s NOTIFY_ON_FAILURE=%s", groups,
                 routing.critical_group, routing.routine_group, routing.routine_group,
                 _flag(routing.notify_on_fill), _flag(routing.notify_on_exit),
                 _flag(routing.notify_on_failure))

    def replace_channels(self, routing: AlertRouting, channels: AlertChannels | None,
                         bus: EventBus) -> AlertDispatcher | None:
        """Take new routing and channels (a `config.reload` after `tbot secrets set alert`)
        and return the dispatcher they replace, for the caller to close once its queue had
        a moment. A room attached without channels subscribes to `bus` now."""
        old = self.dispatcher
        settings = old.settings if old is not None else None
        self.routing, self.channels = routing, channels
        if channels is None:
            self.dispatcher = None
            log.info("alerts: the alert secret is gone; alerts go to the engine log and the "
                     "console only")
            return old
        self.dispatcher = AlertDispatcher(channels, settings)
        if not self._subscriptions:
            assert self._clock is not None, "attach() the room before replacing its channels"
            self.attach(bus, self._clock)  # subscribes, starts, says what it will send
            return old
        self.dispatcher.start()
        groups = ", ".join(f"{name} ({len(channels.group(name))})" for name in channels.names)
        log.info("alerts: reloaded; channel groups now %s", groups)
        return old

    def on_event(self, topic: str, data: Mapping[str, object]) -> None:
        """A bus handler: one engine event, perhaps one alert."""
        if topic == PNL_TOPIC:
            self._remember_pnl(data)
            return
        alert: Alert | None = None
        if topic == ALERTS_TOPIC:
            alert = self._engine_alert(data)
        elif topic == FILLS_TOPIC:
            alert = self._fill_alert(data)
        elif topic == STATE_TOPIC:
            alert = self._halt_alert(data)
        if alert is not None:
            self.submit(alert)

    def submit(self, alert: Alert) -> Outcome | None:
        """Send `alert` if its kind is enabled and a group takes it; None when it is not
        for a person (or there are no channels)."""
        group = self.routing.group_for(alert)
        if group is None or self.dispatcher is None:
            return None
        return self.dispatcher.submit(alert, group)

    def counters(self) -> dict[str, object]:
        """The alert counts for the engine's status: `configured` false without a secret."""
        if self.dispatcher is None:
            return {"configured": False}
        return {"configured": True, **self.dispatcher.counters()}

    def close(self, timeout: float | None = None) -> None:
        """Stop listening, give the queues their drain time, say what was done. Blocks up
        to the drain time: call it from a thread, not the event loop."""
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions.clear()
        if self.dispatcher is None:
            return
        self.dispatcher.close(timeout)
        counts = self.dispatcher.counters()
        log.info("alerts: %s sent, %s failed, %s dropped, %s deduplicated",
                 counts["sent"], counts["failed"], counts["dropped"], counts["deduplicated"])

    # == events to alerts ==================================================================
    def _now(self) -> datetime:
        if self._clock is None:
            raise RuntimeError("EngineAlerts.attach() has not run")
        return self._clock.now()

    def _engine_alert(self, data: Mapping[str, object]) -> Alert:
        severity = Severity.parse(data.get("level"))
        strategy = _text(data.get("strategy"))
        pnl = _decimal(data.get("pnl"))
        scope = _text(data.get("pnl_scope")) or ""
        if pnl is None:
            pnl, scope = self._day_pnl(strategy)
        return Alert(
            at=self._now(),
            bot=self.bot_identity,
            severity=severity,
            kind=AlertKind.FAILURE if severity.rank >= Severity.WARNING.rank
            else AlertKind.NOTICE,
            text=_text(data.get("message")) or "(no message)",
            strategy=strategy,
            symbol=_text(data.get("symbol")),
            pnl=pnl,
            pnl_scope=scope,
            trigger=_text(data.get("trigger")) or _text(data.get("guard")),
        )

    def _fill_alert(self, data: Mapping[str, object]) -> Alert:
        realized = _decimal(data.get("realized_pnl"))
        exit_fill = realized is not None
        strategy = _text(data.get("strategy"))
        symbol = _text(data.get("symbol"))
        quantity = _decimal(data.get("quantity"))
        price = _decimal(data.get("price"))
        filled_at = data.get("filled_at")
        words = [
            strategy or "?",
            "exit" if exit_fill else "entry",
            str(data.get("side") or "?"),
            _quantity_text(quantity),
            symbol or "?",
            "@",
            money_text(price) if price is not None else "?",
        ]
        text = " ".join(words)
        if realized is not None:
            text += f", realized {money_text(realized)}"
        return Alert(
            at=filled_at if isinstance(filled_at, datetime) else self._now(),
            bot=self.bot_identity,
            severity=Severity.INFO,
            kind=AlertKind.EXIT if exit_fill else AlertKind.FILL,
            text=text,
            strategy=strategy,
            symbol=symbol,
            pnl=realized,
            pnl_scope="this exit, realized, before fees" if exit_fill else "",
            trigger=_text(data.get("reason")) or ("exit" if exit_fill else "entry"),
            ref=_text(data.get("fill_id")),
        )

    def _halt_alert(self, data: Mapping[str, object]) -> Alert | None:
        trading = data.get("trading_state")
        if not isinstance(trading, Mapping):
            return None
        state = _text(trading.get("state"))
        previous, self._trading_state = self._trading_state, state
        if state != HALTED or previous == HALTED:
            return None
        pnl, scope = self._day_pnl(None)
        return Alert(
            at=self._now(),
            bot=self.bot_identity,
            severity=Severity.CRITICAL,
            kind=AlertKind.FAILURE,
            # The halt's reason alone (the engine's own alert of the same halt, if any,
            # says the same and is then deduplicated).
            text=_text(trading.get("reason")) or "trading halted",
            pnl=pnl,
            pnl_scope=scope,
            trigger=HALT_TRIGGER,
        )

    def _remember_pnl(self, data: Mapping[str, object]) -> None:
        today = data.get("today")
        if isinstance(today, Mapping):
            self._pnl_today = _decimal(today.get("total"))
        by_strategy = data.get("by_strategy")
        if isinstance(by_strategy, Mapping):
            self._pnl_by_strategy = {
                str(name): total for name, row in by_strategy.items()
                if isinstance(row, Mapping) and (total := _decimal(row.get("total"))) is not None
            }

    def _day_pnl(self, strategy: str | None) -> tuple[Decimal | None, str]:
        if strategy is not None and strategy in self._pnl_by_strategy:
            return self._pnl_by_strategy[strategy], f"today, {strategy}, at the last minute"
        if self._pnl_today is None:
            return None, ""
        return self._pnl_today, "today, all strategies, at the last minute"


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: object) -> Decimal | None:
    # Money on the bus is Decimal; text is accepted for events that crossed a wire.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except ArithmeticError:
            return None
    return None


def _quantity_text(quantity: Decimal | None) -> str:
    if quantity is None:
        return "?"
    return f"{quantity.normalize():f}"


def _flag(value: bool) -> str:
    return "true" if value else "false"
