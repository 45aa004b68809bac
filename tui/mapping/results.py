"""The rule-set answers as text for a dialog: a diff, a replay, a rule's preview, what a
rollback or an import did (or why it was refused)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from tui.mapping.rows import amount_text
from tui.mapping.rule_sets import ReplayResult, RulePreview, VersionDiff, VersionRow
from tui.model.formatting import stamp

MAX_LISTED = 200
"""Changes listed in a dialog; the rest are counted (the CLI lists them all)."""

_CHANGE_STYLES = {"added": "green", "removed": "red", "changed": "yellow"}


def diff_text(diff: VersionDiff) -> Text:
    """Rule by rule, what version `new` changes from version `old`."""
    text = Text()
    if not diff.changes:
        text.append(f"Versions {diff.old} and {diff.new} hold the same rules.")
        return text
    count = len(diff.changes)
    text.append(f"{count} rule{'s' if count != 1 else ''} differ{'s' if count == 1 else ''}"
                f" from version {diff.old} to version {diff.new}:\n", style="bold")
    for change in diff.changes[:MAX_LISTED]:
        style = _CHANGE_STYLES.get(change.change, "")
        text.append(f"\n{change.rule_id} {change.change}", style=f"bold {style}".strip())
        if change.fields:
            text.append(f" ({', '.join(change.fields)})", style="dim")
        text.append("\n")
        if change.before:
            text.append("  - ", style="red")
            text.append(f"{change.before}\n")
        if change.after:
            text.append("  + ", style="green")
            text.append(f"{change.after}\n")
    _more(text, count)
    return text.rstrip() or text


def replay_text(result: ReplayResult) -> Text:
    """What the candidate would decide differently over the past decisions."""
    text = Text()
    changed = len(result.changes)
    text.append(f"{result.candidate.capitalize()} over {result.decisions:,} past decision"
                f"{'s' if result.decisions != 1 else ''}: ", style="bold")
    if not changed:
        text.append("nothing would change.", style="bold green")
        return text
    text.append(f"{changed:,} would change.\n", style="bold yellow")
    for change in result.changes[:MAX_LISTED]:
        text.append(f"\ndecision #{change.decision_id} ", style="bold")
        text.append(f"{change.activity_type} {amount_text(change.amount)} "
                    f"({change.broker_id})\n")
        if change.new_account:
            text.append(f"  {change.old_account or '—'} → {change.new_account}",
                        style="yellow")
            text.append(f" ({change.new_layer})\n", style="dim")
        else:
            text.append(f"  {change.old_account or '—'} → back to the queue\n",
                        style="yellow")
        if change.why:
            text.append(f"  {change.why}\n", style="dim")
    _more(text, changed)
    return text.rstrip() or text


def preview_summary(preview: RulePreview) -> Text:
    """The editor's live preview: counts, conflicts, examples."""
    text = Text()
    text.append(f"Matches {preview.queued:,} queued", style="bold")
    text.append(f" and {preview.past:,} past decision{'s' if preview.past != 1 else ''}",
                style="bold")
    if preview.conflicts:
        text.append(f"; {preview.conflicts:,} of them booked to another account",
                    style="yellow")
    for example in preview.examples:
        where = (f"#{example.item}" if example.item is not None
                 else f"decision #{example.decision_id}")
        account = f" → {example.account}" if example.account else ""
        text.append(f"\n  {where} {example.activity_type} {amount_text(example.amount)} "
                    f"{example.description}{account}", style="dim")
    return text


def rollback_text(version: VersionRow, active: int | None, reason: str) -> Text:
    """What a rollback to `version` will write."""
    text = Text()
    text.append(f"Version {version.version}", style="bold")
    text.append(f" ({version.action}, {stamp(version.created_at)}, by {version.author}; "
                f"{version.rule_count} rules)\n")
    if version.reason:
        text.append(f"  {version.reason}\n", style="dim")
    now = f"version {active}" if active is not None else "no version"
    text.append(f"\nA new version, equal to version {version.version}, becomes active in "
                f"place of {now}. Records are mapped by it from the next sync; nothing "
                "already posted changes.\n")
    text.append(f"\nReason: {reason}")
    return text


def import_text(result: Mapping[str, object], path: str) -> Text:
    """What an accepted import wrote."""
    text = Text()
    text.append(f"{path} is valid.\n", style="bold green")
    text.append(f"\nImported as version {result.get('version')} (not active): version "
                f"{result.get('source_version')} of {result.get('source_identity')}, "
                f"{result.get('rules')} rules.\n")
    text.append(f"content hash {str(result.get('content_hash', ''))[:16]}…\n", style="dim")
    text.append("\nReplay it (p on the Versions tab) before rolling back to it (R).")
    return text


def refused_text(path: str, reason: str) -> Text:
    """Why a document was refused (nothing was imported)."""
    text = Text()
    text.append(f"{path} was refused: nothing was imported.\n\n", style="bold red")
    text.append(reason)
    return text


def _more(text: Text, count: int) -> None:
    if count > MAX_LISTED:
        text.append(f"\n… and {count - MAX_LISTED:,} more (tbot mapping on the command line "
                    "lists them all)", style="dim")
