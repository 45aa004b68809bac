"""The systemd notify protocol (sd_notify) and the watchdog, without a new dependency.

Under `Type=notify` systemd passes `NOTIFY_SOCKET` (a datagram socket: a path, or an
abstract name written `@name`) and, with `WatchdogSec=`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
A message is newline-separated `KEY=value` assignments in one datagram. Outside systemd
(a workstation, tests) `NOTIFY_SOCKET` is unset and every call here does nothing.

Notification is best effort by design: a failure to send is logged once and never raised,
because losing a status line must not stop a trading engine. The one consequence that
matters — a missed watchdog ping — makes systemd restart the engine, which is the point.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

_LOG = logging.getLogger(__name__)

# Ping at half the WatchdogSec period so one late ping is not fatal (sd_watchdog_enabled(3)).
_PINGS_PER_PERIOD = 2
_USEC_PER_SECOND = 1_000_000


class SystemdNotifier:
    """Sends READY/STATUS/WATCHDOG/STOPPING/RELOADING to systemd; a no-op outside systemd.

    `enabled` is False when there is no notify socket; `watchdog_interval` is the number of
    seconds between watchdog pings, or None when systemd expects none.
    """

    def __init__(
        self,
        address: str | bytes | None,
        watchdog_interval: float | None,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self._address = address
        self._watchdog_interval = watchdog_interval if address is not None else None
        self._log = logger or _LOG
        self._send_failure_logged = False

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] = os.environ, *, logger: logging.Logger | None = None
    ) -> SystemdNotifier:
        """A notifier configured from NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID."""
        log = logger or _LOG
        address = _socket_address(environ.get("NOTIFY_SOCKET", ""), log)
        interval = _watchdog_interval(environ, log) if address is not None else None
        return cls(address, interval, logger=log)

    @property
    def enabled(self) -> bool:
        """True when systemd gave us a socket to notify."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half of WatchdogSec), None if no watchdog."""
        return self._watchdog_interval

    def ready(self, status: str = "") -> None:
        """Start-up is complete (READY=1): systemd now considers the unit active.

        Also call this after a reload finishes, to end the RELOADING state.
        """
        fields = {"READY": "1", "MAINPID": str(os.getpid())}
        if status:
            fields["STATUS"] = status
        self._send(fields)

    def status(self, text: str) -> None:
        """A one-line status shown by `systemctl status`."""
        self._send({"STATUS": text})

    def watchdog(self) -> None:
        """One watchdog keep-alive (WATCHDOG=1)."""
        self._send({"WATCHDOG": "1"})

    def stopping(self, status: str = "") -> None:
        """A graceful stop has begun (STOPPING=1)."""
        fields = {"STOPPING": "1"}
        if status:
            fields["STATUS"] = status
        self._send(fields)

    def reloading(self) -> None:
        """A configuration reload has begun (RELOADING=1); send `ready()` when it is done."""
        # MONOTONIC_USEC lets systemd (v253+) match this reload to the request; it is the
        # CLOCK_MONOTONIC reading, not business time, so it does not go through tbot.clock.
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send({"RELOADING": "1", "MONOTONIC_USEC": str(monotonic_usec)})

    async def run_watchdog(self, healthy: Callable[[], bool]) -> None:
        """Ping the watchdog every `watchdog_interval` seconds while `healthy()` is true.

        While it is false (or raises) the ping is skipped, so systemd kills and restarts a
        wedged engine after WatchdogSec. Returns at once when there is no watchdog; otherwise
        runs until cancelled. The period is real elapsed time, whatever the engine's clock.
        """
        interval = self._watchdog_interval
        if interval is None:
            return
        was_healthy = True
        while True:
            is_healthy = self._check(healthy, report_errors=was_healthy)
            if is_healthy:
                self.watchdog()
                if not was_healthy:
                    self._log.warning("engine healthy again; watchdog pings resumed")
            elif was_healthy:
                self._log.error(
                    "engine unhealthy; withholding watchdog pings so systemd restarts it"
                )
            was_healthy = is_healthy
            await asyncio.sleep(interval)

    def _check(self, healthy: Callable[[], bool], *, report_errors: bool) -> bool:
        try:
            return bool(healthy())
        except Exception:
            # A health check that cannot answer is treated as unhealthy: fail closed. Only
            # the first failure of a streak is logged with its traceback, not one per ping.
            if report_errors:
                self._log.exception("watchdog health check raised; treating engine as unhealthy")
            return False

    def _send(self, fields: Mapping[str, str]) -> None:
        if self._address is None:
            return
        # A newline in a value would start a new assignment: flatten it.
        message = "\n".join(
            f"{key}={' '.join(value.splitlines())}" for key, value in fields.items()
        )
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Never block the event loop on a full systemd queue: drop the message.
                sock.setblocking(False)
                sock.sendto(message.encode(), self._address)
        except OSError as error:
            if not self._send_failure_logged:
                self._send_failure_logged = True
                self._log.warning(
                    "cannot notify systemd (%s); further failures are not logged", error
                )


def _socket_address(value: str, log: logging.Logger) -> str | bytes | None:
    """The sendto address for NOTIFY_SOCKET: a path, or abstract `@name` → b"\\0name"."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    log.warning("NOTIFY_SOCKET=%r is not a path or @abstract name; systemd notify disabled", value)
    return None


def _watchdog_interval(environ: Mapping[str, str], log: logging.Logger) -> float | None:
    """Half of WATCHDOG_USEC in seconds, when the watchdog is meant for this process."""
    raw_usec = environ.get("WATCHDOG_USEC", "")
    if not raw_usec:
        return None
    raw_pid = environ.get("WATCHDOG_PID", "")
    if raw_pid and raw_pid != str(os.getpid()):
        # The variables were inherited from a parent that systemd watches, not from us.
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        usec = 0
    if usec <= 0:
        log.warning("WATCHDOG_USEC=%r is not a positive integer; watchdog disabled", raw_usec)
        return None
    return usec / _PINGS_PER_PERIOD / _USEC_PER_SECOND
