"""`tbot recon ...`: broker sync and reconciliation from the command line.

`sync` and `resolve` go through the running engine when there is one (its control socket;
the engine checks the caller's role), and otherwise run the same code here, holding the
ledger's writer lock. Reads (`runs`, `breaks`, `show`, `positions`) open the ledger
read-only, engine or not.

Exit status: 0 nothing open, 1 open breaks found (or a run that could not read everything),
2 bad input (an unknown break, a refused resolution, a bad date...).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tbot.admin.bot_home import local_operator, open_bot_paths, open_home
from tbot.cli.control_commands import control_socket_path
from tbot.cli.output import Output, to_json
from tbot.clock import SystemClock
from tbot.config.paths import resolve_home
from tbot.control.client import EngineUnavailableError, RpcCallError, call_once
from tbot.errors import EXIT_OK, TbotError
from tbot.ledger.database import open_reader_connection
from tbot.reconcile import queries
from tbot.reconcile.methods import window_of
from tbot.reconcile.offline import OfflineReconciliation
from tbot.reconcile.resolution import ResolutionError, ResolveRequest, parse_postings
from tbot.reconcile.statuses import ResolutionAction, SyncTrigger

EXIT_FINDINGS = 1
MAX_WAIT_SECONDS = 30.0
"""`tbot recon sync` waits this long at most for the engine's rate limit to let it in."""
T = TypeVar("T")
STATUSES = ("ok", "mismatch", "local-only", "broker-only", "pending", "unmapped", "resolved")
KINDS = ("fill", "cash", "position", "balance")


