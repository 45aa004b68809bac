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

Bars of one (seed, day, symbol) never change, whichever symbols the feed carries and in
whatever order minutes are asked for: each is drawn from a `random.Random` seeded by a
SHA-256 of those values. The noise uses only `random()` and arithmetic (no libm `exp`/`log`
whose last bit may differ between platforms). The model runs in floats, being a random
process rather than money; every price leaves it as whole cents in an exact `Decimal`.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from tbot.clock import ensure_utc
from tbot.market.bars import Bar
from tbot.market.calendar import TradingCalendar
from tbot.market.universe import (
    INVERSE_ETF_BASE_PRICES,
    INVERSE_ETF_TOP20,
    LIQUID_UNIVERSE,
    market_exposure,
)

# Bump when the model changes: old seeds then give new markets, on purpose and visibly.
_MODEL_VERSION = "generated-feed-v1"

OPENING_RANGE_MINUTES = 20
"""Minutes of the opening range the planned breakouts are measured against."""

BREAKOUT_BUFFER = 0.02
"""How far beyond the opening range (as a fraction) a planned breakout goes, at least."""

_SAFETY_MARGIN = 0.01  # beyond the buffer, so noise cannot undo a planned crossing
_BREAKOUT_DAY_CHANCE = 0.7
_BULLISH_CHANCE = 0.55
_CACHED_DAYS = 4

_INDEX_VOLATILITY = 0.0004  # per minute: about 0.8% over a session
_ETF_TRACKING_NOISE = 0.0002
_WICK = 0.0006  # a bar's high/low reach at most this fraction beyond its body
_GRIND_MINUTES = 30
_ANCHOR_SWING = 0.06  # day-to-day levels wander within +/- 6% of the base price
_ANCHOR_KNOT_DAYS = 7
_STEER_FROM_MINUTE = 120  # after every planned move and its aftermath

_MINUTE = timedelta(minutes=1)
_CENT = Decimal("0.01")


class DayKind(StrEnum):
    """What kind of session the generator made of a day."""

    QUIET = "quiet"
    BULLISH = "bullish"
    BEARISH = "bearish"


class MoveDirection(StrEnum):
    """Which way a planned move goes."""

    UP = "up"
    DOWN = "down"


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


@dataclass(frozen=True, slots=True)
class DayRegime:
    """The generator's plan for a day: ground truth for tests, benchmarks and backtests.

    `market_move` is the sell-off of a bearish day (in market terms; an inverse ETF moves
    it times its leverage). `moves` are the stocks that break out, by symbol; they are
    drawn from `LIQUID_UNIVERSE` whatever symbols the feed carries.
    """

    day: date
    kind: DayKind
    market_move: MovePlan | None
    moves: Mapping[str, MovePlan]


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
class _GeneratedDay:
    bars: Mapping[str, tuple[Bar, ...]]
    by_minute: Mapping[datetime, Mapping[str, Bar]]


def _rng(*parts: object) -> random.Random:
    """A generator seeded from `parts` through SHA-256 (Python's `hash()` is salted)."""
    text = "|".join(str(part) for part in (_MODEL_VERSION, *parts))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _unit_noise(rng: random.Random) -> float:
    """Roughly normal noise with mean 0 and variance 1 (sum of three uniforms)."""
    return (rng.random() + rng.random() + rng.random() - 1.5) * 2.0


def default_symbols() -> tuple[str, ...]:
    """The liquid stocks and every inverse ETF of `INVERSE_ETF_TOP20`."""
    return (*LIQUID_UNIVERSE, *(s for s in INVERSE_ETF_TOP20 if s not in LIQUID_UNIVERSE))


