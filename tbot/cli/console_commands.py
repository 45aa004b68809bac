"""`tbot console` (the operator console on a bot home) and `tbot demo` (a live simulated
session in the console, in a throwaway home).

The console's modules (and Textual) are imported inside the handlers, so every other
`tbot` command starts without them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from tbot.cli.output import Output
from tbot.config.paths import resolve_home
from tbot.control.socket_path import SOCKET_ENV_VAR
from tbot.errors import EXIT_BAD_INPUT

MAX_SPEED = 10_000.0


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"the speed must be above 0 and at most {MAX_SPEED:g}")
    return speed


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `console` and `demo` to the `tbot` parser. Neither takes `--json` (they are
    interactive), so `common` is not used."""
    console = commands.add_parser(
        "console",
        help="open the operator console on a bot home (a terminal UI; over SSH use ssh -t)",
        description="Watch and steer the bot's engine. Opens even when no engine runs "
        "(offline: the ledger's history, and it reconnects when the engine comes up).",
    )
    console.add_argument(
        "--home",
        help="the bot home directory (default: $TBOT_HOME, else the current directory)",
    )
    console.add_argument(
        "--socket",
        metavar="PATH",
        help=f"the engine's control socket (default: ${SOCKET_ENV_VAR}, else "
        "<home>/<CONTROL_DIR>/engine.sock)",
    )
    console.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    console.set_defaults(handler=run_console_command)

    demo = commands.add_parser(
        "demo",
        help="watch a simulated trading day live in the console (throwaway home and engine)",
        description="Creates a demo bot home, starts its engine on a simulated market and "
        "clock, and opens the console on it. Quitting the console stops the engine.",
    )
    demo.add_argument(
        "--speed",
        type=_speed,
        default=60.0,
        help="how many times faster than real time the simulated clock runs (default 60: "
        "the opening range forms in 20 s and trades follow)",
    )
    demo.add_argument(
        "--home",
        help="make the demo home here and keep it afterwards (default: a temporary "
        "directory, removed when the demo ends)",
    )
    demo.add_argument(
        "--no-faults",
        action="store_true",
        help="a well-behaved simulated broker (by default every fault of SIM_FAULTS fires "
        "once, so reconciliation breaks and an unmapped fee appear to be cleared in views 4 "
        "and 5)",
    )
    demo.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    demo.set_defaults(handler=run_demo_command)


def on_terminal() -> bool:
    """Whether both input and output are a terminal the console can draw on."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _refuse_without_terminal(command: str, out: Output) -> int:
    out.error(f"tbot {command} needs a terminal (run it over ssh -t)")
    return EXIT_BAD_INPUT


def run_console_command(args: argparse.Namespace, out: Output) -> int:
    """Open the console on the home's bot until the operator quits."""
    from tui.launch import run_console, settings_for_home

    socket = Path(args.socket) if args.socket else None
    settings = settings_for_home(resolve_home(args.home), socket)
    if not on_terminal():
        return _refuse_without_terminal("console", out)
    return run_console(settings, mouse=not args.no_mouse)


def run_demo_command(args: argparse.Namespace, out: Output) -> int:
    """Make a demo home, start its simulated engine, show the console; stop it all after."""
    if not on_terminal():  # before anything is made or started
        return _refuse_without_terminal("demo", out)
    from tui.demo import DemoInterrupted, DemoSession
    from tui.launch import run_console, settings_for_home

    session = DemoSession(speed=args.speed, home=Path(args.home) if args.home else None,
                          faults=not args.no_faults)
    out.say(f"Starting a simulated trading day at ×{args.speed:g}…")
    try:
        with session:
            settings = settings_for_home(session.home, session.socket_path)
            status = run_console(settings, mouse=not args.no_mouse)
    except DemoInterrupted as interrupted:
        status = 128 + interrupted.signum
    finally:
        if session.was_started:
            out.say(escape(session.farewell()))  # a path may hold [brackets]
    return status
