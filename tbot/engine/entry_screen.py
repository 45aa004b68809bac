"""The fundamentals guard over a strategy's universe, when its window opens.

Each symbol of the universe is judged once per window (P/E, debt/equity, the strategy's
market-cap band: `tbot.strategy.filters.fundamentals_guard`); a blocked symbol is logged
with its reason to the strategy log and counted in the daily summary, and the strategy is
told not to enter it. A source that cannot answer blocks or allows per
FUNDAMENTALS_UNAVAILABLE and always alerts.

Where the figures come from: the simulated market's own (generated or replayed bars) unless
a `screener_api` secret is set, then Finnhub; with a real broker, Finnhub only. Finnhub's
answers are cached per day under the bot's `data/cache/`; its calls block (a 429 may wait),
so they run off the engine's loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tbot.config.bot_settings import BotSettings
from tbot.config.paths import BotPaths
from tbot.config.secret_store import SecretStore
from tbot.errors import TbotError
from tbot.market.finnhub import FinnhubFundamentals
from tbot.market.fundamentals import FundamentalsSource
from tbot.market.fundamentals_cache import CachedFundamentals
from tbot.strategy.filters.fundamentals_guard import FundamentalsGuard
from tbot.strategy.filters.verdict import FilterVerdict
from tbot.strategy.window import StrategyWindow

log = logging.getLogger(__name__)

SCREENER_SECRET = "screener_api"


@dataclass(frozen=True, slots=True)
class ScreenOutcome:
    """What one window's screen decided: the blocked symbols with their verdicts."""

    blocked: dict[str, FilterVerdict]
    alerts: list[FilterVerdict]


def fundamentals_source(bot: BotSettings, paths: BotPaths, simulated: FundamentalsSource | None
                        ) -> tuple[FundamentalsSource | None, str]:
    """The source the guard reads and a phrase saying which. `simulated` is the simulated
    market's own (None with a real broker)."""
    store = SecretStore(paths)
    if store.exists(SCREENER_SECRET):
        try:
            finnhub = FinnhubFundamentals.from_secret(store.load(SCREENER_SECRET))
        except TbotError as error:
            log.error("fundamentals: the screener_api secret is unusable: %s", error)
            return None, f"no source (the screener_api secret is unusable: {error})"
        return CachedFundamentals(finnhub, paths.cache_dir, source_name="finnhub"), "Finnhub"
    if simulated is not None:
        return simulated, "the simulated market's figures"
    return None, "no source (set the screener_api secret for Finnhub)"


class EntryScreen:
    """Runs the guard for a window and hands the verdicts to the engine's hooks."""

    def __init__(self, guard: FundamentalsGuard, source_words: str,
                 log_block: Callable[[str, str, str], None],
                 alert: Callable[[str, str], None]) -> None:
        self.guard = guard
        self.source_words = source_words
        self._log_block = log_block
        self._alert = alert

    @classmethod
    def from_settings(cls, bot: BotSettings, paths: BotPaths,
                      simulated: FundamentalsSource | None,
                      log_block: Callable[[str, str, str], None],
                      alert: Callable[[str, str], None]) -> EntryScreen:
        """The screen of `.env_bot` (ENABLE_FINNHUB_FUNDAMENTALS_FILTER, the thresholds,
        FUNDAMENTALS_UNAVAILABLE) over the source `fundamentals_source` picks."""
        source, words = fundamentals_source(bot, paths, simulated)
        return cls(FundamentalsGuard.from_settings(bot, source), words, log_block, alert)

    async def screen(self, window: StrategyWindow, universe: Sequence[str]) -> ScreenOutcome:
        """Judge `universe` for `window`'s strategy: log each block, raise the alerts,
        return what was blocked."""
        strategy = window.strategy.value
        verdicts = await asyncio.to_thread(self.guard.check_many, list(universe), window.day,
                                           window.strategy)
        blocked = {symbol: v for symbol, v in verdicts.items() if v.blocked}
        alerts = [v for v in verdicts.values() if v.alert]
        for symbol, verdict in blocked.items():
            self._log_block(strategy, symbol, f"{verdict.filter}: {verdict.reason}")
        if alerts:
            self._alert(f"fundamentals:{strategy}:{window.day}",
                        f"strategy {strategy}: fundamentals ({self.source_words}): "
                        f"{alerts[0].reason}")
        return ScreenOutcome(blocked, alerts)