class GeneratedFeed:
    """A `BarFeed` that invents a plausible market for any session day, from a seed.

    Days are generated whole (every symbol, every minute) on first use and a few are kept,
    so `minute()` is a dict lookup during a session.
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
        self._days: OrderedDict[date, _GeneratedDay] = OrderedDict()
        self._lock = threading.Lock()

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
        at = ensure_utc(at)
        if at.second or at.microsecond:
            raise ValueError(f"bars start on whole minutes; got {at.isoformat()}")
        generated = self._day(at.date())
        if generated is None:
            return MappingProxyType({})
        return generated.by_minute.get(at, MappingProxyType({}))

    def day_bars(self, day: date) -> Mapping[str, Sequence[Bar]]:
        """Every bar of `day` by symbol, in time order; empty when the market is closed."""
        generated = self._day(day)
        return MappingProxyType({}) if generated is None else generated.bars

    def regime(self, day: date) -> DayRegime:
        """What the generator planned for `day` (quiet, or which breakouts and how).

        Any date has a plan; on a day the market is closed it is simply never used.
        """
        rng = _rng(self._seed, day.isoformat(), "regime")
        if rng.random() >= _BREAKOUT_DAY_CHANCE:
            return DayRegime(day, DayKind.QUIET, None, MappingProxyType({}))
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
        kind = DayKind.BULLISH if bullish else DayKind.BEARISH
        return DayRegime(day, kind, market_move, MappingProxyType(moves))

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
        generated = self._generate(day, session.open, session.close)
        with self._lock:
            self._days[day] = generated
            self._days.move_to_end(day)
            while len(self._days) > _CACHED_DAYS:
                self._days.popitem(last=False)
        return generated

    def _generate(self, day: date, opens: datetime, closes: datetime) -> _GeneratedDay:
        minutes = int((closes - opens) / _MINUTE)
        starts = [opens + index * _MINUTE for index in range(minutes)]
        regime = self.regime(day)
        market = self._market_returns(day, minutes, regime.market_move)
        prices: dict[int, Decimal] = {}
        bars = {
            symbol: self._symbol_bars(day, starts, market, regime.moves, profile, prices)
            for symbol, profile in self._profiles.items()
        }
        by_minute = {
            start: MappingProxyType({symbol: bars[symbol][index] for symbol in bars})
            for index, start in enumerate(starts)
        }
        return _GeneratedDay(MappingProxyType(bars), by_minute)

    def _profile(self, symbol: str) -> _Profile:
        rng = _rng(self._seed, symbol, "profile")
        base = LIQUID_UNIVERSE.get(symbol) or INVERSE_ETF_BASE_PRICES.get(symbol)
        base_price = float(base) if base is not None else rng.uniform(10.0, 90.0)
        return _Profile(
            symbol=symbol,
            base_price=base_price,
            exposure=market_exposure(symbol),
            beta=rng.uniform(0.8, 1.4),
            own_volatility=rng.uniform(0.0006, 0.0012),
            mean_volume=rng.randint(25_000, 70_000),
        )

    def _market_returns(self, day: date, minutes: int, move: MovePlan | None) -> _MarketPath:
        """The market's return in each minute of the session."""
        rng = _rng(self._seed, day.isoformat(), "market")
        drift = rng.uniform(-0.00002, 0.00002)
        returns = [drift + _INDEX_VOLATILITY * _unit_noise(rng) for _ in range(minutes)]
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
        market: _MarketPath,
        moves: Mapping[str, MovePlan],
        profile: _Profile,
        prices: dict[int, Decimal],
    ) -> tuple[Bar, ...]:
        rng = _rng(self._seed, day.isoformat(), profile.symbol, "bars")
        minutes = len(starts)
        noise = [_unit_noise(rng) for _ in range(minutes)]
        wicks = [(rng.random() * _WICK, rng.random() * _WICK) for _ in range(minutes)]
        busy = [0.7 + 0.6 * rng.random() for _ in range(minutes)]
        if profile.exposure < 0:
            exposure, own_volatility = float(profile.exposure), _ETF_TRACKING_NOISE
        else:
            exposure, own_volatility = profile.beta, profile.own_volatility
        returns = [exposure * market.returns[m] + own_volatility * noise[m] for m in range(minutes)]
        first_open = self._day_open_price(day, profile)
        plain_returns = list(returns)
        move = moves.get(profile.symbol) if profile.exposure > 0 else None
        if move is not None:
            head = _cents_path(first_open, returns[:OPENING_RANGE_MINUTES], wicks)
            high = max(bar[1] for bar in head)
            low = min(bar[2] for bar in head)
            last = head[-1][3]
            if move.direction is MoveDirection.UP:
                need = high * (1 + BREAKOUT_BUFFER + _SAFETY_MARGIN) / last - 1
            else:
                need = 1 - low * (1 - BREAKOUT_BUFFER - _SAFETY_MARGIN) / last
            # The stock's own noise is damped during the thrust so the crossing is clean.
            _add_move(returns, move, need, calm=(noise, profile.own_volatility))
        move_excess = [
            abs(moved - plain) + abs(exposure) * market_part
            for moved, plain, market_part in zip(returns, plain_returns, market.excess, strict=True)
        ]
        tomorrow = self._anchor_level(day + timedelta(days=1), profile)
        _steer_afternoon(returns, first_open, tomorrow)
        path = _cents_path(first_open, returns, wicks)
        bars: list[Bar] = []
        for index, (open_, high, low, close) in enumerate(path):
            # Volume is U-shaped over the session and swells with any planned move.
            position = index / max(minutes - 1, 1)
            distance_from_midday = 2 * position - 1
            shape = 0.6 + 2.4 * distance_from_midday * distance_from_midday
            surge = 1 + min(4.0, move_excess[index] / 0.002)
            volume = int(profile.mean_volume * shape * busy[index] * surge)
            bars.append(
                Bar(
                    symbol=profile.symbol,
                    start=starts[index],
                    open=_price(open_, prices),
                    high=_price(high, prices),
                    low=_price(low, prices),
                    close=_price(close, prices),
                    volume=volume,
                )
            )
        return tuple(bars)

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


