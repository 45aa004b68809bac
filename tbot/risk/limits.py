"""Counting limits of a trading day: trades per strategy session (MAX_TRADES), open
positions across the bot (MAX_OPEN_POSITIONS), and one trade per ticker per session.

The engine records an entry when it sends the entry order, not when it fills, so two
signals in the same minute cannot both slip under a limit. The trade counts even if the
order then fills nothing; the position slot is freed with `record_exit`. After a restart,
`rebuild` restores the same counts from today's entry fills and the open positions.

A position is an instrument: the bot holds at most one position per instrument, whichever
strategy opened it, so positions found at the broker map back unambiguously.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from tbot.config.bot_settings import BotSettings
from tbot.config.setting_types import StrategyName

Entry = tuple[StrategyName, str, str]


class SessionLimits:
    """The day's counters, per strategy session and across the bot."""

    def __init__(self, *, max_trades: int, max_open_positions: int) -> None:
        self.max_trades = max_trades
        self.max_open_positions = max_open_positions
        self._trades: dict[StrategyName, int] = {}
        self._tickers: dict[StrategyName, set[str]] = {}
        self._open: set[str] = set()

    @classmethod
    def from_settings(cls, bot: BotSettings) -> Self:
        """Limits from MAX_TRADES and MAX_OPEN_POSITIONS, with nothing traded yet."""
        return cls(max_trades=bot.MAX_TRADES, max_open_positions=bot.MAX_OPEN_POSITIONS)

    def rebuild(self, entries: Iterable[Entry], open_instruments: Iterable[str]) -> Self:
        """Replace the counters with those implied by today's entry fills
        (strategy, underlying, instrument) and the instruments held now; returns self.

        Fills are deduplicated: the partial fills of one order are one trade (a session
        trades each ticker at most once, so one triple is one trade).
        """
        self._trades.clear()
        self._tickers.clear()
        for strategy, underlying, instrument in dict.fromkeys(entries):
            self._count_entry(strategy, underlying, instrument)
        self._open = set(open_instruments)
        return self

    def check_entry(self, strategy: StrategyName, underlying: str, instrument: str) -> str | None:
        """Why an entry would break a limit, or None when it fits."""
        tickers = self._tickers.get(strategy, set())
        for ticker in dict.fromkeys((underlying, instrument)):
            if ticker in tickers:
                return f"{ticker} already traded in this {strategy} session"
        trades = self._trades.get(strategy, 0)
        if trades >= self.max_trades:
            return f"MAX_TRADES={self.max_trades} reached in this {strategy} session"
        if instrument in self._open:
            return f"{instrument} is already an open position"
        if len(self._open) >= self.max_open_positions:
            return f"MAX_OPEN_POSITIONS={self.max_open_positions} reached"
        return None

    def record_entry(self, strategy: StrategyName, underlying: str, instrument: str) -> None:
        """Count an entry order just sent: one trade, two tickers used, one position."""
        self._count_entry(strategy, underlying, instrument)
        self._open.add(instrument)

    def record_exit(self, instrument: str) -> None:
        """Free `instrument`'s position slot: sold out, or its entry filled nothing."""
        self._open.discard(instrument)

    def trades_entered(self, strategy: StrategyName) -> int:
        """Entries counted in `strategy`'s session."""
        return self._trades.get(strategy, 0)

    def next_trade_index(self, strategy: StrategyName) -> int:
        """The 0-based index (into WEIGHTS) of `strategy`'s next trade."""
        return self.trades_entered(strategy)

    def open_positions(self) -> frozenset[str]:
        """Instruments counted as open positions."""
        return frozenset(self._open)

    def traded_tickers(self, strategy: StrategyName) -> frozenset[str]:
        """Underlyings and instruments already traded in `strategy`'s session."""
        return frozenset(self._tickers.get(strategy, ()))

    def snapshot(self) -> dict[str, object]:
        """JSON-ready counters for `engine.status`."""
        return {
            "max_trades": self.max_trades,
            "max_open_positions": self.max_open_positions,
            "trades": {s.value: n for s, n in sorted(self._trades.items())},
            "traded": {s.value: sorted(t) for s, t in sorted(self._tickers.items())},
            "open_positions": sorted(self._open),
        }

    def _count_entry(self, strategy: StrategyName, underlying: str, instrument: str) -> None:
        self._trades[strategy] = self._trades.get(strategy, 0) + 1
        self._tickers.setdefault(strategy, set()).update((underlying, instrument))
