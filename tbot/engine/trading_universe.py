"""Which stocks the strategies trade, and what the feed delivers against what they watch.

The universe is `TRADING_UNIVERSE` when it is set; otherwise every stock the simulated
market or the replayed file carries (inverse ETFs are left to the strategies' pools: they
are bought for bearish views, never traded as stocks). A real broker's stream sends only
what it is asked for, so there the setting is required.

`FeedCoverage` keeps the symbols the feed delivered today, so the engine can say once a
day which feed symbols no strategy watches and which watched symbols never came: a replay
file of one's own symbols that trades nothing must say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from tbot.errors import TbotError
from tbot.market.universe import is_inverse_etf


class UniverseError(TbotError):
    """No universe can be chosen (a live feed with TRADING_UNIVERSE empty)."""


def choose_universe(configured: Sequence[str], feed_symbols: Sequence[str] | None
                    ) -> tuple[str, ...]:
    """`configured` when given, else the stocks among `feed_symbols` (None: a feed that
    cannot list its symbols, which needs the setting)."""
    if configured:
        return tuple(configured)
    if feed_symbols is None:
        raise UniverseError(
            "TRADING_UNIVERSE is empty, and a real broker's data stream sends only the "
            "symbols it is asked for: list the stocks to trade in .env_bot")
    return tuple(symbol for symbol in feed_symbols if not is_inverse_etf(symbol))


class FeedCoverage:
    """The symbols delivered on one day, and the day's coverage report (said once)."""

    def __init__(self) -> None:
        self._day: date | None = None
        self._delivered: set[str] = set()
        self._watched: set[str] = set()
        self._reported: set[date] = set()

    def delivered(self, day: date, symbols: Iterable[str]) -> None:
        """Note the symbols of one minute's bars on `day`."""
        self._on(day)
        self._delivered.update(symbols)

    def watching(self, day: date, symbols: Iterable[str]) -> None:
        """Note the symbols a strategy of `day` watches."""
        self._on(day)
        self._watched.update(symbols)

    def _on(self, day: date) -> None:
        if day != self._day:
            self._day, self._delivered, self._watched = day, set(), set()

    def report(self, day: date, feed_symbols: Iterable[str] | None) -> list[str]:
        """Sentences on `day`'s coverage (at its end), once (empty when everything watched
        was delivered and every stock delivered was watched, or nothing was watched)."""
        if day in self._reported or day != self._day or not self._watched:
            return []
        self._reported.add(day)
        watching = self._watched
        carried = set(feed_symbols) if feed_symbols is not None else set(self._delivered)
        lines = []
        never = sorted(watching - self._delivered)
        if never:
            lines.append(f"watched but not delivered by the feed today: {_listed(never)}")
        unwatched = sorted(s for s in carried - watching if not is_inverse_etf(s))
        if unwatched:
            lines.append(f"in the feed but watched by no strategy: {_listed(unwatched)}")
        return lines


def _listed(symbols: list[str], shown: int = 12) -> str:
    more = len(symbols) - shown
    return ", ".join(symbols[:shown]) + (f" and {more} more" if more > 0 else "")
