"""The guards on the dashboard. The drawdown guard: a loud two-line banner while it counts
down to closing every position (the countdown, then why), and the one-line figure the PnL
panel shows the rest of the time (drawdown against its limit, and the peak). The market
guard: one line in the strategy panel, `market calm` or the symbols it flagged today (each
blocks new entries) and the positions it left for an operator's review.

The countdown is measured on the engine's clock (`engine.status` carries it): in a
simulation it runs at the simulation's speed, like the guard itself.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.widgets import Static

from tui.model.formatting import clock_time, countdown, money
from tui.model.live_state import LiveState
from tui.model.snapshot import DrawdownView, EngineStatus, MarketFlagView, MarketGuardView

BANNER_STYLE = "bold white on red"
_PCT = Decimal("0.01")


def _pct(value: Decimal) -> str:
    """`20%`, `0.5%`, `21.30%`: a limit as written, a measure to two places."""
    return f"{value.normalize():f}%"


def drawdown_why(guard: DrawdownView) -> str:
    """Why the guard tripped, in figures: the limit crossed and what crossed it."""
    if guard.trigger == "min_equity":
        return (f"equity {money(guard.equity)} below MIN_EQUITY {money(guard.min_equity)}"
                f" · peak {money(guard.peak)}")
    shown = f"{guard.drawdown_pct.quantize(_PCT)}%" if guard.drawdown_pct is not None else "—"
    return (f"drawdown {shown} ≥ MAX_DRAWDOWN_PCT {_pct(guard.max_drawdown_pct)} · peak "
            f"{money(guard.peak)} → equity {money(guard.equity)}")


def render_guard_banner(status: EngineStatus | None, online: bool) -> Text | None:
    """` DRAWDOWN GUARD: closing every position in 7s at 15:01:13Z ` over the reason, or
    None while the guard is not counting down or closing."""
    guard = status.drawdown if status is not None else None
    if status is None or guard is None or not guard.counting_down:
        return None
    if guard.phase == "closing":
        first = " DRAWDOWN GUARD: closing every position now, then HALTED"
    else:
        left = countdown(guard.deadline, status.clock.now)
        first = (f" DRAWDOWN GUARD: closing every position {left} at "
                 f"{clock_time(guard.deadline)}, then HALTED")
    if not online:
        first += " (last known)"
    text = Text(first + " \n", style=BANNER_STYLE)
    text.append(f" {drawdown_why(guard)} ", style=BANNER_STYLE)
    return text


def drawdown_line(guard: DrawdownView | None) -> Text | None:
    """`drawdown 3.46% of 20% · peak 100,000.00` for the PnL panel (None without a guard);
    amber from half the limit, red at it."""
    if guard is None:
        return None
    line = Text("drawdown ", style="dim")
    if guard.drawdown_pct is None:
        line.append("—", style="dim")
    else:
        limit = guard.max_drawdown_pct
        style = ("bold red" if guard.counting_down or (limit > 0 and guard.drawdown_pct >= limit)
                 else "bold yellow" if limit > 0 and guard.drawdown_pct * 2 >= limit
                 else "bold")
        line.append(f"{guard.drawdown_pct.quantize(_PCT)}%", style=style)
    line.append(" of ", style="dim")
    line.append(_pct(guard.max_drawdown_pct) if guard.max_drawdown_pct > 0 else "off")
    line.append("  peak ", style="dim")
    line.append(money(guard.peak))
    return line


class GuardBanner(Static):
    """Full width, two lines, red, while the drawdown guard counts down; hidden otherwise."""

    DEFAULT_CSS = """
    GuardBanner {
        height: 2;
        width: 100%;
        display: none;
        background: red;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    GuardBanner.-shown {
        display: block;
    }
    """

    def show(self, live: LiveState) -> bool:
        """Show the countdown and the reason while the guard counts down or closes; True
        when shown."""
        banner = render_guard_banner(live.status, live.connection.online)
        self.set_class(banner is not None, "-shown")
        if banner is not None:
            self.update(banner)
        return banner is not None


# -- the market guard ------------------------------------------------------------------------

_TENTH = Decimal("0.1")

_FLAG_WORDS = {"gap": "gap", "overnight_gap": "o/n gap", "spread": "spread"}


def _flag_text(flag: MarketFlagView, *, sizes: bool) -> str:
    """`PFE gap -7.9%`, `SNAP spread 212bps` (`sizes`), or without the figure."""
    word = _FLAG_WORDS.get(flag.kind, flag.kind.replace("_", " "))
    if not sizes or flag.size is None:
        return f"{flag.symbol} {word}"
    if flag.kind == "spread":
        return f"{flag.symbol} {word} {flag.size.quantize(Decimal(1))}bps"
    return f"{flag.symbol} {word} {flag.size.quantize(_TENTH):+}%"


def _calm_line(guard: MarketGuardView) -> Text:
    line = Text("market ", style="dim")
    line.append("calm", style="green")
    limits = []
    if guard.gap_pct is not None:
        limits.append(f"gap {_pct(guard.gap_pct)}")
    if guard.spread_bps is not None:
        limits.append(f"spread {guard.spread_bps.normalize():f}bps")
    if limits:
        line.append(f" ({', '.join(limits)})", style="dim")
    return line


def market_line(guard: MarketGuardView | None, width: int | None = None) -> Text | None:
    """The market guard in one line (None from an engine without it).

    `market calm (gap 5%, spread 150bps)`, or what it flagged today and the positions it
    left for review: `market 2 flagged: PFE gap -7.9%, SNAP spread 212bps · review PFE`.
    Within `width` cells the flags lose their figures, then their kinds and count
    (`market flags PFE, SNAP · review PFE`), before the symbols are cut: the review part
    (positions an operator must look at) is always kept.
    """
    if guard is None:
        return None
    count = guard.slippage_flags
    slipped = (Text(f" · {count} fill{'s' if count != 1 else ''} slipped", style="yellow")
               if count else Text())
    if not guard.flags and not guard.review:
        return Text.assemble(_calm_line(guard), slipped)
    review = Text()
    if guard.review:
        lead = " · review " if guard.flags else "review "
        review = Text(lead + " ".join(guard.review), style="bold red")
    label = Text("market ", style="dim")
    flagged = Text(f"{len(guard.flags)} flagged", style="bold yellow")
    symbols = ", ".join(flag.symbol for flag in guard.flags)
    # Longest first: the figures, then the kinds, then only the symbols.
    lines = [
        Text.assemble(label, flagged, ": " + ", ".join(
            _flag_text(flag, sizes=sizes) for flag in guard.flags), review, slipped)
        for sizes in (True, False)
    ] + [Text.assemble(label, Text("flags ", style="bold yellow"), symbols, review)]
    if not guard.flags:
        lines = [Text.assemble(label, review, slipped)]
    if width is None or not guard.flags:
        return lines[0]
    for line in lines:
        if line.cell_len <= width:
            return line
    # Not even the symbols fit: cut them, keep the review part (an operator's to-do).
    cut = Text(symbols)
    cut.truncate(max(1, width - label.cell_len - 6 - review.cell_len), overflow="ellipsis")
    return Text.assemble(label, Text("flags ", style="bold yellow"), cut, review)
