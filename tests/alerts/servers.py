"""Real local servers for the alert tests: a webhook receiver, an SMTP server, a server
that accepts and never answers, and a port nothing listens on."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Webhook:
    """A local HTTP server that records every POST: its path and its body (JSON, or the
    form fields of apprise's form:// plugin)."""

    server: ThreadingHTTPServer
    received: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200
    arrived: threading.Condition = field(default_factory=threading.Condition)
    delay: float = 0.0
    """Seconds each POST takes to answer (a slow channel)."""

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    def url(self, scheme: str = "json", path: str = "/hook") -> str:
        """An apprise URL that posts here (short timeouts: the tests wait on them)."""
        return f"{scheme}://127.0.0.1:{self.port}{path}?cto=2&rto=2"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[str, Any]]:
        """The first `count` requests, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.received)} of {count} posts arrived")
                self.arrived.wait(remaining)
            return list(self.received[:count])

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far."""
        with self.arrived:
            return [body for _, body in self.received]


@contextmanager
def webhook(status: int = 200) -> Iterator[Webhook]:
    """A running webhook receiver on 127.0.0.1, a free port; stopped afterwards."""
    hook: Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            kind = self.headers.get("Content-Type", "")
            if "json" in kind:
                body: Any = json.loads(raw)
            else:
                from urllib.parse import parse_qs

                body = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
            if hook.delay:
                time.sleep(hook.delay)
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            with hook.arrived:
                hook.received.append((self.path, body))
                hook.arrived.notify_all()

        def log_message(self, *args: object) -> None:
            """Quiet: the test output is for failures."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook = Webhook(server, status=status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a channel that times out);
    yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for connection in held:
            connection.close()
        listener.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a channel that refuses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Mailbox:
    """aiosmtpd handler: keeps every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.arrived:
            self.messages.append(message_from_bytes(content))
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Message]:
        """The first `count` messages, waiting for them."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.messages)} of {count} mails arrived")
                self.arrived.wait(remaining)
            return list(self.messages[:count])


@dataclass
class SmtpServer:
    """A local SMTP server (aiosmtpd) and its mailbox."""

    port: int
    mailbox: _Mailbox

    def url(self) -> str:
        """A mailto:// URL that delivers here, unencrypted, without a login."""
        return (f"mailto://127.0.0.1:{self.port}?mode=insecure&from=tbot@example.com"
                f"&to=ops@example.com&cto=5")


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """A running aiosmtpd server on 127.0.0.1, a free port."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=closed_port())
    controller.start()
    try:
        yield SmtpServer(controller.port, mailbox)
    finally:
        controller.stop()
