"""`tbot mapping ...`: the chart-of-accounts mapping queue, rules and versions.

Every command goes through the running engine when there is one (its control socket; the
engine checks the caller's role) and otherwise runs the same service here, holding the
ledger's writer lock.

Exit status: 0 done (nothing waiting), 1 items waiting in the queue (or a replay that
would change decisions), 2 bad input (an unknown item or version, a refused account,
rule or import).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from tbot.admin.bot_home import local_operator, open_home
from tbot.cli.control_commands import control_socket_path
from tbot.cli.output import Output
from tbot.clock import SystemClock
from tbot.config.paths import resolve_home
from tbot.control.client import EngineUnavailableError, RpcCallError, call_once
from tbot.errors import EXIT_OK, TbotError
from tbot.reconcile.mapping.documents import document_text
from tbot.reconcile.mapping.offline import OfflineMapping
from tbot.reconcile.mapping.service import MappingError, MappingService

EXIT_FINDINGS = 1
Offline = Callable[[MappingService, str], Awaitable[Any]]


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `mapping` and its subcommands to the `tbot` parser."""
    mapping = commands.add_parser("mapping", help="the chart-of-accounts mapping queue")
    sub = mapping.add_subparsers(dest="mapping_command", metavar="SUBCOMMAND", required=True)

    queue = sub.add_parser("queue", parents=[common], help="items waiting, newest first")
    queue.add_argument("--state", choices=("queued", "mapped", "settled", "all"),
                       default="queued")
    queue.add_argument("--search", help="only items whose id, type or description has this")
    queue.add_argument("--limit", type=int, default=100)
    queue.set_defaults(handler=run_queue)

    show = sub.add_parser("show", parents=[common], help="one item in full")
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(handler=run_show)

    assign = sub.add_parser("assign", parents=[common], help="map an item to an account")
    assign.add_argument("id", type=int, metavar="ID")
    assign.add_argument("account", metavar="ACCOUNT")
    assign.add_argument("--reason", default="")
    assign.add_argument("--save-rule", metavar="PATTERN", nargs="?", const="",
                        help="also save a rule for records like this one (PATTERN: a regular "
                        "expression the description must match; none: broker, type and sign)")
    assign.add_argument("--reclassify", action="store_true",
                        help="change an item already mapped (reverses its entry)")
    assign.add_argument("--dry-run", action="store_true", help="show what would be posted")
    assign.set_defaults(handler=run_assign)

    undo = sub.add_parser("undo", parents=[common], help="reverse an item's mapping")
    undo.add_argument("id", type=int, metavar="ID")
    undo.add_argument("--reason", required=True)
    undo.set_defaults(handler=run_undo)

    rules = sub.add_parser("rules", parents=[common], help="the rules of a version")
    rules.add_argument("--version", type=int)
    rules.set_defaults(handler=run_rules)

    versions = sub.add_parser("versions", parents=[common], help="every rule-set version")
    versions.set_defaults(handler=run_versions)

    diff = sub.add_parser("diff", parents=[common], help="how version B differs from A")
    diff.add_argument("a", type=int, metavar="A")
    diff.add_argument("b", type=int, metavar="B")
    diff.set_defaults(handler=run_diff)

    replay = sub.add_parser("replay", parents=[common],
                            help="what a version or a document would decide differently")
    replay.add_argument("source", metavar="FILE|VERSION")
    replay.set_defaults(handler=run_replay)

    for name, text in (("activate", "make a version active"),
                       ("rollback", "roll back to a version")):
        change = sub.add_parser(name, parents=[common], help=f"{text} (admin)")
        change.add_argument("version", type=int, metavar="VERSION")
        change.add_argument("--reason", required=True)
        change.set_defaults(handler=run_change, change=name)

    export = sub.add_parser("export", parents=[common], help="write a version to FILE")
    export.add_argument("file", type=Path, metavar="FILE")
    export.add_argument("--version", type=int)
    export.set_defaults(handler=run_export)

    imported = sub.add_parser("import", parents=[common],
                              help="import FILE as a candidate version")
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--reason", default="")
    imported.set_defaults(handler=run_import)


# -- one call, through the engine or here -------------------------------------------------------


def _call(args: argparse.Namespace, method: str, params: dict[str, Any],
          offline: Offline) -> Any:
    """The answer of `method` from the engine, or of the same service run here."""
    try:
        return call_once(control_socket_path(None, args.home), method, params, timeout=30.0)
    except EngineUnavailableError:
        pass
    except RpcCallError as error:
        raise TbotError(f"the engine refused: {error.message}") from None
    home = open_home(resolve_home(args.home))
    with OfflineMapping(home, SystemClock()) as service:
        async def run() -> Any:
            await service.ensure_defaults()
            return await offline(service, local_operator())

        try:
            return asyncio.run(run())
        except MappingError as error:
            raise TbotError(error.message) from None


# -- handlers -----------------------------------------------------------------------------------


