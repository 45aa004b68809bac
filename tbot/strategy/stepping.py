"""What every strategy shares on the columnar step: holdings, notes, exits, the bearish
instrument and the common filters; each strategy adds its indicators and its rules.

A `SteppedStrategy` watches a fixed `SymbolIndex` (its universe, then its inverse-ETF
pool). Each minute `step(frame)` receives the minute as a `MinuteFrame` (over any index:
it is re-indexed to the strategy's own when it differs) and:

1. `_observe(own)`: the strategy updates its indicator arrays from the whole minute;
2. exits: after the window's monitoring end every holding times out; before it, each
   holding with a bar this minute is asked `_exit_for` (holdings are few: plain Decimal
   arithmetic on exact prices);
3. entries, only while the minute is delivered inside the breakout phase: `_scan(own)`
   finds the columns that signal, with array masks, and turns just those into signals.

`on_bars(bars, at)` (the `Strategy` protocol the engine drives) builds the frame from
`Bar`s and steps; a backtester calls `step` with frames it builds from arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import numpy as np
from numpy.typing import NDArray

from tbot.clock import ensure_utc
from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import ShortType, StrategyName
from tbot.market.bars import Bar
from tbot.strategy.minute_frame import (
    TOLERANCE,
    BoolArray,
    MinuteFrame,
    SymbolIndex,
    frame_from_bars,
)
from tbot.strategy.signals import (
    TAG_INVERSE_ETF,
    TAG_NONE,
    TAG_SHORT_SELL,
    Direction,
    EntrySignal,
    ExitReason,
    ExitSignal,
    Signal,
    SkipNote,
)
from tbot.strategy.window import Phase, StrategyWindow

MINUTE = timedelta(minutes=1)
REGULAR_SESSION_MINUTES = 390

LeverageOf = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class HeldEntry:
    """Why an instrument is held: the underlying that signalled, the view, and the
    underlying's price at the signal (stops are measured on the underlying)."""

    underlying: str
    direction: Direction
    trigger_price: Decimal
    short_sale: bool = False
    """The instrument itself was sold short (tag ShortSell): it profits as it falls."""


def _universe_leverage() -> LeverageOf:
    # Imported late: the universe module is optional for callers that pass their own lookup.
    from tbot.market.universe import leverage_multiplier

    return leverage_multiplier


