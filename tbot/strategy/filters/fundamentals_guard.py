"""The fundamentals guard and the screener's cheap checks.

`FundamentalsGuard.check(symbol, day, strategy)` judges one company on its fundamentals
(ENABLE_FINNHUB_FUNDAMENTALS_FILTER):

- P/E ≤ MAX_PE_RATIO. A P/E that is missing, 0 or negative blocks: a company without
  earnings has no meaningful P/E (Finnhub leaves it null for a loss-maker), and a filter on
  valuation cannot vouch for it.
- debt/equity ≤ MAX_DEBT_EQUITY. A missing figure blocks (cannot be vouched for); a
  negative one blocks too: it means negative equity, not low debt.
- MIN_MARKET_CAP_<S> ≤ market cap ≤ MAX_MARKET_CAP_<S> for strategy S; missing blocks.
- A symbol the source does not know blocks (no alert: the source is fine).
- An inverse ETF is allowed without asking: funds have no P/E or debt, and a bearish entry
  buys one on the strength of its underlying (which is the symbol to check).

When the source cannot answer at all (`FundamentalsUnavailable`, or no source while the
filter is on), FUNDAMENTALS_UNAVAILABLE decides: ``block`` (the default) or ``allow``; the
verdict carries ``alert=True`` either way. With the filter off every fundamentals check
allows and says so; the market-cap bands are part of it, because they need the same data.

`screen(symbols, day, strategy, quotes)` is the screener: the cheap checks first
(MIN_PRICE ≤ price ≤ MAX_PRICE, volume ≥ MIN_VOLUME_THRESHOLD, |price − open| / open ≤
MAX_GAP_PCT_<S>), then the fundamentals of the survivors in one request to the source.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tbot.config.bot_settings import BotSettings, UnavailablePolicy
from tbot.config.setting_types import StrategyName
from tbot.market.fundamentals import Fundamentals, FundamentalsSource, FundamentalsUnavailable
from tbot.market.universe import is_inverse_etf
from tbot.strategy.filters.verdict import FilterVerdict

log = logging.getLogger(__name__)

FUNDAMENTALS = "fundamentals"
SCREENER = "screener"


@dataclass(frozen=True)
class FundamentalsLimits:
    """The fundamentals thresholds: P/E and debt/equity maxima, market-cap bands (USD) by
    strategy."""

    max_pe_ratio: Decimal
    max_debt_equity: Decimal
    market_cap: Mapping[StrategyName, tuple[Decimal, Decimal]]

    @classmethod
    def from_settings(cls, settings: BotSettings) -> FundamentalsLimits:
        """MAX_PE_RATIO, MAX_DEBT_EQUITY and MIN/MAX_MARKET_CAP_{OPEN,MID,CLOSE}."""
        return cls(
            max_pe_ratio=settings.MAX_PE_RATIO,
            max_debt_equity=settings.MAX_DEBT_EQUITY,
            market_cap={
                name: (
                    getattr(settings, f"MIN_MARKET_CAP_{name.name}"),
                    getattr(settings, f"MAX_MARKET_CAP_{name.name}"),
                )
                for name in StrategyName
            },
        )


@dataclass(frozen=True)
class ScreenLimits:
    """The screener's cheap thresholds: a price band (USD), a volume floor (shares), and the
    largest gap from the open by strategy (a fraction)."""

    min_price: Decimal
    max_price: Decimal
    min_volume: Decimal
    max_gap: Mapping[StrategyName, Decimal]

    @classmethod
    def from_settings(cls, settings: BotSettings) -> ScreenLimits:
        """MIN_PRICE, MAX_PRICE, MIN_VOLUME_THRESHOLD and MAX_GAP_PCT_{OPEN,MID,CLOSE}."""
        return cls(
            min_price=settings.MIN_PRICE,
            max_price=settings.MAX_PRICE,
            min_volume=Decimal(settings.MIN_VOLUME_THRESHOLD),
            max_gap={name: getattr(settings, f"MAX_GAP_PCT_{name.name}") for name in StrategyName},
        )


@dataclass(frozen=True)
class ScreenQuote:
    """What the screener knows of a symbol: its last price, the session's open, and the
    volume to judge liquidity by (the template speaks of daily volume: pass the previous
    session's or an average day's, not the minutes traded so far)."""

    price: Decimal
    open_price: Decimal
    volume: Decimal | int


@dataclass(frozen=True)
class ScreenResult:
    """The symbols kept (in the order asked) and a verdict for every symbol."""

    kept: tuple[str, ...]
    verdicts: Mapping[str, FilterVerdict] = field(default_factory=dict)

    @property
    def dropped(self) -> dict[str, FilterVerdict]:
        """The blocking verdict of each symbol not kept."""
        return {s: v for s, v in self.verdicts.items() if not v.allowed}

    @property
    def alerts(self) -> list[FilterVerdict]:
        """Verdicts an operator must hear about (fundamentals unavailable), kept or not."""
        return [v for v in self.verdicts.values() if v.alert]


class FundamentalsGuard:
    """Blocks entries whose company fails the fundamentals thresholds (see the module)."""

    name = FUNDAMENTALS

    def __init__(
        self,
        source: FundamentalsSource | None,
        limits: FundamentalsLimits,
        screen_limits: ScreenLimits | None = None,
        *,
        on_unavailable: UnavailablePolicy | str = UnavailablePolicy.BLOCK,
        enabled: bool = True,
    ) -> None:
        self.source = source
        self.limits = limits
        self.screen_limits = screen_limits
        self.on_unavailable = UnavailablePolicy(str(on_unavailable).lower())
        self.enabled = enabled

    @classmethod
    def from_settings(
        cls, settings: BotSettings, source: FundamentalsSource | None
    ) -> FundamentalsGuard:
        """The guard of a `BotSettings` (ENABLE_FINNHUB_FUNDAMENTALS_FILTER,
        FUNDAMENTALS_UNAVAILABLE and the thresholds) over `source`."""
        return cls(
            source,
            FundamentalsLimits.from_settings(settings),
            ScreenLimits.from_settings(settings),
            on_unavailable=settings.FUNDAMENTALS_UNAVAILABLE,
            enabled=settings.ENABLE_FINNHUB_FUNDAMENTALS_FILTER,
        )

    def self_check(self) -> list[str]:
        """Thresholds no company can pass, a missing source while on, and the source's own
        problems (a missing API key, an unwritable cache)."""
        problems: list[str] = []
        if self.screen_limits is not None:
            s = self.screen_limits
            if not s.min_price < s.max_price:
                problems.append(
                    f"screener: MIN_PRICE {s.min_price} must be below MAX_PRICE {s.max_price}"
                )
        if not self.enabled:
            return problems
        if self.limits.max_pe_ratio <= 0:
            problems.append(
                f"fundamentals: MAX_PE_RATIO {self.limits.max_pe_ratio} refuses every company"
            )
        for strategy, (low, high) in self.limits.market_cap.items():
            key = strategy.name
            if low > high or high <= 0:
                problems.append(
                    f"fundamentals: no company fits MIN_MARKET_CAP_{key}={low}.."
                    f"MAX_MARKET_CAP_{key}={high}"
                )
        if self.source is None:
            problems.append(
                "fundamentals: the filter is on but has no source: every entry would be "
                f"{'blocked' if self.on_unavailable is UnavailablePolicy.BLOCK else 'let through'}"
                " with an alert"
            )
        else:
            check = getattr(self.source, "self_check", None)
            if callable(check):
                problems.extend(check())
        return problems

    # -- one symbol, or many -----------------------------------------------------------

    def check(self, symbol: str, day: date, strategy: StrategyName | str) -> FilterVerdict:
        """The verdict on `symbol`'s fundamentals for an entry of `strategy` on `day`."""
        return self.check_many([symbol], day, strategy)[symbol]

    def check_many(
        self, symbols: Sequence[str], day: date, strategy: StrategyName | str
    ) -> dict[str, FilterVerdict]:
        """A verdict per symbol, asking the source once for all that need it."""
        name = StrategyName(str(strategy).lower())
        verdicts: dict[str, FilterVerdict] = {}
        if not self.enabled:
            return {s: FilterVerdict.allow(self.name, "fundamentals filter off") for s in symbols}
        to_ask: list[str] = []
        for symbol in symbols:
            if is_inverse_etf(symbol):
                verdicts[symbol] = FilterVerdict.allow(
                    self.name, f"{symbol} is an inverse ETF: fundamentals do not apply"
                )
            else:
                to_ask.append(symbol)
        if to_ask:
            verdicts |= self._ask_and_judge(to_ask, day, name)
        return {symbol: verdicts[symbol] for symbol in symbols}  # in the order asked

    def _ask_and_judge(
        self, symbols: list[str], day: date, strategy: StrategyName
    ) -> dict[str, FilterVerdict]:
        outage: str | None = None
        found: Mapping[str, Fundamentals] = {}
        if self.source is None:
            outage = "no fundamentals source is configured"
        else:
            try:
                found = self.source.fundamentals(symbols, day)
            except FundamentalsUnavailable as error:
                outage = str(error)
            except Exception as error:  # a broken source is an outage, not a crash
                log.exception("fundamentals source failed")
                outage = f"the source failed ({type(error).__name__})"
        if outage is not None:
            log.warning("fundamentals unavailable for %d symbol(s): %s", len(symbols), outage)
            return {s: self._unavailable(s, outage) for s in symbols}
        by_symbol = {key.strip().upper(): value for key, value in found.items()}
        return {s: self._judge(s, by_symbol.get(s.strip().upper()), strategy) for s in symbols}

    def unavailable(self, symbols: Sequence[str], why: str) -> dict[str, FilterVerdict]:
        """The verdicts when the figures cannot be had in time (`why`): blocked or allowed
        per FUNDAMENTALS_UNAVAILABLE, each with an alert; allowed when the filter is off."""
        if not self.enabled:
            return self.check_many(symbols, date.min, StrategyName.OPEN)
        return {symbol: self._unavailable(symbol, why) for symbol in symbols}

    def _unavailable(self, symbol: str, why: str) -> FilterVerdict:
        if self.on_unavailable is UnavailablePolicy.ALLOW:
            return FilterVerdict.allow(
                self.name,
                f"fundamentals of {symbol} unavailable ({why}); allowed by "
                "FUNDAMENTALS_UNAVAILABLE=allow",
                alert=True,
                symbol=symbol,
            )
        return FilterVerdict.block(
            self.name,
            f"fundamentals of {symbol} unavailable ({why}); blocked by "
            "FUNDAMENTALS_UNAVAILABLE=block",
            alert=True,
            symbol=symbol,
        )

    def _judge(
        self, symbol: str, figures: Fundamentals | None, strategy: StrategyName
    ) -> FilterVerdict:
        if figures is None:
            return FilterVerdict.block(
                self.name, f"the fundamentals source has no figures for {symbol}", symbol=symbol
            )
        low, high = self.limits.market_cap[strategy]
        context = {
            "symbol": symbol, "strategy": strategy.value,
            "pe_ratio": figures.pe_ratio, "max_pe_ratio": self.limits.max_pe_ratio,
            "debt_to_equity": figures.debt_to_equity,
            "max_debt_equity": self.limits.max_debt_equity,
            "market_cap": figures.market_cap, "min_market_cap": low, "max_market_cap": high,
        }
        pe, debt, cap = figures.pe_ratio, figures.debt_to_equity, figures.market_cap
        problem: str | None = None
        if pe is None:
            problem = f"{symbol} has no P/E (no earnings, or not reported)"
        elif pe <= 0:
            problem = f"{symbol} P/E {pe} ≤ 0: losses, no meaningful valuation"
        elif pe > self.limits.max_pe_ratio:
            problem = f"{symbol} P/E {pe} > MAX_PE_RATIO {self.limits.max_pe_ratio}"
        elif debt is None:
            problem = f"{symbol} has no debt/equity figure"
        elif debt < 0:
            problem = f"{symbol} debt/equity {debt} < 0: negative equity"
        elif debt > self.limits.max_debt_equity:
            problem = f"{symbol} debt/equity {debt} > MAX_DEBT_EQUITY {self.limits.max_debt_equity}"
        elif cap is None:
            problem = f"{symbol} has no market cap"
        elif cap < low:
            problem = (
                f"{symbol} market cap {_usd(cap)} < MIN_MARKET_CAP_{strategy.name} {_usd(low)}"
            )
        elif cap > high:
            problem = (
                f"{symbol} market cap {_usd(cap)} > MAX_MARKET_CAP_{strategy.name} {_usd(high)}"
            )
        if problem is not None:
            return FilterVerdict.block(self.name, problem, **context)
        return FilterVerdict.allow(
            self.name,
            f"{symbol} P/E {pe} ≤ {self.limits.max_pe_ratio}, debt/equity {debt} ≤ "
            f"{self.limits.max_debt_equity}, market cap {_usd(cap)} within {_usd(low)}.."
            f"{_usd(high)}",
            **context,
        )

    # -- the screener ------------------------------------------------------------------

    def screen(
        self,
        symbols: Sequence[str],
        day: date,
        strategy: StrategyName | str,
        quotes: Mapping[str, ScreenQuote],
    ) -> ScreenResult:
        """Keep the symbols that pass price, volume and gap (from `quotes`), then the
        fundamentals; a verdict for every symbol. Needs `screen_limits`."""
        if self.screen_limits is None:
            raise ValueError("this guard has no screen limits: build it with screen_limits")
        name = StrategyName(str(strategy).lower())
        verdicts: dict[str, FilterVerdict] = {}
        survivors: list[str] = []
        for symbol in dict.fromkeys(symbols):
            verdict = self._cheap(symbol, quotes.get(symbol), name)
            if verdict is None:
                survivors.append(symbol)
            else:
                verdicts[symbol] = verdict
        verdicts |= self.check_many(survivors, day, name) if survivors else {}
        kept = tuple(s for s in dict.fromkeys(symbols) if verdicts[s].allowed)
        ordered = {s: verdicts[s] for s in dict.fromkeys(symbols)}
        return ScreenResult(kept, ordered)

    def _cheap(
        self, symbol: str, quote: ScreenQuote | None, strategy: StrategyName
    ) -> FilterVerdict | None:
        """The blocking verdict of price, volume or gap, or None when all pass."""
        limits = self.screen_limits
        assert limits is not None
        if quote is None:
            return FilterVerdict.block(SCREENER, f"no quote for {symbol}", symbol=symbol)
        price, opened, volume = quote.price, quote.open_price, Decimal(quote.volume)
        max_gap = limits.max_gap[strategy]
        context = {
            "symbol": symbol, "price": price, "open": opened, "volume": volume,
            "min_price": limits.min_price, "max_price": limits.max_price,
            "min_volume": limits.min_volume, "max_gap": max_gap,
        }
        if not limits.min_price <= price <= limits.max_price:
            return FilterVerdict.block(
                SCREENER,
                f"{symbol} price {price} outside MIN_PRICE..MAX_PRICE "
                f"{limits.min_price}..{limits.max_price}",
                **context,
            )
        if volume < limits.min_volume:
            return FilterVerdict.block(
                SCREENER,
                f"{symbol} volume {volume:,} < MIN_VOLUME_THRESHOLD {limits.min_volume:,}",
                **context,
            )
        if opened <= 0:
            return FilterVerdict.block(SCREENER, f"{symbol} has no open price", **context)
        gap = abs(price - opened) / opened
        if gap > max_gap:
            return FilterVerdict.block(
                SCREENER,
                f"{symbol} gap {gap:.2%} from the open {opened} > MAX_GAP_PCT_{strategy.name} "
                f"{max_gap:.2%}",
                gap=f"{gap:.6f}",
                **context,
            )
        return None


_MAGNITUDES = ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"))


def _usd(amount: Decimal) -> str:
    """A market cap for a sentence: $2.5B, $850M, $12,000."""
    for size, suffix in _MAGNITUDES:
        if abs(amount) >= size:
            return f"${(amount / size).quantize(Decimal('0.01')).normalize():f}{suffix}"
    return f"${amount:,f}"
