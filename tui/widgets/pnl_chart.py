"""The intraday PnL chart: today's total PnL against the engine's clock.

Built on `textual_plotext.PlotextPlot`. Samples arrive with every poll and PnL event, up to
ten a second; the plot is rebuilt at most `MAX_REDRAWS_PER_SECOND` times a second and only
when it is on screen, so a busy engine never costs the console its keyboard. The line uses
braille dots in a basic colour (green at or above zero, red below), which every terminal
draws, 16 colours included.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text
from textual.app import RenderResult
from textual.events import Resize
from textual.timer import Timer
from textual_plotext import PlotextPlot

from tui.model.snapshot import PnlPoint

MAX_REDRAWS_PER_SECOND = 3
_MIN_REDRAW_SECONDS = 1 / MAX_REDRAWS_PER_SECOND
_TICK_SPACING_CELLS = 12
"""Roughly one time label per this many columns."""
_AXIS_ROWS = 3
"""Rows of the chart that are not plot: the frame's top and bottom, the time labels."""


@dataclass(frozen=True)
class ChartSeries:
    """Chart coordinates: minutes since the first sample, and PnL as floats (display only)."""

    minutes: list[float]
    totals: list[float]
    start: datetime | None

    def tick_labels(self, count: int) -> tuple[list[float], list[str]]:
        """Up to `count` evenly spread x positions with their HH:MM labels (engine clock)."""
        if self.start is None or not self.minutes:
            return [], []
        last = self.minutes[-1]
        if count < 2 or last <= 0:
            return [0.0], [self.start.strftime("%H:%M")]
        step = last / (count - 1)
        positions = [step * index for index in range(count)]
        labels = [(self.start + timedelta(minutes=x)).strftime("%H:%M") for x in positions]
        return positions, labels

    def value_range(self) -> tuple[float, float]:
        """The y axis's span: the day's lowest and highest totals, zero included; a flat
        day gets -1 to +1 so its line is not drawn on the frame."""
        low = min(0.0, *self.totals) if self.totals else 0.0
        high = max(0.0, *self.totals) if self.totals else 0.0
        return (-1.0, 1.0) if low == high else (low, high)

    def value_ticks(self, rows: int = 0) -> tuple[list[float], list[str]]:
        """The y axis's ticks: the lowest total, zero and the highest (zero always shows,
        so the eye sees gain from loss), with signed labels. With the chart's `rows`, a low
        or high that would share zero's row is left out rather than mislabel it."""
        low, high = self.value_range()
        # plotext puts `low` on the bottom row and `high` on the top one: a value nearer
        # zero than half the distance between rows would print on zero's row.
        row_step = (high - low) / (rows - 1) if rows > 1 else 0.0
        values = [value for value in sorted({low, 0.0, high})
                  if value == 0 or abs(value) >= row_step / 2]
        return values, ["0" if value == 0 else f"{value:+,.2f}" for value in values]


def chart_series(points: Sequence[PnlPoint]) -> ChartSeries:
    """The samples as chart coordinates."""
    if not points:
        return ChartSeries([], [], None)
    start = points[0].at
    minutes = [(point.at - start) / timedelta(minutes=1) for point in points]
    return ChartSeries(minutes, [float(point.total) for point in points], start)


class PnlChart(PlotextPlot):
    """Today's total PnL over the day, redrawn a few times a second at most."""

    DEFAULT_CSS = """
    PnlChart {
        height: 1fr;
        min-height: 5;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._points: Sequence[PnlPoint] = ()
        self._drawn: tuple[int, PnlPoint | None, int, int] | None = None
        self._last_draw = float("-inf")
        self._pending: Timer | None = None
        self.draws = 0
        """How many times the plot was rebuilt (tests and benchmarks read it)."""

    def show(self, points: Sequence[PnlPoint]) -> None:
        """Chart `points` (oldest first); the redraw may wait a moment (throttled)."""
        self._points = points
        self._schedule()

    def _schedule(self) -> None:
        if self._pending is not None:
            return  # a redraw is already due and will pick up the newest points
        wait = self._last_draw + _MIN_REDRAW_SECONDS - time.monotonic()
        if wait <= 0:
            self._draw()
        else:
            self._pending = self.set_timer(wait, self._draw_due)

    def _draw_due(self) -> None:
        self._pending = None
        self._draw()

    def _state(self) -> tuple[int, PnlPoint | None, int, int]:
        points = self._points
        return (len(points), points[-1] if points else None, self.size.width, self.size.height)

    def _draw(self) -> None:
        if not self._displayed() or self.size.width == 0 or self.size.height == 0:
            return  # drawn on the next resize or show, when it is on screen again
        state = self._state()
        if state == self._drawn:
            return
        self._drawn = state
        self._last_draw = time.monotonic()
        self.draws += 1
        self._plot_series(chart_series(self._points))
        self.refresh()

    def _displayed(self) -> bool:
        # A small screen hides the chart's container rather than the chart itself.
        return all(node.display for node in self.ancestors_with_self)

    def _plot_series(self, series: ChartSeries) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not series.totals:
            return
        colour = "green" if series.totals[-1] >= 0 else "red"
        marker = "braille" if len(series.totals) > 1 else "o"
        plt.hline(0, color="gray")
        plt.plot(series.minutes, series.totals, marker=marker, color=colour)
        positions, labels = series.tick_labels(max(2, self.size.width // _TICK_SPACING_CELLS))
        plt.xticks(positions, labels)
        # The day's low, zero and high, labelled exactly: plotext's own ticks fall on the
        # few rows a short chart has and can put "4.0" where the line is at zero.
        values, value_labels = series.value_ticks(self.size.height - _AXIS_ROWS)
        plt.ylim(*series.value_range())
        plt.yticks(values, value_labels)
        if len(series.totals) == 1:
            # A single sample: give the x axis some room so the point is not on the frame.
            plt.xlim(-1, 1)

    def on_resize(self, event: Resize) -> None:
        self._schedule()

    def on_show(self) -> None:
        self._schedule()

    def render(self) -> RenderResult:
        if not self._points:
            return Text("no PnL samples yet", style="dim")
        return super().render()