def _steer_afternoon(returns: list[float], first_open: float, target: float) -> None:
    """Drift the afternoon gently so the day closes near `target` (tomorrow's level).

    Days are generated independently; without this, a day that rallied 6% would open
    6% lower the next morning.
    """
    if len(returns) <= _STEER_FROM_MINUTE:
        return
    close = _levels(first_open, returns)[-1]
    tail = len(returns) - _STEER_FROM_MINUTE
    step = (target / close - 1) / tail
    for m in range(_STEER_FROM_MINUTE, len(returns)):
        returns[m] += step


def _levels(start: float, returns: Sequence[float]) -> list[float]:
    """The level after each minute, compounding `returns` from `start`."""
    levels = []
    level = start
    for change in returns:
        level *= 1 + change
        levels.append(level)
    return levels


def _cents_path(
    first_open: float, returns: Sequence[float], wicks: Sequence[tuple[float, float]]
) -> list[tuple[int, int, int, int]]:
    """(open, high, low, close) in whole cents per minute; each open is the last close."""
    bars = []
    level = first_open
    open_cents = max(1, round(first_open * 100))
    for index, change in enumerate(returns):
        level = max(level * (1 + change), 0.01)
        close_cents = max(1, round(level * 100))
        up, down = wicks[index]
        high = max(open_cents, close_cents) + round(level * up * 100)
        low = max(1, min(open_cents, close_cents) - round(level * down * 100))
        bars.append((open_cents, high, low, close_cents))
        open_cents = close_cents
    return bars


def _price(cents: int, cache: dict[int, Decimal]) -> Decimal:
    """`cents` as an exact two-place Decimal (memoised: prices repeat within a day)."""
    price = cache.get(cents)
    if price is None:
        price = Decimal(cents) * _CENT
        cache[cents] = price
    return price
