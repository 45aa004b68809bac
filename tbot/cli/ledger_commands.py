"""`tbot coa list`, `tbot ledger trial-balance`, `tbot ledger verify` (read-only), and the
ledger's backups: `tbot ledger backup [--drill]`, `tbot ledger restore --to DIR [--as-of
TIME]`, `tbot ledger drill` (they read the live ledger and write only backup files or the
restored copy)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import open_bot_paths, open_home
from tbot.cli.output import Output
from tbot.clock import SystemClock
from tbot.config.paths import resolve_home
from tbot.errors import EXIT_FINDING, EXIT_OK, TbotError
from tbot.ledger.amounts import format_money
from tbot.ledger.backups import (
    DrillReport,
    RestoreResult,
    SnapshotResult,
    restore_ledger,
    run_drill,
    take_snapshot,
)
from tbot.ledger.chart import Chart
from tbot.ledger.coa_file import load_chart
from tbot.ledger.reports import TrialBalance, trial_balance
from tbot.ledger.verify import VerifyReport, verify_ledger


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `coa` and `ledger` to the `tbot` parser."""
    coa = commands.add_parser("coa", help="the chart of accounts")
    coa_actions = coa.add_subparsers(dest="action", metavar="ACTION", required=True)
    coa_list = coa_actions.add_parser("list", parents=[common], help="list every account")
    coa_list.set_defaults(handler=run_coa_list)

    ledger = commands.add_parser("ledger", help="read and check the bot's ledger")
    ledger_actions = ledger.add_subparsers(dest="action", metavar="ACTION", required=True)
    balance = ledger_actions.add_parser(
        "trial-balance", parents=[common], help="debits and credits per account"
    )
    balance.add_argument(
        "--as-of", type=_parse_date, metavar="DATE", help="only entries posted on or before DATE"
    )
    balance.set_defaults(handler=run_trial_balance)
    verify = ledger_actions.add_parser(
        "verify",
        parents=[common],
        help="re-check balance, accounts, orphans and the audit chain (exit 1 on findings)",
    )
    verify.set_defaults(handler=run_verify)
    backup = ledger_actions.add_parser(
        "backup",
        parents=[common],
        help="take a full snapshot now: start a new backup set (the engine keeps writing)",
    )
    backup.add_argument(
        "--drill",
        action="store_true",
        help="first run the restore drill on the newest set (exit 1 if it fails; the "
        "snapshot is taken either way)",
    )
    backup.set_defaults(handler=run_backup)
    restore = ledger_actions.add_parser(
        "restore",
        parents=[common],
        help="rebuild the ledger from a backup set into DIR and verify it (exit 1 on findings)",
    )
    restore.add_argument("--to", required=True, type=Path, metavar="DIR",
                         help="folder for the rebuilt ledger and chart (never overwritten)")
    restore.add_argument(
        "--as-of",
        type=_parse_moment,
        metavar="TIME",
        help="the ledger as backed up at or before TIME: ISO 8601 with a zone "
        "(2026-03-02T15:00:00Z) or a date (the end of that day, UTC)",
    )
    restore.set_defaults(handler=run_restore)
    drill = ledger_actions.add_parser(
        "drill",
        parents=[common],
        help="rebuild the newest backup set and compare it with the live ledger (exit 1 on "
        "a difference)",
    )
    drill.set_defaults(handler=run_drill_command)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


