"""The opening-range breakout (`open`): trade the first break of the morning's range.

During the analysis phase the strategy records each symbol's high, low and volume. During
the breakout phase a close above ``high × (1 + STRAT_OPEN_BUFFER)`` buys the stock; a close
below ``low × (1 − STRAT_OPEN_BUFFER)`` is bearish and, with SHORT_TYPE_OPEN=InverseETF,
buys an inverse ETF from the pool instead. Holdings leave on a 2% trailing stop from the
highest close since entry, or when the monitoring phase ends.

Timing: a bar belongs to the opening range when its minute starts inside the analysis phase;
entries are judged when bars are delivered (at their minute's end), and only deliveries in
[analysis_end, breakout_end) may enter. So the bar of the last breakout minute, delivered
at breakout_end, is too late to enter on: an order then would fall outside the phase.

On the columnar step (`tbot.strategy.stepping`): the range is kept as arrays over the
universe and the pool, breakouts are found with array masks; only the symbols that signal
are handled one by one, with their exact Decimal prices for the reasons and the orders.

Volume filter: the analysis window is all we have seen of the day, so the day's volume is
projected linearly, ``analysis volume × 390 / analysis minutes`` (390 minutes in a regular
session), and compared with MIN_VOLUME_THRESHOLD. The analysis minutes are the window's,
not the number of bars seen: a minute with no bar counts as zero volume, which errs on the
side of not trading.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName
from tbot.strategy.minute_frame import TOLERANCE, MinuteFrame
from tbot.strategy.signals import Direction, ExitReason, ExitSignal, Signal
from tbot.strategy.stepping import REGULAR_SESSION_MINUTES, LeverageOf, SteppedStrategy
from tbot.strategy.window import StrategyWindow

TRAILING_STOP = Decimal("0.02")


class OpeningRangeBreakout(SteppedStrategy):
    """The `open` strategy for one window over `universe`, with `inverse_pool` (in order of
    preference) for bearish signals.

    `leverage_of` gives an inverse ETF's leverage for the trades row; by default it is
    `tbot.market.universe.leverage_multiplier`.
    """

    name: StrategyName = StrategyName.OPEN

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
        self._range_high = np.full(size, np.nan)
        self._range_low = np.full(size, np.nan)
        self._range_volume = np.zeros(size)
        # The frames whose bar set each column's high and low: their exact prices.
        self._high_frame: NDArray[np.object_] = np.full(size, None, dtype=object)
        self._low_frame: NDArray[np.object_] = np.full(size, None, dtype=object)
        self._peaks: dict[str, Decimal] = {}
        self._analysis_minutes = (window.analysis_end - window.start) // timedelta(minutes=1)

    # -- the step ---------------------------------------------------------------------------
    def _observe(self, own: MinuteFrame) -> None:
        if not self.window.start <= own.start < self.window.analysis_end:
            return
        present = own.present
        # A NaN range (no bar yet) compares False, so the first bar always sets it.
        higher = present & ~(own.high <= self._range_high)
        lower = present & ~(own.low >= self._range_low)
        self._range_high[higher] = own.high[higher]
        self._range_low[lower] = own.low[lower]
        self._high_frame[higher] = own
        self._low_frame[lower] = own
        self._range_volume += np.where(present, own.volume, 0.0)

    def _scan(self, own: MinuteFrame) -> list[Signal]:
        candidates = self._candidates(own)
        if not candidates.any():
            return []
        events: dict[int, str] = {}
        ranged = candidates & ~np.isnan(self._range_high)
        for column in np.flatnonzero(self._unnoted("no_range", candidates & ~ranged)):
            events[int(column)] = "no_range"
        refused = np.zeros_like(ranged)
        for code, mask in self._filter_masks(own, ranged):
            refused |= mask
            for column in np.flatnonzero(self._unnoted(code, mask)):
                events[int(column)] = code
        usable = ranged & ~refused
        buffer = float(self._bot.STRAT_OPEN_BUFFER)
        up = usable & (own.close > self._range_high * (1 + buffer) * (1 + TOLERANCE))
        down = usable & ~up & (own.close < self._range_low * (1 - buffer) * (1 - TOLERANCE))
        for column in np.flatnonzero(up):
            events[int(column)] = "up"
        for column in np.flatnonzero(down):
            events[int(column)] = "down"
        signals: list[Signal] = []
        for column in sorted(events):
            if self._traded[column]:  # an ETF an earlier symbol of this minute just took
                continue
            signal = self._event(own, column, events[column])
            if signal is not None:
                signals.append(signal)
        return signals

    def _event(self, own: MinuteFrame, column: int, event: str) -> Signal | None:
        symbol = self.index.symbols[column]
        at = own.at
        close = own.decimal("close", column)
        if event == "no_range":
            return self._note(symbol, "no_range", at, f"{symbol} skipped: no opening range")
        buffer = self._bot.STRAT_OPEN_BUFFER
        if event == "up":
            high = self._range_decimal("high", column)
            reason = f"{symbol} {close} > range high {high} x {1 + buffer}"
            return self._enter(symbol, symbol, Direction.LONG, close, close, at, reason)
        if event == "down":
            low = self._range_decimal("low", column)
            breakdown = f"{symbol} {close} < range low {low} x {1 - buffer}"
            return self._bearish(symbol, close, at, breakdown)
        return self._filter_note(event, symbol, close, at)

    def _pick_inverse_etf(self) -> str | None:
        """The first usable ETF of the pool, preferring one already breaking out upward."""
        usable = self._usable_pool()
        for etf in usable:
            column = self._column(etf)
            price = self._last_price(etf)
            if (self._high_frame[column] is not None and price is not None
                    and price > self._range_decimal("high", column)):
                return etf
        return usable[0] if usable else None

    # -- exits ------------------------------------------------------------------------------
    def _exit_for(self, instrument: str, frame: MinuteFrame, own: MinuteFrame
                  ) -> ExitSignal | None:
        price = self._close_in(frame, instrument)
        if price is None:
            return None
        at = frame.at
        if self._is_short(instrument):  # sold short: the stop trails the lowest close
            trough = min(self._peaks.get(instrument, price), price)
            self._peaks[instrument] = trough
            stop = trough * (1 + TRAILING_STOP)
            if price < stop:
                return None
            return self._exit(instrument, ExitReason.TRAILING_STOP, at,
                              f"{instrument} {price} >= trailing stop {stop} "
                              f"(trough {trough} x {1 + TRAILING_STOP}, short)", price)
        peak = max(self._peaks.get(instrument, price), price)
        self._peaks[instrument] = peak
        stop = _stop_price(peak)
        if price > stop:
            return None
        return self._exit(instrument, ExitReason.TRAILING_STOP, at,
                          f"{instrument} {price} <= trailing stop {stop} "
                          f"(peak {peak} x {1 - TRAILING_STOP})", price)

    def _entry_filled(self, instrument: str, price: Decimal) -> None:
        # The trailing stop starts from the first fill's price and then follows closes.
        self._peaks.setdefault(instrument, price)

    def _adopted(self, instrument: str, last_price: Decimal) -> None:
        # The peak before the restart is unknown: the stop restarts from the last price.
        self._peaks[instrument] = last_price

    def _forget(self, instrument: str) -> None:
        self._peaks.pop(instrument, None)

    # -- the volume filter: the analysis window projected to a whole session ----------------
    def _projected_volumes(self) -> NDArray[np.float64]:
        if self._analysis_minutes <= 0:
            return np.zeros(len(self.index))
        return self._range_volume * REGULAR_SESSION_MINUTES / self._analysis_minutes

    def _projected_volume(self, symbol: str) -> Decimal:
        column = self.index.position(symbol)
        if column is None or self._analysis_minutes <= 0:
            return Decimal(0)
        volume = Decimal(int(self._range_volume[column]))
        return volume * REGULAR_SESSION_MINUTES / self._analysis_minutes

    # -- reporting --------------------------------------------------------------------------
    def self_check(self) -> list[str]:
        """Configuration and state that would make the strategy trade wrongly or not at all."""
        problems = self._phase_problems()
        if self._bot.STRAT_OPEN_BUFFER <= 0:
            problems.insert(0, (
                f"STRAT_OPEN_BUFFER={self._bot.STRAT_OPEN_BUFFER}: must be above 0, or any "
                "tick past the range counts as a breakout"))
        return problems

    def snapshot(self) -> dict[str, object]:
        """Phase, ranges, candidates, holdings and trailing stops; money as text."""
        ranges = {
            symbol: {"high": str(self._range_decimal("high", column)),
                     "low": str(self._range_decimal("low", column)),
                     "volume": int(self._range_volume[column])}
            for column, symbol in enumerate(self.index.symbols)
            if self._high_frame[column] is not None
        }
        return {
            **self._window_snapshot(),
            "ranges": dict(sorted(ranges.items())),
            "trailing_stops": {
                i: ({"trough": str(extreme), "stop": str(extreme * (1 + TRAILING_STOP))}
                    if self._is_short(i) else
                    {"peak": str(extreme), "stop": str(_stop_price(extreme))})
                for i, extreme in sorted(self._peaks.items())
            },
        }

    def _range_decimal(self, side: str, column: int) -> Decimal:
        frames = self._high_frame if side == "high" else self._low_frame
        frame: MinuteFrame = frames[column]
        return frame.decimal("high" if side == "high" else "low", column)


def _stop_price(peak: Decimal) -> Decimal:
    return peak * (1 - TRAILING_STOP)
