"""`tbot archive run | list | verify | restore FILE | purge`: the encrypted cold archive.

Exit status: 0 done (verify: no finding), 1 verify found a damaged, altered, missing or
unlisted file (each named), 2 bad input (a wrong key, an unknown file, a purge within seven
years or without a clearance).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import local_operator, open_bot_paths, open_home
from tbot.archive import ArchiveStore, purge_archive, run_archive
from tbot.cli.output import Output
from tbot.clock import SystemClock
from tbot.config.paths import resolve_home
from tbot.errors import EXIT_FINDING, EXIT_OK


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add `archive` and its subcommands to the `tbot` parser."""
    archive = commands.add_parser(
        "archive", help="the encrypted cold archive (storage/archive/): seven-year retention")
    actions = archive.add_subparsers(dest="archive_action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run", parents=[common],
        help="move logs, summaries, daily exports and aged-out backup sets into the archive")
    run.set_defaults(handler=run_archive_command)
    listing = actions.add_parser("list", parents=[common], help="list the archived files")
    listing.add_argument("--year", type=int, metavar="YEAR", help="only this year")
    listing.add_argument("--kind", metavar="KIND", help="only this kind (log, recon, ...)")
    listing.set_defaults(handler=run_archive_list)
    verify = actions.add_parser(
        "verify", parents=[common],
        help="check every archived file against its manifest and decrypt it (exit 1 on "
        "findings)")
    verify.add_argument("--year", type=int, metavar="YEAR", help="only this year")
    verify.set_defaults(handler=run_archive_verify)
    restore = actions.add_parser(
        "restore", parents=[common], help="decrypt one archived file into DIR (never overwrites)")
    restore.add_argument("file", metavar="FILE", help="the archived file's name (or path)")
    restore.add_argument("--to", required=True, type=Path, metavar="DIR",
                         help="where to write it")
    restore.set_defaults(handler=run_archive_restore)
    purge = actions.add_parser(
        "purge", parents=[common],
        help="delete archived material older than DATE (at least seven years old), "
        "with a regulatory clearance reference; audited")
    purge.add_argument("--before", required=True, type=date.fromisoformat, metavar="DATE",
                       help="material of days before DATE (YYYY-MM-DD)")
    purge.add_argument("--clearance", required=True, metavar="REF",
                       help="the reference of the regulatory clearance allowing it")
    purge.set_defaults(handler=run_archive_purge)


def _store(args: argparse.Namespace) -> ArchiveStore:
    paths = open_bot_paths(resolve_home(args.home))
    store = ArchiveStore(paths, now=SystemClock().now)
    store.open_key(create=False)
    return store


def run_archive_command(args: argparse.Namespace, out: Output) -> int:
    """Archive what is due now."""
    home = open_home(resolve_home(args.home))
    bot = home.config.bot
    report = run_archive(home.paths, archive_after_days=bot.ARCHIVE_AFTER_DAYS,
                         backup_policy=home.backup_policy, now=SystemClock().now())
    if out.json_mode:
        out.emit_json({"ok": True, "cutoff": report.cutoff, "sealed": report.counts(),
                       "files": [entry.file for entry in report.sealed],
                       "removed": [str(path) for path in report.removed],
                       "sets_pruned": [str(path) for path in report.sets_pruned]})
        return EXIT_OK
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(report.counts().items()))
    out.say(f"[green]archived[/]: {len(report.sealed)} file(s) of material before "
            f"{report.cutoff}{f' ({counts})' if counts else ''}; {len(report.removed)} "
            f"original(s) removed, {len(report.sets_pruned)} backup set(s) pruned")
    return EXIT_OK


def run_archive_list(args: argparse.Namespace, out: Output) -> int:
    """List the archived files (no key needed)."""
    paths = open_bot_paths(resolve_home(args.home))
    store = ArchiveStore(paths, now=SystemClock().now)
    entries = [entry for entry in store.all_entries(args.year)
               if args.kind is None or entry.kind == args.kind]
    if out.json_mode:
        out.emit_json({"files": [asdict(entry) for entry in entries]})
        return EXIT_OK
    out.table(f"archive {store.root}", ["day", "kind", "file", "bytes", "archived"],
              [[entry.day, entry.kind, entry.file, f"{entry.stored_bytes:,}",
                entry.archived_at_utc[:19]] for entry in entries], right_align=["bytes"])
    out.say(f"{len(entries)} file(s), {sum(e.stored_bytes for e in entries):,} bytes")
    return EXIT_OK


def run_archive_verify(args: argparse.Namespace, out: Output) -> int:
    """Check every archived file; exit 1 naming each damaged one."""
    store = _store(args)
    report = store.verify(args.year)
    if out.json_mode:
        out.emit_json({"ok": report.ok, "files_checked": report.files_checked,
                       "bytes_checked": report.bytes_checked,
                       "findings": [asdict(finding) for finding in report.findings]})
    else:
        for finding in report.findings:
            out.say(f"[red]ALERT[/] {finding.year}/{finding.file}: {finding.problem}")
        verdict = "[green]ok[/]" if report.ok else f"[red]{len(report.findings)} finding(s)[/]"
        out.say(f"archive verify: {verdict}; {report.files_checked} file(s), "
                f"{report.bytes_checked:,} bytes checked")
    return EXIT_OK if report.ok else EXIT_FINDING


def run_archive_restore(args: argparse.Namespace, out: Output) -> int:
    """Decrypt one archived file into --to."""
    store = _store(args)
    written = store.restore(args.file, args.to)
    if out.json_mode:
        out.emit_json({"ok": True, "restored": [str(path) for path in written]})
    else:
        for path in written:
            out.say(f"[green]restored[/]: {path}")
    return EXIT_OK


def run_archive_purge(args: argparse.Namespace, out: Output) -> int:
    """Delete archived material at least seven years old, on a clearance; audited."""
    home = open_home(resolve_home(args.home))
    result = purge_archive(home.paths, SystemClock(), home.backup_policy,
                           before=args.before, clearance=args.clearance,
                           actor=local_operator())
    if out.json_mode:
        out.emit_json({"ok": True, "before": result.before, "clearance": result.clearance,
                       "purged": [entry.file for entry in result.purged],
                       "audit_id": result.audit_id})
    else:
        out.say(f"purged {len(result.purged)} archived file(s) before {result.before} "
                f"(clearance {result.clearance}; audit row {result.audit_id})")
    return EXIT_OK

