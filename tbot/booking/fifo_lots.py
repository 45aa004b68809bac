"""FIFO lots: what each holding cost, lot by lot, so a sale's cost basis is exact.

A lot keeps its remaining quantity and its remaining TOTAL cost, never a unit cost: a
partial sale takes ``total × take / quantity`` rounded half-even to the ledger's money
places, and the remainder stays with the lot; the sale that empties a lot takes all that is
left. So the costs taken from a lot always add up to exactly what it cost.

The engine keeps one `LotBook` while it runs and rebuilds it with `LotBook.from_ledger`
after a restart, replaying the equities postings that `FillBooker` made with the same
arithmetic; any disagreement is an error, never a guess.

Corrections replay too (reconciliation posts them when an admin accepts the broker's
version of a fill): a reversal followed at once by its corrected entry (FITID
``<original>~c<n>``) is a restatement of the original's price or fee. A purchase's lot
takes the change in cost on its remaining shares (the part already sold went to realized
gains in the corrected entry, as a quantity-less equities posting); a sale's lots do not
move (its cost basis is unchanged). A reversal on its own withdraws a purchase whose lot is
still whole. Anything else cannot be replayed and is an error.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import NamedTuple

from tbot.booking.correction_ids import base_fitid, is_correction_of
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


@dataclass(slots=True)
class _EntryLegs:
    """One entry's equities postings with a symbol, as replay reads them."""

    entry_id: int
    fitid: str
    at: datetime
    reversed_fitid: str | None
    legs: list[tuple[str, int | None, int]]


