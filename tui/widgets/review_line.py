"""The dashboard's line of what waits for review: open breaks (`4`) and queued items (`5`).

Each count is a link to its view (a click, or the view's key). Zero is quiet, anything
else stands out; an unknown count says so instead of showing 0.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tui.model.review_counts import ReviewCounts

_KIND_SHORT = {"fill": "fill", "cash": "cash", "position": "pos", "balance": "bal"}


def _count(label: str, value: int | None, key: str, mode: str) -> Content:
    if value is None:
        figure = Content.styled("?", "dim")
    elif value == 0:
        figure = Content.styled("0", "green")
    else:
        figure = Content.styled(f"{value:,}", "bold $warning")
    link = Content.assemble(f"{label} ", figure, Content.styled(f" ({key})", "dim"))
    return link.stylize(f"@click=app.switch_mode('{mode}')")


def render_review(counts: ReviewCounts | None, *, width: int = 36) -> Content:
    """`breaks 3 (4)  queued 2 (5)`, with the kinds of the breaks when there is room."""
    if counts is None:
        return Content.styled("review: not read yet", "dim")
    line = Content.assemble(
        _count("breaks", counts.open_breaks, "4", "recon"),
        "  ",
        _count("queued", counts.queued, "5", "mapping"),
    )
    kinds = [f"{_KIND_SHORT.get(kind, kind)} {n}"
             for kind, n in sorted(counts.breaks_by_kind.items()) if n]
    detail = f"  {' '.join(kinds)}" if kinds else ""
    if counts.source == "ledger":
        detail += "  from ledger"
    if detail and len(line.plain) + len(detail) <= width:
        line = Content.assemble(line, Content.styled(detail, "dim"))
    return line


class ReviewLine(Static):
    """Open breaks and queued items, linking to views 4 and 5."""

    DEFAULT_CSS = """
    ReviewLine {
        height: 1;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, counts: ReviewCounts | None) -> None:
        """Redraw with these counts."""
        width = max(10, self.size.width - 2) if self.size.width else 36
        self.update(render_review(counts, width=width))
        self.tooltip = "\n".join(counts.problems) if counts and counts.problems else None