def _date_or_time(text: str) -> date | datetime:
    try:
        if "T" in text:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z)")
            return moment
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2026-11-20) or an ISO time with a zone") from None


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `recon` and its subcommands to the `tbot` parser."""
    recon = commands.add_parser("recon", help="broker sync and reconciliation")
    sub = recon.add_subparsers(dest="recon_command", metavar="SUBCOMMAND", required=True)

    sync = sub.add_parser("sync", parents=[common], help="sync the ledger with the broker now")
    sync.add_argument("--since", type=_date_or_time, help="start (a date, or ISO time with Z)")
    sync.add_argument("--until", type=_date_or_time, help="end (a date: inclusive)")
    sync.set_defaults(handler=run_sync)

    runs = sub.add_parser("runs", parents=[common], help="sync runs, newest first")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(handler=run_runs)

    breaks = sub.add_parser("breaks", parents=[common], help="open breaks, newest first")
    breaks.add_argument("--status", choices=STATUSES,
                        help="the latest rows in this status instead of the open breaks")
    breaks.add_argument("--kind", choices=KINDS)
    breaks.add_argument("--symbol")
    breaks.add_argument("--limit", type=int, default=100)
    breaks.set_defaults(handler=run_breaks)

    show = sub.add_parser("show", parents=[common], help="one break in full")
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(handler=run_show)

    resolve = sub.add_parser("resolve", parents=[common], help="resolve a break (admin)")
    resolve.add_argument("id", type=int, metavar="ID")
    resolve.add_argument("--action", required=True,
                         choices=[action.value for action in ResolutionAction])
    resolve.add_argument("--reason", required=True)
    resolve.add_argument("--account", help="the account to book cash against (accept-broker "
                         "of an unmapped cash activity or a cash difference)")
    resolve.add_argument("--posting", action="append", default=[], metavar="ACCOUNT=AMOUNT",
                         help="a leg of a book-manually entry (repeat; > 0 debits)")
    resolve.add_argument("--memo", help="the memo of a book-manually entry")
    resolve.add_argument("--dry-run", action="store_true",
                         help="show what would be posted; post nothing")
    resolve.set_defaults(handler=run_resolve)

    positions = sub.add_parser("positions", parents=[common],
                               help="latest position checks and cash assertions")
    positions.set_defaults(handler=run_positions)


# -- reads ------------------------------------------------------------------------------------


def _read(args: argparse.Namespace, function: Callable[[sqlite3.Connection], T]) -> T:
    paths = open_bot_paths(resolve_home(args.home))
    connection = open_reader_connection(paths.ledger_db)
    try:
        return function(connection)
    except sqlite3.OperationalError as error:
        raise TbotError(f"the ledger has no reconciliation record yet ({error}): run "
                        "`tbot recon sync` or the engine once") from None
    finally:
        connection.close()


def run_runs(args: argparse.Namespace, out: Output) -> int:
    """`tbot recon runs`."""
    result = _read(args, lambda c: queries.list_runs(c, limit=args.limit))
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    out.table(
        f"Sync runs ({result['total']})",
        ["id", "trigger", "outcome", "started", "window", "counts", "refused", "not read"],
        [[str(run["id"]), run["trigger"], run["outcome"],
          run["started_at"][:16].replace("T", " "),
          f"{run['window']['since'][5:10]}→{run['window']['until'][5:10]}",
          " ".join(f"{k}={v}" for k, v in run["counts"].items()),
          str(run["records_refused"]),
          "; ".join(f"{s['listing']} from {s['since']}: {s['error']}"
                    for s in run["spans_not_read"]) or "-"]
         for run in result["runs"]],
    )
    return EXIT_OK


def run_breaks(args: argparse.Namespace, out: Output) -> int:
    """`tbot recon breaks`: exit 1 when open breaks are listed."""
    now = SystemClock().now()
    result = _read(args, lambda c: queries.list_breaks(
        c, now, status=args.status, kind=args.kind, symbol=args.symbol, limit=args.limit))
    open_found = any(b["status"] not in ("ok", "resolved") for b in result["breaks"])
    if out.json_mode:
        out.emit_json(result)
    else:
        if not result["breaks"]:
            out.say("no open breaks" if args.status is None else f"none in status {args.status}")
            return EXIT_OK
        title = (f"{result['total']} open break(s)" if args.status is None
                 else f"{result['total']} record(s) in status {args.status}")
        out.say(f"[bold]{title}[/], newest first (`tbot recon show ID` for one in full)")
        for row in result["breaks"]:
            # Two lines a break: what and how much, then why (a table cannot hold the
            # sentence at 80 columns).
            values = f"broker {row['broker_value'] or '-'} · ledger {row['ledger_value'] or '-'}"
            out.say(f"[bold]#{row['id']:<5}[/] {row['kind']:<8} {row['status']:<11} "
                    f"{row['trade_id']}  {_difference_text(row['difference'])}")
            out.say(f"       {values}")
            out.say(f"       {escape(row['detail'])}")
    return EXIT_FINDINGS if open_found else EXIT_OK


def _difference_text(difference: dict[str, Any]) -> str:
    parts = []
    if difference.get("quantity") not in (None, "0"):
        parts.append(f"{difference['quantity']} sh")
    if difference.get("cash") not in (None, "0"):
        parts.append(f"cash {difference['cash']}")
    return ", ".join(parts) or "-"


def run_show(args: argparse.Namespace, out: Output) -> int:
    """`tbot recon show ID`."""
    now = SystemClock().now()
    try:
        result = _read(args, lambda c: queries.show_break(c, args.id, now))
    except ResolutionError as error:
        raise TbotError(error.message) from None
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    row = result["break"]
    out.say(f"[bold]#{row['id']}[/] {row['kind']} {row['trade_id']}: {row['status']}"
            + ("" if result["is_open"] else f" (latest is #{result['latest_id']})"))
    out.say(row["detail"])
    out.table("Compared", ["field", "ledger", "broker"],
              [[d["field"], str(d["ledger"]), str(d["broker"])] for d in row["compare_fields"]]
              or [["-", row["ledger_value"] or "-", row["broker_value"] or "-"]])
    record = result["broker_record"]
    if record is not None:
        out.say(f"broker record #{record['id']} sha256 {record['record_hash']} "
                f"(local time {record['broker_local_time']}, final {record['final']})")
        out.say(escape(to_json(record["raw_payload"])))
    entry = result["ledger_entry"]
    if entry is not None:
        out.table(f"Ledger entry {entry['fitid']} ({entry['memo']})",
                  ["account", "amount", "quantity", "symbol"],
                  [[p["account"], p["amount"], p["quantity"] or "", p["symbol"] or ""]
                   for p in entry["postings"]], right_align=["amount", "quantity"])
    out.table("History", ["id", "at", "status", "detail"],
              [[str(h["id"]), h["at"], h["status"], h["detail"]] for h in result["history"]])
    out.say("seen by sync runs: " + (", ".join(f"#{r['id']}" for r in result["sync_runs"])
                                      or "-"))
    return EXIT_OK


def run_positions(args: argparse.Namespace, out: Output) -> int:
    """`tbot recon positions`: exit 1 when a check or an assertion fails."""
    result = _read(args, queries.latest_positions)
    failing = any(p["outcome"] != "matched" for p in result["positions"]) or any(
        not b["passed"] for b in result["balances"])
    if out.json_mode:
        out.emit_json(result)
        return EXIT_FINDINGS if failing else EXIT_OK
    out.table("Positions: broker vs ledger vs engine",
              ["symbol", "broker", "ledger", "engine", "outcome", "checked", "why"],
              [[p["symbol"], p["broker_quantity"] or "0", p["ledger_quantity"] or "0",
                p["engine_quantity"] or "-", p["outcome"], p["checked_at"][:16],
                "" if p["outcome"] == "matched" else p["reason"]]
               for p in result["positions"]], right_align=["broker", "ledger", "engine"])
    out.table("Cash assertions",
              ["currency", "broker", "ledger", "in transit", "difference", "tolerance", "ok"],
              [[b["currency"], b["broker_cash"], b["ledger_cash"], b["in_transit"],
                b["difference"], b["tolerance"], "pass" if b["passed"] else "FAIL"]
               for b in result["balances"]], right_align=["broker", "ledger", "difference"])
    return EXIT_FINDINGS if failing else EXIT_OK


# -- sync and resolve ---------------------------------------------------------------------------


def _socket(args: argparse.Namespace) -> Path:
    return control_socket_path(None, args.home)


def _engine_call(args: argparse.Namespace, method: str, params: dict[str, Any]) -> object:
    """The engine's answer, or EngineUnavailableError when no engine runs."""
    return call_once(_socket(args), method, params, timeout=30.0)


