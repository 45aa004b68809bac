"""FIFO lots: what each holding cost, lot by lot, so a sale's cost basis is exact.

A lot keeps its remaining quantity and its remaining TOTAL cost, never a unit cost: a
partial sale takes ``total × take / quantity`` rounded half-even to the ledger's money
places, and the remainder stays with the lot; the sale that empties a lot takes all that is
left. So the costs taken from a lot always add up to exactly what it cost.

The engine keeps one `LotBook` while it runs and rebuilds it with `LotBook.from_ledger`
after a restart, replaying the equities postings that `FillBooker` made with the same
arithmetic; any disagreement is an error, never a guess.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import NamedTuple

from tbot.clock import ensure_utc
from tbot.ledger.amounts import (
    MONEY_PLACES,
    PRICE_PLACES,
    QUANTITY_PLACES,
    from_scaled,
    to_scaled,
)
from tbot.ledger.database import open_reader_connection
from tbot.ledger.errors import LedgerError
from tbot.ledger.timestamps import parse_utc

_PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)


class OversellError(LedgerError):
    """A sale of more shares than the lots hold. Raised before anything changes."""

    def __init__(self, symbol: str, wanted: Decimal, held: Decimal) -> None:
        self.symbol = symbol
        self.wanted = wanted
        self.held = held
        super().__init__(
            f"cannot sell {wanted} {symbol}: the FIFO lots hold only {held}; "
            "nothing was booked (a short sale is not supported by the lot book)"
        )


class LotsMismatchError(LedgerError):
    """The ledger's equities postings cannot be replayed by the FIFO lot rules."""

    def __init__(self, fitid: str, symbol: str, problem: str) -> None:
        self.fitid = fitid
        self.symbol = symbol
        super().__init__(
            f"the ledger and the FIFO lot rules disagree at entry {fitid!r} ({symbol}): "
            f"{problem}; the lots cannot be rebuilt from this ledger"
        )


@dataclass(frozen=True, slots=True)
class Lot:
    """What is left of one purchase: its remaining quantity and remaining total cost."""

    fitid: str
    quantity: Decimal
    cost: Decimal
    acquired_at: datetime


