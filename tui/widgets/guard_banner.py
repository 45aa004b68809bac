"""The drawdown guard on the dashboard: a loud two-line banner while it counts down to
closing every position (the countdown, then why), and the one-line figure the PnL panel
shows the rest of the time (drawdown against its limit, and the peak).

The countdown is measured on the engine's clock (`engine.status` carries it): in a
simulation it runs at the simulation's speed, like the guard itself.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.widgets import Static

from tui.model.formatting import clock_time, countdown, money
from tui.model.live_state import LiveState
from tui.model.snapshot import DrawdownView, EngineStatus

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
