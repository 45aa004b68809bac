"""How the rules and the versions read in their grids: one line each, fitting 80 columns
(the criteria and the reason are the flex columns)."""

from __future__ import annotations

from rich.text import Text

from tui.mapping.rule_sets import RuleRow, VersionRow, criteria_text
from tui.widgets.grid_source import GridColumn, GridRow

RULE_COLUMNS = (
    GridColumn("id", "Rule", 4),
    GridColumn("criteria", "Matches", 20, flex=True),
    GridColumn("debit", "Dr", 5),
    GridColumn("credit", "Cr", 5),
    GridColumn("name", "Name", 18),
    GridColumn("state", "State", 8),
)

VERSION_COLUMNS = (
    GridColumn("mark", "", 1),
    GridColumn("version", "Ver", 4, align="right"),
    GridColumn("action", "Action", 8),
    GridColumn("when", "When", 16),
    GridColumn("author", "Author", 14),
    GridColumn("rules", "Rules", 5, align="right"),
    GridColumn("reason", "Reason", 12, flex=True),
)


def rule_row(rule: RuleRow) -> GridRow:
    """The grid line of one rule."""
    if rule.enabled:
        state = Text(rule.origin or "", style="dim")
    else:
        state = Text("disabled", style="yellow")
    return GridRow(key=rule.key, cells=(
        rule.id, criteria_text(rule.criteria), rule.debit, rule.credit, rule.name, state))


def version_row(version: VersionRow, *, active: bool, marked: bool) -> GridRow:
    """The grid line of one version: `*` the active one, `+` the one marked for a diff."""
    mark = Text("+", style="bold cyan") if marked else (
        Text("*", style="bold green") if active else "")
    when = version.created_at.strftime("%Y-%m-%d %H:%M") if version.created_at else "—"
    action = version.action
    if version.source_version is not None:
        action = f"{action} {version.source_version}"
    # `control:` names every socket caller: the person is what is worth the cells.
    author = version.author.removeprefix("control:")
    return GridRow(key=version.key, cells=(
        mark, str(version.version), action, when, author, str(version.rule_count),
        version.reason))
