"""SystemdNotifier against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tbot.engine.systemd_notify import SystemdNotifier

# What the systemd_socket fixture yields: the socket's path and the bound receiver.
NotifySocket = tuple[Path, socket.socket]

# WATCHDOG_USEC giving a 10 ms ping interval: fast tests, many pings.
TINY_WATCHDOG_USEC = "20000"


@pytest.fixture
def systemd_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifySocket]:
    """A bound datagram socket playing systemd's notify socket, and its path.

    The directory comes from tmp_path_factory with a short name: AF_UNIX paths are limited
    to ~107 bytes and a test's own tmp_path can exceed that.
    """
    path = tmp_path_factory.mktemp("n") / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(2.0)
    yield path, receiver
    receiver.close()


def _fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def _receive(receiver: socket.socket) -> dict[str, str]:
    return _fields(receiver.recv(4096))


def _drain(receiver: socket.socket) -> list[dict[str, str]]:
    """Every datagram waiting on `receiver`, without blocking."""
    messages = []
    timeout = receiver.gettimeout()
    receiver.setblocking(False)
    try:
        while True:
            messages.append(_fields(receiver.recv(4096)))
    except BlockingIOError:
        return messages
    finally:
        receiver.settimeout(timeout)


def _notifier(path: Path, **extra: str) -> SystemdNotifier:
    return SystemdNotifier.from_environment({"NOTIFY_SOCKET": str(path), **extra})


def test_ready_sends_ready_mainpid_and_status(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket
    notifier = _notifier(path)

    notifier.ready("trading BOT01")

    assert notifier.enabled
    assert _receive(receiver) == {
        "READY": "1",
        "MAINPID": str(os.getpid()),
        "STATUS": "trading BOT01",
    }


def test_ready_without_status_sends_no_status_field(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket

    _notifier(path).ready()

    assert "STATUS" not in _receive(receiver)


def test_status_watchdog_and_stopping_each_arrive_as_one_datagram(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket
    notifier = _notifier(path)

    notifier.status("monitoring 3 positions")
    notifier.watchdog()
    notifier.stopping("flattening positions")

    assert _receive(receiver) == {"STATUS": "monitoring 3 positions"}
    assert _receive(receiver) == {"WATCHDOG": "1"}
    assert _receive(receiver) == {"STOPPING": "1", "STATUS": "flattening positions"}


def test_reloading_carries_the_current_monotonic_time(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000

    _notifier(path).reloading()

    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    message = _receive(receiver)
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= after


def test_newline_in_a_status_cannot_inject_another_field(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket

    _notifier(path).status("broker down\nREADY=1")

    assert _receive(receiver) == {"STATUS": "broker down READY=1"}


def test_abstract_socket_name_with_at_sign_is_reached() -> None:
    name = f"tbot-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(b"\0" + name.encode())
        receiver.settimeout(2.0)

        SystemdNotifier.from_environment({"NOTIFY_SOCKET": f"@{name}"}).watchdog()

        assert _receive(receiver) == {"WATCHDOG": "1"}


def test_without_notify_socket_notifier_is_disabled_and_calls_do_nothing() -> None:
    notifier = SystemdNotifier.from_environment({"WATCHDOG_USEC": "30000000"})

    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    notifier.ready("x")
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping("x")
    notifier.reloading()


def test_notify_socket_that_is_neither_path_nor_abstract_disables_notifier() -> None:
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "relative/notify.sock"})

    assert not notifier.enabled


@pytest.mark.parametrize(
    ("watchdog_usec", "interval"),
    [("30000000", 15.0), ("1000000", 0.5), ("3", 1.5e-6)],
)
def test_watchdog_interval_is_half_of_watchdog_usec_in_seconds(
    systemd_socket: NotifySocket, watchdog_usec: str, interval: float
) -> None:
    path, _ = systemd_socket

    notifier = _notifier(path, WATCHDOG_USEC=watchdog_usec)

    assert notifier.watchdog_interval == pytest.approx(interval)


def test_no_watchdog_usec_means_no_watchdog(systemd_socket: NotifySocket) -> None:
    path, _ = systemd_socket

    assert _notifier(path).watchdog_interval is None


@pytest.mark.parametrize("watchdog_usec", ["0", "-5", "thirty"])
def test_unusable_watchdog_usec_disables_watchdog(
    systemd_socket: NotifySocket, watchdog_usec: str
) -> None:
    path, _ = systemd_socket

    assert _notifier(path, WATCHDOG_USEC=watchdog_usec).watchdog_interval is None


def test_watchdog_pid_of_another_process_disables_watchdog(
    systemd_socket: NotifySocket,
) -> None:
    path, _ = systemd_socket

    notifier = _notifier(path, WATCHDOG_USEC="30000000", WATCHDOG_PID=str(os.getpid() + 1))

    assert notifier.enabled
    assert notifier.watchdog_interval is None


def test_watchdog_pid_of_this_process_keeps_watchdog(
    systemd_socket: NotifySocket,
) -> None:
    path, _ = systemd_socket

    notifier = _notifier(path, WATCHDOG_USEC="30000000", WATCHDOG_PID=str(os.getpid()))

    assert notifier.watchdog_interval == 15.0


def test_send_failure_is_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = _notifier(tmp_path / "nobody-listens.sock")

    with caplog.at_level(logging.WARNING, logger="tbot.engine.systemd_notify"):
        notifier.ready()
        notifier.watchdog()
        notifier.stopping()

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


def test_run_watchdog_returns_at_once_without_watchdog(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket
    notifier = _notifier(path)

    asyncio.run(asyncio.wait_for(notifier.run_watchdog(lambda: True), timeout=1.0))

    assert _drain(receiver) == []


def test_run_watchdog_pings_every_interval_while_healthy(
    systemd_socket: NotifySocket,
) -> None:
    path, receiver = systemd_socket
    notifier = _notifier(path, WATCHDOG_USEC=TINY_WATCHDOG_USEC)

    async def run_for_a_while() -> None:
        task = asyncio.create_task(notifier.run_watchdog(lambda: True))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_for_a_while())

    pings = _drain(receiver)
    assert len(pings) >= 5
    assert all(ping == {"WATCHDOG": "1"} for ping in pings)


def test_run_watchdog_withholds_pings_while_unhealthy_and_resumes_after(
    systemd_socket: NotifySocket, caplog: pytest.LogCaptureFixture
) -> None:
    path, receiver = systemd_socket
    notifier = _notifier(path, WATCHDOG_USEC=TINY_WATCHDOG_USEC)
    health = {"ok": True}
    counts: dict[str, int] = {}

    async def scenario() -> None:
        task = asyncio.create_task(notifier.run_watchdog(lambda: health["ok"]))
        await asyncio.sleep(0.1)
        health["ok"] = False
        # The check and the ping happen in one step of the loop, so nothing can be sent
        # after this point while unhealthy.
        counts["healthy"] = len(_drain(receiver))
        await asyncio.sleep(0.1)
        counts["unhealthy"] = len(_drain(receiver))
        health["ok"] = True
        await asyncio.sleep(0.1)
        counts["recovered"] = len(_drain(receiver))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, logger="tbot.engine.systemd_notify"):
        asyncio.run(scenario())

    assert counts["healthy"] >= 3
    assert counts["unhealthy"] == 0
    assert counts["recovered"] >= 3
    withheld = [r for r in caplog.records if "withholding watchdog pings" in r.getMessage()]
    assert len(withheld) == 1


def test_health_check_that_raises_counts_as_unhealthy_and_is_logged_once(
    systemd_socket: NotifySocket, caplog: pytest.LogCaptureFixture
) -> None:
    path, receiver = systemd_socket
    notifier = _notifier(path, WATCHDOG_USEC=TINY_WATCHDOG_USEC)

    def broken_check() -> bool:
        raise RuntimeError("event loop state unreadable")

    async def run_for_a_while() -> None:
        task = asyncio.create_task(notifier.run_watchdog(broken_check))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="tbot.engine.systemd_notify"):
        asyncio.run(run_for_a_while())

    assert _drain(receiver) == []
    raised = [r for r in caplog.records if "health check raised" in r.getMessage()]
    assert len(raised) == 1
