"""The close strategy's VIX gate: no entry while the market is too calm.

Blocks when the VIX is below STRAT_CLOSE_VIX_THRESHOLD; a VIX equal to the threshold
passes. It fails closed: no value, a value that is not a level (0, negative, not finite),
a source that raises, or no source at all all block *and* alert, because an entry let
through on an unknown VIX is exactly what the gate exists to prevent, and an operator must
learn that the gate cannot see.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from tbot.clock import ensure_utc
from tbot.config.bot_settings import BotSettings
from tbot.errors import TbotError
from tbot.market.vix import VixSource
from tbot.strategy.filters.verdict import FilterVerdict

log = logging.getLogger(__name__)


class VixGate:
    """`check(at)` allows an entry when the VIX known at `at` is at least `threshold`."""

    name = "vix"

    def __init__(self, source: VixSource | None, threshold: Decimal, enabled: bool) -> None:
        self.source = source
        self.threshold = Decimal(threshold)
        self.enabled = enabled

    @classmethod
    def from_settings(cls, settings: BotSettings, source: VixSource | None) -> VixGate:
        """The gate of a `BotSettings`: ENABLE_VIX_GATE and STRAT_CLOSE_VIX_THRESHOLD."""
        return cls(source, settings.STRAT_CLOSE_VIX_THRESHOLD, enabled=settings.ENABLE_VIX_GATE)

    def self_check(self) -> list[str]:
        """A threshold of 0 or less never blocks; an enabled gate needs a source."""
        problems: list[str] = []
        if not self.enabled:
            return problems
        if self.threshold <= 0:
            problems.append(
                f"vix: threshold {self.threshold} never blocks; set STRAT_CLOSE_VIX_THRESHOLD "
                "above 0 (e.g. 15)"
            )
        if self.source is None:
            problems.append("vix: the gate is on but has no VIX source: it would block every entry")
        return problems

    def check(self, at: datetime) -> FilterVerdict:
        """Allow when VIX ≥ threshold at `at` (aware); block below it, and block with an
        alert when the level is unknown."""
        if not self.enabled:
            return FilterVerdict.allow(self.name, "VIX gate off")
        moment = ensure_utc(at)
        when = moment.strftime("%H:%M UTC")
        if self.source is None:
            return self._unknown(f"no VIX source configured at {when}", moment)
        try:
            level = self.source.vix_at(moment)
        except TbotError as error:
            return self._unknown(f"no VIX value at {when}: the source failed ({error})", moment)
        except Exception as error:  # any failure of the source must block, never pass
            log.warning("VIX source raised at %s", when, exc_info=True)
            return self._unknown(
                f"no VIX value at {when}: the source failed ({type(error).__name__})", moment
            )
        if level is None:
            return self._unknown(f"no VIX value at {when}", moment)
        level = _as_level(level)
        if level is None:
            return self._unknown(f"no usable VIX value at {when}", moment)
        context = {"vix": level, "threshold": self.threshold, "at": moment.isoformat()}
        if level < self.threshold:
            return FilterVerdict.block(
                self.name, f"VIX {level} < {self.threshold}: too calm to enter", **context
            )
        return FilterVerdict.allow(self.name, f"VIX {level} ≥ {self.threshold}", **context)

    def _unknown(self, reason: str, moment: datetime) -> FilterVerdict:
        return FilterVerdict.block(
            self.name,
            f"{reason}: entries blocked until the VIX is known",
            alert=True,
            threshold=self.threshold,
            at=moment.isoformat(),
        )


def _as_level(value: object) -> Decimal | None:
    """`value` as a positive finite Decimal, or None (a bool, text, NaN, 0 or less)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        return None
    level = value if isinstance(value, Decimal) else Decimal(str(value))
    return level if level.is_finite() and level > 0 else None
