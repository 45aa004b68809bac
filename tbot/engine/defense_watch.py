"""Defense mode (`tbot.risk.defense_mode`) attached to the engine.

The engine tells the watch what happens (the start, each minute's drawdown, each closed
trade, each new session day, a config reload); the watch turns defense mode on or off, and
on every change makes the engine trade with the right settings (`apply_settings`), writes
`logs/disaster_mode.log`, raises an alert, publishes a `state` event and appends an audit
row (`defense.on` / `defense.off`). It reaches the engine only through `DefenseHooks`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from tbot.clock import utc_text
from tbot.config.bot_settings import BotSettings
from tbot.risk.defense_mode import DefenseChange, DefenseLimits, DefenseMode

log = logging.getLogger("tbot.engine.defense")


@dataclass(frozen=True)
class DefenseHooks:
    """What defense mode may do to the engine."""

    now: Callable[[], datetime]
    apply_settings: Callable[[bool], None]
    """Trade with the defense settings (True) or the configured ones (False)."""
    alert: Callable[[Mapping[str, object]], None]
    audit: Callable[[str, Mapping[str, object]], Awaitable[None]]
    announce: Callable[[str], None]


class DefenseWatch:
    """Defense mode's moves at the engine's seams."""

    def __init__(self, bot: BotSettings, write_log: Callable[[str], None],
                 hooks: DefenseHooks) -> None:
        """`write_log` appends one line to `logs/disaster_mode.log` (rotating with the
        engine's other logs)."""
        self.mode = DefenseMode(DefenseLimits.from_settings(bot))
        self._write = write_log
        self._hooks = hooks

    @property
    def active(self) -> bool:
        """Whether the engine trades in defense mode now."""
        return self.mode.active

    async def start(self) -> None:
        """At engine start: DEFENSE_MODE_ACTIVE=true turns it on at once."""
        await self._apply(self.mode.reconfigure(self.mode.limits, self._hooks.now()))

    async def reconfigure(self, bot: BotSettings) -> None:
        """A config reload: new triggers; DEFENSE_MODE_ACTIVE acts at once."""
        await self._apply(self.mode.reconfigure(DefenseLimits.from_settings(bot),
                                                self._hooks.now()))

    async def observe_drawdown(self, drawdown_pct: Decimal | None) -> None:
        """Each market minute, with the drawdown guard's figure."""
        await self._apply(self.mode.observe_drawdown(drawdown_pct, self._hooks.now()))

    async def record_trade(self, realized_gain: Decimal) -> None:
        """A closed round trip and what it made."""
        await self._apply(self.mode.record_trade(realized_gain > 0, self._hooks.now()))

    async def new_day(self, day: date) -> None:
        """The start of a session day: automatic defense mode may recover."""
        await self._apply(self.mode.new_day(day, self._hooks.now()))

    def status(self) -> dict[str, object]:
        """The `guards.defense` block of `engine.status`."""
        return self.mode.status()

    async def _apply(self, change: DefenseChange | None) -> None:
        if change is None:
            return
        hooks = self._hooks
        hooks.apply_settings(change.active)
        word = "ON" if change.active else "OFF"
        how = "by the setting" if change.manual or "DEFENSE_MODE_ACTIVE" in change.reason \
            else "automatically"
        self._write(f"{utc_text(change.at)} DEFENSE-MODE {word} {how}: {change.reason}")
        message = f"defense mode {word.lower()} ({how}): {change.reason}"
        (log.warning if change.active else log.info)("%s", message)
        hooks.alert({"level": "warning" if change.active else "info", "trigger": "defense_mode",
                     "guard": "defense", "message": message})
        hooks.announce(f"defense mode {word.lower()}: {change.reason}")
        await hooks.audit("defense.on" if change.active else "defense.off",
                          {"reason": change.reason, "manual": change.manual})

