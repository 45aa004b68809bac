"""`tbot alerts test [GROUP]`: send a test message to the alert channels, say how each did.

Exit status: 0 every channel delivered, 1 a channel failed (its reason printed, masked),
2 bad configuration (no `alert` secret, a malformed one, an unknown group). A channel is
named by its group, position and scheme (``ops#2 (slack://)``), never by its URL.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tbot.alerts.channels import SECRET_NAME, AlertChannels, Channel, load_channels
from tbot.alerts.message import Alert, AlertKind, Severity
from tbot.cli.output import Output
from tbot.clock import SystemClock
from tbot.config.identity_store import load_identity
from tbot.config.loader import load_env
from tbot.config.paths import resolve_home
from tbot.config.problems import ConfigError, ConfigProblem
from tbot.errors import EXIT_FINDING, EXIT_OK

# Channels are tested side by side: one that times out does not hold up the others.
MAX_PARALLEL_SENDS = 8


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `alerts` and its subcommands to the `tbot` parser."""
    alerts = commands.add_parser("alerts", help="alerts to a person: test the channels")
    actions = alerts.add_subparsers(dest="alerts_action", metavar="ACTION", required=True)
    test = actions.add_parser(
        "test", parents=[common],
        help="send a test message to every channel of GROUP (default: every group)",
    )
    test.add_argument("group", nargs="?", metavar="GROUP",
                      help="a channel group of the alert secret (email, slack, pagerduty...)")
    test.set_defaults(handler=run_alerts_test)


def run_alerts_test(args: argparse.Namespace, out: Output) -> int:
    """`tbot alerts test [GROUP]`."""
    _, paths = load_env(resolve_home(args.home))
    bot_identity = load_identity(paths).bot_identity
    channels = load_channels(paths)
    if channels is None:
        raise ConfigError([ConfigProblem(
            str(paths.secret_file(SECRET_NAME)), None, None,
            "no alert secret: write one with `tbot secrets set alert --from-file FILE`, FILE "
            'holding {"channels": {"email": ["mailto://..."], "slack": ["slack://..."]}}',
        )], headline="no alert channels")
    chosen = _chosen(channels, args.group)
    clock = SystemClock()
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SENDS, len(chosen))) as pool:
        results = list(pool.map(lambda channel: _test(channel, bot_identity, clock), chosen))
    ok = all(result["ok"] for result in results)
    if out.json_mode:
        out.emit_json({"ok": ok, "bot": bot_identity, "channels": results})
    else:
        for result in results:
            if result["ok"]:
                out.say(f"[green]delivered[/] {result['channel']} in {result['seconds']} s")
            else:
                out.say(f"[red]failed[/] {result['channel']} after {result['seconds']} s: "
                        f"{result['reason']}")
        verdict = "[green]every channel delivered[/]" if ok else "[red]a channel failed[/]"
        out.say(f"{verdict} ({len(results)} tested)")
    return EXIT_OK if ok else EXIT_FINDING


def _chosen(channels: AlertChannels, group: str | None) -> list[Channel]:
    if group is None:
        return channels.all()
    chosen = list(channels.group(group))
    if not chosen:
        raise ConfigError([ConfigProblem(
            "command line", "GROUP", group,
            f"a channel group of the alert secret: {', '.join(channels.names)}",
        )], headline="unknown alert channel group")
    return chosen


def _test(channel: Channel, bot_identity: str, clock: SystemClock) -> dict[str, object]:
    """One test message to `channel`, one attempt (a person is watching the command)."""
    alert = Alert(
        at=clock.now(),
        bot=bot_identity,
        severity=Severity.INFO,
        kind=AlertKind.TEST,
        text=f"tbot alert test: channel {channel.label} of {bot_identity} reaches you",
        trigger="tbot alerts test",
    )
    started = time.monotonic()
    result = channel.send(alert.title(), alert.body(), alert.notify_type)
    return {
        "channel": channel.label,
        "group": channel.group,
        "position": channel.position,
        "scheme": channel.scheme,
        "ok": result.ok,
        "reason": result.reason,
        "seconds": round(time.monotonic() - started, 3),
    }
