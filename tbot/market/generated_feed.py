"""A deterministic, liquid-looking minute market generated from a seed.

Every session day gets a shared market ("index") path: a random walk with a drift chosen
for the day. Ordinary stocks follow it with their own beta plus their own noise; inverse
ETFs follow it inversely, times their leverage. On most days (about 70%) a few symbols
break out of their opening range decisively right after the first 20 minutes:

- bullish days: 1-4 stocks rise 3-6% within 10-30 minutes;
- bearish days: the market sells off (the 3x inverse ETFs rise 3-6%) and 1-4 stocks fall.

The first minutes of such a move are steep enough that the price crosses the 20-minute
range by more than 2% inside minutes 20-30 of the session, which is what the OPEN
strategy's template settings look for. Afterwards a move either retraces 3-5% (a 2%
trailing stop fires) or keeps grinding on (the monitoring timeout ends the trade). The
remaining days are quiet: nothing moves 2% beyond its range.

Later in the day other stocks carry the setups of the mid and close windows (see
`tbot.market.generated_setups`): on every session, two or three stocks make a VWAP
excursion at 15:45-15:47 UTC (one reverts, one fails through a stop), and on every
session that is still open at 20:00 UTC two or three make an end-of-day move at 19:30 UTC
(a momentum continuation, a spike that reverses). `regime()` says which, and how.

Symbols other than the built-in universe (`universe.py`) get a profile from the seed and
the name, and their own share of breakouts and setups, each drawn for the symbol alone.

Bars of one (seed, day, symbol) never change, whichever symbols the feed carries and in
whatever order minutes are asked for: each is drawn from a `random.Random` seeded by a
SHA-256 of those values. The noise uses only `random()` and arithmetic (no libm `exp`/`log`
whose last bit may differ between platforms). The model runs in floats, being a random
process rather than money; every price leaves it as whole cents in an exact `Decimal`.

The feed is also the simulated market's `VixSource` (`vix_at`), `QuoteSource` (`quotes`)
and `FundamentalsSource` (`fundamentals`); see `tbot.market.generated_extras`.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import repeat
from types import MappingProxyType

import numpy as np

from tbot.clock import ensure_utc
from tbot.market.bars import Bar
from tbot.market.calendar import CalendarError, SessionHours, TradingCalendar
from tbot.market.fundamentals import Fundamentals
from tbot.market.generated_extras import (
    TEMPLATE_LIMITS,
    GeneratedFundamentals,
    GeneratedVix,
    quote_from_bar,
    simulated_fundamentals,
)
from tbot.market.generated_paths import (
    CentPrices,
    FloatArray,
    cents_path,
    last_level,
    seeded_rng,
    unit_noise,
    unit_noise_array,
)
from tbot.market.generated_setups import (
    CLOSE_WINDOW_MINUTES,
    CLOSE_WINDOW_START,
    MID_ANALYSIS_MINUTES,
    MID_BREAKOUT_MINUTES,
    MID_MONITORING_MINUTES,
    MID_WINDOW_START,
    CloseKind,
    CloseSetup,
    MidSetup,
    MoveDirection,
    SymbolPath,
    check_close,
    check_mid,
    draw_close_setup,
    draw_mid_setup,
    plant,
    plant_close,
    plant_mid,
)
from tbot.market.quotes import Quote
from tbot.market.universe import (
    INVERSE_ETF_TOP20,
    LIQUID_UNIVERSE,
    base_price,
    is_inverse_etf,
    market_exposure,
)

__all__ = [
    "BREAKOUT_BUFFER",
    "OPENING_RANGE_MINUTES",
    "CloseKind",
    "CloseSetup",
    "DayKind",
    "DayRegime",
    "GeneratedFeed",
    "MidSetup",
    "MoveDirection",
    "MovePlan",
    "default_symbols",
]

OPENING_RANGE_MINUTES = 20
"""Minutes of the opening range the planned breakouts are measured against."""

BREAKOUT_BUFFER = 0.02
"""How far beyond the opening range (as a fraction) a planned breakout goes, at least."""

_SAFETY_MARGIN = 0.01  # beyond the buffer, so noise cannot undo a planned crossing
_BREAKOUT_DAY_CHANCE = 0.7
_BULLISH_CHANCE = 0.55
_CACHED_DAYS = 4
_CACHED_REGIMES = 64

_INDEX_VOLATILITY = 0.0004  # per minute: about 0.8% over a session
_ETF_TRACKING_NOISE = 0.0002
_WICK = 0.0006  # a bar's high/low reach at most this fraction beyond its body
_GRIND_MINUTES = 30
_ANCHOR_SWING = 0.06  # day-to-day levels wander within +/- 6% of the base price
_ANCHOR_KNOT_DAYS = 7
_STEER_FROM_MINUTE = 120  # after every planned move and its aftermath

# Symbols outside the built-in universe draw their own breakouts and setups: about the
# share the built-in stocks get (2.5 of 20 on a breakout day, 2-3 mid and close setups).
_OTHER_BREAKOUT_CHANCE = 0.1
_OTHER_MID_CHANCE = 0.05
_OTHER_CLOSE_CHANCE = 0.05
_OTHER_THIN_CHANCE = 0.2  # invented names are sometimes thinly traded (wider spreads)
# A setup stock stays inside MIN_PRICE..MAX_PRICE (5..100) wherever its level wanders.
_SETUP_PRICE_BAND = (5.0 / (1 - _ANCHOR_SWING), 100.0 / (1 + _ANCHOR_SWING))
_ALIGNED_MOMENTUM = 0.003  # a drift toward tomorrow's level this big sets its direction

_MINUTE = timedelta(minutes=1)


class DayKind(StrEnum):
    """What kind of session the generator made of a day."""

    QUIET = "quiet"
    BULLISH = "bullish"
    BEARISH = "bearish"


@dataclass(frozen=True, slots=True)
class MovePlan:
    """A decisive move the generator writes into one instrument's day.

    It starts `start_minute` minutes after the open, crosses the opening range (plus
    `BREAKOUT_BUFFER`) within `thrust_minutes`, and lasts `duration_minutes` in all.
    `size_bps` is the planned size; the generator enlarges it when the opening range is
    wide, so the crossing always happens. Then the move retraces `retrace_bps` within
    `retrace_minutes` (when `retraces`) or keeps grinding on for a while.
    """

    direction: MoveDirection
    size_bps: int
    thrust_minutes: int
    duration_minutes: int
    retraces: bool
    retrace_bps: int
    retrace_minutes: int
    start_minute: int = OPENING_RANGE_MINUTES


def _no_mid_setups() -> Mapping[str, MidSetup]:
    return MappingProxyType({})


def _no_close_setups() -> Mapping[str, CloseSetup]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DayRegime:
    """The generator's plan for a day: ground truth for tests, benchmarks and backtests.

    `market_move` is the sell-off of a bearish day (in market terms; an inverse ETF moves
    it times its leverage). `moves` are the stocks that break out, by symbol: drawn from
    `LIQUID_UNIVERSE` whatever symbols the feed carries, plus the feed's other stocks that
    drew one. `mid_setups` and `close_setups` are the stocks carrying a setup of the mid
    window (15:30 UTC) and of the close window (19:30 UTC); no stock carries two plans.
    """

    day: date
    kind: DayKind
    market_move: MovePlan | None
    moves: Mapping[str, MovePlan]
    mid_setups: Mapping[str, MidSetup] = field(default_factory=_no_mid_setups)
    close_setups: Mapping[str, CloseSetup] = field(default_factory=_no_close_setups)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What stays the same about a symbol from day to day."""

    symbol: str
    base_price: float
    exposure: int  # signed: negative for inverse ETFs
    beta: float
    own_volatility: float
    mean_volume: int


