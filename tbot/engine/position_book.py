"""The engine's live view of what it holds and what the day has made, per strategy.

Quantities and cost come from the entries the engine posts (so they agree with the
ledger's FIFO lots); prices come from the market feed; the broker's positions are the
truth the book is checked against at start. Everything is `Decimal`.

Quantities are signed as the ledger and the broker sign them: a short sale is a negative
quantity whose `cost` is minus the proceeds it was sold for (the equities account's credit
balance), so market value less cost is the unrealized PnL of both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tbot.ledger.amounts import MONEY_PLACES

_CENT = Decimal(1).scaleb(-MONEY_PLACES)


@dataclass
class HeldPosition:
    """One instrument the bot holds: `quantity` > 0 long, < 0 sold short (tag
    ``ShortSell``)."""

    symbol: str
    strategy: str
    underlying: str
    position_side: str  # the exposure: long, or short (an inverse ETF, or a short sale)
    tag: str
    leverage_multiplier: int
    opened_at: datetime
    signal_time: datetime | None
    quantity: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    last_price: Decimal | None = None
    entry_fitids: list[str] = field(default_factory=list)

    @property
    def is_short(self) -> bool:
        """True for a short sale (a negative quantity)."""
        return self.quantity < 0

    @property
    def size(self) -> Decimal:
        """The number of shares, long or short (what an exit trades and what a strategy
        is told it holds)."""
        return abs(self.quantity)

    @property
    def average_cost(self) -> Decimal:
        """Cost per share, or a short's average sale price (0 when flat)."""
        if not self.quantity:
            return Decimal(0)
        return (self.cost / self.quantity).quantize(Decimal("0.0001"))

    @property
    def market_value(self) -> Decimal | None:
        """Quantity at the last price (negative for a short: what covering it costs)."""
        if self.last_price is None:
            return None
        return (self.quantity * self.last_price).quantize(_CENT)

    @property
    def unrealized(self) -> Decimal:
        """Market value less cost (0 with no price yet): for a short, (average sale price
        − last price) × shares."""
        value = self.market_value
        return Decimal(0) if value is None else (value - self.cost).quantize(_CENT)

    def as_dict(self, now: datetime) -> dict[str, object]:
        """The `positions.list` row (a short's quantity and market value negative)."""
        base = abs(self.cost)
        pct = (self.unrealized / base * 100).quantize(Decimal("0.01")) if base else None
        return {
            "symbol": self.symbol,
            "quantity": self.quantity,
            "average_cost": self.average_cost,
            "last_price": self.last_price,
            "market_value": self.market_value,
            "unrealized_pnl": self.unrealized,
            "unrealized_pnl_pct": pct,
            "strategy": self.strategy,
            "side": self.position_side,
            "tag": self.tag,
            "opened_at": self.opened_at,
            "age_seconds": max(0, int((now - self.opened_at).total_seconds())),
        }


@dataclass
class StrategyResult:
    """One strategy's day: realized gains, fees and completed round trips."""

    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    trades: int = 0


class PositionBook:
    """Held positions by symbol plus the day's realized results by strategy."""

    def __init__(self) -> None:
        self.positions: dict[str, HeldPosition] = {}
        self.results: dict[str, StrategyResult] = {}

    def result(self, strategy: str) -> StrategyResult:
        """The day's result of `strategy` (created empty)."""
        return self.results.setdefault(strategy, StrategyResult())

    def new_day(self) -> None:
        """Start a new day's results (positions carry over)."""
        self.results = {}

    def add(self, position: HeldPosition, quantity: Decimal, cost: Decimal) -> HeldPosition:
        """Add an opening fill to `position.symbol` (opening it with `position`'s facts if
        new): a buy's `quantity` and `cost`, or a short sale's as negative numbers (minus
        the shares, minus the proceeds)."""
        held = self.positions.setdefault(position.symbol, position)
        held.quantity += quantity
        held.cost += cost
        return held

    def remove(self, symbol: str, quantity: Decimal, cost_basis: Decimal) -> HeldPosition | None:
        """Take a sale of `quantity` shares held long off `symbol` (or, with both numbers
        negative, a cover of a short); returns the position (now maybe flat) or None. A
        position that reaches zero leaves the book."""
        held = self.positions.get(symbol)
        if held is None:
            return None
        before = held.quantity
        held.quantity -= quantity
        held.cost -= cost_basis
        if held.quantity == 0 or (held.quantity > 0) != (before > 0):
            del self.positions[symbol]  # flat (the booking never lets it cross zero)
        return held

    def cover(self, symbol: str, quantity: Decimal, proceeds: Decimal) -> HeldPosition | None:
        """Take a cover of `quantity` shares that were sold short for `proceeds` off
        `symbol`; returns the position (now maybe flat) or None."""
        return self.remove(symbol, -quantity, -proceeds)

    def mark(self, prices: dict[str, Decimal]) -> None:
        """Update last prices."""
        for symbol, held in self.positions.items():
            price = prices.get(symbol)
            if price is not None:
                held.last_price = price

    def unrealized_by_strategy(self) -> dict[str, Decimal]:
        """Unrealized PnL per strategy."""
        totals: dict[str, Decimal] = {}
        for held in self.positions.values():
            totals[held.strategy] = totals.get(held.strategy, Decimal(0)) + held.unrealized
        return totals

    def pnl_today(self) -> Decimal:
        """Realized less fees plus unrealized, all strategies."""
        realized = sum((r.realized - r.fees for r in self.results.values()), Decimal(0))
        return realized + sum(self.unrealized_by_strategy().values(), Decimal(0))

    def summary(self, currency: str, day: object) -> dict[str, object]:
        """The `pnl.summary` result."""
        unrealized = self.unrealized_by_strategy()
        by_strategy: dict[str, object] = {}
        totals = {"realized": Decimal(0), "unrealized": Decimal(0), "fees": Decimal(0)}
        for strategy in sorted(set(self.results) | set(unrealized)):
            result = self.results.get(strategy, StrategyResult())
            open_pnl = unrealized.get(strategy, Decimal(0))
            by_strategy[strategy] = {
                "realized": result.realized,
                "unrealized": open_pnl,
                "fees": result.fees,
                "total": result.realized - result.fees + open_pnl,
                "trades": result.trades,
            }
            totals["realized"] += result.realized
            totals["unrealized"] += open_pnl
            totals["fees"] += result.fees
        today = {**totals, "total": totals["realized"] - totals["fees"] + totals["unrealized"]}
        return {"currency": currency, "day": day, "today": today, "by_strategy": by_strategy}
