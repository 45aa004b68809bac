"""`tbot engine`: run the headless engine of one bot home in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import open_home
from tbot.cli.output import Output
from tbot.clock import ensure_utc
from tbot.config.paths import BotPaths, resolve_home
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.engine.engine import EngineOptions
from tbot.engine.runner import run_engine
from tbot.logfiles import RotatingLogHandler, megabytes


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `engine` to the `tbot` parser."""
    engine = commands.add_parser(
        "engine",
        parents=[common],
        help="run the trading engine of a bot home (headless; stop with SIGTERM or ctrl+c)",
    )
    engine.add_argument(
        "--sim", action="store_true",
        help="simulated broker and simulated clock (whatever BROKER_NAME says)",
    )
    engine.add_argument(
        "--speed", type=float, default=1.0,
        help="with --sim: how many times faster than real time the clock runs (default 1)",
    )
    engine.add_argument(
        "--start", metavar="ISO-UTC",
        help="with --sim: simulated start, e.g. 2026-11-20T14:25:00Z (default: five minutes "
        "before the first window of the most recent trading day, or where the last run "
        "stopped)",
    )
    engine.add_argument(
        "--bars", metavar="PATH",
        help="replay minute bars from a CSV (timestamp,symbol,open,high,low,close,volume) "
        "instead of the generated market",
    )
    engine.add_argument(
        "--socket", metavar="PATH",
        help="bind the control socket here (default: $TBOT_CONTROL_SOCKET, else "
        "{CONTROL_DIR}/engine.sock in the home)",
    )
    engine.add_argument(
        "--until-close", action="store_true",
        help="stop by itself once the trading day's session is over",
    )
    engine.set_defaults(handler=run_engine_command)


def _options(args: argparse.Namespace) -> EngineOptions:
    problems: list[ConfigProblem] = []
    start: datetime | None = None
    if args.speed <= 0 or args.speed > 10_000:
        problems.append(ConfigProblem("command line", "--speed", str(args.speed),
                                      "a number above 0 and at most 10000"))
    if args.start:
        try:
            start = ensure_utc(datetime.fromisoformat(args.start))
        except ValueError:
            problems.append(ConfigProblem("command line", "--start", args.start,
                                          "an ISO 8601 UTC time such as 2026-11-20T14:25:00Z"))
    if not args.sim and (args.start or args.speed != 1.0):
        problems.append(ConfigProblem("command line", "--speed/--start", None,
                                      "--sim (the real clock cannot be moved or sped up)"))
    bars = Path(args.bars).expanduser().resolve() if args.bars else None
    if bars is not None and not bars.is_file():
        problems.append(ConfigProblem("command line", "--bars", str(bars), "an existing CSV file"))
    if problems:
        raise ConfigError(problems, headline="invalid engine options")
    return EngineOptions(
        sim=args.sim,
        speed=args.speed,
        start=start,
        bars_file=bars,
        socket_path=Path(args.socket).expanduser().resolve() if args.socket else None,
        until_close=args.until_close,
    )


def _configure_logging(paths: BotPaths, verbose: bool, max_mb: int) -> None:
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    # engine.log rotates by (wall-clock) day and size like the other logs.
    to_file = RotatingLogHandler(paths.engine_log_file, paths.rotated_logs_dir,
                                 max_bytes=megabytes(max_mb), home=paths.home)
    to_file.setFormatter(formatter)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("tbot")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (to_file, to_stderr):
        root.addHandler(handler)


def run_engine_command(args: argparse.Namespace, out: Output) -> int:
    """Validate everything, then run the engine until it stops."""
    options = _options(args)
    home = open_home(resolve_home(args.home))  # refuses any config or identity problem
    _configure_logging(home.paths, home.config.bot.DEBUG_LOG_LEVEL.value == "verbose",
                       home.config.bot.LOG_ROTATE_MAX_MB)
    return asyncio.run(run_engine(home, options))
