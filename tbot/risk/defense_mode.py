"""Defense mode: the seed's disaster protocol, which compresses risk instead of stopping.

On when an operator says so (`DEFENSE_MODE_ACTIVE=true`), or by itself when:

- the drawdown from the equity's peak (the drawdown guard's figure) reaches
  `DEFENSE_MODE_AUTO_DRAWDOWN_PCT` (0: never), or
- the win rate of the last `DEFENSE_MODE_WIN_RATE_TRADES` closed trades falls below
  `DEFENSE_MODE_AUTO_WIN_RATE` (0: never; fewer trades than that judge nothing).

While on, the engine trades with `effective_settings`: `TOTAL_ALLOCATION` becomes
`DEFENSE_MODE_TOTAL_ALLOCATION`, `MAX_TRADES` is scaled by `DEFENSE_MODE_TRADE_LIMIT_PCT`
(rounded down, so it may be 0: no new trade at all), and the strategies' screens tighten
(each `MAX_GAP_PCT_<S>` halved). Every trade is tagged.

Recovery is a stated condition, never a silent flip: automatic defense mode turns off only
at the start of a session day, and only when neither trigger holds any more with room to
spare (the drawdown below half its trigger, the recent win rate at or above its trigger).
Manual defense mode turns off only when the setting does (a config reload).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from tbot.config.bot_settings import BotSettings

TIGHTENED_GAP_KEYS = ("MAX_GAP_PCT_OPEN", "MAX_GAP_PCT_MID", "MAX_GAP_PCT_CLOSE")
DEFENSE_TAG = "[defense mode]"


@dataclass(frozen=True, slots=True)
class DefenseLimits:
    """The triggers of automatic defense mode (0 turns one off)."""

    manual: bool
    drawdown_pct: Decimal
    win_rate: Decimal
    win_rate_trades: int

    @classmethod
    def from_settings(cls, bot: BotSettings) -> DefenseLimits:
        """DEFENSE_MODE_ACTIVE and the DEFENSE_MODE_AUTO_* keys."""
        return cls(bot.DEFENSE_MODE_ACTIVE, bot.DEFENSE_MODE_AUTO_DRAWDOWN_PCT,
                   bot.DEFENSE_MODE_AUTO_WIN_RATE, bot.DEFENSE_MODE_WIN_RATE_TRADES)


@dataclass(frozen=True, slots=True)
class DefenseChange:
    """Defense mode turned on or off: when, why, and whether by the setting."""

    active: bool
    at: datetime
    reason: str
    manual: bool


def effective_settings(bot: BotSettings) -> BotSettings:
    """`bot` as defense mode trades it (no validation: MAX_TRADES may fall below the
    number of WEIGHTS, which keep their order)."""
    limited = (Decimal(bot.MAX_TRADES) * bot.DEFENSE_MODE_TRADE_LIMIT_PCT / 100).to_integral_value(
        rounding=ROUND_FLOOR)
    update: dict[str, object] = {
        "TOTAL_ALLOCATION": bot.DEFENSE_MODE_TOTAL_ALLOCATION,
        "MAX_TRADES": int(limited),
    }
    for key in TIGHTENED_GAP_KEYS:
        update[key] = getattr(bot, key) / 2
    return bot.model_copy(update=update)


class DefenseMode:
    """Whether defense mode is on, why, and the record of recent trades it judges."""

    def __init__(self, limits: DefenseLimits) -> None:
        self.limits = limits
        self.active = False
        self.manual = False
        self.since: datetime | None = None
        self.reason: str | None = None
        self._results: deque[bool] = deque(maxlen=max(limits.win_rate_trades, 1))
        self._drawdown: Decimal | None = None

    def reconfigure(self, limits: DefenseLimits, at: datetime) -> DefenseChange | None:
        """New settings: DEFENSE_MODE_ACTIVE turned on or off acts at once."""
        self.limits = limits
        if len(self._results) and self._results.maxlen != max(limits.win_rate_trades, 1):
            self._results = deque(self._results, maxlen=max(limits.win_rate_trades, 1))
        if limits.manual and not (self.active and self.manual):
            return self._turn(True, at, "DEFENSE_MODE_ACTIVE=true", manual=True)
        if not limits.manual and self.active and self.manual:
            return self._turn(False, at, "DEFENSE_MODE_ACTIVE=false", manual=False)
        return None

    def win_rate(self) -> Decimal | None:
        """Wins over the last DEFENSE_MODE_WIN_RATE_TRADES closed trades (None: fewer)."""
        if len(self._results) < self.limits.win_rate_trades:
            return None
        return Decimal(sum(self._results)) / Decimal(len(self._results))

    def observe_drawdown(self, drawdown_pct: Decimal | None, at: datetime) -> DefenseChange | None:
        """The drawdown from the peak now (percent); may turn defense mode on."""
        self._drawdown = drawdown_pct
        trigger = self.limits.drawdown_pct
        if self.active or drawdown_pct is None or trigger <= 0 or drawdown_pct < trigger:
            return None
        return self._turn(True, at, f"drawdown {drawdown_pct}% reached "
                                    f"DEFENSE_MODE_AUTO_DRAWDOWN_PCT {trigger}%", manual=False)

    def record_trade(self, won: bool, at: datetime) -> DefenseChange | None:
        """A closed trade (won: its realized gain was above zero); may turn it on."""
        self._results.append(won)
        rate, trigger = self.win_rate(), self.limits.win_rate
        if self.active or rate is None or trigger <= 0 or rate >= trigger:
            return None
        return self._turn(True, at, f"win rate {rate:.2f} over the last {len(self._results)} "
                                    f"trades below DEFENSE_MODE_AUTO_WIN_RATE {trigger}",
                          manual=False)

    def new_day(self, day: date, at: datetime) -> DefenseChange | None:
        """The start of a session day: automatic defense mode recovers if neither trigger
        holds any more, with room to spare (the stated condition)."""
        if not self.active or self.manual:
            return None
        trigger = self.limits.drawdown_pct
        drawdown_ok = (trigger <= 0 or self._drawdown is None
                       or self._drawdown < trigger / 2)
        rate = self.win_rate()
        rate_ok = self.limits.win_rate <= 0 or rate is None or rate >= self.limits.win_rate
        if not (drawdown_ok and rate_ok):
            return None
        shown = "n/a" if self._drawdown is None else f"{self._drawdown}%"
        return self._turn(False, at, f"recovered at the start of {day}: drawdown {shown} "
                                     f"below half of {trigger}%, win rate "
                                     f"{'n/a' if rate is None else f'{rate:.2f}'}",
                          manual=False)

    def status(self) -> dict[str, object]:
        """The `guards.defense` block of `engine.status`."""
        rate = self.win_rate()
        return {"name": "defense", "active": self.active, "manual": self.manual,
                "since": self.since, "reason": self.reason,
                "auto_drawdown_pct": self.limits.drawdown_pct,
                "auto_win_rate": self.limits.win_rate,
                "win_rate": None if rate is None else rate.quantize(Decimal("0.01")),
                "recent_trades": len(self._results)}

    def _turn(self, on: bool, at: datetime, reason: str, *, manual: bool) -> DefenseChange:
        self.active, self.manual = on, manual and on
        self.since = at if on else None
        self.reason = reason if on else None
        return DefenseChange(on, at, reason, manual)