class LotBook:
    """Per symbol, a FIFO queue of lots. Only `buy` and `sell` change it."""

    def __init__(self) -> None:
        self._lots: dict[str, deque[Lot]] = {}
        self._bought: dict[str, Decimal] = {}  # lot fitid -> quantity bought

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
        self._bought[fitid] = quantity
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

    def restate(self, symbol: str, fitid: str, cost_change: Decimal) -> None:
        """Add `cost_change` to the remaining cost of lot `fitid` (a restated purchase). A
        lot sold out takes nothing (its change went to realized gains)."""
        queue = self._lots.get(symbol, deque())
        for index, lot in enumerate(queue):
            if lot.fitid == fitid:
                cost = lot.cost + cost_change
                if cost < 0:
                    raise LedgerError(f"lot {fitid!r} would cost {cost} after its restatement")
                queue[index] = Lot(lot.fitid, lot.quantity, cost, lot.acquired_at)
                return
        if cost_change:
            raise LedgerError(
                f"lot {fitid!r} of {symbol} is sold out: a cost change of {cost_change} must "
                "go to realized gains, not to the lot"
            )

    def withdraw(self, symbol: str, fitid: str) -> Lot:
        """Remove lot `fitid` whole (a purchase reversed). LedgerError, nothing changed,
        when the lot is gone or partly sold."""
        queue = self._lots.get(symbol, deque())
        for lot in queue:
            if lot.fitid == fitid:
                break
        else:
            raise LedgerError(f"lot {fitid!r} of {symbol} is not open: it cannot be withdrawn")
        if self.remaining_fraction(symbol, fitid) != 1:
            raise LedgerError(f"lot {fitid!r} of {symbol} is partly sold: it cannot be withdrawn")
        queue.remove(lot)
        if not queue:
            del self._lots[symbol]
        return lot

    # -- questions ------------------------------------------------------------------------
    def lot(self, symbol: str, fitid: str) -> Lot | None:
        """The open lot `fitid` of `symbol` (None when sold out or unknown)."""
        return next((lot for lot in self._lots.get(symbol, ()) if lot.fitid == fitid), None)

    def remaining_fraction(self, symbol: str, fitid: str) -> Decimal:
        """The lot's bought quantity still held, as recorded by `bought`; 0 when sold out."""
        lot = self.lot(symbol, fitid)
        bought = self._bought.get(fitid)
        if lot is None or bought is None:
            return Decimal(0)
        return lot.quantity / bought

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
                takes.append(LotTake(lot.fitid, left, prorated_cost(lot.cost, left,
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
        copy._bought = dict(self._bought)
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
        """Rebuild the lots by replaying `equities_account`'s postings that carry a symbol,
        entry by entry in order, over a read-only connection (corrections as the module
        docstring says).

        A positive quantity opens a lot at the posted amount; a negative one is a sale whose
        posted cost must equal the FIFO cost. LotsMismatchError otherwise.
        """
        connection = open_reader_connection(ledger_path)
        try:
            return cls.from_connection(connection, equities_account)
        finally:
            connection.close()

    @classmethod
    def from_connection(cls, connection: sqlite3.Connection, equities_account: str) -> LotBook:
        """`from_ledger` over an open connection to the ledger."""
        book = cls()
        rows = connection.execute(
            "SELECT e.id, e.fitid, e.dtposted, o.fitid, p.symbol, p.quantity, p.amount "
            "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
            "LEFT JOIN ledger_entries o ON o.id = e.reverses_entry_id "
            "WHERE p.account_code = ? AND p.symbol IS NOT NULL ORDER BY p.entry_id, p.id",
            (equities_account,),
        )
        entries: list[_EntryLegs] = []
        for entry_id, fitid, dtposted, reversed_fitid, symbol, quantity, amount in rows:
            if not entries or entries[-1].entry_id != entry_id:
                entries.append(_EntryLegs(entry_id, fitid, parse_utc(dtposted),
                                          reversed_fitid, []))
            entries[-1].legs.append((symbol, quantity, amount))
        book._replay_entries(entries)
        return book

    def _replay_entries(self, entries: list[_EntryLegs]) -> None:
        index = 0
        while index < len(entries):
            entry = entries[index]
            following = entries[index + 1] if index + 1 < len(entries) else None
            if entry.reversed_fitid is not None:
                original = entry.reversed_fitid
                if following is not None and is_correction_of(following.fitid, original):
                    self._replay_restatement(entry, following)
                    index += 2
                    continue
                for symbol, quantity, _ in entry.legs:
                    if quantity is not None and int(quantity) < 0:
                        try:
                            self.withdraw(symbol, base_fitid(original))
                        except LedgerError as problem:
                            raise LotsMismatchError(entry.fitid, symbol, str(problem)) from None
                    elif quantity is not None:
                        raise LotsMismatchError(
                            entry.fitid, symbol, "a sale's reversal without a correction")
                index += 1
                continue
            for symbol, quantity, amount in entry.legs:
                if quantity is None:
                    raise LotsMismatchError(
                        entry.fitid, symbol, "an equities posting without a quantity outside "
                        "a correction")
                self._replay(entry.fitid, entry.at, symbol, quantity, amount)
            index += 1

    def _replay_restatement(self, reversal: _EntryLegs, correction: _EntryLegs) -> None:
        """A reversal of `reversal.reversed_fitid` and its corrected entry, as one change:
        the sum of both entries' equities postings is the change of the original lot."""
        lot_fitid = base_fitid(reversal.reversed_fitid or "")
        for symbol in dict.fromkeys(s for s, q, _ in reversal.legs if q is not None):
            removed = sum(int(q) for s, q, _ in reversal.legs if s == symbol and q is not None)
            added = sum(int(q) for s, q, _ in correction.legs if s == symbol and q is not None)
            if added != -removed:
                raise LotsMismatchError(correction.fitid, symbol,
                                        "a correction that changes the quantity")
            change = from_scaled(
                sum(int(a) for s, _, a in (*reversal.legs, *correction.legs) if s == symbol),
                MONEY_PLACES,
            )
            if removed < 0:  # the reversal of a purchase
                try:
                    self.restate(symbol, lot_fitid, change)
                except LedgerError as problem:
                    raise LotsMismatchError(correction.fitid, symbol, str(problem)) from None
            elif change:
                raise LotsMismatchError(correction.fitid, symbol,
                                        "a sale's correction that changes its cost basis")

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


def prorated_cost(total: Decimal, take: Decimal, quantity: Decimal) -> Decimal:
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
