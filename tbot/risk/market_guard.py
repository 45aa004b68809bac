"""The market guard: a symbol whose price jumps, or whose market thins out, is not entered.

Two conditions flag a symbol (seed 004's market guard, seed 003's pre-trade spread rule):

- **a gap**: the close moved more than `PRICE_GAP_ALERT_PCT` from the previous close the
  guard saw, within the session (consecutive checks, one a minute by default) or across
  the night (the first close of the day against the last of the day before). A gap flag
  lasts the rest of the day: a stock that gapped is not entered again that day.
- **a wide spread**: the quote's spread above `LIQUIDITY_SPREAD_THRESHOLD_BPS` of the mid
  (150 bps, the seed's "spread at most 1.5% of price"), when `LIQUIDITY_CHECK_ENABLED`.
  A spread flag lasts until a later quote is back within the threshold.

A flagged symbol takes no new entry (`entry_refusal`, asked before every entry, which also
judges the entry's own quote); what happens to a position already held is the engine's to
do, per `MARKET_GUARD_POSITION_ACTION` (`review`: alert and mark it; `close`: close it).

The checks run every `MARKET_CHECK_INTERVAL` seconds (`due`); with minute bars, an interval
of two minutes compares closes two minutes apart. The whole check is Python floats over one
dict per minute: well under a millisecond for 500 symbols (`benchmarks/guards.py`).
Thresholds carry the strategy step's relative slack (`TOLERANCE`), so a move of exactly
the limit is not a gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tbot.clock import ensure_utc
from tbot.market.quotes import Quote
from tbot.strategy.minute_frame import TOLERANCE


class FlagKind(StrEnum):
    """Why the market guard flagged a symbol."""

    GAP = "gap"
    OVERNIGHT_GAP = "overnight_gap"
    SPREAD = "spread"


@dataclass(frozen=True, slots=True)
class MarketLimits:
    """The guard's settings. `spread_bps` None: the liquidity check is off."""

    gap_pct: Decimal
    spread_bps: Decimal | None
    interval: timedelta

    def __post_init__(self) -> None:
        if self.gap_pct <= 0:
            raise ValueError("PRICE_GAP_ALERT_PCT must be above 0")
        if self.spread_bps is not None and self.spread_bps <= 0:
            raise ValueError("LIQUIDITY_SPREAD_THRESHOLD_BPS must be above 0")


@dataclass(frozen=True, slots=True)
class MarketFlag:
    """One symbol flagged: why, when, and by how much (percent for a gap, bps for a
    spread)."""

    symbol: str
    kind: FlagKind
    at: datetime
    size: Decimal
    detail: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, for `engine.status` and the guard's alerts."""
        return {"symbol": self.symbol, "kind": self.kind.value, "at": self.at,
                "size": self.size, "detail": self.detail}


@dataclass
class _Day:
    day: date | None = None
    flags: dict[str, MarketFlag] = field(default_factory=dict)


