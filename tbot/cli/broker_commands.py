"""`tbot broker check`: reach the configured broker account and say what it reports.

Exit status: 0 the account answers and may trade, 1 a problem was found (the account is
not ACTIVE, trading is blocked, the broker does not answer, Alpaca's market data does not
answer the key), 2 bad configuration (no or a malformed broker secret, a refused key, a live
account without LIVE_TRADING).
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from tbot.admin.bot_home import open_home
from tbot.admin.broker_connection import BrokerConnectionError, open_broker
from tbot.broker.alpaca.adapter import AlpacaBroker, BrokerAuthError
from tbot.broker.alpaca.data_check import check_data_feed
from tbot.broker.errors import BrokerError
from tbot.cli.output import Output
from tbot.clock import SystemClock, utc_text
from tbot.config.paths import resolve_home
from tbot.errors import EXIT_FINDING, EXIT_OK


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `broker` and its subcommands to the `tbot` parser."""
    broker = commands.add_parser("broker", help="the broker account")
    sub = broker.add_subparsers(dest="broker_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", parents=[common],
                           help="connect and print the account, clock and rate-limit headroom")
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace, out: Output) -> int:
    """`tbot broker check`."""
    home = open_home(resolve_home(args.home))
    clock = SystemClock()
    broker = open_broker(home, clock)
    problems: list[str] = []
    try:
        result = _check(broker, problems)
    except BrokerAuthError as error:
        raise BrokerConnectionError(error.message) from None
    except BrokerError as error:
        problems.append(error.message)
        result = {"broker": broker.name}
    finally:
        broker.close()
    result["problems"] = problems
    result["ok"] = not problems
    if out.json_mode:
        out.emit_json(result)
    else:
        _print(result, out)
    return EXIT_OK if not problems else EXIT_FINDING


def _check(broker: Any, problems: list[str]) -> dict[str, Any]:
    snapshot = broker.account()
    result: dict[str, Any] = {
        "broker": broker.name,
        "account": _mask(snapshot.account_id),
        "currency": snapshot.currency,
        "cash": _plain(snapshot.cash),
        "buying_power": _plain(snapshot.buying_power),
        "equity": _plain(snapshot.equity),
        "positions": len(broker.positions()),
    }
    if not isinstance(broker, AlpacaBroker):
        result.update(status="ACTIVE", mode="simulated")
        return result
    record = broker.account_record()
    status = str(record.get("status") or "unknown")
    result.update(
        status=status,
        mode="paper" if broker.credentials.paper else "LIVE",
        key=broker.credentials.masked_key,
        trading_blocked=bool(record.get("trading_blocked")),
        account_blocked=bool(record.get("account_blocked")),
        pattern_day_trader=bool(record.get("pattern_day_trader")),
    )
    if status != "ACTIVE":
        problems.append(f"the account is {status}, not ACTIVE: it cannot trade")
    if result["trading_blocked"] or result["account_blocked"]:
        problems.append("Alpaca has blocked trading on this account")
    market = broker.market_clock()
    result["market"] = {k: market.get(k) for k in ("timestamp", "is_open", "next_open",
                                                   "next_close")}
    headroom = broker.headroom()
    result["rate_limit"] = {
        "budget_per_minute": headroom.limit,
        "used_in_window": headroom.used_in_window,
        "server_limit": headroom.server_limit,
        "server_remaining": headroom.server_remaining,
    }
    data = check_data_feed(broker.credentials, budget=broker.budget,
                           timeout_seconds=broker.timeout_seconds)
    result["market_data"] = data.as_dict()
    if not data.ok:
        problems.append(f"market data ({data.feed}): {data.detail}")
    result["checked_at"] = utc_text(SystemClock().now())
    return result


def _print(result: dict[str, Any], out: Output) -> None:
    if "account" in result:
        mode = result.get("mode", "")
        out.say(f"[bold]{result['broker']}[/] account {result['account']} ({mode}): "
                f"{result.get('status', '?')}")
        out.say(f"cash {result['cash']} {result['currency']}, buying power "
                f"{result['buying_power']}, equity {result['equity']}, "
                f"{result['positions']} position(s)")
    market = result.get("market")
    if market:
        state = "open" if market.get("is_open") else "closed"
        out.say(f"market {state}; next open {market.get('next_open')}, next close "
                f"{market.get('next_close')}")
    limit = result.get("rate_limit")
    if limit:
        out.say(f"requests: {limit['used_in_window']} of our {limit['budget_per_minute']} a "
                f"minute used; the server says {limit['server_remaining']} of "
                f"{limit['server_limit']} left")
    data = result.get("market_data")
    if data:
        state = "answers" if data["ok"] else "[red]does not answer[/]"
        out.say(f"market data {data['feed']} {state}: {data['detail']}")
    for problem in result["problems"]:
        out.say(f"[red]problem[/]: {problem}")
    if result["ok"]:
        out.say("[green]the account answers and may trade[/]")


def _mask(account_id: str) -> str:
    return f"…{account_id[-4:]}" if len(account_id) > 4 else "…"


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