def run_queue(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping queue`: exit 1 when items wait."""
    params = {"state": args.state, "search": args.search, "limit": args.limit}
    result = _call(args, "mapping.queue", params, lambda s, _: s.queue(
        state=args.state, search=args.search, limit=args.limit))
    waiting = args.state == "queued" and result["total"] > 0
    if out.json_mode:
        out.emit_json(result)
        return EXIT_FINDINGS if waiting else EXIT_OK
    if not result["items"]:
        out.say("the mapping queue is empty" if args.state == "queued"
                else f"no {args.state} items")
        return EXIT_OK
    out.say(f"[bold]{result['total']} item(s) {args.state}[/], newest first "
            "(`tbot mapping show ID`, `tbot mapping assign ID ACCOUNT`)")
    for item in result["items"]:
        out.say(f"[bold]#{item['id']:<5}[/] {item['activity_type']:<10} {item['amount']:>12} "
                f"{item['occurred_at'][:10]}  {escape(item['description'])[:40]}")
        out.say(f"       {item['state']} ({item['reason']}): {escape(item['detail'])}")
        for rank, suggestion in enumerate(item["suggestions"], 1):
            out.say(f"       {rank}. {_suggestion_text(suggestion)}")
    return EXIT_FINDINGS if waiting else EXIT_OK


def _suggestion_text(suggestion: dict[str, Any]) -> str:
    """``5045 0.42 Broker Fees – … · similar rule: like R11 (…)`` (markup-safe)."""
    confidence = suggestion.get("confidence")
    figure = "  -  " if confidence is None else f"{float(confidence):.2f}"
    why = "; ".join(suggestion.get("reasons") or [])
    precedents = suggestion.get("precedents") or []
    rests = f", decisions {', '.join(f'#{p}' for p in precedents)}" if precedents else ""
    source = str(suggestion.get("source", "")).replace("-", " ")
    return escape(f"{suggestion['account']} {figure} {suggestion.get('name') or ''} · "
                  f"{source}: {why}{rests}")


def run_show(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping show ID`."""
    item = _call(args, "mapping.show", {"id": args.id}, lambda s, _: s.show(args.id))
    if out.json_mode:
        out.emit_json(item)
        return EXIT_OK
    out.say(f"[bold]#{item['id']}[/] {item['broker']} {item['broker_id']}: "
            f"{item['activity_type']} {item['amount']} {item['currency']} on "
            f"{item['occurred_at']} — {item['state']} ({item['reason']})")
    out.say(escape(item["description"]))
    out.say(f"record sha256 {item['record_hash']}")
    for rank, suggestion in enumerate(item["suggestions"], 1):
        out.say(f"  {rank}. {_suggestion_text(suggestion)}")
    out.table("History", ["row", "at", "state", "detail"],
              [[str(h["row"]), h["at"][:19], h["state"], h["detail"]] for h in item["history"]])
    if item["decisions"]:
        out.table("Decisions", ["id", "layer", "action", "account", "version", "by", "entry"],
                  [[str(d["id"]), d["layer"], d["action"], d["account"] or "-",
                    str(d["rule_version"] or "-"), d["actor"], str(d["entry_id"] or "-")]
                   for d in item["decisions"]])
    if item.get("raw_payload"):
        out.say(escape(str(item["raw_payload"])))
    return EXIT_OK


def run_assign(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping assign ID ACCOUNT [--save-rule PATTERN]`."""
    save_rule: dict[str, Any] | None = None
    if args.save_rule is not None:
        save_rule = {"description": args.save_rule} if args.save_rule else {}
    params = {"id": args.id, "account": args.account, "reason": args.reason,
              "save_rule": save_rule, "reclassify": args.reclassify, "dry_run": args.dry_run}
    result = _call(args, "mapping.assign", params, lambda s, actor: s.assign(
        args.id, args.account, actor=actor, reason=args.reason, save_rule=save_rule,
        reclassify=args.reclassify, dry_run=args.dry_run))
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    if result.get("unchanged"):
        out.say(f"item #{args.id} is already mapped to {args.account}: nothing posted")
        return EXIT_OK
    verb = "would post" if args.dry_run else "posted"
    size = result["amount"].lstrip("-")
    out.say(f"item #{args.id} → {args.account} ({result['action']}): {verb} "
            f"Dr {result['debit']} / Cr {result['credit']} {size}")
    if result.get("new_version"):
        rule, version = result["rule"]["id"], result["new_version"]
        out.say(f"would save rule {rule} as version {version}" if args.dry_run
                else f"saved rule {rule}: version {version} is active")
    return EXIT_OK


def run_undo(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping undo ID --reason ...`."""
    result = _call(args, "mapping.undo", {"id": args.id, "reason": args.reason},
                   lambda s, actor: s.undo(args.id, actor=actor, reason=args.reason))
    if out.json_mode:
        out.emit_json(result)
    else:
        out.say(f"decision #{result['undone']} undone; item #{args.id} is queued again")
    return EXIT_OK


def run_rules(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping rules [--version N]`."""
    result = _call(args, "mapping.rules", {"version": args.version},
                   lambda s, _: s.rules(args.version))
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    version = result["version"]
    out.say(f"[bold]version {version['version']}[/] ({version['action']} by "
            f"{version['author']}: {escape(version['reason'])})"
            + (" — active" if result["active"] else ""))
    for rule in result["rules"]:
        out.say(escape(rule["summary"]))
    return EXIT_OK


def run_versions(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping versions`."""
    result = _call(args, "mapping.versions", {}, lambda s, _: s.versions())
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    out.say(f"[bold]{len(result['versions'])} version(s)[/], newest first; active: "
            f"{result['active']}")
    for v in result["versions"]:
        # Two lines a version: what and who, then why (the reason whole at 80 columns).
        active = " [bold]active[/]" if v["version"] == result["active"] else ""
        source = f" of {v['source_version']}" if v["source_version"] else ""
        out.say(f"[bold]v{v['version']:<4}[/] {v['action']}{source} by {escape(v['author'])} "
                f"at {v['created_at'][:16].replace('T', ' ')}, {v['rule_count']} rules, "
                f"sha256 {v['content_hash'][:12]}{active}")
        out.say(f"       {escape(v['reason'])}")
    return EXIT_OK


def run_diff(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping diff A B`."""
    result = _call(args, "mapping.diff", {"a": args.a, "b": args.b},
                   lambda s, _: s.diff(args.a, args.b))
    if out.json_mode:
        out.emit_json(result)
        return EXIT_OK
    if not result["changes"]:
        out.say(f"versions {args.a} and {args.b} have the same rules")
    for change in result["changes"]:
        fields = f" ({', '.join(change['fields'])})" if change["fields"] else ""
        out.say(f"{change['rule_id']}: {change['change']}{fields}")
        if change["change"] != "changed":
            shown = change["after"] or change["before"]
            out.say("    " + escape(", ".join(f"{k}={v}" for k, v in shown.items()
                                            if v not in (None, "") and k != "id")))
        for name in change["fields"] or []:
            out.say(f"    {name}: {change['before'][name]!r} → {change['after'][name]!r}")
    return EXIT_OK


def run_replay(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping replay FILE|VERSION`: exit 1 when decisions would change."""
    params: dict[str, Any]
    if args.source.isdigit():
        params = {"version": int(args.source)}
    else:
        try:
            params = {"document": Path(args.source).read_text(encoding="utf-8")}
        except (OSError, UnicodeDecodeError) as error:
            raise TbotError(f"cannot read {args.source}: {error}") from None
    result = _call(args, "mapping.replay", params, lambda s, _: s.replay(**params))
    if out.json_mode:
        out.emit_json(result)
    else:
        out.say(f"{result['candidate']}: {result['changed']} of {result['decisions']} past "
                "decision(s) would change")
        if result["changes"]:
            out.table("Would change", ["decision", "record", "type", "amount", "old", "new"],
                      [[str(c["decision_id"]), c["broker_id"], c["activity_type"], c["amount"],
                        f"{c['old_account']} ({c['old_layer']})",
                        f"{c['new_account'] or 'queue'} ({c['new_layer']})"]
                       for c in result["changes"]])
    return EXIT_FINDINGS if result["changed"] else EXIT_OK


def run_change(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping activate|rollback VERSION --reason ...`."""
    method = f"mapping.{args.change}"
    result = _call(args, method, {"version": args.version, "reason": args.reason},
                   lambda s, actor: getattr(s, args.change)(
                       args.version, actor=actor, reason=args.reason))
    if out.json_mode:
        out.emit_json(result)
    else:
        out.say(f"version {result['version']} ({args.change} of version {args.version}) is "
                "active")
    return EXIT_OK


def run_export(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping export FILE [--version N]`."""
    document = _call(args, "mapping.export", {"version": args.version},
                     lambda s, _: s.export(args.version))
    try:
        args.file.write_text(document_text(document), encoding="utf-8")
    except OSError as error:
        raise TbotError(f"cannot write {args.file}: {error}") from None
    if out.json_mode:
        out.emit_json({"file": str(args.file), "version": document["version"],
                       "content_hash": document["content_hash"]})
    else:
        out.say(f"version {document['version']} ({len(document['rules'])} rules, sha256 "
                f"{document['content_hash'][:12]}) written to {args.file}")
    return EXIT_OK


def run_import(args: argparse.Namespace, out: Output) -> int:
    """`tbot mapping import FILE`: a candidate version (replay it, then activate it)."""
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TbotError(f"cannot read {args.file}: {error}") from None
    result = _call(args, "mapping.import", {"document": text, "reason": args.reason},
                   lambda s, actor: s.import_document(text, actor=actor, reason=args.reason))
    if out.json_mode:
        out.emit_json(result)
    else:
        out.say(f"imported as candidate version {result['version']} ({result['rules']} rules "
                f"from {result['source_identity']} version {result['source_version']}); "
                f"`tbot mapping replay {result['version']}` then `tbot mapping activate "
                f"{result['version']} --reason ...`")
    return EXIT_OK
