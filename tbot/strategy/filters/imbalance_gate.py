"""The close strategy's auction-imbalance gate: no entry against strong opposing pressure.

Before the closing auction the exchanges publish, per symbol, the shares that would pair
off at the close (`paired_shares`) and the unmatched rest (the imbalance) with its side. A
large SELL imbalance means sellers outweigh buyers into the close: a bad moment to buy,
and the same for a BUY imbalance against a bearish entry.

**Strong** is defined relative to the paired shares (the standard imbalance ratio, which
IBKR's auction ticks give): an opposing imbalance blocks when it is at least
`strong_ratio` × paired shares (default 0.25: a quarter of what would trade at the close
is unmatched against us) *and* at least `min_shares` shares (default 10 000, so a few
hundred unmatched shares in a thin name do not count as pressure). An imbalance on our
side, or a weak one, allows.

The seed makes the gate IBKR-only (its imbalance feed, read 20:30–21:00 UTC). With no
source configured the gate is off and says so. A configured source answering None means
"no imbalance published for this symbol now" (normal: outside the publication window or a
balanced book) and allows; a source that raises means the gate cannot see, which blocks
and alerts. Note the timing: the template's close window (19:30 start, 5+5 minutes of
analysis and breakout) ends its entries by 19:40 UTC, before any imbalance is published,
so with those settings the gate never has data at entry time.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from tbot.clock import ensure_utc
from tbot.errors import TbotError
from tbot.strategy.filters.verdict import FilterVerdict
from tbot.strategy.signals import Direction

log = logging.getLogger(__name__)

DEFAULT_STRONG_RATIO = Decimal("0.25")
DEFAULT_MIN_SHARES = 10_000
PUBLISH_FROM = time(20, 30, tzinfo=UTC)
PUBLISH_UNTIL = time(21, 0, tzinfo=UTC)


class ImbalanceSide(StrEnum):
    """Which side has the unmatched shares."""

    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True, slots=True)
class Imbalance:
    """One published auction imbalance: `shares` unmatched on `side`, against
    `paired_shares` that would trade at the close, as published at `at` (aware UTC)."""

    symbol: str
    side: ImbalanceSide
    shares: int
    paired_shares: int
    at: datetime


class ImbalanceSource(Protocol):
    """Where the gate reads imbalances (IBKR's auction ticks; a generated series in
    simulation)."""

    def imbalance(self, symbol: str, at: datetime) -> Imbalance | None:
        """The latest imbalance of `symbol` published by `at` (aware UTC); None when none
        is published (outside the window, balanced book). Raises when the source cannot
        tell (feed down, not subscribed): None must never stand for "unknown"."""
        ...


class ImbalanceGate:
    """`check(symbol, direction, at)` blocks an entry against a strong opposing imbalance."""

    name = "imbalance"

    def __init__(
        self,
        source: ImbalanceSource | None,
        *,
        strong_ratio: Decimal = DEFAULT_STRONG_RATIO,
        min_shares: int = DEFAULT_MIN_SHARES,
        enabled: bool = True,
    ) -> None:
        self.source = source
        self.strong_ratio = Decimal(strong_ratio)
        self.min_shares = int(min_shares)
        # No source, no gate: the imbalance feed exists only with IBKR.
        self.enabled = enabled and source is not None

    def self_check(self) -> list[str]:
        """A ratio of 0 or less, or a negative share floor, would make every opposing
        imbalance block."""
        problems: list[str] = []
        if self.strong_ratio <= 0:
            problems.append(
                f"imbalance: strong_ratio {self.strong_ratio} must be above 0 (e.g. 0.25)"
            )
        if self.min_shares < 0:
            problems.append(f"imbalance: min_shares {self.min_shares} must be 0 or more")
        return problems

    def check(self, symbol: str, direction: Direction | str, at: datetime) -> FilterVerdict:
        """Allow unless the imbalance of `symbol` at `at` is strong and against
        `direction` ("long" fears a SELL imbalance, "bearish" a BUY one)."""
        if not self.enabled:
            why = "no imbalance source (IBKR only)" if self.source is None else "switched off"
            return FilterVerdict.allow(self.name, f"imbalance gate off: {why}")
        view = Direction(str(direction).lower())
        moment = ensure_utc(at)
        when = moment.strftime("%H:%M UTC")
        assert self.source is not None  # enabled implies a source
        try:
            found = self.source.imbalance(symbol, moment)
        except Exception as error:  # a gate that cannot see must not pass entries
            detail = str(error) if isinstance(error, TbotError) else type(error).__name__
            log.warning("imbalance source raised for %s at %s", symbol, when, exc_info=True)
            return FilterVerdict.block(
                self.name,
                f"no imbalance data for {symbol} at {when}: the source failed ({detail})",
                alert=True,
                symbol=symbol,
                at=moment.isoformat(),
            )
        if found is None:
            return FilterVerdict.allow(
                self.name, f"no imbalance published for {symbol} at {when}", symbol=symbol
            )
        opposing = ImbalanceSide.SELL if view is Direction.LONG else ImbalanceSide.BUY
        ratio = _ratio(found.shares, found.paired_shares)
        ratio_text = "∞" if math.isinf(ratio) else f"{ratio:.2f}"
        context = {
            "symbol": symbol, "direction": view.value, "side": found.side.value,
            "shares": found.shares, "paired_shares": found.paired_shares,
            "ratio": ratio_text, "strong_ratio": self.strong_ratio,
            "min_shares": self.min_shares, "published_at": found.at.isoformat(),
        }
        summary = (
            f"{found.side.value} imbalance of {found.shares:,} shares on {found.paired_shares:,} "
            f"paired ({ratio_text})"
        )
        if found.side is not opposing:
            return FilterVerdict.allow(
                self.name, f"{summary} is on the side of a {view.value} entry", **context
            )
        strong = found.shares >= self.min_shares and ratio >= float(self.strong_ratio)
        if strong:
            return FilterVerdict.block(
                self.name,
                f"{summary} opposes a {view.value} entry (strong: ≥ {self.strong_ratio} of "
                f"paired and ≥ {self.min_shares:,} shares)",
                **context,
            )
        return FilterVerdict.allow(
            self.name, f"{summary} opposes a {view.value} entry but is weak", **context
        )


def _ratio(shares: int, paired: int) -> float:
    if paired <= 0:
        return math.inf if shares > 0 else 0.0
    return shares / paired


class SimulatedImbalanceSource:
    """Plausible, deterministic imbalances for the simulated market.

    The same seed, symbol and UTC day always give the same figures. About a third of the
    symbol-days publish nothing (a balanced book); the others have a side and an
    imbalance ratio for the day (mostly small, now and then above 1) that drifts ±20% from
    minute to minute. Nothing is published outside [publish_from, publish_until) UTC
    (20:30–21:00, the seed's window; early closes are not modelled).
    """

    def __init__(
        self,
        seed: int,
        *,
        publish_from: time = PUBLISH_FROM,
        publish_until: time = PUBLISH_UNTIL,
        quiet_share: float = 0.35,
    ) -> None:
        self.seed = seed
        self.publish_from = publish_from.replace(tzinfo=None)
        self.publish_until = publish_until.replace(tzinfo=None)
        self.quiet_share = quiet_share

    def imbalance(self, symbol: str, at: datetime) -> Imbalance | None:
        """The imbalance of `symbol` published by `at`, or None outside the window and on
        quiet days."""
        moment = ensure_utc(at)
        clock = moment.time().replace(tzinfo=None)
        if not self.publish_from <= clock < self.publish_until:
            return None
        day_rng = random.Random(f"{self.seed}:{symbol}:{moment.date().isoformat()}")
        if day_rng.random() < self.quiet_share:
            return None
        paired = max(1_000, round(day_rng.lognormvariate(math.log(300_000), 0.8), -2))
        ratio = min(day_rng.expovariate(1 / 0.2), 1.5)
        side = day_rng.choice((ImbalanceSide.BUY, ImbalanceSide.SELL))
        minute = moment.replace(second=0, microsecond=0)
        drift = random.Random(f"{self.seed}:{symbol}:{minute.isoformat()}").uniform(0.8, 1.2)
        shares = max(100, round(paired * ratio * drift, -2))
        return Imbalance(symbol, side, int(shares), int(paired), minute)
