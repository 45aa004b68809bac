"""Running one engine process: start-up order, signals, the control socket, systemd.

Start-up is strictly ordered so that every failure is clean: configuration (by the
caller), writer lock and broker (`Engine.start_blocking`), recovery (`Engine.start`), then
the control socket and only then READY to systemd. Shutdown runs in reverse, and always
releases the writer lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from tbot.admin.bot_home import BotHome
from tbot.alerts.engine_alerts import EngineAlerts
from tbot.clock import Clock
from tbot.config.setting_types import split_listen_address
from tbot.control.roles import RoleMap
from tbot.control.server import ControlServer
from tbot.control.socket_path import socket_override
from tbot.control.topics import TOPICS
from tbot.engine.control_methods import ControlMethods
from tbot.engine.engine import ALERTED_FLAG, Engine, EngineOptions, EngineStartError
from tbot.engine.event_bus import Handler, Subscription
from tbot.engine.systemd_notify import SystemdNotifier
from tbot.engine.telemetry import EngineTelemetry

log = logging.getLogger("tbot.engine")

def control_socket_path(home: BotHome, explicit: Path | None) -> Path:
    """Where the engine binds: `--socket`, else $TBOT_CONTROL_SOCKET, else the home's
    `{CONTROL_DIR}/engine.sock`."""
    return socket_override(explicit) or home.paths.control_socket


def link_home_socket(home: BotHome, bound: Path) -> None:
    """Make `{CONTROL_DIR}/engine.sock` lead to the socket when it was bound elsewhere
    (systemd's RuntimeDirectory), so `tbot ctl --home` and the console find it."""
    link = home.paths.control_socket
    if link.absolute() == bound.absolute():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(bound)


def wire_forwarder(publish: Callable[[str, Mapping[str, object]], None]) -> Handler:
    """A bus handler that passes the wire topics (`tbot.control.topics.TOPICS`) to
    `publish` (the control server's) and keeps the engine's internal topics to itself."""

    def forward_wire_topics(topic: str, data: Mapping[str, object]) -> None:
        if topic in TOPICS:
            publish(topic, data)

    return forward_wire_topics


class LogEvents(logging.Handler):
    """Forwards the engine's log records to `logs` subscribers, but for those already
    published on `alerts` (logged with `extra=ALERTED`)."""

    def __init__(self, server: ControlServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(level=logging.INFO)
        self._server = server
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, ALERTED_FLAG, False):
            return
        data = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        try:
            # The server is single-threaded: lines logged on the broker or ledger threads
            # are handed to the loop rather than published from there.
            if threading.get_ident() == self._loop_thread:
                self._server.publish("logs", data)
            elif not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._server.publish, "logs", data)
        except Exception:  # a log line must never break the engine
            self.handleError(record)


async def run_engine(home: BotHome, options: EngineOptions,
                     market_clock: Clock | None = None) -> int:
    """Run the engine until it is stopped; returns the process exit status.
    (`market_clock`: see `Engine`; tests run a real broker's session fast with it.)"""
    # A malformed alert secret stops the start here, before the writer lock is taken.
    alerts = EngineAlerts.open(home.paths, home.config.bot, home.identity.bot_identity)
    engine = Engine(home, options, market_clock)
    telemetry = EngineTelemetry(engine.gauge_sample)
    server: ControlServer | None = None
    notifier = SystemdNotifier.from_environment()
    log_events: LogEvents | None = None
    forwarding: Subscription | None = None
    watchdog: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(engine.start_blocking)
        alerts.attach(engine.bus, engine.clock)  # before start(): recovery may alert
        engine.bus.subscribe_all(telemetry.on_event)  # counts from the first event
        _serve_metrics(telemetry, home.config.bot.METRICS_LISTEN)
        await engine.start()
        methods = ControlMethods(engine, alerts=alerts, metrics=lambda: {
            "metrics": telemetry.as_dict(), "alert_delivery": alerts.counters()})
        roles = RoleMap.from_grants(home.config.env.CONTROL_ROLES, owner_uid=os.getuid())
        socket_path = control_socket_path(home, options.socket_path)
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        server = ControlServer(
            socket_path,
            methods.table(),
            roles,
            audit=methods.audit_command,
            logger=logging.getLogger("tbot.control"),
            # Events carry the engine's time (simulated in a simulation), as the protocol says.
            clock=engine.clock,
        )
        await server.start()
        link_home_socket(home, socket_path)
        # Only from here on: before the server exists, events reach no client.
        forwarding = engine.bus.subscribe_all(wire_forwarder(server.publish))
        methods.subscriber_count = lambda: server.subscriber_count if server else 0
        log_events = LogEvents(server, asyncio.get_running_loop())
        logging.getLogger("tbot").addHandler(log_events)
        _install_signal_handlers(engine)
        notifier.ready(f"trading {home.identity.bot_identity}; socket {socket_path}")
        watchdog = asyncio.create_task(notifier.run_watchdog(lambda: engine.heartbeat_age() < 60.0))
        log.info("control socket at %s", socket_path)
        await engine.run()
        notifier.stopping(engine.stop_reason)
        await engine.shutdown()
        return engine.exit_code
    finally:
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if log_events is not None:
            logging.getLogger("tbot").removeHandler(log_events)
        if forwarding is not None:
            forwarding.cancel()  # nothing is published to a stopping server
        if server is not None:
            await server.stop()
        telemetry.close()
        try:  # after the last event (shutdown's); its queues get a few seconds to drain
            await asyncio.to_thread(alerts.close)
        except Exception:  # closing goes on to the ledger and lock
            log.exception("closing the alert senders failed")
        with contextlib.suppress(Exception):  # closing goes on to the ledger and lock
            await engine.stop_streams()
        await asyncio.to_thread(engine.close_blocking)


def _serve_metrics(telemetry: EngineTelemetry, listen: str) -> None:
    """The Prometheus endpoint at METRICS_LISTEN, when set; a taken or unusable address
    stops the start (exit 2) rather than run without the metrics asked for."""
    if not listen:
        return
    host, port = split_listen_address(listen)
    try:
        bound = telemetry.serve(host, port)
    except OSError as error:
        raise EngineStartError(
            f"METRICS_LISTEN={listen}: cannot serve the metrics there: {error.strerror or error}"
        ) from None
    log.info("metrics served at http://%s:%d/metrics", *bound)


def _install_signal_handlers(engine: Engine) -> None:
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(
                number, engine.request_stop, f"signal {signal.Signals(number).name}"
            )
