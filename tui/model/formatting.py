"""How numbers, times and states read on screen: one place, so every view agrees.

Money shows two decimals with thousands separators; the ledger's exact amounts are never
rounded where they are stored, only here, for display.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from rich.text import Text

_CENT = Decimal("0.01")


def money(amount: Decimal | None, *, signed: bool = False) -> str:
    """`1,234.56`; `+1,234.56` / `-1,234.56` when `signed`; `—` for unknown."""
    if amount is None:
        return "—"
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # never show -0.00
    return f"{rounded:+,.2f}" if signed else f"{rounded:,.2f}"


def signed_money(amount: Decimal | None) -> Text:
    """Signed money coloured by sign (green up, red down), for PnL cells."""
    text = money(amount, signed=True)
    if amount is None:
        return Text(text, style="dim")
    rounded = amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    style = "bold green" if rounded > 0 else "bold red" if rounded < 0 else ""
    return Text(text, style=style)


def percent(value: Decimal | None) -> Text:
    """`+3.12%`, coloured by sign."""
    if value is None:
        return Text("—", style="dim")
    rounded = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    style = "green" if rounded > 0 else "red" if rounded < 0 else ""
    return Text(f"{rounded:+.2f}%", style=style)


def quantity(amount: Decimal) -> str:
    """Share quantities: whole shares as integers, fractions to at most 4 places."""
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount.quantize(Decimal('0.0001')).normalize():,f}"


def price(amount: Decimal | None) -> str:
    """Prices: two decimals, four below a dollar."""
    if amount is None:
        return "—"
    places = Decimal("0.0001") if abs(amount) < 1 else _CENT
    return f"{amount.quantize(places, rounding=ROUND_HALF_EVEN):,}"


def duration(seconds: float) -> str:
    """`45s`, `12m05s`, `3h07m`: compact ages and countdowns."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def countdown(until: datetime | None, now: datetime) -> str:
    """Time left until `until` on the same clock as `now`, e.g. `in 4m10s`."""
    if until is None:
        return ""
    left = (until - now) / timedelta(seconds=1)
    return f"in {duration(left)}" if left > 0 else "now"


def clock_time(moment: datetime | None) -> str:
    """`14:30:05Z`: times of day in UTC, as the engine keeps them."""
    if moment is None:
        return "—"
    return moment.strftime("%H:%M:%SZ")


def recent_time(moment: datetime | None, today: date | None) -> str:
    """Nine cells for a moment in a list of recent activity: `14:30:05Z` today, `Thu 15:21`
    earlier this week, `11-12` before that (UTC dates; `today` None reads as today)."""
    if moment is None:
        return "—"
    if today is None or moment.date() == today:
        return clock_time(moment)
    if timedelta(0) < today - moment.date() < timedelta(days=7):
        return moment.strftime("%a %H:%M")
    return moment.strftime("%m-%d")


def stamp(moment: datetime | None) -> str:
    """`2026-11-20 14:30:05Z` for lists that span days."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


TRADING_STATE_STYLES = {
    "active": "bold black on green",
    "reducing": "bold black on yellow",
    "halted": "bold white on red",
}


def trading_state_badge(state: str) -> Text:
    """ACTIVE / REDUCING / HALTED as a reversed badge: readable in 16 colours too."""
    style = TRADING_STATE_STYLES.get(state.lower(), "bold reverse")
    return Text(f" {state.upper()} ", style=style)
