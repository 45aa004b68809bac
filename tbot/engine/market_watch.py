"""The market guard (`tbot.risk.market_guard`) attached to the engine.

Each market minute (`on_minute`, when `MARKET_CHECK_INTERVAL` says a check is due) the
guard sees the minute's closes and, when the liquidity check is on and the market has a
quote source (the simulated market; Alpaca's quotes are not read yet), its quotes. A symbol
it flags is said once (an alert, a MARKET-GUARD line in the strategy log); a position held
in it is marked for review, or closed, per `MARKET_GUARD_POSITION_ACTION`.

Before every entry (`entry_refusal`) the guard is asked again, with the entry's own quote.
After every fill of an order with a reference price (`on_fill`) the slippage is measured;
beyond `MAX_SLIPPAGE_BPS` it is logged and alerted.

The watch reaches the engine only through `MarketHooks`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tbot.broker.models import BrokerFill, OrderSide
from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import MarketGuardAction
from tbot.market.bars import Bar
from tbot.market.quotes import Quote
from tbot.risk.market_guard import MarketFlag, MarketGuard, MarketLimits, slippage_bps

log = logging.getLogger("tbot.engine.market")

GUARD_NAME = "market"


def limits_from_settings(bot: BotSettings) -> MarketLimits:
    """The guard's limits from `.env_bot`."""
    return MarketLimits(
        gap_pct=bot.PRICE_GAP_ALERT_PCT,
        spread_bps=bot.LIQUIDITY_SPREAD_THRESHOLD_BPS if bot.LIQUIDITY_CHECK_ENABLED else None,
        interval=timedelta(seconds=bot.MARKET_CHECK_INTERVAL),
    )


@dataclass(frozen=True)
class MarketHooks:
    """What the market watch needs from the engine, and nothing more."""

    quotes: Callable[[datetime], Mapping[str, Quote] | None]
    """The quotes standing at the close of the minute starting then; None when the market
    has no quote source."""
    holds: Callable[[str], bool]
    """Whether the book holds `symbol`."""
    close: Callable[[str, str], Awaitable[None]]
    """Close the position in `symbol` (with this reason), through the close throttle."""
    alert: Callable[[Mapping[str, object]], None]
    """Publish an alert (and log it)."""
    log_line: Callable[..., None]
    """A strategy-log line: (strategy, event, **fields)."""


class MarketWatch:
    """The guard's checks at the engine's seams."""

    def __init__(self, bot: BotSettings, hooks: MarketHooks) -> None:
        self.guard = MarketGuard(limits_from_settings(bot))
        self.action = bot.MARKET_GUARD_POSITION_ACTION
        self.max_slippage_bps = bot.MAX_SLIPPAGE_BPS
        self._hooks = hooks
        self.review: dict[str, MarketFlag] = {}
        """Positions flagged for an operator's review (action `review`), by symbol."""
        self.slippage_flags = 0

    def reconfigure(self, bot: BotSettings) -> None:
        """New settings (config.reload), for the next check and the next fill."""
        self.guard.reconfigure(limits_from_settings(bot))
        self.action = bot.MARKET_GUARD_POSITION_ACTION
        self.max_slippage_bps = bot.MAX_SLIPPAGE_BPS

    async def on_minute(self, minute_start: datetime, at: datetime,
                        bars: Mapping[str, Bar]) -> list[MarketFlag]:
        """The guard's check, when due; the flags it raised, each acted on."""
        if not bars or not self.guard.due(at):
            return []
        quotes = (self._hooks.quotes(minute_start)
                  if self.guard.limits.spread_bps is not None else None)
        raised = self.guard.observe({s: bar.close for s, bar in bars.items()}, quotes, at)
        if raised:
            await self._act(raised)
        # A position closed since it was flagged needs no review any more.
        for symbol in [s for s in self.review if not self._hooks.holds(s)]:
            del self.review[symbol]
        return raised

    async def _act(self, raised: list[MarketFlag]) -> None:
        """One check's flags: a log line each, ONE alert for them all (a crash flags every
        symbol at once; forty alerts would bury the rest), then each position's action."""
        hooks = self._hooks
        held = [flag for flag in raised if hooks.holds(flag.symbol)]
        for flag in raised:
            hooks.log_line(GUARD_NAME, "MARKET-GUARD", symbol=flag.symbol,
                           kind=flag.kind.value, size=flag.size, held=flag in held)
        closing = self.action is MarketGuardAction.CLOSE
        if not closing:
            for flag in held:
                self.review[flag.symbol] = flag
        if len(raised) == 1:
            flag = raised[0]
            what = (f"closing {flag.symbol}" if held and closing else
                    f"review the position in {flag.symbol}" if held else
                    f"no new entries in {flag.symbol} today")
            message = f"market guard: {what}: {flag.detail}"
        else:
            named = ", ".join(f"{flag.symbol} {flag.size:+}%" if flag.kind.value != "spread"
                              else f"{flag.symbol} spread {flag.size} bps"
                              for flag in raised[:8])
            more = f" and {len(raised) - 8} more" if len(raised) > 8 else ""
            positions = ", ".join(flag.symbol for flag in held)
            action = ("" if not held else
                      f"; closing {positions}" if closing else f"; review {positions}")
            message = (f"market guard: {len(raised)} symbols flagged, no new entries in them "
                       f"today: {named}{more}{action}")
        hooks.alert({"level": "warning", "message": message, "guard": GUARD_NAME,
                     "trigger": raised[0].kind.value if len(raised) == 1 else "market",
                     "symbol": raised[0].symbol if len(raised) == 1 else None})
        if closing:
            for flag in held:
                await hooks.close(flag.symbol, f"market_guard_{flag.kind.value}")

    def entry_refusal(self, symbol: str, minute_start: datetime | None) -> str | None:
        """Why an entry in `symbol` may not go now (its flag, or its own quote's spread at
        the minute starting `minute_start`), or None."""
        quotes = self._hooks.quotes(minute_start) if minute_start is not None else None
        quote = quotes.get(symbol) if quotes is not None else None
        return self.guard.entry_refusal(symbol, quote, quotes_known=quotes is not None)

    def on_fill(self, fill: BrokerFill, reference: Decimal | None, strategy: str) -> None:
        """Measure the fill's slippage against the price its order was decided at; beyond
        MAX_SLIPPAGE_BPS, log and alert it."""
        if reference is None or reference <= 0:
            return
        slipped = slippage_bps(fill.side is OrderSide.BUY, reference, fill.price)
        if slipped <= self.max_slippage_bps:
            return
        self.slippage_flags += 1
        self._hooks.log_line(strategy, "SLIPPAGE", symbol=fill.symbol, side=fill.side,
                             price=fill.price, reference=reference, bps=slipped)
        self._hooks.alert({
            "level": "warning", "guard": GUARD_NAME, "trigger": "slippage",
            "strategy": strategy, "symbol": fill.symbol,
            "message": (f"slippage on {fill.symbol}: filled at {fill.price} against "
                        f"{reference}, {slipped} bps (MAX_SLIPPAGE_BPS "
                        f"{self.max_slippage_bps})")})

    def status(self) -> dict[str, object]:
        """The `guards.market` block of `engine.status`."""
        return {**self.guard.status(), "position_action": self.action.value,
                "review": sorted(self.review), "slippage_flags": self.slippage_flags}
