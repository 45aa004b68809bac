"""`tbot ctl`: call one method of the running engine over its control socket.

The result is printed as JSON on stdout. Exit status: 0 success, 1 the engine answered with
an error (printed as JSON {code, message, data} on stderr), 2 no engine to talk to or bad
``--params``. ``tbot ctl events.subscribe --params '{"topics":["fills"]}' --follow`` streams
the events, one JSON object per line, until ctrl+c.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tbot.cli.output import Output, to_json
from tbot.config.loader import load_env
from tbot.config.paths import HomePaths, resolve_home
from tbot.config.problems import ConfigError
from tbot.control.client import ControlClient, EngineUnavailableError, RpcCallError, call_once
from tbot.control.socket_path import SOCKET_ENV_VAR, socket_override
from tbot.errors import EXIT_BAD_INPUT, EXIT_OK, TbotError

_SUBSCRIBE = "events.subscribe"


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 seconds")
    return seconds


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `ctl` to the `tbot` parser."""
    ctl = commands.add_parser(
        "ctl",
        parents=[common],
        help="call a method of the running engine (JSON-RPC over its control socket)",
        description=(
            "Call METHOD on the running engine and print the result as JSON. "
            "`tbot ctl rpc.discover` lists the methods you may call. "
            "Exit status: 0 ok, 1 the engine answered with an error, 2 no engine or bad input."
        ),
    )
    ctl.add_argument("method", metavar="METHOD", help="e.g. engine.status, trading.pause")
    ctl.add_argument(
        "--params",
        metavar="JSON",
        help='the params as a JSON object, e.g. \'{"reason": "lunch"}\'',
    )
    ctl.add_argument(
        "--socket",
        metavar="PATH",
        help=f"the control socket (default: ${SOCKET_ENV_VAR}, else <home>/<CONTROL_DIR>/"
        "engine.sock)",
    )
    ctl.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds to wait for the engine (default 10)",
    )
    ctl.add_argument(
        "--follow",
        action="store_true",
        help=f"with {_SUBSCRIBE}: print each event as one JSON line until ctrl+c",
    )
    ctl.set_defaults(handler=run_ctl)


def control_socket_path(explicit: str | None, home: str | None) -> Path:
    """The socket to use: `explicit` (--socket), else $TBOT_CONTROL_SOCKET, else the
    home's ``{CONTROL_DIR}/engine.sock`` (``control/engine.sock`` if .env cannot be read)."""
    override = socket_override(explicit)
    if override is not None:
        return override
    home_dir = resolve_home(home)
    try:
        _, paths = load_env(home_dir)
        return paths.control_socket
    except (ConfigError, ValueError):
        # Reaching a running engine should not need a perfect .env: use the default layout.
        return HomePaths(home_dir).control_socket


def _parse_params(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise TbotError(f"--params is not valid JSON: {error}") from None
    if not isinstance(params, dict):
        raise TbotError('--params must be a JSON object, e.g. {"reason": "lunch"}')
    return params


async def _follow(socket_path: Path, params: dict[str, Any] | None, timeout: float) -> None:
    """Subscribe and print every event as one compact JSON line until the connection ends."""
    async with await ControlClient.connect(socket_path, timeout=timeout) as client:
        result = await client.call(_SUBSCRIBE, params, timeout=timeout)
        topics = result.get("topics", []) if isinstance(result, dict) else []
        sys.stderr.write(f"subscribed to {', '.join(topics) or 'nothing'}; ctrl+c to stop\n")
        sys.stderr.flush()
        async for event in client.notifications():
            sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    raise EngineUnavailableError("the engine closed the connection")


def run_ctl(args: argparse.Namespace, out: Output) -> int:
    """Call the method (or follow events) and print the outcome; returns the exit status."""
    try:
        params = _parse_params(args.params)
        if args.follow and args.method != _SUBSCRIBE:
            raise TbotError(f"--follow works with {_SUBSCRIBE} only")
        socket_path = control_socket_path(args.socket, args.home)
        if args.follow:
            try:
                asyncio.run(_follow(socket_path, params, args.timeout))
            except KeyboardInterrupt:
                return EXIT_OK  # ctrl+c is how following normally ends
        else:
            result = call_once(socket_path, args.method, params, timeout=args.timeout)
            out.emit_json(result)
    except RpcCallError as error:
        sys.stderr.write(to_json(error.as_dict()) + "\n")
        return error.exit_code
    except TbotError as error:  # no engine, bad --params: exit 2
        out.error(error.message)
        return EXIT_BAD_INPUT
    return EXIT_OK