@dataclass(frozen=True, slots=True)
class _MarketPath:
    """The market's per-minute returns, and how much of each the planned move added."""

    returns: list[float]
    excess: list[float]


@dataclass(frozen=True, slots=True)
class _Windows:
    """Where the mid and close windows start, as minute indexes of the session (None when
    the session does not hold them)."""

    mid: int | None
    close: int | None


@dataclass(frozen=True, slots=True)
class _GeneratedDay:
    bars: Mapping[str, tuple[Bar, ...]]
    by_minute: Mapping[datetime, Mapping[str, Bar]]
    prices: CentPrices


_rng = seeded_rng


def default_symbols() -> tuple[str, ...]:
    """The liquid stocks and every inverse ETF of `INVERSE_ETF_TOP20`."""
    return (*LIQUID_UNIVERSE, *(s for s in INVERSE_ETF_TOP20 if s not in LIQUID_UNIVERSE))


class GeneratedFeed:
    """A `BarFeed` that invents a plausible market for any session day, from a seed.

    Days are generated whole (every symbol, every minute) on first use and a few are kept,
    so `minute()` is a dict lookup during a session. Any ticker-like name can be carried:
    names outside the built-in universe trade like ordinary stocks.
    """

    def __init__(
        self, seed: int, calendar: TradingCalendar, symbols: Sequence[str] | None = None
    ) -> None:
        chosen = default_symbols() if symbols is None else tuple(symbols)
        if not chosen:
            raise ValueError("a generated feed needs at least one symbol")
        self._seed = seed
        self._calendar = calendar
        self._symbols = tuple(sorted(set(chosen)))
        self._profiles = {symbol: self._profile(symbol) for symbol in self._symbols}
        # The carried stocks outside the built-in universe draw their own plans.
        self._others = tuple(
            s for s in self._symbols if s not in LIQUID_UNIVERSE and not is_inverse_etf(s)
        )
        self._days: OrderedDict[date, _GeneratedDay] = OrderedDict()
        self._regimes: OrderedDict[date, DayRegime] = OrderedDict()
        self._fits: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._vix = GeneratedVix(seed, calendar, self._day_kind, self.market_index)
        self._fundamentals = GeneratedFundamentals(self._symbols)

    @property
    def seed(self) -> int:
        """The seed every bar is derived from."""
        return self._seed

    @property
    def symbols(self) -> Sequence[str]:
        """Every symbol the feed produces, sorted."""
        return self._symbols

    def has_day(self, day: date) -> bool:
        """True on every session day of the calendar."""
        return self._calendar.is_session(day)

    def minute(self, at: datetime) -> Mapping[str, Bar]:
        """The bars of the minute starting at `at`; empty outside the session."""
        at = _whole_minute(at)
        generated = self._day(at.date())
        if generated is None:
            return MappingProxyType({})
        return generated.by_minute.get(at, MappingProxyType({}))

    def day_bars(self, day: date) -> Mapping[str, Sequence[Bar]]:
        """Every bar of `day` by symbol, in time order; empty when the market is closed."""
        generated = self._day(day)
        return MappingProxyType({}) if generated is None else generated.bars

    # -- what else the simulated market offers ------------------------------------------------

    def vix_at(self, at: datetime) -> Decimal | None:
        """The generated VIX known at `at` (this feed is the simulation's `VixSource`)."""
        return self._vix.vix_at(at)

    def vix(self) -> GeneratedVix:
        """The generated market's VIX source (also `day_levels(day)` per minute)."""
        return self._vix

    def quotes(self, at: datetime) -> Mapping[str, Quote]:
        """The best bid and ask of every symbol at the close of the minute starting at `at`
        (this feed is the simulation's `QuoteSource`); empty outside the session."""
        at = _whole_minute(at)
        generated = self._day(at.date())
        if generated is None:
            return MappingProxyType({})
        bars = generated.by_minute.get(at)
        if not bars:
            return MappingProxyType({})
        session = self._calendar.session(at.date())
        assert session is not None  # a generated day is a session
        index = int((at - session.open) / _MINUTE)
        profiles, prices = self._profiles, generated.prices
        return MappingProxyType(
            {
                symbol: quote_from_bar(bar, profiles[symbol].mean_volume, index, prices)
                for symbol, bar in bars.items()
            }
        )

    def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
        """Simulated figures of the asked symbols this feed carries (this feed is the
        simulation's `FundamentalsSource`); other names are left out."""
        return self._fundamentals.fundamentals(symbols, day)

    def market_index(self, day: date) -> Sequence[float]:
        """The generated market index at each minute's close of `day` (1.0 at the open,
        before any rounding); empty when the market is closed."""
        session = self._calendar.session(day)
        if session is None:
            return ()
        minutes = int((session.close - session.open) / _MINUTE)
        returns = self._market_returns(day, minutes, self.regime(day).market_move).returns
        level, out = 1.0, []
        for change in returns:
            level *= 1 + change
            out.append(level)
        return tuple(out)

    def regime(self, day: date) -> DayRegime:
        """What the generator planned for `day`: quiet or which breakouts and how, and the
        stocks carrying the mid and close setups.

        Any date has a plan; on a day the market is closed it is simply never used (and has
        no setups).
        """
        with self._lock:
            cached = self._regimes.get(day)
            if cached is not None:
                return cached
        regime = self._draw_regime(day)
        with self._lock:
            self._regimes[day] = regime
            while len(self._regimes) > _CACHED_REGIMES:
                self._regimes.popitem(last=False)
        return regime

    # -- planning -------------------------------------------------------------------------

    def _draw_regime(self, day: date) -> DayRegime:
        rng = _rng(self._seed, day.isoformat(), "regime")
        if rng.random() >= _BREAKOUT_DAY_CHANCE:
            kind, market_move, moves = DayKind.QUIET, None, {}
        else:
            bullish = rng.random() < _BULLISH_CHANCE
            direction = MoveDirection.UP if bullish else MoveDirection.DOWN
            market_move = None
            if not bullish:
                # In market terms: a 3x inverse ETF makes 3.6-6% of a 1.2-2% sell-off.
                market_move = _draw_plan(rng, direction, size=(120, 200), retrace=(100, 170))
            movers = rng.sample(sorted(LIQUID_UNIVERSE), rng.randint(1, 4))
            moves = {
                symbol: _draw_plan(rng, direction, size=(300, 600), retrace=(300, 500))
                for symbol in sorted(movers)
            }
            for symbol in self._others:
                own = _rng(self._seed, day.isoformat(), symbol, "breakout")
                if own.random() < _OTHER_BREAKOUT_CHANCE:
                    moves[symbol] = _draw_plan(own, direction, size=(300, 600), retrace=(300, 500))
            kind = DayKind.BULLISH if bullish else DayKind.BEARISH
        mid, close = self._draw_setups(day, moves)
        return DayRegime(
            day,
            kind,
            market_move,
            MappingProxyType(dict(sorted(moves.items()))),
            MappingProxyType(mid),
            MappingProxyType(close),
        )

    def _draw_setups(
        self, day: date, moves: Mapping[str, MovePlan]
    ) -> tuple[dict[str, MidSetup], dict[str, CloseSetup]]:
        """The mid and close setups of `day`, on stocks the strategies' screens admit."""
        try:
            session = self._calendar.session(day)
        except CalendarError:
            session = None  # a day the calendar does not cover has no session to plan
        if session is None:
            return {}, {}
        windows = _windows(session)
        mid: dict[str, MidSetup] = {}
        close: dict[str, CloseSetup] = {}
        rng = _rng(self._seed, day.isoformat(), "setups")
        pool = [s for s in sorted(LIQUID_UNIVERSE) if s not in moves and self._fits_setup(s)]
        rng.shuffle(pool)
        if windows.mid is not None:
            for index in range(rng.randint(2, 3)):
                # The first reverts, the second fails; a third may do either.
                reverts = index == 0 or (index == 2 and rng.random() < 0.6)
                mid[pool.pop()] = draw_mid_setup(rng, reverts=reverts)
        if windows.close is not None:
            for index in range(rng.randint(2, 3)):
                if index < 2:
                    kind = (CloseKind.MOMENTUM, CloseKind.REVERSAL)[index]
                else:
                    kind = CloseKind.MOMENTUM if rng.random() < 0.5 else CloseKind.REVERSAL
                symbol = pool.pop()
                close[symbol] = draw_close_setup(rng, kind, self._momentum_bias(day, symbol))
        for symbol in self._others:
            if symbol in moves or not self._fits_setup(symbol):
                continue
            own = _rng(self._seed, day.isoformat(), symbol, "setup")
            chance = own.random()
            if windows.mid is not None and chance < _OTHER_MID_CHANCE:
                mid[symbol] = draw_mid_setup(own, reverts=own.random() < 0.6)
            elif windows.close is not None and chance < _OTHER_MID_CHANCE + _OTHER_CLOSE_CHANCE:
                kind = CloseKind.MOMENTUM if own.random() < 0.5 else CloseKind.REVERSAL
                close[symbol] = draw_close_setup(own, kind, self._momentum_bias(day, symbol))
        return dict(sorted(mid.items())), dict(sorted(close.items()))

    def _fits_setup(self, symbol: str) -> bool:
        """Whether the strategies' screens would consider `symbol` whatever its level:
        a stock priced inside 5..100 whose fundamentals pass the template's limits."""
        fits = self._fits.get(symbol)
        if fits is None:
            low, high = _SETUP_PRICE_BAND
            fits = (
                not is_inverse_etf(symbol)
                and low <= self._profile(symbol).base_price <= high
                and TEMPLATE_LIMITS.admits(simulated_fundamentals(symbol))
            )
            self._fits[symbol] = fits  # the same every day: worth keeping
        return fits

    def _momentum_bias(self, day: date, symbol: str) -> MoveDirection | None:
        """The way the day drifts (toward the next session's level) when it drifts clearly:
        a close momentum goes with it, so the day does not end far from where the next
        session opens."""
        profile = self._profile(symbol)
        drift = self._next_session_level(day, profile) / self._day_open_price(day, profile) - 1
        if abs(drift) < _ALIGNED_MOMENTUM:
            return None
        return MoveDirection.UP if drift > 0 else MoveDirection.DOWN

    def _day_kind(self, day: date) -> DayKind:
        return self.regime(day).kind

    # -- generation -----------------------------------------------------------------------

    def _day(self, day: date) -> _GeneratedDay | None:
        with self._lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
        session = self._calendar.session(day)
        if session is None:
            return None
        generated = self._generate(day, session)
        with self._lock:
            self._days[day] = generated
            self._days.move_to_end(day)
            while len(self._days) > _CACHED_DAYS:
                self._days.popitem(last=False)
        return generated

    def _generate(self, day: date, session: SessionHours) -> _GeneratedDay:
        opens = session.open
        minutes = int((session.close - opens) / _MINUTE)
        starts = [opens + index * _MINUTE for index in range(minutes)]
        regime = self.regime(day)
        market = self._market_returns(day, minutes, regime.market_move)
        market_returns = np.asarray(market.returns, dtype=np.float64)
        market_excess = np.asarray(market.excess, dtype=np.float64)
        windows = _windows(session)
        prices = CentPrices()
        bars = {
            symbol: self._symbol_bars(
                day, starts, (market_returns, market_excess), regime, windows, profile, prices
            )
            for symbol, profile in self._profiles.items()
        }
        symbols = list(bars)
        by_minute = {
            start: MappingProxyType(dict(zip(symbols, column, strict=True)))
            for start, column in zip(starts, zip(*bars.values(), strict=True), strict=True)
        }
        return _GeneratedDay(MappingProxyType(bars), by_minute, prices)

    def _profile(self, symbol: str) -> _Profile:
        rng = _rng(self._seed, symbol, "profile")
        base = base_price(symbol)
        base_level = float(base) if base is not None else rng.uniform(10.0, 90.0)
        beta = rng.uniform(0.8, 1.4)
        own_volatility = rng.uniform(0.0006, 0.0012)
        mean_volume = rng.randint(25_000, 70_000)
        if base is None and _rng(self._seed, symbol, "liquidity").random() < _OTHER_THIN_CHANCE:
            mean_volume = _rng(self._seed, symbol, "thin").randint(3_000, 12_000)
        return _Profile(
            symbol=symbol,
            base_price=base_level,
            exposure=market_exposure(symbol),
            beta=beta,
            own_volatility=own_volatility,
            mean_volume=mean_volume,
        )

    def _market_returns(self, day: date, minutes: int, move: MovePlan | None) -> _MarketPath:
        """The market's return in each minute of the session."""
        rng = _rng(self._seed, day.isoformat(), "market")
        drift = rng.uniform(-0.00002, 0.00002)
        returns = [drift + _INDEX_VOLATILITY * unit_noise(rng) for _ in range(minutes)]
        plain = list(returns)
        if move is not None:
            levels = [1.0, *_levels(1.0, returns[:OPENING_RANGE_MINUTES])]
            # What the market must fall so a 3x inverse ETF clears its range (which mirrors
            # the market's range low) by the buffer and the margin.
            need = 1.0 - min(levels) / levels[-1] + (BREAKOUT_BUFFER + _SAFETY_MARGIN) / 3
            _add_move(returns, move, need, calm=None)
        excess = [abs(moved - base) for moved, base in zip(returns, plain, strict=True)]
        return _MarketPath(returns, excess)

    def _symbol_bars(
        self,
        day: date,
        starts: list[datetime],
        market: tuple[FloatArray, FloatArray],
        regime: DayRegime,
        windows: _Windows,
        profile: _Profile,
        prices: CentPrices,
    ) -> tuple[Bar, ...]:
        symbol = profile.symbol
        rng = _rng(self._seed, day.isoformat(), symbol, "bars")
        minutes = len(starts)
        # One stream, drawn in this order: 3 per minute of noise, 2 of wicks, 1 of busyness.
        uniforms = np.fromiter(iter(rng.random, 2.0), dtype=np.float64, count=6 * minutes)
        noise = unit_noise_array(uniforms[: 3 * minutes])
        wick_up = uniforms[3 * minutes : 5 * minutes : 2] * _WICK
        wick_down = uniforms[3 * minutes + 1 : 5 * minutes : 2] * _WICK
        busy = 0.7 + 0.6 * uniforms[5 * minutes :]
        market_returns, market_excess = market
        if profile.exposure < 0:
            exposure, own_volatility = float(profile.exposure), _ETF_TRACKING_NOISE
        else:
            exposure, own_volatility = profile.beta, profile.own_volatility
        returns = exposure * market_returns + own_volatility * noise
        first_open = self._day_open_price(day, profile)
        plain_returns = returns.copy()
        move = regime.moves.get(symbol) if profile.exposure > 0 else None
        if move is not None:
            head = cents_path(first_open, returns[:OPENING_RANGE_MINUTES], wick_up, wick_down)
            high, low, last = int(head[1].max()), int(head[2].min()), int(head[3][-1])
            if move.direction is MoveDirection.UP:
                need = high * (1 + BREAKOUT_BUFFER + _SAFETY_MARGIN) / last - 1
            else:
                need = 1 - low * (1 - BREAKOUT_BUFFER - _SAFETY_MARGIN) / last
            # The stock's own noise is damped during the thrust so the crossing is clean.
            moved = returns.tolist()
            _add_move(moved, move, need, calm=(noise.tolist(), profile.own_volatility))
            returns = np.asarray(moved, dtype=np.float64)
        move_excess = np.abs(returns - plain_returns) + abs(exposure) * market_excess
        tomorrow = self._anchor_level(day + timedelta(days=1), profile)
        _steer_afternoon(returns, first_open, tomorrow)
        # Volume is U-shaped over the session and swells with any planned move.
        position = np.arange(minutes) / max(minutes - 1, 1)
        distance_from_midday = 2 * position - 1
        shape = 0.6 + 2.4 * distance_from_midday * distance_from_midday
        surge = 1 + np.minimum(4.0, move_excess / 0.002)
        base_volume = profile.mean_volume * shape * busy * surge
        path = SymbolPath(
            first_open,
            returns.tolist(),
            noise.tolist(),
            wick_up,
            wick_down,
            base_volume,
            [1.0] * minutes,
        )
        path = self._plant_setups(day, regime, windows, profile, path)
        price = prices.__getitem__
        open_, high, low, close = (map(price, part.tolist()) for part in path.cents())
        # map() rather than a generator: this loop makes every bar of the day.
        return tuple(
            map(Bar, repeat(symbol), starts, open_, high, low, close, path.volumes().tolist())
        )

    def _plant_setups(
        self,
        day: date,
        regime: DayRegime,
        windows: _Windows,
        profile: _Profile,
        path: SymbolPath,
    ) -> SymbolPath:
        """`path` with the symbol's mid or close setup planted (unchanged without one).

        A setup moves the day's close; what is left of the session after it drifts toward
        the next session's level, so the overnight gap stays small.
        """
        symbol = profile.symbol
        mid = regime.mid_setups.get(symbol)
        close = regime.close_setups.get(symbol)
        if mid is None and close is None:
            return path
        target = self._next_session_level(day, profile)

        def rng_for(attempt: int) -> random.Random:
            return _rng(self._seed, day.isoformat(), symbol, "setup-noise", attempt)

        if mid is not None and windows.mid is not None:
            window = windows.mid
            return plant(
                path,
                plant_mid(mid, window, target),
                lambda draft: check_mid(draft, mid, window),
                rng_for,
            )
        if close is not None and windows.close is not None:
            window = windows.close
            return plant(
                path,
                plant_close(close, window, target),
                lambda draft: check_close(draft, close, window),
                rng_for,
            )
        return path

    def _next_session_level(self, day: date, profile: _Profile) -> float:
        """Where the next session's level is (tomorrow's, past the calendar's end)."""
        try:
            following = self._calendar.next_session(day)
        except CalendarError:
            following = day + timedelta(days=1)
        return self._anchor_level(following, profile)

    def _day_open_price(self, day: date, profile: _Profile) -> float:
        """The first price of `day`: the slowly wandering level plus a little jitter."""
        jitter = _rng(self._seed, profile.symbol, "open", day.isoformat()).uniform(-0.003, 0.003)
        return self._anchor_level(day, profile) * (1 + jitter)

    def _anchor_level(self, day: date, profile: _Profile) -> float:
        """A level that wanders smoothly from day to day (so overnight gaps stay small)."""
        knot, offset = divmod(day.toordinal(), _ANCHOR_KNOT_DAYS)
        before = _rng(self._seed, profile.symbol, "anchor", knot).uniform(-1.0, 1.0)
        after = _rng(self._seed, profile.symbol, "anchor", knot + 1).uniform(-1.0, 1.0)
        blend = before + (after - before) * offset / _ANCHOR_KNOT_DAYS
        return profile.base_price * (1 + _ANCHOR_SWING * blend)