class SteppedStrategy:
    """The shared half of a strategy on the columnar step; see the module docstring."""

    name: StrategyName

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
        if leverage_of is None and self.short_type is ShortType.INVERSE_ETF and self._pool:
            leverage_of = _universe_leverage()
        self._leverage_of: LeverageOf = leverage_of or (lambda _symbol: 1)
        self.index = SymbolIndex((*self._universe, *self._pool))
        size = len(self.index)
        self._universe_size = len(self._universe)
        self._traded = np.zeros(size, dtype=np.bool_)
        """Columns that entered (as underlying or instrument) this session."""
        self._traded_other: set[str] = set()
        """Instruments outside the index that were traded (adopted after a restart)."""
        self._noted: dict[str, BoolArray] = {}
        """Per skip-note code, the columns already noted (each note once a session)."""
        self._noted_other: set[tuple[str, str]] = set()
        self._frames: list[MinuteFrame] = []
        """The day's frames over the index, in order (exact prices live there)."""
        self._last_seen = np.full(size, -1, dtype=np.intp)
        """Per column, the position in `_frames` of the last frame it traded in."""
        self._columns: dict[int, tuple[SymbolIndex, NDArray[np.intp]]] = {}
        self._holdings: dict[str, Decimal] = {}
        self._held: dict[str, HeldEntry] = {}
        self._stops: dict[str, Decimal] = {}
        """Adopted positions of mid and close: a stop on the instrument's own price."""
        self._last_close: dict[str, Decimal] = {}
        self._exiting: set[str] = set()
        self._last_at: datetime | None = None
        self._screened = False
        self._blocked = np.zeros(size, dtype=np.bool_)
        """Columns an outside check (the fundamentals guard) ruled out for the session."""
        self._day_open = np.full(size, np.nan)
        """Each column's first open of the session (the gap filter's reference)."""
        self._session_minutes = np.zeros(size, dtype=np.float64)
        """Bars seen per column today (for projected volumes)."""
        self._session_volume = np.zeros(size, dtype=np.float64)

    # -- what each strategy provides --------------------------------------------------------
    @property
    def short_type(self) -> ShortType:
        """SHORT_TYPE_<STRATEGY>: how this strategy expresses a bearish view."""
        short_type: ShortType = getattr(self._bot, f"SHORT_TYPE_{self.name.value.upper()}")
        return short_type

    def _observe(self, own: MinuteFrame) -> None:
        """Update the strategy's arrays from one minute over its own index."""

    def _exit_for(self, instrument: str, frame: MinuteFrame, own: MinuteFrame
                  ) -> ExitSignal | None:
        """The exit a holding calls for this minute, if any (`frame` as delivered, `own`
        over the strategy's index). Called for every holding, exiting or not, before the
        deadline."""
        return None

    def _scan(self, own: MinuteFrame) -> list[Signal]:
        """Entries and skip notes of one breakout-phase minute, in universe order."""
        return []

    # -- the Strategy protocol ------------------------------------------------------------
    def on_bars(self, bars: Mapping[str, Bar], at: datetime) -> list[Signal]:
        """React to one minute of bars (delivered at `at`, the minute's end)."""
        at = ensure_utc(at)
        extra = [s for s in self._holdings if s not in self.index and s in bars]
        index = self.index if not extra else SymbolIndex((*self.index.symbols, *extra))
        return self.step(frame_from_bars(index, bars, at - MINUTE, at))

    def step(self, frame: MinuteFrame) -> list[Signal]:
        """One minute for the whole universe: exits first (by instrument), then entries and
        skip notes in universe order."""
        self._last_at = frame.at
        if frame.start >= self.window.monitoring_end and not self._holdings:
            return []  # the window is over and nothing is held: nothing left to decide
        own = frame if frame.index is self.index else frame.reindex(
            self.index, self._columns_in(frame.index))
        present = own.present
        # Where each column last traded, as a minute number into the day's frames (an int
        # array: cheaper to update than an array of frame objects).
        np.copyto(self._last_seen, len(self._frames), where=present)
        self._frames.append(own)
        first = present & np.isnan(self._day_open)
        if first.any():
            self._day_open[first] = own.open[first]
        self._session_minutes += present
        np.add(self._session_volume, own.volume, out=self._session_volume, where=present)
        self._observe(own)
        signals: list[Signal] = list(self._exits(frame, own))
        if not self._screened and own.start >= self.window.start:
            self._screened = True
            signals.extend(self._gap_screen(own))
        if self.window.analysis_end <= frame.at < self.window.breakout_end:
            signals.extend(self._scan(own))
        return signals

    def on_entry_filled(
        self, instrument: str, quantity: Decimal, price: Decimal, at: datetime
    ) -> None:
        """Add a buy fill to the holding; partial fills add up."""
        _require_positive(quantity, "entry fill quantity")
        self._holdings[instrument] = self._holdings.get(instrument, Decimal(0)) + quantity
        self._mark_traded(instrument)
        self._entry_filled(instrument, price)

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
        self._held.pop(instrument, None)
        self._stops.pop(instrument, None)
        self._exiting.discard(instrument)
        self._forget(instrument)

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
        *,
        short: bool = False,
    ) -> None:
        """Take over a position found at the broker after a restart (`short`: sold
        short): exits restart from `last_price`, and the instrument counts as traded this
        session."""
        _require_positive(quantity, "adopted quantity")
        self._holdings[instrument] = quantity
        self._last_close[instrument] = last_price
        self._mark_traded(instrument)
        self._exiting.discard(instrument)
        if short:
            self._held[instrument] = HeldEntry(instrument, Direction.BEARISH, last_price,
                                               short_sale=True)
        self._adopted(instrument, last_price)

    def block(self, symbols: Iterable[str]) -> None:
        """Never enter `symbols` this session (an outside check ruled them out; the caller
        logs why). Symbols the strategy does not watch are ignored."""
        for symbol in symbols:
            column = self.index.position(symbol)
            if column is not None:
                self._blocked[column] = True

    def watched_symbols(self) -> tuple[str, ...]:
        """Every symbol whose bars the strategy reads: the universe, then the pool."""
        return self.index.symbols

    def phase(self) -> Phase:
        """The window's phase at the last minute seen."""
        return self.window.phase_at(self._last_at) if self._last_at else Phase.PENDING

    # -- hooks for holdings -----------------------------------------------------------------
    def _entry_filled(self, instrument: str, price: Decimal) -> None:
        """A buy fill of `instrument` at `price` (exit tracking may start here)."""

    def _adopted(self, instrument: str, last_price: Decimal) -> None:
        """A position taken over after a restart."""

    def _forget(self, instrument: str) -> None:
        """`instrument` is no longer held."""

    def _set_own_stop(self, instrument: str, last_price: Decimal, loss: Decimal) -> None:
        """An adopted position's stop on its own price (its signal is unknown): `loss`
        below `last_price`, or above it for a short."""
        self._stops[instrument] = last_price * (1 + loss if self._is_short(instrument)
                                                else 1 - loss)

    def _own_stop_exit(self, instrument: str, frame: MinuteFrame) -> ExitSignal | None:
        """The exit of a position under `_set_own_stop` when its price crosses the stop."""
        price = self._close_in(frame, instrument)
        stop = self._stops.get(instrument)
        if price is None or stop is None:
            return None
        if self._is_short(instrument):
            if price < stop:
                return None
            return self._exit(instrument, ExitReason.STOP_LOSS, frame.at,
                              f"{instrument} {price} >= stop {stop} (adopted short)", price)
        if price > stop:
            return None
        return self._exit(instrument, ExitReason.STOP_LOSS, frame.at,
                          f"{instrument} {price} <= stop {stop} (adopted)", price)

    def _entry_stop_exit(self, instrument: str, held: HeldEntry, price: Decimal,
                         loss: Decimal, at: datetime) -> ExitSignal | None:
        """The stop `loss` against the entry, on the underlying's `price`: below the entry
        for a long view, above it for a bearish one."""
        if held.direction is Direction.LONG:
            stop = held.trigger_price * (1 - loss)
            if price > stop:
                return None
            return self._exit(instrument, ExitReason.STOP_LOSS, at,
                              f"{held.underlying} {price} <= stop {stop}", price)
        stop = held.trigger_price * (1 + loss)
        if price < stop:
            return None
        return self._exit(instrument, ExitReason.STOP_LOSS, at,
                          f"{held.underlying} {price} >= stop {stop} (bearish)", price)

    def _positions_snapshot(self) -> dict[str, object]:
        """Each holding's underlying, view and entry price (the console's detail)."""
        return {
            instrument: {"underlying": entry.underlying, "direction": entry.direction.value,
                         "entry": str(entry.trigger_price)}
            for instrument, entry in sorted(self._held.items())
        }

    def _is_short(self, instrument: str) -> bool:
        """Whether `instrument` is held sold short."""
        held = self._held.get(instrument)
        return held is not None and held.short_sale

    # -- exits ------------------------------------------------------------------------------
    def _exits(self, frame: MinuteFrame, own: MinuteFrame) -> list[ExitSignal]:
        at = frame.at
        for instrument in self._holdings:
            price = self._close_in(frame, instrument)
            if price is not None:
                self._last_close[instrument] = price
        exits: list[ExitSignal] = []
        deadline = self._exit_deadline()
        if at < deadline:
            for instrument in sorted(self._holdings):
                signal = self._exit_for(instrument, frame, own)
                if signal is not None and instrument not in self._exiting:
                    self._exiting.add(instrument)
                    exits.append(signal)
            return exits
        for instrument in sorted(self._holdings):
            if instrument in self._exiting:
                continue
            self._exiting.add(instrument)
            exits.append(ExitSignal(
                strategy=self.name, instrument=instrument, reason=self._deadline_reason(),
                at=at, detail=f"{instrument}: {self._deadline_words()} at {deadline:%H:%M} UTC",
                trigger_price=self._last_price(instrument)))
        return exits

    @staticmethod
    def _close_in(frame: MinuteFrame, symbol: str) -> Decimal | None:
        """`symbol`'s exact close in `frame`, None when it has no bar there."""
        column = frame.index.position(symbol)
        if column is None or not frame.present[column]:
            return None
        return frame.decimal("close", column)

    def _exit_deadline(self) -> datetime:
        """When every holding leaves: the end of the monitoring phase."""
        return self.window.monitoring_end

    def _deadline_words(self) -> str:
        return "monitoring ended"

    def _deadline_reason(self) -> ExitReason:
        return ExitReason.TIMEOUT

    def _exit(self, instrument: str, reason: ExitReason, at: datetime, detail: str,
              price: Decimal) -> ExitSignal:
        return ExitSignal(strategy=self.name, instrument=instrument, reason=reason, at=at,
                          detail=detail, trigger_price=price)

    # -- entries ----------------------------------------------------------------------------
    def _candidates(self, own: MinuteFrame) -> BoolArray:
        """Universe columns with a bar this minute that have not traded and are not held."""
        candidates = own.present.copy()
        candidates[self._universe_size:] = False
        candidates &= ~self._traded
        candidates &= ~self._blocked
        for instrument in self._holdings:
            column = self.index.position(instrument)
            if column is not None:
                candidates[column] = False
        return candidates

    def _filter_masks(self, own: MinuteFrame, columns: BoolArray
                      ) -> list[tuple[str, BoolArray]]:
        """Per common filter (price band, projected volume), the `columns` it refuses."""
        bot = self._bot
        close = own.close
        low_price = columns & (close < float(bot.MIN_PRICE))
        high_price = columns & ~low_price & (close > float(bot.MAX_PRICE))
        rest = columns & ~low_price & ~high_price
        low_volume = rest & (self._projected_volumes() < float(bot.MIN_VOLUME_THRESHOLD))
        return [("price_low", low_price), ("price_high", high_price),
                ("low_volume", low_volume)]

    def _gap_screen(self, own: MinuteFrame) -> list[Signal]:
        """At the window's first minute, the screener's gap rule: a stock already further
        from its day's open than MAX_GAP_PCT_<STRATEGY> is left out of the window."""
        with np.errstate(invalid="ignore", divide="ignore"):
            gap = np.abs(own.close / self._day_open - 1.0)
        wide = own.present & (gap > float(self._max_gap()) * (1 + TOLERANCE))
        wide[self._universe_size:] = False
        self._blocked |= wide
        notes: list[Signal] = []
        for column in np.flatnonzero(wide):
            note = self._filter_note("gap", self.index.symbols[column],
                                     own.decimal("close", int(column)), own.at)
            if note is not None:
                notes.append(note)
        return notes

    def _max_gap(self) -> Decimal:
        """MAX_GAP_PCT_<STRATEGY>: the largest move from the day's open an entry accepts."""
        gap: Decimal = getattr(self._bot, f"MAX_GAP_PCT_{self.name.value.upper()}")
        return gap

    def _projected_volumes(self) -> NDArray[np.float64]:
        """Each column's day volume projected to a full session from the minutes so far
        (a minute without a bar counts as zero volume: it errs on the side of not trading)."""
        minutes = self._elapsed_minutes()
        if minutes <= 0:
            return np.zeros(len(self.index))
        return self._session_volume * REGULAR_SESSION_MINUTES / minutes

    def _elapsed_minutes(self) -> int:
        """Minutes of the session seen so far (the most bars any column has)."""
        return int(self._session_minutes.max(initial=0))

    def _filter_note(self, code: str, symbol: str, price: Decimal, at: datetime
                     ) -> SkipNote | None:
        """The note of a common filter refusing `symbol` at `price`."""
        bot = self._bot
        if code == "gap":
            day_open = self._day_open[self._column(symbol)]
            text = (f"{symbol} left out of the window: {price} is "
                    f"{float(price) / day_open - 1:+.2%} from the day's open {day_open:.2f}, "
                    f"beyond MAX_GAP_PCT_{self.name.value.upper()} {self._max_gap()}")
            return self._note(symbol, code, at, text)
        if code == "price_low":
            text = f"{symbol} skipped: price {price} below MIN_PRICE {bot.MIN_PRICE}"
        elif code == "price_high":
            text = f"{symbol} skipped: price {price} above MAX_PRICE {bot.MAX_PRICE}"
        else:
            shown = self._projected_volume(symbol).to_integral_value(rounding=ROUND_DOWN)
            text = (f"{symbol} skipped: projected daily volume {shown} below "
                    f"MIN_VOLUME_THRESHOLD {bot.MIN_VOLUME_THRESHOLD}")
        return self._note(symbol, code, at, text)

    def _projected_volume(self, symbol: str) -> Decimal:
        """`_projected_volumes` of one symbol, exactly."""
        column = self.index.position(symbol)
        minutes = self._elapsed_minutes()
        if column is None or minutes <= 0:
            return Decimal(0)
        return Decimal(int(self._session_volume[column])) * REGULAR_SESSION_MINUTES / minutes

    def _passes_filters(self, symbol: str) -> bool:
        """The common filters for one symbol at its last price (the pool's ETFs)."""
        price = self._last_price(symbol)
        bot = self._bot
        return (price is not None and bot.MIN_PRICE <= price <= bot.MAX_PRICE
                and self._projected_volume(symbol) >= bot.MIN_VOLUME_THRESHOLD)

    def _bearish(self, symbol: str, trigger: Decimal, at: datetime, why: str) -> Signal | None:
        """A bearish view of `symbol`: an inverse ETF of the pool, or a note saying why not."""
        short_type = self.short_type
        key = f"SHORT_TYPE_{self.name.value.upper()}"
        if short_type is ShortType.DISABLED:
            return self._note(symbol, "bearish_disabled", at,
                              f"{why}: skipped, bearish entries are off ({key}=disabled)")
        if short_type is ShortType.SHORT_SELL:
            return self._enter(symbol, symbol, Direction.BEARISH, trigger, trigger, at,
                               f"{why}; sold short", tag=TAG_SHORT_SELL)
        if short_type is not ShortType.INVERSE_ETF:
            return self._note(symbol, "bearish_unsupported", at,
                              f"{why}: skipped, {key}={short_type} is not supported yet")
        etf = self._pick_inverse_etf()
        if etf is None:
            return self._note(symbol, "no_inverse_etf", at,
                              f"{why}: skipped, no inverse ETF in the pool passes the filters")
        price = self._last_price(etf)
        assert price is not None  # picked only with a price
        return self._enter(symbol, etf, Direction.BEARISH, trigger, price, at,
                           f"{why}; inverse ETF {etf} at {price}")

    def _pick_inverse_etf(self) -> str | None:
        """The first usable ETF of the pool (in the pool's order of preference)."""
        usable = self._usable_pool()
        return usable[0] if usable else None

    def _usable_pool(self) -> list[str]:
        return [etf for etf in self._pool
                if not self._was_traded(etf) and etf not in self._holdings
                and self._last_price(etf) is not None and self._passes_filters(etf)]

    def _enter(self, underlying: str, instrument: str, direction: Direction, trigger: Decimal,
               reference: Decimal, at: datetime, reason: str, *, tag: str | None = None
               ) -> EntrySignal:
        self._mark_traded(underlying)
        self._mark_traded(instrument)
        if tag is None:
            tag = TAG_INVERSE_ETF if direction is Direction.BEARISH else TAG_NONE
        self._held[instrument] = HeldEntry(underlying, direction, trigger,
                                           short_sale=tag == TAG_SHORT_SELL)
        return EntrySignal(
            strategy=self.name, underlying=underlying, instrument=instrument,
            direction=direction, trigger_price=trigger, reference_price=reference, at=at,
            reason=reason, tag=tag,
            leverage_multiplier=self._leverage_of(instrument) if tag == TAG_INVERSE_ETF else 1)

    # -- notes and lookups ------------------------------------------------------------------
    def _note(self, symbol: str, code: str, at: datetime, text: str, *,
              alert: bool = False) -> SkipNote | None:
        """A skip note, unless `symbol` already had one for the same reason this session."""
        column = self.index.position(symbol)
        if column is None:
            if (symbol, code) in self._noted_other:
                return None
            self._noted_other.add((symbol, code))
        else:
            noted = self._noted.setdefault(code, np.zeros(len(self.index), dtype=np.bool_))
            if noted[column]:
                return None
            noted[column] = True
        return SkipNote(strategy=self.name, symbol=symbol, at=at, reason=text, alert=alert,
                        code=code)

    def _unnoted(self, code: str, columns: BoolArray) -> BoolArray:
        """`columns` not yet noted for `code` (so a minute's notes cost nothing twice)."""
        noted = self._noted.get(code)
        return columns if noted is None else columns & ~noted

    def _column(self, symbol: str) -> int:
        column = self.index.position(symbol)
        assert column is not None, symbol
        return column

    def _mark_traded(self, symbol: str) -> None:
        column = self.index.position(symbol)
        if column is None:
            self._traded_other.add(symbol)
        else:
            self._traded[column] = True

    def _was_traded(self, symbol: str) -> bool:
        column = self.index.position(symbol)
        if column is None:
            return symbol in self._traded_other
        return bool(self._traded[column])

    def _last_price(self, symbol: str) -> Decimal | None:
        """The last close seen of `symbol`, exactly."""
        known = self._last_close.get(symbol)
        if known is not None:
            return known
        column = self.index.position(symbol)
        if column is None or self._last_seen[column] < 0:
            return None
        return self._frames[self._last_seen[column]].decimal("close", column)

    def _columns_in(self, index: SymbolIndex) -> NDArray[np.intp]:
        cached = self._columns.get(id(index))
        if cached is None or cached[0] is not index:
            cached = (index, index.columns_of(self.index.symbols))
            if len(self._columns) >= 4:  # a caller that makes a new index each minute
                self._columns.pop(next(iter(self._columns)))
            self._columns[id(index)] = cached
        return cached[1]

    def _window_snapshot(self) -> dict[str, object]:
        window = self.window
        return {
            "strategy": self.name.value,
            "phase": self.phase().value,
            "as_of": self._last_at.isoformat() if self._last_at else None,
            "window": {
                "start": window.start.isoformat(),
                "analysis_end": window.analysis_end.isoformat(),
                "breakout_end": window.breakout_end.isoformat(),
                "monitoring_end": window.monitoring_end.isoformat(),
            },
            "candidates": [s for s in self._universe if not self._was_traded(s)],
            "holdings": {i: str(q) for i, q in sorted(self._holdings.items())},
            "exiting": sorted(self._exiting),
            "traded": sorted({*(s for s in self.index.symbols if self._was_traded(s)),
                              *self._traded_other}),
        }

    def _phase_problems(self) -> list[str]:
        """A missing phase, by setting or by an early close."""
        bot, window = self._bot, self.window
        key = self.name.value.upper()
        problems: list[str] = []
        for setting, phase, begin, end in (
            (f"{key}_ANALYSIS_TIME", "analysis", window.start, window.analysis_end),
            (f"{key}_BREAKOUT_TIME", "breakout", window.analysis_end, window.breakout_end),
            (f"{key}_MONITORING_TIME", "monitoring", window.breakout_end,
             window.monitoring_end),
        ):
            if getattr(bot, setting) <= 0:
                problems.append(f"{setting}=0: the window has no {phase} phase")
            elif begin == end:
                problems.append(
                    f"the {window.day} window has no {phase} phase (clipped by an early close?)")
        if window.strategy is not self.name:
            problems.append(f"the window is for strategy {window.strategy}, not {self.name}")
        if not self._universe:
            problems.append("the universe is empty: there is no symbol to trade")
        if self.short_type is ShortType.INVERSE_ETF and not self._pool:
            problems.append(f"SHORT_TYPE_{key}=InverseETF but the inverse-ETF pool is empty")
        return problems


def _require_positive(quantity: Decimal, what: str) -> None:
    if quantity <= 0:
        raise ValueError(f"{what} must be above 0, got {quantity}")
