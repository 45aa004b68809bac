"""VWAP mean reversion (`mid`): trade a stretched price back to the session's VWAP.

From the session's first minute the strategy keeps, per symbol, the session VWAP, ADX(14)
and Bollinger(20, 2σ) (`tbot.strategy.indicators`). Inside the breakout phase a symbol
enters when its close is at least ``STRAT_MID_VWAP_THRESHOLD`` away from its VWAP and the
two confirmations hold:

- ADX below ``MID_ADX_MAX`` (25): the market is not trending, so a stretch tends to revert
  (``ENABLE_ADX_FILTER``);
- the close beyond the 2σ Bollinger band on the side of the stretch: below the lower band
  for a long, above the upper band for a bearish entry (``ENABLE_BOLLINGER_FILTER``).

Below the VWAP is long (the stock); above is bearish, expressed per ``SHORT_TYPE_MID``. A
stretch that a confirmation refuses is noted once with its figures (the strategy log and
the daily summary), never traded.

Exits, measured on the underlying (an inverse ETF's own price says nothing about the
stock's VWAP): the VWAP touch (a long's close at or above the VWAP, a bearish one's at or
below), a stop at ``STRAT_MID_STOP_LOSS`` (1.5%) against the entry, or the end of the
monitoring phase. A position adopted after a restart has no known underlying: it leaves
on its own price's stop or at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.strategy.indicators import Adx, Bollinger, SessionVwap
from tbot.strategy.minute_frame import MinuteFrame
from tbot.strategy.signals import Direction, ExitReason, ExitSignal, Signal
from tbot.strategy.stepping import LeverageOf, SteppedStrategy
from tbot.strategy.window import StrategyWindow

ADX_PERIOD = 14
BOLLINGER_LENGTH = 20
BOLLINGER_WIDTH = 2.0


class VwapReversion(SteppedStrategy):
    """The `mid` strategy for one window over `universe`, with `inverse_pool` (in order of
    preference) for bearish entries."""

    name: StrategyName = StrategyName.MID

    def __init__(
        self,
        bot: BotSettings,
        window: StrategyWindow,
        universe: Sequence[str],
        inverse_pool: Sequence[str],
        *,
        leverage_of: LeverageOf | None = None,
    ) -> None:
        super().__init__(bot, window, universe, inverse_pool, leverage_of=leverage_of)
        size = len(self.index)
        self._vwap = SessionVwap(size)
        self._adx = Adx(size, period=ADX_PERIOD)
        self._bands = Bollinger(size, length=BOLLINGER_LENGTH, width=BOLLINGER_WIDTH)

    # -- the step ---------------------------------------------------------------------------
    def _observe(self, own: MinuteFrame) -> None:
        present = own.present
        self._vwap.update(own.high, own.low, own.close, own.volume, present)
        if own.start < self.window.breakout_end:  # after it only exits read (the VWAP)
            self._adx.update(own.high, own.low, own.close, present)
            self._bands.update(own.close, present)

    def _scan(self, own: MinuteFrame) -> list[Signal]:
        candidates = self._candidates(own)
        if not candidates.any():
            return []
        bot = self._bot
        vwap = self._vwap.value
        threshold = float(bot.STRAT_MID_VWAP_THRESHOLD)
        with np.errstate(invalid="ignore", divide="ignore"):
            deviation = own.close / vwap - 1.0
        below = candidates & (deviation <= -threshold)
        above = candidates & (deviation >= threshold)
        stretched = below | above
        if not stretched.any():
            return []
        events: dict[int, str] = {}
        refused = np.zeros_like(stretched)
        for code, mask in self._filter_masks(own, stretched):
            refused |= mask
            for column in np.flatnonzero(self._unnoted(code, mask)):
                events[int(column)] = code
        if bot.ENABLE_ADX_FILTER:
            adx = self._adx.adx
            for code, mask in (("adx_unknown", stretched & ~refused & np.isnan(adx)),
                               ("adx_trend", stretched & ~refused
                                & (adx >= float(bot.MID_ADX_MAX)))):
                refused |= mask
                for column in np.flatnonzero(self._unnoted(code, mask)):
                    events[int(column)] = code
        if bot.ENABLE_BOLLINGER_FILTER:
            lower, upper = self._bands.lower, self._bands.upper
            inside = stretched & ~refused & (
                np.isnan(lower) | (below & ~(own.close < lower))
                | (above & ~(own.close > upper)))
            refused |= inside
            for column in np.flatnonzero(self._unnoted("inside_band", inside)):
                events[int(column)] = "inside_band"
        for column in np.flatnonzero(below & ~refused):
            events[int(column)] = "long"
        for column in np.flatnonzero(above & ~refused):
            events[int(column)] = "bearish"
        signals: list[Signal] = []
        for column in sorted(events):
            if self._traded[column]:
                continue
            signal = self._event(own, column, events[column], float(deviation[column]))
            if signal is not None:
                signals.append(signal)
        return signals

    def _event(self, own: MinuteFrame, column: int, event: str, deviation: float
               ) -> Signal | None:
        symbol = self.index.symbols[column]
        at = own.at
        close = own.decimal("close", column)
        vwap = float(self._vwap.value[column])
        stretch = (f"{symbol} {close} is {deviation:+.2%} from VWAP {vwap:.4f} "
                   f"(threshold {self._bot.STRAT_MID_VWAP_THRESHOLD})")
        if event == "long":
            return self._enter(symbol, symbol, Direction.LONG, close, close, at,
                               f"{stretch}; {self._confirmations(column)}")
        if event == "bearish":
            return self._bearish(symbol, close, at, f"{stretch}; {self._confirmations(column)}")
        if event == "adx_unknown":
            return self._note(symbol, event, at, f"{stretch}: skipped, ADX({ADX_PERIOD}) "
                              f"needs {2 * ADX_PERIOD} bars of the symbol first")
        if event == "adx_trend":
            return self._note(symbol, event, at, (
                f"{stretch}: skipped, ADX {self._adx.adx[column]:.1f} >= MID_ADX_MAX "
                f"{self._bot.MID_ADX_MAX} (trending)"))
        if event == "inside_band":
            lower, upper = self._bands.lower[column], self._bands.upper[column]
            band = ("not enough closes for Bollinger(20) yet" if np.isnan(lower)
                    else f"the close is inside the 2σ band {lower:.4f}..{upper:.4f}")
            return self._note(symbol, event, at, f"{stretch}: skipped, {band}")
        return self._filter_note(event, symbol, close, at)

    def _confirmations(self, column: int) -> str:
        parts = []
        if self._bot.ENABLE_ADX_FILTER:
            parts.append(f"ADX {self._adx.adx[column]:.1f} < {self._bot.MID_ADX_MAX}")
        if self._bot.ENABLE_BOLLINGER_FILTER:
            parts.append(f"beyond the 2σ band {self._bands.lower[column]:.4f}.."
                         f"{self._bands.upper[column]:.4f}")
        return ", ".join(parts) or "no confirmation filter on"

    # -- exits ------------------------------------------------------------------------------
    def _exit_for(self, instrument: str, frame: MinuteFrame, own: MinuteFrame
                  ) -> ExitSignal | None:
        at = frame.at
        held = self._held.get(instrument)
        if held is None or instrument in self._stops:  # adopted: its own price's stop
            return self._own_stop_exit(instrument, frame)
        column = self.index.position(held.underlying)
        if column is None or not own.present[column]:
            return None
        price = own.decimal("close", column)
        stopped = self._entry_stop_exit(instrument, held, price,
                                        self._bot.STRAT_MID_STOP_LOSS, at)
        if stopped is not None:
            return stopped
        vwap = float(self._vwap.value[column])
        touched = (float(price) >= vwap if held.direction is Direction.LONG
                   else float(price) <= vwap)
        if not touched:
            return None
        side = "" if held.direction is Direction.LONG else " (bearish)"
        return self._exit(instrument, ExitReason.VWAP_TOUCH, at,
                          f"{held.underlying} {price} back at VWAP {vwap:.4f}{side}", price)

    def _adopted(self, instrument: str, last_price: Decimal) -> None:
        self._set_own_stop(instrument, last_price, self._bot.STRAT_MID_STOP_LOSS)

    # -- reporting --------------------------------------------------------------------------
    def self_check(self) -> list[str]:
        """Configuration that would make the strategy trade wrongly or not at all."""
        bot = self._bot
        problems = self._phase_problems()
        if bot.STRAT_MID_VWAP_THRESHOLD <= 0:
            problems.insert(0, f"STRAT_MID_VWAP_THRESHOLD={bot.STRAT_MID_VWAP_THRESHOLD}: "
                               "must be above 0, or every price is a stretch")
        if bot.STRAT_MID_STOP_LOSS <= 0:
            problems.insert(0, f"STRAT_MID_STOP_LOSS={bot.STRAT_MID_STOP_LOSS}: must be "
                               "above 0, or every entry stops out at once")
        if bot.ENABLE_ADX_FILTER and bot.MID_ADX_MAX <= 0:
            problems.insert(0, f"MID_ADX_MAX={bot.MID_ADX_MAX}: with ENABLE_ADX_FILTER=true "
                               "no market is ever trendless enough")
        return problems

    def snapshot(self) -> dict[str, object]:
        """Phase, holdings and, per stretched candidate, its VWAP deviation; money as text."""
        return {**self._window_snapshot(), "positions": self._positions_snapshot()}
