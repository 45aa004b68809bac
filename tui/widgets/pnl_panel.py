"""Today's PnL: realized, unrealized, fees and total, for the day and per strategy, with the
account's equity, cash and session start equity, and the drawdown guard's figure (drawdown
from the peak against MAX_DRAWDOWN_PCT).

Amounts stay Decimal until they are formatted (`tui.model.formatting`); gains are green,
losses red, and every figure carries its sign so it reads without colour too.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from tui.model.formatting import money, signed_money
from tui.model.live_state import LiveState
from tui.model.snapshot import AccountSummary, PnlFigures, PnlSummary
from tui.widgets.guard_banner import drawdown_line
from tui.widgets.strategy_panel import ordered_names, stale_note

_MIN_NUMBER_WIDTH = 9
_GAP = 1


def _figures_cells(figures: PnlFigures, with_fees: bool) -> list[Text]:
    cells = [signed_money(figures.realized), signed_money(figures.unrealized)]
    if with_fees:
        cells.append(Text(money(figures.fees)))
    cells.append(signed_money(figures.total))
    return cells


def _table_lines(pnl: PnlSummary, width: int) -> list[Text]:
    rows: list[tuple[str, PnlFigures]] = [("today", pnl.today)]
    rows.extend((name, pnl.by_strategy[name]) for name in ordered_names(pnl.by_strategy))
    label_width = max(len(name) for name, _ in rows)
    number_width = max(
        _MIN_NUMBER_WIDTH,
        *(cell.cell_len for _, figures in rows for cell in _figures_cells(figures, True)),
    )
    # The fees column only when the panel is wide enough; otherwise fees go below.
    with_fees = label_width + 4 * (number_width + _GAP) <= width
    titles = ["realized", "unreal.", *(["fees"] if with_fees else []), "total"]
    header = Text(" " * label_width, style="dim")
    for title in titles:
        header.append(" " * _GAP + title.rjust(number_width), style="dim")
    lines = [header]
    for name, figures in rows:
        line = Text(name.ljust(label_width), style="bold" if name == "today" else "")
        for cell in _figures_cells(figures, with_fees):
            line.append(" " * (_GAP + number_width - cell.cell_len))
            line.append_text(cell)
        lines.append(line)
    return lines if with_fees else [*lines, Text(f"fees today {money(pnl.today.fees)}")]


def _account_lines(account: AccountSummary | None) -> list[Text]:
    if account is None:
        return [Text("account: not known yet", style="dim")]
    equity = Text("equity ", style="dim")
    equity.append(money(account.equity), style="bold")
    if account.session_start_equity is not None:
        equity.append("  start ", style="dim")
        equity.append(money(account.session_start_equity))
    cash = Text("cash ", style="dim")
    cash.append(money(account.cash))
    cash.append("  buying power ", style="dim")
    cash.append(money(account.buying_power))
    return [equity, cash]


def render_pnl(live: LiveState, width: int) -> Text:
    """The panel's lines for a panel `width` cells wide (a function, so tests can read it)."""
    title = Text("PnL today", style="bold")
    if live.pnl is not None:
        title.append(f" {live.pnl.currency}", style="bold")
    note = stale_note(live)
    if note:
        title.append("  ")
        title.append_text(note)
    lines: Sequence[Text]
    if live.pnl is None:
        lines = [Text("waiting for the engine…", style="dim")]
    else:
        lines = _table_lines(live.pnl, width)
    guard = drawdown_line(live.status.drawdown if live.status is not None else None)
    panel = Text("\n").join([title, *lines, *_account_lines(live.account),
                             *([guard] if guard is not None else [])])
    panel.no_wrap = True
    panel.overflow = "ellipsis"
    return panel


class PnlPanel(Widget):
    """Realized / unrealized / fees / total today and per strategy; equity and cash."""

    DEFAULT_CSS = """
    PnlPanel {
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._live: LiveState | None = None

    def show(self, live: LiveState) -> None:
        """Redraw from the live state."""
        self._live = live
        # The number of strategies may change the panel's height.
        self.refresh(layout=True)

    def render(self) -> RenderResult:
        if self._live is None:
            return Text("PnL today", style="bold")
        return render_pnl(self._live, self.content_size.width)