class MarketGuard:
    """Flags symbols on gaps and wide spreads; answers whether an entry may go."""

    def __init__(self, limits: MarketLimits) -> None:
        self.limits = limits
        self._last_close: dict[str, float] = {}
        self._last_day: dict[str, date] = {}
        self._today = _Day()
        self._next_check: datetime | None = None
        self._gap = 0.0
        self._spread_limit: Decimal | None = None
        self.reconfigure(limits)

    def reconfigure(self, limits: MarketLimits) -> None:
        """New settings (a config reload): they apply from the next check."""
        self.limits = limits
        self._gap = float(limits.gap_pct) / 100 * (1 + TOLERANCE)
        self._spread_limit = (None if limits.spread_bps is None else
                              limits.spread_bps * (1 + Decimal(str(TOLERANCE))))

    def due(self, at: datetime) -> bool:
        """Whether a check is due at `at` (the first is due at once)."""
        moment = ensure_utc(at)
        return self._next_check is None or moment >= self._next_check

    def observe(self, closes: Mapping[str, Decimal], quotes: Mapping[str, Quote] | None,
                at: datetime) -> list[MarketFlag]:
        """One check: the closes of the minute ending at `at` and, when the liquidity check
        is on, the quotes standing then (None: no quote source; a symbol without a quote
        keeps its spread flag, if any). Returns the flags raised by this check only."""
        moment = ensure_utc(at)
        self._next_check = moment + self.limits.interval
        day = moment.date()
        if self._today.day != day:
            self._today = _Day(day)  # gap flags last the day; spreads are judged anew
        flags = self._today.flags
        raised: list[MarketFlag] = []
        last_close, last_day, gap = self._last_close, self._last_day, self._gap
        for symbol, close in closes.items():
            price = float(close)
            if price <= 0:
                continue  # not a price (a bar feed refuses these; never divide by it)
            before = last_close.get(symbol)
            previous_day = last_day.get(symbol)
            last_close[symbol] = price
            last_day[symbol] = day
            if before is None or abs(price / before - 1) <= gap:
                continue
            overnight = previous_day != day
            kind = FlagKind.OVERNIGHT_GAP if overnight else FlagKind.GAP
            existing = flags.get(symbol)
            if existing is not None and existing.kind is not FlagKind.SPREAD:
                continue  # already flagged for a gap today
            size = Decimal(repr((price / before - 1) * 100)).quantize(Decimal("0.01"))
            where = "since the previous session's close" if overnight else "in one check"
            flag = MarketFlag(symbol, kind, moment, size,
                              f"{symbol} moved {size:+}% {where} (PRICE_GAP_ALERT_PCT "
                              f"{self.limits.gap_pct})")
            flags[symbol] = flag
            raised.append(flag)
        if quotes is not None and self.limits.spread_bps is not None:
            raised.extend(self._spreads(quotes, moment))
        return raised

    def _spreads(self, quotes: Mapping[str, Quote], moment: datetime) -> list[MarketFlag]:
        limit = self.limits.spread_bps
        assert limit is not None
        flags = self._today.flags
        raised = []
        for symbol, quote in quotes.items():
            existing = flags.get(symbol)
            wide = self._wide(quote)
            if wide is None:
                if existing is not None and existing.kind is FlagKind.SPREAD:
                    del flags[symbol]  # the market is back
                continue
            if existing is not None:
                continue  # a gap flag says more, and a spread flag stands already
            flag = MarketFlag(symbol, FlagKind.SPREAD, moment, wide,
                              f"{symbol} spread {wide} bps above "
                              f"LIQUIDITY_SPREAD_THRESHOLD_BPS {limit}")
            flags[symbol] = flag
            raised.append(flag)
        return raised

    def _wide(self, quote: Quote) -> Decimal | None:
        """The spread in bps (2 places) when above the threshold, else None."""
        limit = self._spread_limit
        assert limit is not None
        bid, ask = quote.bid, quote.ask
        # spread / mid * 10,000 <= limit, without a division: 500 quotes a minute.
        if (ask - bid) * 20_000 <= limit * (ask + bid):
            return None
        return quote.spread_bps.quantize(Decimal("0.01"))

    def entry_refusal(self, symbol: str, quote: Quote | None, *,
                      quotes_known: bool) -> str | None:
        """Why an entry in `symbol` may not go now, or None. `quote` is its quote now;
        `quotes_known` says whether a quote source exists at all: with the liquidity check
        on, a symbol the source has no quote for is refused (an unknown spread is not a
        narrow one)."""
        flag = self._today.flags.get(symbol)
        if flag is not None:
            return f"market guard: {flag.detail}"
        if self.limits.spread_bps is None or not quotes_known:
            return None
        if quote is None:
            return (f"market guard: no quote for {symbol} to check its spread "
                    "(LIQUIDITY_CHECK_ENABLED)")
        wide = self._wide(quote)
        if wide is not None:
            return (f"market guard: {symbol} spread {wide} bps above "
                    f"LIQUIDITY_SPREAD_THRESHOLD_BPS {self.limits.spread_bps}")
        return None

    def flag_of(self, symbol: str) -> MarketFlag | None:
        """The standing flag of `symbol` today, if any."""
        return self._today.flags.get(symbol)

    def status(self) -> dict[str, object]:
        """The `guards.market` block of `engine.status`."""
        return {
            "name": "market",
            "gap_pct": self.limits.gap_pct,
            "spread_bps": self.limits.spread_bps,
            "interval_seconds": int(self.limits.interval.total_seconds()),
            "flags": [flag.as_dict() for flag in sorted(self._today.flags.values(),
                                                        key=lambda f: (f.at, f.symbol))],
        }


def slippage_bps(side_is_buy: bool, reference: Decimal, price: Decimal) -> Decimal:
    """How much worse than `reference` a fill at `price` was, in basis points of the
    reference (negative: better). A buy slips upward, a sale downward."""
    if reference <= 0:
        raise ValueError("a slippage reference price must be above 0")
    moved = price - reference if side_is_buy else reference - price
    return (moved / reference * 10_000).quantize(Decimal("0.01"))