def _whole_minute(at: datetime) -> datetime:
    at = ensure_utc(at)
    if at.second or at.microsecond:
        raise ValueError(f"bars start on whole minutes; got {at.isoformat()}")
    return at


def _windows(session: SessionHours) -> _Windows:
    """The minute indexes of the mid and close windows' starts in `session`, when the
    session holds the whole window (an early close has no close window)."""

    def index(start: time, length: int) -> int | None:
        begins = datetime.combine(session.day, start, tzinfo=session.open.tzinfo)
        if begins < session.open or begins + timedelta(minutes=length) > session.close:
            return None
        return int((begins - session.open) / _MINUTE)

    mid_length = MID_ANALYSIS_MINUTES + MID_BREAKOUT_MINUTES + MID_MONITORING_MINUTES + 20
    return _Windows(
        mid=index(MID_WINDOW_START, mid_length),
        close=index(CLOSE_WINDOW_START, CLOSE_WINDOW_MINUTES),
    )


def _draw_plan(
    rng: random.Random,
    direction: MoveDirection,
    *,
    size: tuple[int, int],
    retrace: tuple[int, int],
) -> MovePlan:
    duration = rng.randint(10, 30)
    return MovePlan(
        direction=direction,
        size_bps=rng.randint(*size),
        thrust_minutes=rng.randint(3, 7),
        duration_minutes=duration,
        retraces=rng.random() < 0.5,
        retrace_bps=rng.randint(*retrace),
        retrace_minutes=rng.randint(4, 10),
    )


