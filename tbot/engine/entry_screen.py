"""The fundamentals guard over a strategy's universe, when its window opens.

Each symbol of the universe is judged once per window (P/E, debt/equity, the strategy's
market-cap band: `tbot.strategy.filters.fundamentals_guard`); a blocked symbol is logged
with its reason to the strategy log and counted in the daily summary, and the strategy is
told not to enter it. A source that cannot answer blocks or allows per
FUNDAMENTALS_UNAVAILABLE and always alerts.

Where the figures come from: the simulated market's own (generated or replayed bars) unless
a `screener_api` secret is set, then Finnhub; with a real broker, Finnhub only. Finnhub's
answers are cached per day under the bot's `data/cache/`; its calls block (a 429 may wait),
so they run off the engine's loop, and a window waits for them at most `wait_seconds`:
past that the figures count as unavailable for that window (blocked or allowed per
FUNDAMENTALS_UNAVAILABLE, with an alert) while the fetch goes on filling the cache. The
engine asks for the day's figures as soon as the day starts (`prefetch`), so with a large
universe and Finnhub's 60 calls a minute, start the engine well before the first window.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from tbot.config.bot_settings import BotSettings
from tbot.config.paths import BotPaths
from tbot.config.secret_store import SecretStore
from tbot.config.setting_types import StrategyName
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


WAIT_SECONDS = 20.0
"""How long a window's start waits for figures still being fetched."""


class EntryScreen:
    """Runs the guard for a window and hands the verdicts to the engine's hooks."""

    def __init__(self, guard: FundamentalsGuard, source_words: str,
                 log_block: Callable[[str, str, str], None],
                 alert: Callable[[str, str], None], *,
                 wait_seconds: float = WAIT_SECONDS) -> None:
        self.guard = guard
        self.source_words = source_words
        self.wait_seconds = wait_seconds
        self._log_block = log_block
        self._alert = alert
        self._prefetching: asyncio.Future[object] | None = None

    def prefetch(self, day: date, universe: Sequence[str]) -> None:
        """Start asking for `day`'s figures of `universe` off the loop (the source's cache
        keeps them), so the windows' screens are answered at once. Call on the loop."""
        if not self.guard.enabled or (self._prefetching is not None
                                      and not self._prefetching.done()):
            return
        self._prefetching = asyncio.ensure_future(asyncio.to_thread(
            self.guard.check_many, list(universe), day, StrategyName.OPEN))
        self._prefetching.add_done_callback(_logged)

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
        try:
            async with asyncio.timeout(self.wait_seconds):
                if self._prefetching is not None:  # one fetch at a time: the cache serves
                    await asyncio.shield(self._prefetching)
                verdicts = await asyncio.to_thread(self.guard.check_many, list(universe),
                                                   window.day, window.strategy)
        except TimeoutError:
            verdicts = self.guard.unavailable(
                list(universe), f"still being fetched after {self.wait_seconds:g} s")
        blocked = {symbol: v for symbol, v in verdicts.items() if v.blocked}
        alerts = [v for v in verdicts.values() if v.alert]
        for symbol, verdict in blocked.items():
            self._log_block(strategy, symbol, f"{verdict.filter}: {verdict.reason}")
        if alerts:
            self._alert(f"fundamentals:{strategy}:{window.day}",
                        f"strategy {strategy}: fundamentals ({self.source_words}): "
                        f"{alerts[0].reason}")
        return ScreenOutcome(blocked, alerts)


def _logged(done: asyncio.Future[object]) -> None:
    """A prefetch's failure is logged (its verdicts are the screen's business)."""
    if not done.cancelled() and done.exception() is not None:
        log.error("fundamentals prefetch failed: %s", done.exception())
