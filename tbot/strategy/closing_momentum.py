"""End-of-day momentum and fade (`close`): ride a day's move into the close, or lean
against a late spike that is already turning.

The strategy watches the whole session (every minute from the open) and, per symbol,
keeps the day's open and its volume before the window. The analysis phase
(``START_TIME_CLOSE`` for ``CLOSE_ANALYSIS_TIME`` minutes) records the late action: its
first open (the *late open*), its high and low, its volume. In the breakout phase, for a
symbol with a bar, with

- day move = the late open ÷ the day's first open − 1 (the day before the late action),
- late move = close ÷ the late open − 1,
- relative volume = volume per bar since the analysis began ÷ volume per bar before it,

the rules are, in this order (the first that holds decides):

1. **Fade** a spike that reverses. An up-spike: the analysis high is at least
   ``STRAT_CLOSE_SPIKE_MOVE`` above the late open, and the close has given back at least
   ``STRAT_CLOSE_FADE_RETRACE`` of that rise: enter bearish. A down-spike mirrored: enter
   long.
2. **Momentum** continuation: |day move| ≥ ``STRAT_CLOSE_MIN_DAY_MOVE`` and the late move is
   of the same sign and at least ``STRAT_CLOSE_MIN_LATE_MOVE``: enter with the day (up →
   long, down → bearish).

Both need relative volume ≥ ``STRAT_CLOSE_MIN_RELATIVE_VOLUME``: a late move nobody trades
is noise. Every entry also needs the VIX gate's leave (VIX ≥ ``STRAT_CLOSE_VIX_THRESHOLD``,
``ENABLE_VIX_GATE``); with no VIX value the gate blocks and the note asks for an alert.

Exits, measured on the underlying: a stop at ``STRAT_CLOSE_STOP_LOSS`` (2%) against the
entry, and a hard exit ``STRAT_CLOSE_EXIT_LEAD_MINUTES`` before the window's end — the
window is clipped to the session's close by the scheduler, early closes included, so the
exit orders still meet an open market.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.market.vix import VixSource
from tbot.strategy.filters.vix_gate import VixGate
from tbot.strategy.minute_frame import MinuteFrame
from tbot.strategy.signals import Direction, ExitReason, ExitSignal, Signal
from tbot.strategy.stepping import LeverageOf, SteppedStrategy
from tbot.strategy.window import StrategyWindow


class ClosingMomentum(SteppedStrategy):
    """The `close` strategy for one window over `universe`, with `inverse_pool` for bearish
    entries and `vix` as the VIX gate's source (None: the gate blocks every entry)."""

    name: StrategyName = StrategyName.CLOSE

    def __init__(
        self,
        bot: BotSettings,
        window: StrategyWindow,
        universe: Sequence[str],
        inverse_pool: Sequence[str],
        *,
        vix: VixSource | None = None,
        leverage_of: LeverageOf | None = None,
    ) -> None:
        super().__init__(bot, window, universe, inverse_pool, leverage_of=leverage_of)
        size = len(self.index)
        self._gate = VixGate(vix, bot.STRAT_CLOSE_VIX_THRESHOLD, enabled=bot.ENABLE_VIX_GATE)
        self._day_open = np.full(size, np.nan)
        self._early_volume = np.zeros(size)
        self._early_bars = np.zeros(size)
        self._late_open = np.full(size, np.nan)
        self._late_high = np.full(size, np.nan)
        self._late_low = np.full(size, np.nan)
        self._late_volume = np.zeros(size)
        self._late_bars = np.zeros(size)

    # -- the step ---------------------------------------------------------------------------
    def _observe(self, own: MinuteFrame) -> None:
        present = own.present
        first = present & np.isnan(self._day_open)
        self._day_open[first] = own.open[first]
        volume = np.where(present, own.volume, 0.0)
        if own.start < self.window.start:
            self._early_volume += volume
            self._early_bars += present
            return
        if own.start >= self.window.breakout_end:
            return
        starts = present & np.isnan(self._late_open)
        self._late_open[starts] = own.open[starts]
        self._late_volume += volume
        self._late_bars += present
        if own.start < self.window.analysis_end:
            higher = present & ~(own.high <= self._late_high)
            lower = present & ~(own.low >= self._late_low)
            self._late_high[higher] = own.high[higher]
            self._late_low[lower] = own.low[lower]

    def _scan(self, own: MinuteFrame) -> list[Signal]:
        candidates = self._candidates(own) & ~np.isnan(self._late_high)
        if not candidates.any():
            return []
        bot = self._bot
        close = own.close
        with np.errstate(invalid="ignore", divide="ignore"):
            day_move = self._late_open / self._day_open - 1.0
            late_move = close / self._late_open - 1.0
            relative = (self._late_volume / self._late_bars) / (
                self._early_volume / self._early_bars)
            rise = self._late_high / self._late_open - 1.0
            drop = 1.0 - self._late_low / self._late_open
            gave_back_rise = (self._late_high - close) / (self._late_high - self._late_open)
            gave_back_drop = (close - self._late_low) / (self._late_open - self._late_low)
        spike = float(bot.STRAT_CLOSE_SPIKE_MOVE)
        retrace = float(bot.STRAT_CLOSE_FADE_RETRACE)
        fade_up = candidates & (rise >= spike) & (gave_back_rise >= retrace)
        fade_down = candidates & ~fade_up & (drop >= spike) & (gave_back_drop >= retrace)
        fading = fade_up | fade_down
        day, late = float(bot.STRAT_CLOSE_MIN_DAY_MOVE), float(bot.STRAT_CLOSE_MIN_LATE_MOVE)
        with_up = candidates & ~fading & (day_move >= day) & (late_move >= late)
        with_down = candidates & ~fading & (day_move <= -day) & (late_move <= -late)
        setups = fading | with_up | with_down
        if not setups.any():
            return []
        events: dict[int, str] = {}
        refused = np.zeros_like(setups)
        quiet = setups & ~(relative >= float(bot.STRAT_CLOSE_MIN_RELATIVE_VOLUME))
        refused |= quiet
        for column in np.flatnonzero(self._unnoted("quiet", quiet)):
            events[int(column)] = "quiet"
        for code, mask in self._filter_masks(own, setups & ~refused):
            refused |= mask
            for column in np.flatnonzero(self._unnoted(code, mask)):
                events[int(column)] = code
        for name, mask in (("fade_up", fade_up), ("fade_down", fade_down),
                           ("with_up", with_up), ("with_down", with_down)):
            for column in np.flatnonzero(mask & ~refused):
                events[int(column)] = name
        figures = (day_move, late_move, relative)
        signals: list[Signal] = []
        verdict = None
        for column in sorted(events):
            if self._traded[column]:
                continue
            event = events[column]
            if event.startswith(("fade", "with")):
                verdict = verdict or self._gate.check(own.at)
                if verdict.blocked:
                    note = self._note(self.index.symbols[column], "vix", own.at,
                                      f"{self._setup_words(own, column, event, figures)}: "
                                      f"skipped, {verdict.reason}", alert=verdict.alert)
                    if note is not None:
                        signals.append(note)
                    continue
            signal = self._event(own, column, event, figures)
            if signal is not None:
                signals.append(signal)
        return signals

    def _event(self, own: MinuteFrame, column: int, event: str,
               figures: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Signal | None:
        symbol = self.index.symbols[column]
        at = own.at
        close = own.decimal("close", column)
        words = self._setup_words(own, column, event, figures)
        if event in ("fade_down", "with_up"):
            return self._enter(symbol, symbol, Direction.LONG, close, close, at, words)
        if event in ("fade_up", "with_down"):
            return self._bearish(symbol, close, at, words)
        if event == "quiet":
            relative = figures[2][column]
            return self._note(symbol, event, at, (
                f"{words}: skipped, relative volume {relative:.2f} below "
                f"STRAT_CLOSE_MIN_RELATIVE_VOLUME {self._bot.STRAT_CLOSE_MIN_RELATIVE_VOLUME}"))
        return self._filter_note(event, symbol, close, at)

    def _setup_words(self, own: MinuteFrame, column: int, event: str,
                     figures: tuple[np.ndarray, np.ndarray, np.ndarray]) -> str:
        symbol = self.index.symbols[column]
        close = own.decimal("close", column)
        day_move, late_move, relative = (float(f[column]) for f in figures)
        if event == "fade_up":
            what = f"fade: spike to {self._late_high[column]:.2f} reversing"
        elif event == "fade_down":
            what = f"fade: drop to {self._late_low[column]:.2f} reversing"
        elif event in ("with_up", "with_down"):
            what = "momentum"
        else:
            what = "setup"
        return (f"{symbol} {close} {what} (day {day_move:+.2%}, late {late_move:+.2%}, "
                f"volume x{relative:.2f})")

    # -- exits ------------------------------------------------------------------------------
    def _exit_deadline(self) -> datetime:
        lead = timedelta(minutes=self._bot.STRAT_CLOSE_EXIT_LEAD_MINUTES)
        return max(self.window.monitoring_end - lead, self.window.breakout_end)

    def _deadline_words(self) -> str:
        return "the session ends; hard exit"

    def _deadline_reason(self) -> ExitReason:
        return ExitReason.SESSION_END

    def _exit_for(self, instrument: str, frame: MinuteFrame, own: MinuteFrame
                  ) -> ExitSignal | None:
        at = frame.at
        held = self._held.get(instrument)
        if held is None or instrument in self._stops:  # adopted: its own price's stop
            return self._own_stop_exit(instrument, frame)
        price = self._close_in(own, held.underlying)
        if price is None:
            return None
        return self._entry_stop_exit(instrument, held, price,
                                     self._bot.STRAT_CLOSE_STOP_LOSS, at)

    def _adopted(self, instrument: str, last_price: Decimal) -> None:
        self._set_own_stop(instrument, last_price, self._bot.STRAT_CLOSE_STOP_LOSS)

    # -- reporting --------------------------------------------------------------------------
    def self_check(self) -> list[str]:
        """Configuration that would make the strategy trade wrongly or not at all."""
        bot = self._bot
        problems = self._phase_problems()
        problems.extend(self._gate.self_check())
        for key in ("STRAT_CLOSE_MIN_DAY_MOVE", "STRAT_CLOSE_SPIKE_MOVE",
                    "STRAT_CLOSE_STOP_LOSS", "STRAT_CLOSE_FADE_RETRACE"):
            if getattr(bot, key) <= 0:
                problems.append(f"{key}={getattr(bot, key)}: must be above 0")
        if bot.STRAT_CLOSE_FADE_RETRACE > 1:
            problems.append(f"STRAT_CLOSE_FADE_RETRACE={bot.STRAT_CLOSE_FADE_RETRACE}: a "
                            "spike cannot give back more than all of itself (0..1)")
        total = self.window.monitoring_end - self.window.breakout_end
        if timedelta(minutes=bot.STRAT_CLOSE_EXIT_LEAD_MINUTES) > total:
            problems.append(f"STRAT_CLOSE_EXIT_LEAD_MINUTES={bot.STRAT_CLOSE_EXIT_LEAD_MINUTES}"
                            " is longer than the monitoring phase: positions would leave as "
                            "soon as they enter")
        return problems

    def snapshot(self) -> dict[str, object]:
        """Phase, holdings and their entries, and the exit deadline; money as text."""
        return {**self._window_snapshot(), "positions": self._positions_snapshot(),
                "hard_exit_at": self._exit_deadline().isoformat()}