def _add_move(
    returns: list[float],
    move: MovePlan,
    need: float,
    calm: tuple[list[float], float] | None,
) -> None:
    """Add `move` to per-minute `returns` in place; `need` is the minimum thrust."""
    sign = 1.0 if move.direction is MoveDirection.UP else -1.0
    size = max(move.size_bps / 10_000, need + 0.005)
    thrust = max(0.6 * size, need)
    start, thrust_end = move.start_minute, move.start_minute + move.thrust_minutes
    peak = move.start_minute + move.duration_minutes
    extras: dict[int, float] = {}
    for m in range(start, thrust_end):
        extras[m] = sign * thrust / move.thrust_minutes
    for m in range(thrust_end, peak):
        extras[m] = sign * (size - thrust) / (peak - thrust_end)
    if move.retraces:
        for m in range(peak, peak + move.retrace_minutes):
            extras[m] = -sign * move.retrace_bps / 10_000 / move.retrace_minutes
    else:
        for m in range(peak, peak + _GRIND_MINUTES):
            extras[m] = sign * size * 0.25 / _GRIND_MINUTES
    for m, extra in extras.items():
        if m >= len(returns):
            continue
        if calm is not None and m < thrust_end:
            noise, volatility = calm
            returns[m] -= 0.7 * volatility * noise[m]
        returns[m] += extra


def _steer_afternoon(returns: FloatArray, first_open: float, target: float) -> None:
    """Drift the afternoon gently so the day closes near `target` (tomorrow's level).

    Days are generated independently; without this, a day that rallied 6% would open
    6% lower the next morning.
    """
    if len(returns) <= _STEER_FROM_MINUTE:
        return
    close = last_level(first_open, returns)
    tail = len(returns) - _STEER_FROM_MINUTE
    returns[_STEER_FROM_MINUTE:] += (target / close - 1) / tail


def _levels(start: float, returns: Sequence[float]) -> list[float]:
    """The level after each minute, compounding `returns` from `start`."""
    levels = []
    level = start
    for change in returns:
        level *= 1 + change
        levels.append(level)
    return levels
