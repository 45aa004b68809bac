"""What the generated market offers besides bars: fundamentals, a VIX series and quotes.

- `GeneratedFundamentals`: simulated P/E, debt/equity and market cap per symbol,
  deterministic from the name alone. The liquid stocks use `SIMULATED_FUNDAMENTALS`; other
  names draw theirs, about one in five failing one of the template's limits
  (`TEMPLATE_LIMITS`). Inverse ETFs have no figures (None).
- `GeneratedVix`: a per-minute VIX level for the generated market (a `VixSource`): a level
  that wanders from week to week between about 12 and 30, 2.5-5 points higher on the
  market's bearish days, rising when the generated index falls, with mean-reverting
  minute-to-minute noise; 11-40 in all. A day with opening-range breakouts keeps it at 15.5
  or more (the close strategy's VIX gate lets it trade); about two quiet days in five,
  one session in eight or nine, stay below 15 all afternoon (the gate has work).
- `quote_from_bar`: the best bid and ask around a bar's close, the spread a function of
  the price, the symbol's liquidity and how busy and volatile the minute was.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from tbot.clock import ensure_utc
from tbot.market.bars import Bar
from tbot.market.calendar import CalendarError
from tbot.market.fundamentals import Fundamentals
from tbot.market.generated_paths import CentPrices, seeded_rng, unit_noise
from tbot.market.quotes import Quote
from tbot.market.universe import SIMULATED_FUNDAMENTALS, is_inverse_etf

if TYPE_CHECKING:
    from collections.abc import Callable

    from tbot.market.calendar import TradingCalendar
    from tbot.market.generated_feed import DayKind

    KindOf = Callable[[date], DayKind]
    IndexOf = Callable[[date], Sequence[float]]


@dataclass(frozen=True, slots=True)
class FundamentalLimits:
    """The entry filters' limits on fundamentals (the template's defaults by default)."""

    max_pe_ratio: Decimal = Decimal(50)
    max_debt_to_equity: Decimal = Decimal("2.5")
    min_market_cap: Decimal = Decimal(2_000_000_000)
    max_market_cap: Decimal = Decimal(10_000_000_000)

    def admits(self, figures: Fundamentals) -> bool:
        """True when every figure is known and inside the limits."""
        pe, debt, cap = figures.pe_ratio, figures.debt_to_equity, figures.market_cap
        return (
            pe is not None
            and debt is not None
            and cap is not None
            and pe <= self.max_pe_ratio
            and debt <= self.max_debt_to_equity
            and self.min_market_cap <= cap <= self.max_market_cap
        )


TEMPLATE_LIMITS = FundamentalLimits()
"""MAX_PE_RATIO=50, MAX_DEBT_EQUITY=2.5, MIN/MAX_MARKET_CAP_*=2e9..1e10 of the template."""


# -- fundamentals ---------------------------------------------------------------------------


def simulated_fundamentals(symbol: str) -> Fundamentals:
    """The generated market's figures for `symbol`: the same for every seed and day."""
    known = SIMULATED_FUNDAMENTALS.get(symbol)
    if known is not None:
        return known
    if is_inverse_etf(symbol):
        return Fundamentals(symbol, None, None, None)
    rng = seeded_rng("fundamentals", symbol)
    # Each draw fails its limit now and then, so a universe of invented names gives the
    # guard about one refusal in five.
    pe = rng.uniform(55.0, 140.0) if rng.random() < 0.07 else rng.uniform(6.0, 45.0)
    debt = rng.uniform(2.7, 6.0) if rng.random() < 0.07 else rng.uniform(0.05, 2.2)
    size = rng.random()
    if size < 0.04:
        cap = rng.uniform(0.4e9, 1.8e9)
    elif size < 0.08:
        cap = rng.uniform(1.2e10, 6.0e10)
    else:
        cap = rng.uniform(2.2e9, 9.6e9)
    return Fundamentals(
        symbol,
        Decimal(round(pe * 10)) / 10,
        Decimal(round(debt * 100)) / 100,
        Decimal(round(cap / 1e6)) * 1_000_000,
    )


class GeneratedFundamentals:
    """A `FundamentalsSource` for the generated market: `simulated_fundamentals` of each
    asked symbol (only of `symbols` when given; other names are left out)."""

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        self._known = None if symbols is None else frozenset(symbols)

    def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
        """Figures for each of `symbols` the source knows (`day` does not change them)."""
        return MappingProxyType(
            {
                symbol: simulated_fundamentals(symbol)
                for symbol in symbols
                if self._known is None or symbol in self._known
            }
        )


# -- VIX ------------------------------------------------------------------------------------

VIX_FLOOR = 11.0
VIX_CEILING = 45.0
_VIX_KNOT_DAYS = 5  # the level wanders from knot to knot (about a trading week)
_VIX_INDEX_SENSITIVITY = 6.0  # a 1% fall of the index lifts the VIX 6% (of its level)
_VIX_NOISE = 0.1  # points per minute
_VIX_PULL = 0.05  # how fast minute noise fades (per minute)
_VIX_QUIET_DISCOUNT = 1.5  # a quiet session is a little calmer than its week
_VIX_ALERT_FLOOR = 15.5  # a session with breakouts keeps its VIX above this
_CACHED_VIX_DAYS = 8
_CENT = Decimal("0.01")


