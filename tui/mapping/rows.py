"""How a queue item reads in the grid: one line per item, fitting 80 columns.

The description is the flex column; every other column is as narrow as its content allows
(at 80x24 the description keeps about 15 cells, and all of it at 120 columns).
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from tui.mapping.queue_items import QueueItem, Suggestion
from tui.model.formatting import money
from tui.widgets.grid_source import GridColumn, GridRow

BAR_CELLS = 8
"""Width of the confidence bar: one cell per eighth."""

QUEUE_COLUMNS = (
    GridColumn("date", "Date", 10),
    GridColumn("type", "Type", 7),
    GridColumn("amount", "Amount", 10, align="right"),
    GridColumn("description", "Description", 12, flex=True),
    GridColumn("account", "Acct", 5),
    GridColumn("confidence", "Confidence", BAR_CELLS + 5),
    GridColumn("why", "Why", 12),
)


def amount_text(amount: Decimal) -> str:
    """Money with two decimals, but never a rounded-away fraction (a fee of 0.0042 shows
    as such, not as 0.00)."""
    if amount == amount.quantize(Decimal("0.01")):
        return money(amount)
    return f"{amount.normalize():,f}"


def confidence_bar(confidence: float | None) -> Text:
    """`█████░░░ 0.67`; `-` when the suggestion has no figure (a tied rule) or none."""
    if confidence is None:
        return Text("-", style="dim")
    clamped = min(1.0, max(0.0, confidence))
    filled = round(clamped * BAR_CELLS)
    style = "green" if clamped >= 0.8 else "yellow" if clamped >= 0.5 else "red"
    text = Text("█" * filled, style=style)
    text.append("░" * (BAR_CELLS - filled), style="dim")
    text.append(f" {clamped:.2f}")
    return text


def first_reason(suggestion: Suggestion | None) -> str:
    """The first reason of a suggestion, for the one-line `why`."""
    if suggestion is None or not suggestion.reasons:
        return ""
    return suggestion.reasons[0]


def queue_row(item: QueueItem) -> GridRow:
    """The grid line of one item, keyed by its id."""
    top = item.top
    when = item.occurred_at.strftime("%Y-%m-%d") if item.occurred_at else "—"
    return GridRow(
        key=item.key,
        cells=(
            when,
            item.activity_type,
            amount_text(item.amount),
            item.description or item.broker_id,
            top.account if top else Text("-", style="dim"),
            confidence_bar(top.confidence if top else None),
            first_reason(top),
        ),
    )
