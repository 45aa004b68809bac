"""`tbot coa list`, `tbot ledger trial-balance`, `tbot ledger verify` (all read-only)."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal
from typing import Any

from tbot.admin.bot_home import open_bot_paths
from tbot.cli.output import Output
from tbot.config.paths import resolve_home
from tbot.errors import EXIT_FINDING, EXIT_OK, TbotError
from tbot.ledger.amounts import format_money
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


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


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