def run_sync(args: argparse.Namespace, out: Output) -> int:
    """`tbot recon sync`."""
    params: dict[str, Any] = {}
    if args.since is not None:
        params["since"] = args.since.isoformat()
    if args.until is not None:
        params["until"] = args.until.isoformat()
    try:
        result = _sync_through_engine(args, params, out)
    except EngineUnavailableError:
        result = _sync_offline(args, out)
    except RpcCallError as error:
        raise TbotError(f"the engine refused: {error.message}") from None
    if out.json_mode:
        out.emit_json(result)
    else:
        _print_sync(result, out)
    open_breaks = _read(args, lambda c: queries.list_breaks(c, SystemClock().now(), limit=1))
    if not out.json_mode:
        out.say(f"{open_breaks['total']} open break(s); `tbot recon breaks` lists them")
    return EXIT_FINDINGS if open_breaks["total"] or result["outcome"] != "complete" else EXIT_OK


def _sync_through_engine(args: argparse.Namespace, params: dict[str, Any],
                         out: Output) -> dict[str, Any]:
    try:
        started = _engine_call(args, "recon.sync", params)
    except RpcCallError as error:
        # A sync ran a moment ago (the engine's own, often): wait our turn once.
        retry_after = error.data.get("retry_after") if isinstance(error.data, dict) else None
        if not isinstance(retry_after, int | float) or retry_after > MAX_WAIT_SECONDS:
            raise
        out.say(f"{error.message}: waiting {retry_after:.0f} s")
        time.sleep(float(retry_after) + 0.1)
        started = _engine_call(args, "recon.sync", params)
    if not isinstance(started, dict):
        raise TbotError("the engine answered recon.sync with something unexpected")
    with _progress(out) as progress:
        task = progress.add_task("syncing through the engine", total=None)
        while True:
            status = _engine_call(args, "recon.status", {})
            assert isinstance(status, dict)
            running = status.get("running")
            if running is None:
                last = status.get("last_sync")
                if isinstance(last, dict):
                    return last
                raise TbotError("the engine's sync ended without a result (see its log)")
            fetched = running.get("fetched", {})
            progress.update(task, description="syncing through the engine: " + ", ".join(
                f"{count} {listing}" for listing, count in fetched.items()))
            time.sleep(0.2)


def _sync_offline(args: argparse.Namespace, out: Output) -> dict[str, Any]:
    home = open_home(resolve_home(args.home))
    clock = SystemClock()
    with OfflineReconciliation(home, clock, actor=local_operator()) as offline:
        service = offline.service
        assert service is not None
        try:
            window = window_of(args.since, args.until, clock, home.config.bot.SYNC_LOOKBACK_DAYS)
        except ValueError as error:
            raise TbotError(str(error)) from None
        with _progress(out) as progress:
            task = progress.add_task("syncing", total=None)

            async def sync() -> dict[str, Any]:
                running = asyncio.ensure_future(
                    service.sync(SyncTrigger.MANUAL, window, actor=local_operator()))
                while not running.done():
                    if service.running is not None:
                        progress.update(task, description="syncing: " + ", ".join(
                            f"{count} {listing}"
                            for listing, count in service.running.fetched.items()))
                    await asyncio.sleep(0.1)
                return running.result().as_dict()

            return asyncio.run(sync())


