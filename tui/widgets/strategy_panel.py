"""What the engine is doing: the strategy window and its phase, the broker (with its order
stream and market data), the market guard, the counters.

`TradingStateBanner` is the loud line above it when trading is not ACTIVE: the status bar
already carries the state's badge, the banner adds why ("HALTED: daily loss limit").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from tui.model.formatting import TRADING_STATE_STYLES, clock_time, countdown
from tui.model.live_state import LiveState
from tui.model.snapshot import EngineStatus, StrategyView
from tui.widgets.guard_banner import market_line

STRATEGY_ORDER = ("open", "mid", "close")
"""The day's windows in the order they trade; other names follow alphabetically."""

_COUNTERS = (("orders", "orders"), ("fills", "fills"), ("rejections", "rej"), ("errors", "err"))


def stale_note(live: LiveState) -> Text:
    """`last known at 15:01:03Z` while the engine is not talking to us; empty when live."""
    if live.connection.online:
        return Text()
    if live.last_update is None:
        return Text("no engine data", style="dim")
    return Text(f"last known at {clock_time(live.last_update)}", style="bold yellow")


def ordered_names(names: Mapping[str, object]) -> list[str]:
    """Strategy names in trading order: open, mid, close, then any other."""
    known = [name for name in STRATEGY_ORDER if name in names]
    return known + sorted(name for name in names if name not in STRATEGY_ORDER)


def _phase_lines(strategy: StrategyView, now: datetime) -> list[Text]:
    """`open · monitoring` over `ends in 28m57s at 15:30:00Z`: two lines, so both fit the
    panel's 36 cells at 80 columns."""
    if strategy.active:
        name = Text(strategy.active, style="bold")
        name.append(f" · {strategy.phase or 'no phase'}", style="")
        ends = strategy.phase_ends or strategy.next_change
        return [name, _countdown_line("ends", ends, now)]
    return [Text("no window", style="dim"), _countdown_line("next", strategy.next_change, now)]


def _countdown_line(label: str, moment: datetime | None, now: datetime) -> Text:
    line = Text(f"{label} ", style="dim")
    if moment is None:
        line.append("—", style="dim")
        return line
    line.append(countdown(moment, now), style="bold cyan")
    line.append(f" at {clock_time(moment)}", style="dim")
    return line


def _enabled_line(enabled: Mapping[str, bool]) -> Text:
    line = Text("enabled ", style="dim")
    if not enabled:
        line.append("—", style="dim")
    for index, name in enumerate(ordered_names(enabled)):
        if index:
            line.append(" ")
        on = enabled[name]
        line.append(f"{name} ")
        line.append("on" if on else "off", style="bold green" if on else "bold red")
    return line


def _broker_line(status: EngineStatus) -> Text:
    """The broker's health, then (a real broker's) its order stream and market data; a
    problem reads before the rest of the line, which may be cut at narrow widths."""
    broker = status.broker
    line = Text("broker ", style="dim")
    line.append(broker.name, style="bold")
    if status.order_stream_connected is False:
        line.append(" ✖ order stream down", style="bold red")
    feed = status.market_data
    if feed is not None and not feed.healthy:
        line.append(f" ✖ data {feed.reason or 'unhealthy'}", style="bold red")
    if broker.healthy:
        line.append(" ● healthy", style="green")
    else:
        line.append(" ✖ unhealthy", style="bold red")
        if broker.last_error:
            line.append(f": {broker.last_error}", style="red")
    if feed is not None and feed.healthy:
        line.append(f" · data {feed.feed}", style="dim")
        if feed.gaps_today:
            line.append(f" ({feed.gaps_today} gaps)", style="yellow")
    return line


def _counters_line(counters: Mapping[str, int]) -> Text:
    line = Text()
    for index, (key, label) in enumerate(_COUNTERS):
        value = counters.get(key, 0)
        if index:
            line.append("  ")
        line.append(f"{label} ", style="dim")
        alarming = key in {"rejections", "errors"} and value > 0
        line.append(str(value), style="bold red" if alarming else "bold")
    return line


def render_strategy(live: LiveState, width: int | None = None) -> Text:
    """The panel's lines (a function, so tests can read them); `width` lets the market
    guard's line shorten its details to fit rather than lose its end."""
    title = Text("Strategy", style="bold")
    note = stale_note(live)
    if note:
        title.append("  ")
        title.append_text(note)
    status = live.status
    if status is None:
        lines = [title, Text("waiting for the engine…", style="dim")]
    else:
        defense = status.defense
        on = defense is not None and defense.active
        # Defense mode leads the market line when on: the panel keeps its height at 80x24.
        lead = Text("DEFENSE ", style="bold black on yellow") if on else None
        market = market_line(status.market_guard,
                             None if width is None else width - (8 if on else 0))
        if lead is not None:
            market = Text.assemble(lead, market if market is not None else Text(
                "defense mode on", style="yellow"))
        lines = [
            title,
            *_phase_lines(status.strategy, status.clock.now),
            _enabled_line(status.strategy.enabled),
            _broker_line(status),
            *([market] if market is not None else []),
            _counters_line(status.counters),
        ]
    panel = Text("\n").join(lines)
    # One fact per line: a long broker error is cut, not wrapped over the next line.
    panel.no_wrap = True
    panel.overflow = "ellipsis"
    return panel


def render_trading_banner(status: EngineStatus | None, online: bool) -> Text | None:
    """`HALTED: daily loss limit · since 14:25:00Z`, or None while trading is ACTIVE."""
    if status is None or status.trading.state.lower() == "active":
        return None
    trading = status.trading
    style = TRADING_STATE_STYLES.get(trading.state.lower(), "bold reverse")
    text = Text(f" {trading.label}", style=style)
    if trading.reason:
        text.append(f": {trading.reason}", style=style)
    if trading.since is not None:
        text.append(f" · since {clock_time(trading.since)}", style=style)
    if not online:
        text.append(" (last known)", style=style)
    text.append(" ", style=style)
    return text


class StrategyPanel(Static):
    """Active strategy and phase with a countdown, enabled windows, broker, counters."""

    DEFAULT_CSS = """
    StrategyPanel {
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    _live: LiveState | None = None

    def show(self, live: LiveState) -> None:
        """Redraw from the live state (the countdown runs on the engine's clock)."""
        self._live = live
        self.update(render_strategy(live, self.content_size.width or None))

    def on_resize(self) -> None:
        # The first show may come before the panel has a width: the market guard's line
        # fits itself to the width once it is known.
        if self._live is not None:
            self.update(render_strategy(self._live, self.content_size.width or None))


class TradingStateBanner(Static):
    """A full-width reversed line saying why trading is not ACTIVE; hidden while it is."""

    DEFAULT_CSS = """
    TradingStateBanner {
        height: 1;
        width: 100%;
        display: none;
    }
    TradingStateBanner.-shown {
        display: block;
    }
    TradingStateBanner.-halted {
        background: red;
    }
    TradingStateBanner.-reducing {
        background: yellow;
    }
    """

    def show(self, live: LiveState) -> None:
        """Show the reason when trading is REDUCING or HALTED, hide the banner otherwise."""
        banner = render_trading_banner(live.status, live.connection.online)
        state = live.status.trading.state.lower() if live.status is not None else ""
        self.set_class(banner is not None, "-shown")
        self.set_class(state == "halted", "-halted")
        self.set_class(state == "reducing", "-reducing")
        if banner is not None:
            self.update(banner)