class GeneratedVix:
    """The VIX of a generated market (a `VixSource`), deterministic from seed and day.

    `kind_of(day)` and `index_of(day)` give the generator's day kind and its index level per
    minute (1.0 at the open; empty when the market is closed): the VIX follows them.
    """

    def __init__(
        self,
        seed: int,
        calendar: TradingCalendar,
        kind_of: KindOf,
        index_of: IndexOf,
    ) -> None:
        self._seed = seed
        self._calendar = calendar
        self._kind_of = kind_of
        self._index_of = index_of
        self._days: OrderedDict[date, tuple[Decimal, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def vix_at(self, at: datetime) -> Decimal | None:
        """The VIX of the last whole minute before `at` (its first value during the first
        minute); before the open and on closed days, the last session's final level."""
        at = ensure_utc(at)
        day = at.date()
        session = self._calendar.session(day)
        if session is not None and at >= session.open:
            series = self.day_levels(day)
            if at >= session.close:
                return series[-1]
            index = int((at - session.open) / timedelta(minutes=1))
            return series[max(0, index - 1)]
        try:
            earlier = self._calendar.previous_session(day)
        except CalendarError:
            return None
        return self.day_levels(earlier)[-1]

    def day_levels(self, day: date) -> tuple[Decimal, ...]:
        """The VIX at each minute's close of `day`'s session; empty when closed."""
        with self._lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
        levels = self._generate(day)
        with self._lock:
            self._days[day] = levels
            while len(self._days) > _CACHED_VIX_DAYS:
                self._days.popitem(last=False)
        return levels

    def _generate(self, day: date) -> tuple[Decimal, ...]:
        index = self._index_of(day)
        if not index:
            return ()
        from tbot.market.generated_feed import DayKind  # the feed imports this module

        rng = seeded_rng(self._seed, day.isoformat(), "vix")
        kind = self._kind_of(day)
        base = self._base_level(day)
        floor = None
        if kind is DayKind.QUIET:
            bump = -_VIX_QUIET_DISCOUNT
        else:
            # A day with breakouts is never a calm one: its VIX stays above the close
            # strategy's gate, whatever the week's level.
            floor = _VIX_ALERT_FLOOR
            bump = rng.uniform(2.5, 5.0) if kind is DayKind.BEARISH else -rng.uniform(0.0, 0.5)
        wander = 0.0
        out = []
        for minute, level in enumerate(index):
            wander = wander * (1 - _VIX_PULL) + _VIX_NOISE * unit_noise(rng)
            # A bearish day's fear builds over its first hour (the sell-off is at its start).
            build = min(1.0, minute / 60)
            value = base * (1 - _VIX_INDEX_SENSITIVITY * (level - 1)) + bump * build + wander
            if floor is not None:
                value = max(value, floor + 0.5 + 0.3 * wander)
            value = min(VIX_CEILING, max(VIX_FLOOR, value))
            out.append(Decimal(round(value * 100)) * _CENT)
        return tuple(out)

    def _base_level(self, day: date) -> float:
        """The week-to-week level: knots every few days, blended linearly between them."""
        knot, offset = divmod(day.toordinal(), _VIX_KNOT_DAYS)
        before = self._knot_level(knot)
        after = self._knot_level(knot + 1)
        return before + (after - before) * offset / _VIX_KNOT_DAYS

    def _knot_level(self, knot: int) -> float:
        u = seeded_rng(self._seed, "vix-knot", knot).random()
        # Mostly 15-22, sometimes calm (12.5-15), now and then stressed (up to 29.5).
        return 12.5 + 14.0 * u * u * (0.4 + 0.6 * u) + 3.0 * u


# -- quotes ---------------------------------------------------------------------------------

_LIQUID_SPREAD_BPS = 5.0
_THIN_SPREAD_SHARES = 400_000.0  # spread bps added: this over the mean minute volume
_AVERAGE_SHAPE = 1.4  # the U-shaped volume's mean multiple of the symbol's mean volume


def quote_from_bar(bar: Bar, mean_volume: int, minute: int, prices: CentPrices) -> Quote:
    """The best bid and ask at `bar`'s close.

    The spread is 5 bps plus a liquidity part (about 5 bps for a name trading 70,000
    shares a minute on average, 80 for one trading 5,000), wider in quiet and in volatile
    minutes, and at least a cent: two to four cents on a $20 stock, a fraction of a dollar
    on a thin one. `minute` (the bar's index in the session) varies the sizes; `prices`
    turns cents into prices.
    """
    close = int(bar.close * 100)
    busy = bar.volume / (mean_volume * _AVERAGE_SHAPE)
    quiet = 1.0 + 0.5 * max(0.0, 1.0 - busy)
    swing = float((bar.high - bar.low) / bar.close) * 10_000
    bps = (_LIQUID_SPREAD_BPS + _THIN_SPREAD_SHARES / mean_volume) * quiet + 0.1 * swing
    spread = max(1, round(close * bps / 10_000))
    bid = max(1, close - spread // 2)
    # Top-of-book sizes in round lots, more when the minute is busy; the mix of the
    # bar's numbers just makes them vary from minute to minute without another stream.
    lots = max(3, min(60, bar.volume // 1_500))
    mix = (bar.volume * 2_654_435_761 + close * 40_503 + minute * 97) % 4_294_967_296
    return Quote(
        symbol=bar.symbol,
        at=bar.start,
        bid=prices[bid],
        ask=prices[bid + spread],
        bid_size=100 * (1 + mix % lots),
        ask_size=100 * (1 + (mix >> 11) % lots),
    )