def _parse_moment(text: str) -> datetime:
    """An aware moment, or a date meaning the end of that day (UTC)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(
                microseconds=1)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; expected e.g. 2026-03-02T15:00:00Z or 2026-03-02"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone; add Z (UTC) or an offset such as +00:00")
    return moment.astimezone(UTC)


def _require(path: Any, what: str) -> None:
    if not path.exists():
        raise TbotError(f"{what} {path} not found; is this a bot home? (`tbot init`)")


# -- chart of accounts ---------------------------------------------------------------------
def chart_as_json(chart: Chart) -> list[dict[str, Any]]:
    """Every account of `chart`, in code order, as plain dicts."""
    return [
        {
            "code": account.code,
            "name": account.name,
            "parent": account.parent,
            "type": account.type,
            "cash_flow_class": account.cash_flow_class,
            "postable": chart.is_postable(account.code),
        }
        for account in chart.accounts
    ]


def _depth(chart: Chart, code: str) -> int:
    depth, parent = 0, chart[code].parent
    while parent is not None:
        depth, parent = depth + 1, chart[parent].parent
    return depth


def print_chart(out: Output, chart: Chart) -> None:
    """The chart as an indented table."""
    rows = []
    for account in chart.accounts:
        depth = _depth(chart, account.code)
        rows.append(
            [
                account.code,
                "  " * depth + account.name,
                str(account.type),
                account.cash_flow_class,
            ]
        )
    out.table("Chart of accounts", ["code", "name", "type", "cash-flow class"], rows)


def run_coa_list(args: argparse.Namespace, out: Output) -> int:
    """List the chart of accounts."""
    paths = open_bot_paths(resolve_home(args.home))
    _require(paths.coa_db(), "chart of accounts")
    chart = load_chart(paths.coa_db())
    if out.json_mode:
        out.emit_json({"ok": True, "accounts": chart_as_json(chart)})
    else:
        print_chart(out, chart)
    return EXIT_OK


# -- trial balance -------------------------------------------------------------------------
def trial_balance_as_json(balance: TrialBalance) -> dict[str, Any]:
    """The trial balance with exact amounts as strings."""
    return {
        "as_of": balance.as_of,
        "lines": [
            {
                "code": line.code,
                "name": line.name,
                "type": line.type,
                "currency": line.currency,
                "debit": line.debit,
                "credit": line.credit,
                "balance": line.balance,
            }
            for line in balance.lines
        ],
        "totals": {
            total.currency: {"debit": total.debit, "credit": total.credit}
            for total in balance.totals
        },
        "balanced": balance.balanced,
    }


def print_trial_balance(out: Output, balance: TrialBalance) -> None:
    """The trial balance as a bookkeeper reads it: each account's net balance in the debit
    or credit column, and per-currency totals of those columns, which must agree."""
    rows = []
    net_totals: dict[str, list[Decimal]] = {}
    for line in balance.lines:
        debit = line.balance if line.balance > 0 else Decimal(0)
        credit = -line.balance if line.balance < 0 else Decimal(0)
        totals = net_totals.setdefault(line.currency, [Decimal(0), Decimal(0)])
        totals[0] += debit
        totals[1] += credit
        rows.append(
            [
                line.code,
                line.name,
                line.currency,
                format_money(debit) if debit or not credit else "",
                format_money(credit) if credit else "",
            ]
        )
    for currency, (debit, credit) in sorted(net_totals.items()):
        rows.append(
            [
                "",
                f"[bold]Total {currency}[/]",
                currency,
                f"[bold]{format_money(debit)}[/]",
                f"[bold]{format_money(credit)}[/]",
            ]
        )
    as_of = f" as of {balance.as_of.isoformat()}" if balance.as_of else ""
    out.table(
        f"Trial balance{as_of}",
        ["code", "account", "ccy", "debit", "credit"],
        rows,
        right_align=["debit", "credit"],
    )
    if not balance.lines:
        out.say("(no postings yet)")
    elif not balance.balanced:
        out.say("[bold red]debits and credits differ: run `tbot ledger verify`[/]")


def run_trial_balance(args: argparse.Namespace, out: Output) -> int:
    """Print the trial balance."""
    paths = open_bot_paths(resolve_home(args.home))
    _require(paths.ledger_db, "ledger")
    balance = trial_balance(paths.ledger_db, paths.coa_db(), as_of=args.as_of)
    if out.json_mode:
        out.emit_json({"ok": True, **trial_balance_as_json(balance)})
    else:
        print_trial_balance(out, balance)
    return EXIT_OK


# -- verify --------------------------------------------------------------------------------
def verify_as_json(report: VerifyReport) -> dict[str, Any]:
    """The verify report as plain data."""
    return {
        "ok": report.ok,
        "entries": report.entries,
        "postings": report.postings,
        "audit_rows": report.audit_rows,
        "seconds": round(report.seconds, 3),
        "problems": [
            {"kind": problem.kind, "where": problem.where, "detail": problem.detail}
            for problem in report.problems
        ],
    }


def print_verify(out: Output, report: VerifyReport) -> None:
    """The verify result: a summary line, then every problem."""
    summary = (
        f"{report.entries} entries, {report.postings} postings, "
        f"{report.audit_rows} audit rows checked in {report.seconds:.2f}s"
    )
    if report.ok:
        out.say(f"[green]ledger verified[/]: {summary}")
        return
    out.say(f"[bold red]{len(report.problems)} problem(s)[/] found: {summary}")
    out.table(
        "Ledger problems",
        ["kind", "where", "detail"],
        [[problem.kind, problem.where, problem.detail] for problem in report.problems],
    )


def run_verify(args: argparse.Namespace, out: Output) -> int:
    """Verify the whole ledger file; exit 1 when anything is wrong."""
    paths = open_bot_paths(resolve_home(args.home))
    _require(paths.ledger_db, "ledger")
    report = verify_ledger(paths.ledger_db, paths.coa_db())
    if out.json_mode:
        out.emit_json(verify_as_json(report))
    else:
        print_verify(out, report)
    return EXIT_OK if report.ok else EXIT_FINDING


# -- backups -------------------------------------------------------------------------------
def snapshot_as_json(result: SnapshotResult) -> dict[str, Any]:
    """A snapshot taken, as plain data."""
    manifest = result.manifest
    return {
        "set": str(result.set_dir),
        "taken_at_utc": manifest.taken_at_utc,
        "bytes": manifest.snapshot_bytes,
        "head": manifest.state.head.as_json(),
        "seconds": round(result.seconds, 3),
        "pruned": [str(path) for path in result.pruned],
    }


def restore_as_json(result: RestoreResult) -> dict[str, Any]:
    """A restore, as plain data."""
    return {
        "set": str(result.set_dir),
        "ledger": str(result.ledger_path),
        "coa": str(result.coa_path),
        "snapshot_taken_at_utc": result.snapshot_taken_at_utc,
        "increments_applied": result.increments_applied,
        "backed_up_at_utc": result.backed_up_at_utc,
        "head": result.state.head.as_json(),
        "seconds": round(result.seconds, 3),
    }


def drill_as_json(report: DrillReport) -> dict[str, Any]:
    """A drill, as plain data."""
    return {
        "ok": report.ok,
        "set": report.set_name,
        "restore": None if report.restore is None else restore_as_json(report.restore),
        "verify": None if report.verify is None else verify_as_json(report.verify),
        "head_in_live": report.head_in_live,
        "tables": [
            {"table": t.table, "up_to_row": t.mark, "restored_rows": t.restored_rows,
             "live_rows": t.live_rows, "same": t.same}
            for t in report.tables
        ],
        "differences": report.differences(),
        "seconds": round(report.seconds, 3),
    }


def print_restore(out: Output, result: RestoreResult) -> None:
    """What was rebuilt from which set."""
    out.table(
        "Ledger restored",
        ["", ""],
        [
            ["set", result.set_dir.name],
            ["snapshot taken", result.snapshot_taken_at_utc],
            ["increments applied", str(result.increments_applied)],
            ["as backed up at", result.backed_up_at_utc],
            ["chain head", str(result.state.head)],
            ["ledger", str(result.ledger_path)],
            ["chart", str(result.coa_path)],
        ],
    )


def print_drill(out: Output, report: DrillReport) -> None:
    """The drill's comparison table and verdict."""
    if report.restore is not None:
        print_restore(out, report.restore)
    if report.verify is not None:
        print_verify(out, report.verify)
    if report.tables:
        out.table(
            "Restored against live",
            ["table", "up to row", "restored", "live", "same"],
            [[t.table, str(t.mark), str(t.restored_rows), str(t.live_rows),
              "yes" if t.same else "[bold red]NO[/]"] for t in report.tables],
            right_align=["up to row", "restored", "live"],
        )
    if report.ok:
        out.say(f"[green]drill passed[/]: set {report.set_name} rebuilds the live ledger "
                f"({report.seconds:.2f}s)")
    else:
        out.say(f"[bold red]drill FAILED[/] (set {report.set_name}): "
                + "; ".join(report.differences()))