class LotTake(NamedTuple):
    """The part of one lot a sale consumed."""

    fitid: str
    quantity: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Consumption:
    """What a sale takes from the lots, oldest first."""

    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    lots: tuple[LotTake, ...]

    @property
    def average_entry_price(self) -> Decimal:
        """Cost basis per share, rounded half-even to the ledger's price places."""
        return (self.cost_basis / self.quantity).quantize(_PRICE_QUANTUM, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Position:
    """The total quantity and remaining cost of one symbol's lots."""

    symbol: str
    quantity: Decimal
    cost: Decimal


class LotBook:
    """Per symbol, a FIFO queue of lots. Only `buy` and `sell` change it."""

    def __init__(self) -> None:
        self._lots: dict[str, deque[Lot]] = {}

    # -- changes --------------------------------------------------------------------------
    def buy(self, symbol: str, quantity: Decimal, cost: Decimal, at: datetime,
            fitid: str) -> Lot:
        """Add a lot of `quantity` shares of `symbol` that cost `cost` in total."""
        _require_symbol(symbol)
        _require_positive("quantity", quantity, QUANTITY_PLACES)
        to_scaled(cost, MONEY_PLACES)  # refuses a cost the ledger could not hold exactly
        if cost < 0:
            raise LedgerError(f"a lot's cost cannot be negative (lot {fitid!r}: {cost})")
        lot = Lot(fitid=fitid, quantity=quantity, cost=cost, acquired_at=ensure_utc(at))
        self._lots.setdefault(symbol, deque()).append(lot)
        return lot

    def sell(self, symbol: str, quantity: Decimal) -> Consumption:
        """Consume `quantity` shares of `symbol`, oldest lots first. OversellError, with
        nothing changed, when the lots hold fewer shares."""
        consumption = self.preview_sell(symbol, quantity)
        queue = self._lots[symbol]
        for take in consumption.lots:
            head = queue[0]
            if take.quantity == head.quantity:
                queue.popleft()
            else:
                queue[0] = Lot(head.fitid, head.quantity - take.quantity, head.cost - take.cost,
                               head.acquired_at)
        if not queue:
            del self._lots[symbol]
        return consumption

    # -- questions ------------------------------------------------------------------------
    def preview_sell(self, symbol: str, quantity: Decimal) -> Consumption:
        """What `sell(symbol, quantity)` would take, without changing anything."""
        _require_positive("quantity", quantity, QUANTITY_PLACES)
        queue = self._lots.get(symbol, ())
        held = sum((lot.quantity for lot in queue), Decimal(0))
        if quantity > held:
            raise OversellError(symbol, quantity, held)
        takes: list[LotTake] = []
        left = quantity
        for lot in queue:
            if not left:
                break
            if left >= lot.quantity:
                takes.append(LotTake(lot.fitid, lot.quantity, lot.cost))
                left -= lot.quantity
            else:
                takes.append(LotTake(lot.fitid, left, _prorated_cost(lot.cost, left,
                                                                     lot.quantity)))
                left = Decimal(0)
        cost_basis = sum((take.cost for take in takes), Decimal(0))
        return Consumption(symbol=symbol, quantity=quantity, cost_basis=cost_basis,
                           lots=tuple(takes))

    def position(self, symbol: str) -> Position:
        """Quantity and remaining cost held in `symbol` (zero when none)."""
        queue = self._lots.get(symbol, ())
        return Position(
            symbol=symbol,
            quantity=sum((lot.quantity for lot in queue), Decimal(0)),
            cost=sum((lot.cost for lot in queue), Decimal(0)),
        )

    def lots(self, symbol: str) -> tuple[Lot, ...]:
        """The open lots of `symbol`, oldest first."""
        return tuple(self._lots.get(symbol, ()))

    def open_symbols(self) -> tuple[str, ...]:
        """Every symbol with at least one open lot, sorted."""
        return tuple(sorted(self._lots))

    def clone(self) -> LotBook:
        """An independent copy (lots are immutable, so copying the queues is enough)."""
        copy = LotBook()
        copy._lots = {symbol: deque(queue) for symbol, queue in self._lots.items()}
        return copy

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LotBook):
            return NotImplemented
        return {s: tuple(q) for s, q in self._lots.items()} == {
            s: tuple(q) for s, q in other._lots.items()
        }

    __hash__ = None  # type: ignore[assignment]  # mutable: equal books may later differ

    def __repr__(self) -> str:
        held = ", ".join(f"{p.symbol}={p.quantity}" for p in map(self.position, self._lots))
        return f"LotBook({held})"

    # -- rebuilding -----------------------------------------------------------------------
    @classmethod
    def from_ledger(cls, ledger_path: Path, equities_account: str) -> LotBook:
        """Rebuild the lots by replaying `equities_account`'s postings that carry a
        quantity and a symbol, in entry order, over a read-only connection.

        A positive quantity opens a lot at the posted amount; a negative one is a sale whose
        posted cost must equal the FIFO cost. LotsMismatchError otherwise.
        """
        book = cls()
        connection = open_reader_connection(ledger_path)
        try:
            rows = connection.execute(
                "SELECT e.fitid, e.dtposted, p.symbol, p.quantity, p.amount "
                "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
                "WHERE p.account_code = ? AND p.quantity IS NOT NULL "
                "AND p.symbol IS NOT NULL ORDER BY p.entry_id, p.id",
                (equities_account,),
            )
            for fitid, dtposted, symbol, stored_quantity, stored_amount in rows:
                book._replay(fitid, parse_utc(dtposted), symbol, stored_quantity,
                             stored_amount)
        finally:
            connection.close()
        return book

    def _replay(self, fitid: str, at: datetime, symbol: str, stored_quantity: object,
                stored_amount: object) -> None:
        if type(stored_quantity) is not int or type(stored_amount) is not int:
            raise LotsMismatchError(fitid, symbol, "quantity or amount is not a scaled integer")
        quantity = from_scaled(stored_quantity, QUANTITY_PLACES)
        amount = from_scaled(stored_amount, MONEY_PLACES)
        if quantity > 0:
            if amount <= 0:
                raise LotsMismatchError(fitid, symbol, f"a purchase of {quantity} is posted "
                                                       f"at a non-positive cost {amount}")
            self.buy(symbol, quantity, amount, at, fitid)
            return
        if quantity == 0:
            raise LotsMismatchError(fitid, symbol, "an equities posting has a zero quantity")
        try:
            consumption = self.preview_sell(symbol, -quantity)
        except OversellError as problem:
            raise LotsMismatchError(fitid, symbol, str(problem)) from None
        if -amount != consumption.cost_basis:
            raise LotsMismatchError(
                fitid, symbol,
                f"posted cost {-amount} but FIFO cost {consumption.cost_basis}",
            )
        self.sell(symbol, -quantity)


def _prorated_cost(total: Decimal, take: Decimal, quantity: Decimal) -> Decimal:
    """``total × take / quantity`` rounded half-even to money places, computed on scaled
    integers so no intermediate step rounds."""
    numerator = to_scaled(total, MONEY_PLACES) * to_scaled(take, QUANTITY_PLACES)
    denominator = to_scaled(quantity, QUANTITY_PLACES)
    whole, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and whole % 2):
        whole += 1
    return from_scaled(whole, MONEY_PLACES)


def _require_symbol(symbol: object) -> None:
    if not (type(symbol) is str and symbol and symbol.isprintable() and symbol.strip() == symbol):
        raise LedgerError(f"symbol {symbol!r} must be non-empty printable text")


def _require_positive(label: str, value: Decimal, places: int) -> None:
    to_scaled(value, places)  # AmountError (a LedgerError) when not storable exactly
    if value <= 0:
        raise LedgerError(f"{label} must be greater than 0, not {value}")
