"""Starting the console: settings resolved from a bot home, then the app on a real terminal.

Textual and the app are imported only by `run_console`, so resolving settings (and the
`tbot` commands that do only that) stay fast.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from tbot.admin.bot_home import open_bot_paths
from tbot.clock import SystemClock
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.control.socket_path import socket_override
from tui.settings import ConsoleSettings

# Signals that close the console the way `q` does (terminal restored, link closed): a
# service manager's stop, and the hangup of a dropped SSH session.
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def settings_for_home(home: Path, socket: Path | None) -> ConsoleSettings:
    """The console's settings for the bot home `home`: its identity, its ledger (None until
    the file exists), the socket (`socket`, else $TBOT_CONTROL_SOCKET, else the home's
    ``{CONTROL_DIR}/engine.sock``) and the user keymap if there is one.

    Needs `.env` and the identity; raises `ConfigError` naming what is missing. An operator
    who may not read them (`.env` is 0600 on servers) but was given the socket (`socket`
    or $TBOT_CONTROL_SOCKET) still gets a console: live data only, no ledger history.
    """
    from tui.commands.keymap import default_keymap_path

    keymap = default_keymap_path()
    keymap_path = keymap if keymap.is_file() else None
    try:
        paths = open_bot_paths(home)
    except (ConfigError, PermissionError) as error:
        override = socket_override(socket)
        problems = error.problems if isinstance(error, ConfigError) else []
        if override is None:
            if isinstance(error, PermissionError):
                problems = [ConfigProblem(str(home), None, None, f"readable ({error})")]
            raise ConfigError(problems, headline=f"cannot open the console on {home}") from None
        reason = str(problems[0]) if problems else str(error)
        return ConsoleSettings(
            bot_name="", bot_id="", socket_path=override, ledger_path=None,
            keymap_path=keymap_path,
            ledger_note=f"no ledger history: the home {home} is not readable here ({reason})",
        )
    return ConsoleSettings(
        bot_name=paths.identity.bot_identity,
        bot_id=paths.identity.bot_id,
        socket_path=socket_override(socket) or paths.control_socket,
        ledger_path=paths.ledger_db if paths.ledger_db.is_file() else None,
        keymap_path=keymap_path,
    )


def run_console(settings: ConsoleSettings, *, mouse: bool = True) -> int:
    """Run the console on this terminal until the operator quits; its exit status
    (128 + the signal number when SIGTERM or SIGHUP closed it)."""
    from tui.app import ConsoleApp
    from tui.link.console_link import ConsoleLink, Notify
    from tui.link.engine_link import EngineLink
    from tui.model.live_state import LiveState

    clock = SystemClock()

    def engine_link(state: LiveState, notify: Notify) -> ConsoleLink:
        return EngineLink(settings.socket_path, state, notify, clock)

    app = ConsoleApp(settings, engine_link, clock=clock)
    received: list[int] = []

    def exit_on_signal(signum: int) -> None:
        received.append(signum)
        app.exit()

    async def run_until_quit() -> None:
        loop = asyncio.get_running_loop()
        installed: dict[int, signal.Handlers | Callable[..., object] | int | None] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in EXIT_SIGNALS:
                installed[signum] = signal.getsignal(signum)
                loop.add_signal_handler(signum, exit_on_signal, signum)
        try:
            await app.run_async(mouse=mouse)
        finally:
            for signum, previous in installed.items():
                loop.remove_signal_handler(signum)
                # asyncio leaves SIG_DFL behind; a caller's own handler (the demo's) must
                # be back for the rest of its shutdown.
                signal.signal(signum, signal.SIG_DFL if previous is None else previous)

    asyncio.run(run_until_quit())
    if received:
        return 128 + received[0]
    return int(app.return_code or 0)

