"""The per-bar opening-range breakout as it was before the columnar step (v0.7.0), kept
only so `strategy_step.py` can measure the step against it in the same run.

During the analysis phase the strategy records each symbol's high, low and volume. During
the breakout phase a close above ``high × (1 + STRAT_OPEN_BUFFER)`` buys the stock; a close
below ``low × (1 − STRAT_OPEN_BUFFER)`` is bearish and, with SHORT_TYPE_OPEN=InverseETF,
buys an inverse ETF from the pool instead. Holdings leave on a 2% trailing stop from the
highest close since entry, or when the monitoring phase ends.

Timing: a bar belongs to the opening range when its minute starts inside the analysis phase;
entries are judged when bars are delivered (at their minute's end), and only deliveries in
[analysis_end, breakout_end) may enter. So the bar of the last breakout minute, delivered
at breakout_end, is too late to enter on: an order then would fall outside the phase.

Volume filter: the analysis window is all we have seen of the day, so the day's volume is
projected linearly, ``analysis volume × 390 / analysis minutes`` (390 minutes in a regular
session), and compared with MIN_VOLUME_THRESHOLD. The analysis minutes are the window's,
not the number of bars seen: a minute with no bar counts as zero volume, which errs on the
side of not trading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from tbot.clock import ensure_utc
from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import ShortType, StrategyName
from tbot.market.bars import Bar
from tbot.strategy.signals import (
    TAG_INVERSE_ETF,
    TAG_NONE,
    Direction,
    EntrySignal,
    ExitReason,
    ExitSignal,
    Signal,
    SkipNote,
)
from tbot.strategy.window import Phase, StrategyWindow

TRAILING_STOP = Decimal("0.02")
REGULAR_SESSION_MINUTES = 390

LeverageOf = Callable[[str], int]


@dataclass(slots=True)
class _Range:
    """One symbol's opening range so far."""

    high: Decimal
    low: Decimal
    volume: int


def _universe_leverage() -> LeverageOf:
    # Imported late: the universe module is optional for callers that pass their own lookup.
    from tbot.market.universe import leverage_multiplier

    return leverage_multiplier