def run_backup(args: argparse.Namespace, out: Output) -> int:
    """Take a full snapshot (a new backup set), after the drill with --drill."""
    home = open_home(resolve_home(args.home))
    _require(home.paths.ledger_db, "ledger")
    drill = run_drill(home.paths) if args.drill else None
    result = take_snapshot(home.paths, SystemClock().now(), home.backup_policy)
    ok = drill is None or drill.ok
    if out.json_mode:
        payload: dict[str, Any] = {"ok": ok, "snapshot": snapshot_as_json(result)}
        if drill is not None:
            payload["drill"] = drill_as_json(drill)
        out.emit_json(payload)
    else:
        if drill is not None:
            print_drill(out, drill)
        out.say(f"[green]snapshot taken[/]: {result.set_dir} "
                f"({result.manifest.snapshot_bytes:,} bytes, {result.seconds:.2f}s; "
                f"{len(result.pruned)} old set(s) pruned)")
    return EXIT_OK if ok else EXIT_FINDING


def run_restore(args: argparse.Namespace, out: Output) -> int:
    """Rebuild the ledger from a backup set into --to, then verify it."""
    paths = open_bot_paths(resolve_home(args.home))
    result, report = restore_ledger(paths, args.to, args.as_of)
    if out.json_mode:
        out.emit_json({"ok": report.ok, "restore": restore_as_json(result),
                       "verify": verify_as_json(report)})
    else:
        print_restore(out, result)
        print_verify(out, report)
    return EXIT_OK if report.ok else EXIT_FINDING


def run_drill_command(args: argparse.Namespace, out: Output) -> int:
    """Rebuild the newest set and compare it with the live ledger; exit 1 on a difference."""
    paths = open_bot_paths(resolve_home(args.home))
    _require(paths.ledger_db, "ledger")
    report = run_drill(paths)
    if out.json_mode:
        out.emit_json(drill_as_json(report))
    else:
        print_drill(out, report)
    return EXIT_OK if report.ok else EXIT_FINDING