class _Quiet:
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def add_task(self, *_: object, **__: object) -> int:
        return 0

    def update(self, *_: object, **__: object) -> None:
        return None


def _progress(out: Output) -> Any:
    if out.json_mode or not out.console.is_terminal:
        return _Quiet()
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=out.console, transient=True)


def _print_sync(result: dict[str, Any], out: Output) -> None:
    out.say(f"sync run #{result['run_id']} ({result['trigger']}): [bold]{result['outcome']}"
            f"[/] in {result['seconds']} s")
    out.say("records: " + (" ".join(f"{k}={v}" for k, v in result["counts"].items()) or "none"))
    for refused in result["refused"]:
        out.say(f"refused {refused['listing']} record {refused['broker_id'] or '(no id)'}: "
                f"{refused['reason']}")
    for span in result["spans_not_read"]:
        out.say(f"[bold red]not read[/]: {span['listing']} from {span['since'] or '-'} to "
                f"{span['until'] or '-'}: {span['error']}")
    for position in result["positions"]:
        if position["outcome"] != "matched":
            out.say(f"position {position['symbol']}: {position['outcome']}: "
                    f"{position['reason']}")
    for balance in result["balances"]:
        verdict = "passes" if balance["passed"] else "[bold red]FAILS[/]"
        out.say(f"cash {balance['currency']}: broker {balance['broker_cash']}, ledger "
                f"{balance['ledger_cash']}, in transit {balance['in_transit']}, unexplained "
                f"{balance['difference']} {verdict}")


def run_resolve(args: argparse.Namespace, out: Output) -> int:
    """`tbot recon resolve ID --action A --reason R`."""
    postings = []
    for text in args.posting:
        account, sign, amount = text.partition("=")
        if not sign or not account or not amount:
            raise TbotError(f"--posting {text!r}: write ACCOUNT=AMOUNT, e.g. 4050=-10.00")
        postings.append({"account": account.strip(), "amount": amount.strip()})
    params: dict[str, Any] = {"id": args.id, "action": args.action, "reason": args.reason,
                              "dry_run": args.dry_run}
    if args.account:
        params["account"] = args.account
    if postings:
        params["postings"] = postings
    if args.memo:
        params["memo"] = args.memo
    try:
        result = _engine_call(args, "recon.resolve", params)
    except EngineUnavailableError:
        result = _resolve_offline(args, params)
    except RpcCallError as error:
        raise TbotError(f"the engine refused: {error.message}") from None
    assert isinstance(result, dict)
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    verb = "would post" if result["dry_run"] else "posted"
    out.say(f"break #{result['break_id']} ({result['kind']} {result['trade_id']}): "
            f"{result['action']}" + ("" if result["dry_run"]
                                     else f", resolution #{result['resolution_id']}"))
    for entry in result["entries"]:
        if "reverses" in entry:
            out.say(f"  {verb} {entry['fitid']}: reversal of {entry['reverses']}")
            continue
        out.say(f"  {verb} {entry['fitid']}: {entry['memo']}")
        for posting in entry["postings"]:
            quantity = f" ({posting['quantity']} {posting['symbol']})" if posting["quantity"] \
                else ""
            out.say(f"      {posting['account']:>6} {posting['amount']:>14}{quantity}")
    return EXIT_OK


def _resolve_offline(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    home = open_home(resolve_home(args.home))
    clock = SystemClock()
    try:
        request = ResolveRequest(
            break_id=args.id, action=ResolutionAction(args.action), reason=args.reason,
            postings=parse_postings(params.get("postings", [])), memo=args.memo,
            account=args.account, dry_run=args.dry_run,
        )
        with OfflineReconciliation(home, clock, actor=local_operator()) as offline:
            assert offline.service is not None
            resolution = asyncio.run(offline.service.resolve(request, local_operator()))
    except ResolutionError as error:
        raise TbotError(error.message) from None
    return resolution.as_dict()