class OpeningRangeBreakout:
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
        self.window = window
        self._bot = bot
        self._universe = tuple(dict.fromkeys(universe))
        self._pool = tuple(dict.fromkeys(inverse_pool))
        uses_pool = bot.SHORT_TYPE_OPEN is ShortType.INVERSE_ETF and bool(self._pool)
        if leverage_of is None and uses_pool:
            leverage_of = _universe_leverage()
        self._leverage_of: LeverageOf = leverage_of or (lambda _symbol: 1)
        self._watched = frozenset(self._universe) | frozenset(self._pool)

        self._ranges: dict[str, _Range] = {}
        self._last_close: dict[str, Decimal] = {}
        self._traded: set[str] = set()
        self._holdings: dict[str, Decimal] = {}
        self._peaks: dict[str, Decimal] = {}
        self._exiting: set[str] = set()
        self._noted: set[tuple[str, str]] = set()
        self._last_at: datetime | None = None

    # -- the Strategy protocol ------------------------------------------------------------

    def on_bars(self, bars: Mapping[str, Bar], at: datetime) -> list[Signal]:
        """Update ranges and trailing stops from one minute of bars; return exits first
        (by instrument), then entries and skip notes in universe order."""
        at = ensure_utc(at)
        self._last_at = at
        for symbol in sorted(bars):
            self._record(bars[symbol])
        signals: list[Signal] = list(self._exits(bars, at))
        if self.window.analysis_end <= at < self.window.breakout_end:
            signals.extend(self._entries(bars, at))
        return signals

    def on_entry_filled(
        self, instrument: str, quantity: Decimal, price: Decimal, at: datetime
    ) -> None:
        """Add a buy fill to the holding; the trailing stop starts from the first fill's
        price and then follows closes."""
        _require_positive(quantity, "entry fill quantity")
        self._holdings[instrument] = self._holdings.get(instrument, Decimal(0)) + quantity
        self._peaks.setdefault(instrument, price)
        self._traded.add(instrument)

    def on_exit_filled(
        self, instrument: str, quantity: Decimal, price: Decimal, at: datetime
    ) -> None:
        """Take a sell fill off the holding; a holding sold out is forgotten."""
        _require_positive(quantity, "exit fill quantity")
        remaining = self._holdings.get(instrument, Decimal(0)) - quantity
        if remaining > 0:
            self._holdings[instrument] = remaining
            return
        self._holdings.pop(instrument, None)
        self._peaks.pop(instrument, None)
        self._exiting.discard(instrument)

    def on_exit_rejected(self, instrument: str) -> None:
        """Let the exit of `instrument` be emitted again on the next bars that call for it."""
        self._exiting.discard(instrument)

    def holdings(self) -> Mapping[str, Decimal]:
        """Instrument → quantity held, from the fills reported (a copy)."""
        return dict(self._holdings)

    def adopt_position(
        self,
        instrument: str,
        quantity: Decimal,
        average_cost: Decimal,
        last_price: Decimal,
        at: datetime,
    ) -> None:
        """Take over a position found at the broker after a restart. The trailing stop
        restarts from `last_price` (the peak before the restart is unknown), and the
        instrument counts as traded this session."""
        _require_positive(quantity, "adopted quantity")
        self._holdings[instrument] = quantity
        self._peaks[instrument] = last_price
        self._last_close[instrument] = last_price
        self._traded.add(instrument)
        self._exiting.discard(instrument)

    def self_check(self) -> list[str]:
        """Configuration and state that would make the strategy trade wrongly or not at all."""
        bot, window = self._bot, self.window
        problems: list[str] = []
        if window.strategy is not StrategyName.OPEN:
            problems.append(f"the window is for strategy {window.strategy}, not open")
        if bot.STRAT_OPEN_BUFFER <= 0:
            problems.append(
                f"STRAT_OPEN_BUFFER={bot.STRAT_OPEN_BUFFER}: must be above 0, or any tick "
                "past the range counts as a breakout"
            )
        for key, phase, begin, end in (
            ("OPEN_ANALYSIS_TIME", "analysis", window.start, window.analysis_end),
            ("OPEN_BREAKOUT_TIME", "breakout", window.analysis_end, window.breakout_end),
            ("OPEN_MONITORING_TIME", "monitoring", window.breakout_end, window.monitoring_end),
        ):
            if getattr(bot, key) <= 0:
                problems.append(f"{key}=0: the window has no {phase} phase")
            elif begin == end:
                problems.append(
                    f"the {window.day} window has no {phase} phase (clipped by an early close?)"
                )
        if not self._universe:
            problems.append("the universe is empty: there is no symbol to trade")
        if bot.SHORT_TYPE_OPEN is ShortType.INVERSE_ETF and not self._pool:
            problems.append("SHORT_TYPE_OPEN=InverseETF but the inverse-ETF pool is empty")
        return problems

    def snapshot(self) -> dict[str, object]:
        """Phase, ranges, candidates, holdings and trailing stops; money as text."""
        window = self.window
        phase = window.phase_at(self._last_at) if self._last_at else Phase.PENDING
        return {
            "strategy": self.name.value,
            "phase": phase.value,
            "as_of": self._last_at.isoformat() if self._last_at else None,
            "window": {
                "start": window.start.isoformat(),
                "analysis_end": window.analysis_end.isoformat(),
                "breakout_end": window.breakout_end.isoformat(),
                "monitoring_end": window.monitoring_end.isoformat(),
            },
            "ranges": {
                symbol: {"high": str(rng.high), "low": str(rng.low), "volume": rng.volume}
                for symbol, rng in sorted(self._ranges.items())
            },
            "candidates": [s for s in self._universe if s not in self._traded],
            "holdings": {i: str(q) for i, q in sorted(self._holdings.items())},
            "trailing_stops": {
                i: {"peak": str(peak), "stop": str(_stop_price(peak))}
                for i, peak in sorted(self._peaks.items())
            },
            "exiting": sorted(self._exiting),
            "traded": sorted(self._traded),
        }

    # -- beyond the protocol --------------------------------------------------------------

    def watched_symbols(self) -> tuple[str, ...]:
        """Every symbol whose bars the strategy reads: the universe, then the pool."""
        return self._universe + tuple(s for s in self._pool if s not in self._universe)

    # -- bars -----------------------------------------------------------------------------

    def _record(self, bar: Bar) -> None:
        symbol = bar.symbol
        if symbol not in self._watched and symbol not in self._holdings:
            return
        self._last_close[symbol] = bar.close
        in_analysis = self.window.start <= bar.start < self.window.analysis_end
        if not in_analysis or symbol not in self._watched:
            return
        rng = self._ranges.get(symbol)
        if rng is None:
            self._ranges[symbol] = _Range(bar.high, bar.low, bar.volume)
        else:
            rng.high = max(rng.high, bar.high)
            rng.low = min(rng.low, bar.low)
            rng.volume += bar.volume

    def _exits(self, bars: Mapping[str, Bar], at: datetime) -> list[ExitSignal]:
        exits: list[ExitSignal] = []
        if at >= self.window.monitoring_end:
            end = self.window.monitoring_end
            for instrument in sorted(self._holdings):
                if instrument in self._exiting:
                    continue
                self._exiting.add(instrument)
                exits.append(
                    ExitSignal(
                        strategy=self.name,
                        instrument=instrument,
                        reason=ExitReason.TIMEOUT,
                        at=at,
                        detail=f"{instrument}: monitoring ended at {end:%H:%M} UTC",
                        trigger_price=self._last_close.get(instrument),
                    )
                )
            return exits
        for instrument in sorted(self._holdings):
            bar = bars.get(instrument)
            if bar is None:
                continue
            peak = max(self._peaks.get(instrument, bar.close), bar.close)
            self._peaks[instrument] = peak
            stop = _stop_price(peak)
            if instrument in self._exiting or bar.close > stop:
                continue
            self._exiting.add(instrument)
            exits.append(
                ExitSignal(
                    strategy=self.name,
                    instrument=instrument,
                    reason=ExitReason.TRAILING_STOP,
                    at=at,
                    detail=(
                        f"{instrument} {bar.close} <= trailing stop {stop} "
                        f"(peak {peak} x {1 - TRAILING_STOP})"
                    ),
                    trigger_price=bar.close,
                )
            )
        return exits

    def _entries(self, bars: Mapping[str, Bar], at: datetime) -> list[Signal]:
        signals: list[Signal] = []
        for symbol in self._universe:
            bar = bars.get(symbol)
            if bar is None or symbol in self._traded or symbol in self._holdings:
                continue
            signal = self._evaluate(symbol, bar.close, at)
            if signal is not None:
                signals.append(signal)
        return signals

    def _evaluate(self, symbol: str, close: Decimal, at: datetime) -> Signal | None:
        rng = self._ranges.get(symbol)
        if rng is None:
            return self._note(symbol, "no_range", at, f"{symbol} skipped: no opening range")
        refusal = self._filter(symbol, close)
        if refusal is not None:
            code, text = refusal
            return self._note(symbol, code, at, text)
        buffer = self._bot.STRAT_OPEN_BUFFER
        if close > rng.high * (1 + buffer):
            reason = f"{symbol} {close} > range high {rng.high} x {1 + buffer}"
            return self._enter(symbol, symbol, Direction.LONG, close, close, at, reason)
        if close < rng.low * (1 - buffer):
            breakdown = f"{symbol} {close} < range low {rng.low} x {1 - buffer}"
            return self._bearish(symbol, close, at, breakdown)
        return None

    def _bearish(self, symbol: str, close: Decimal, at: datetime, breakdown: str) -> Signal | None:
        short_type = self._bot.SHORT_TYPE_OPEN
        if short_type is ShortType.DISABLED:
            text = f"{breakdown}: skipped, bearish entries are off (SHORT_TYPE_OPEN=disabled)"
            return self._note(symbol, "bearish_disabled", at, text)
        if short_type is not ShortType.INVERSE_ETF:
            text = f"{breakdown}: skipped, SHORT_TYPE_OPEN={short_type} is not supported yet"
            return self._note(symbol, "bearish_unsupported", at, text)
        etf = self._pick_inverse_etf()
        if etf is None:
            text = f"{breakdown}: skipped, no inverse ETF in the pool passes the filters"
            return self._note(symbol, "no_inverse_etf", at, text)
        price = self._last_close[etf]
        reason = f"{breakdown}; inverse ETF {etf} at {price}"
        return self._enter(symbol, etf, Direction.BEARISH, close, price, at, reason)

    def _pick_inverse_etf(self) -> str | None:
        """The first usable ETF of the pool, preferring one already breaking out upward."""
        usable = [
            etf
            for etf in self._pool
            if etf not in self._traded
            and etf not in self._holdings
            and etf in self._last_close
            and self._filter(etf, self._last_close[etf]) is None
        ]
        for etf in usable:
            rng = self._ranges.get(etf)
            if rng is not None and self._last_close[etf] > rng.high:
                return etf
        return usable[0] if usable else None

    def _enter(
        self,
        underlying: str,
        instrument: str,
        direction: Direction,
        trigger: Decimal,
        reference: Decimal,
        at: datetime,
        reason: str,
    ) -> EntrySignal:
        self._traded.update((underlying, instrument))
        inverse = direction is Direction.BEARISH
        return EntrySignal(
            strategy=self.name,
            underlying=underlying,
            instrument=instrument,
            direction=direction,
            trigger_price=trigger,
            reference_price=reference,
            at=at,
            reason=reason,
            tag=TAG_INVERSE_ETF if inverse else TAG_NONE,
            leverage_multiplier=self._leverage_of(instrument) if inverse else 1,
        )

    # -- filters and notes ----------------------------------------------------------------

    def _filter(self, symbol: str, price: Decimal) -> tuple[str, str] | None:
        """(code, text) of the first filter `symbol` fails at `price`, or None."""
        bot = self._bot
        if price < bot.MIN_PRICE:
            return "price_low", f"{symbol} skipped: price {price} below MIN_PRICE {bot.MIN_PRICE}"
        if price > bot.MAX_PRICE:
            return "price_high", f"{symbol} skipped: price {price} above MAX_PRICE {bot.MAX_PRICE}"
        projected = self._projected_volume(symbol)
        if projected < bot.MIN_VOLUME_THRESHOLD:
            shown = projected.to_integral_value(rounding=ROUND_DOWN)
            return "low_volume", (
                f"{symbol} skipped: projected daily volume {shown} below "
                f"MIN_VOLUME_THRESHOLD {bot.MIN_VOLUME_THRESHOLD}"
            )
        return None

    def _projected_volume(self, symbol: str) -> Decimal:
        rng = self._ranges.get(symbol)
        minutes = (self.window.analysis_end - self.window.start) // timedelta(minutes=1)
        if rng is None or minutes <= 0:
            return Decimal(0)
        return Decimal(rng.volume) * REGULAR_SESSION_MINUTES / minutes

    def _note(self, symbol: str, code: str, at: datetime, text: str) -> SkipNote | None:
        """A skip note, unless `symbol` already had one for the same reason this session."""
        if (symbol, code) in self._noted:
            return None
        self._noted.add((symbol, code))
        return SkipNote(strategy=self.name, symbol=symbol, at=at, reason=text)


def _stop_price(peak: Decimal) -> Decimal:
    return peak * (1 - TRAILING_STOP)


def _require_positive(quantity: Decimal, what: str) -> None:
    if quantity <= 0:
        raise ValueError(f"{what} must be above 0, got {quantity}")
