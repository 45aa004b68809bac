"""FIFO lots: what each holding cost (or, held short, brought in), lot by lot, so the cost
basis of a sale or a cover is exact.

A lot keeps its remaining quantity and its remaining TOTAL money, never a unit price: a
partial take is ``total × take / quantity`` rounded half-even to the ledger's money places,
and the remainder stays with the lot; the take that empties a lot takes all that is left.
So the money taken from a lot always adds up to exactly what it was opened at.

Long and short. A symbol's lots are all on one side. A purchase with nothing short opens a
long lot (its cost); a sale consumes long lots, oldest first. A short sale (a SELL booked
as ``SHORT``) with nothing held long opens a SHORT lot whose money is the sale's proceeds;
a buy against short lots covers them (``COVER``), oldest first, and the realized gain is
the proceeds of the covered shares less what covering them cost. A fill that would cross
zero (sell more than is held long, cover more than is short, sell short while long) is
refused before anything changes: the broker's one fill would have to become two trades,
and tbot never sends such an order.

The engine keeps one `LotBook` while it runs and rebuilds it with `LotBook.from_ledger`
after a restart, replaying the equities postings that `FillBooker` made with the same
arithmetic (an entry's TRNTYPE tells a short sale from a sale); any disagreement is an
error, never a guess. The replay starts from the newest lot checkpoint in the ledger
(`lot_checkpoint`), so its cost follows the entries since the last end of day, not the
ledger's size.

Corrections replay too (reconciliation posts them when an admin accepts the broker's
version of a fill): a reversal followed at once by its corrected entry (FITID
``<original>~c<n>``) is a restatement of the original's price or fee. A purchase's lot
takes the change in cost on its remaining shares (the part already sold went to realized
gains in the corrected entry, as a quantity-less equities posting); a sale's lots do not
move (its cost basis is unchanged). A reversal on its own withdraws a purchase (or a short
sale) whose lot is still whole. Anything else cannot be replayed and is an error.
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
from tbot.booking.lot_checkpoint import CheckpointLot, latest_checkpoint
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
SHORT_TRNTYPE = "SHORT"
"""The TRNTYPE of an entry that sells short (OFX: SELLSTOCK with SELLTYPE SELLSHORT)."""
COVER_TRNTYPE = "COVER"
"""The TRNTYPE of an entry that buys to cover (OFX: BUYSTOCK with BUYTYPE BUYTOCOVER)."""


class OversellError(LedgerError):
    """A sale of more shares than the long lots hold. Raised before anything changes."""

    def __init__(self, symbol: str, wanted: Decimal, held: Decimal) -> None:
        self.symbol = symbol
        self.wanted = wanted
        self.held = held
        super().__init__(
            f"cannot sell {wanted} {symbol}: the FIFO lots hold only {held}; "
            "nothing was booked (a sale never crosses from long to short: the long is "
            "closed first, and a short sale is booked only as one)"
        )


class OvercoverError(LedgerError):
    """A cover of more shares than the short lots hold. Raised before anything changes."""

    def __init__(self, symbol: str, wanted: Decimal, short: Decimal) -> None:
        self.symbol = symbol
        self.wanted = wanted
        self.short = short
        super().__init__(
            f"cannot cover {wanted} {symbol}: the FIFO lots are short only {short}; "
            "nothing was booked (a cover never crosses from short to long)"
        )


class SideConflictError(LedgerError):
    """Opening a lot on one side while the symbol is held on the other. Nothing changes."""

    def __init__(self, symbol: str, opening: str, held: Decimal) -> None:
        self.symbol = symbol
        other = "long" if opening == "short" else "short"
        action = "sell short" if opening == "short" else "buy"
        super().__init__(
            f"cannot {action} {symbol} as a new {opening} lot: "
            f"{format(abs(held).normalize(), 'f')} are held {other}; "
            f"nothing was booked (the {other} position must be closed first)"
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
    """What is left of one opening fill: its remaining quantity (always > 0) and its
    remaining money: the cost of a long lot, the proceeds of a short lot (`short`)."""

    fitid: str
    quantity: Decimal
    cost: Decimal
    acquired_at: datetime
    short: bool = False


class LotTake(NamedTuple):
    """The part of one lot a sale (or a cover) consumed, and the lot money it took."""

    fitid: str
    quantity: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Consumption:
    """What a sale takes from the long lots (or a cover from the short lots), oldest
    first. `cost_basis` is the lots' money taken: the cost of the shares sold, or the
    proceeds of the shares covered."""

    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    lots: tuple[LotTake, ...]

    @property
    def average_entry_price(self) -> Decimal:
        """Cost basis per share, rounded half-even to the ledger's price places (the
        average short-sale price of a cover)."""
        return (self.cost_basis / self.quantity).quantize(_PRICE_QUANTUM, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's lots as the equities account holds them: the signed quantity
    (negative when short) and the signed money (a long's remaining cost, or minus a short's
    remaining proceeds)."""

    symbol: str
    quantity: Decimal
    cost: Decimal

    @property
    def is_short(self) -> bool:
        """True when the symbol is held short."""
        return self.quantity < 0


@dataclass(slots=True)
class _EntryLegs:
    """One entry's equities postings with a symbol, as replay reads them."""

    entry_id: int
    fitid: str
    trntype: str
    at: datetime
    reversed_fitid: str | None
    legs: list[tuple[str, int | None, int]]


class LotBook:
    """Per symbol, a FIFO queue of lots, all long or all short. Only `buy`, `sell`,
    `sell_short`, `cover` (and the corrections' `restate` and `withdraw`) change it."""

    def __init__(self) -> None:
        self._lots: dict[str, deque[Lot]] = {}
        self._opened: dict[str, Decimal] = {}  # lot fitid -> quantity it opened with

    # -- changes --------------------------------------------------------------------------
    def buy(self, symbol: str, quantity: Decimal, cost: Decimal, at: datetime,
            fitid: str) -> Lot:
        """Add a long lot of `quantity` shares of `symbol` that cost `cost` in total.
        SideConflictError, nothing changed, while `symbol` is held short (a buy covers)."""
        return self._open(symbol, quantity, cost, at, fitid, short=False)

    def sell_short(self, symbol: str, quantity: Decimal, proceeds: Decimal, at: datetime,
                   fitid: str) -> Lot:
        """Add a short lot: `quantity` shares of `symbol` sold short for `proceeds` in
        total. SideConflictError, nothing changed, while `symbol` is held long."""
        return self._open(symbol, quantity, proceeds, at, fitid, short=True)

    def sell(self, symbol: str, quantity: Decimal) -> Consumption:
        """Consume `quantity` shares of `symbol`'s long lots, oldest first. OversellError,
        with nothing changed, when they hold fewer shares."""
        consumption = self.preview_sell(symbol, quantity)
        self._consume(symbol, consumption)
        return consumption

    def cover(self, symbol: str, quantity: Decimal) -> Consumption:
        """Cover `quantity` shares of `symbol`'s short lots, oldest first. OvercoverError,
        with nothing changed, when fewer shares are short."""
        consumption = self.preview_cover(symbol, quantity)
        self._consume(symbol, consumption)
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
                queue[index] = Lot(lot.fitid, lot.quantity, cost, lot.acquired_at, lot.short)
                return
        if cost_change:
            raise LedgerError(
                f"lot {fitid!r} of {symbol} is sold out: a cost change of {cost_change} must "
                "go to realized gains, not to the lot"
            )

    def withdraw(self, symbol: str, fitid: str) -> Lot:
        """Remove lot `fitid` whole (its opening fill reversed). LedgerError, nothing
        changed, when the lot is gone or partly closed."""
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
        """The open lot `fitid` of `symbol` (None when closed out or unknown)."""
        return next((lot for lot in self._lots.get(symbol, ()) if lot.fitid == fitid), None)

    def remaining_fraction(self, symbol: str, fitid: str) -> Decimal:
        """The lot's opening quantity still open; 0 when closed out."""
        lot = self.lot(symbol, fitid)
        opened = self._opened.get(fitid)
        if lot is None or opened is None:
            return Decimal(0)
        return lot.quantity / opened

    def is_short(self, symbol: str) -> bool:
        """True when `symbol`'s open lots are short lots."""
        queue = self._lots.get(symbol)
        return bool(queue) and queue[0].short  # type: ignore[index]

    def preview_sell(self, symbol: str, quantity: Decimal) -> Consumption:
        """What `sell(symbol, quantity)` would take, without changing anything."""
        _require_positive("quantity", quantity, QUANTITY_PLACES)
        held = Decimal(0) if self.is_short(symbol) else self._open_quantity(symbol)
        if quantity > held:
            raise OversellError(symbol, quantity, held)
        return self._takes(symbol, quantity)

    def preview_cover(self, symbol: str, quantity: Decimal) -> Consumption:
        """What `cover(symbol, quantity)` would take, without changing anything."""
        _require_positive("quantity", quantity, QUANTITY_PLACES)
        short = self._open_quantity(symbol) if self.is_short(symbol) else Decimal(0)
        if quantity > short:
            raise OvercoverError(symbol, quantity, short)
        return self._takes(symbol, quantity)

    def position(self, symbol: str) -> Position:
        """Signed quantity and money held in `symbol` (zero when none; negative when
        short: see `Position`)."""
        queue = self._lots.get(symbol, ())
        sign = -1 if self.is_short(symbol) else 1
        return Position(
            symbol=symbol,
            quantity=sign * sum((lot.quantity for lot in queue), Decimal(0)),
            cost=sign * sum((lot.cost for lot in queue), Decimal(0)),
        )

    def lots(self, symbol: str) -> tuple[Lot, ...]:
        """The open lots of `symbol`, oldest first."""
        return tuple(self._lots.get(symbol, ()))

    def open_symbols(self) -> tuple[str, ...]:
        """Every symbol with at least one open lot (long or short), sorted."""
        return tuple(sorted(self._lots))

    def checkpoint_lots(self) -> list[CheckpointLot]:
        """Every open lot, symbols sorted and each symbol's lots oldest first, as a lot
        checkpoint keeps them."""
        return [CheckpointLot(symbol, lot.fitid, lot.quantity, lot.cost, lot.acquired_at,
                              lot.short, self._opened.get(lot.fitid, lot.quantity))
                for symbol in sorted(self._lots) for lot in self._lots[symbol]]

    def clone(self) -> LotBook:
        """An independent copy (lots are immutable, so copying the queues is enough)."""
        copy = LotBook()
        copy._lots = {symbol: deque(queue) for symbol, queue in self._lots.items()}
        copy._opened = dict(self._opened)
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

    # -- internals ------------------------------------------------------------------------
    def _open(self, symbol: str, quantity: Decimal, money: Decimal, at: datetime, fitid: str,
              *, short: bool) -> Lot:
        _require_symbol(symbol)
        _require_positive("quantity", quantity, QUANTITY_PLACES)
        to_scaled(money, MONEY_PLACES)  # refuses an amount the ledger could not hold exactly
        if money < 0:
            what = "proceeds" if short else "cost"
            raise LedgerError(f"a lot's {what} cannot be negative (lot {fitid!r}: {money})")
        queue = self._lots.get(symbol)
        if queue and queue[0].short != short:
            raise SideConflictError(symbol, "short" if short else "long",
                                    self.position(symbol).quantity)
        lot = Lot(fitid=fitid, quantity=quantity, cost=money, acquired_at=ensure_utc(at),
                  short=short)
        self._lots.setdefault(symbol, deque()).append(lot)
        self._opened[fitid] = quantity
        return lot

    def _open_quantity(self, symbol: str) -> Decimal:
        return sum((lot.quantity for lot in self._lots.get(symbol, ())), Decimal(0))

    def _takes(self, symbol: str, quantity: Decimal) -> Consumption:
        """`quantity` shares from `symbol`'s lots, oldest first (checked by the caller)."""
        takes: list[LotTake] = []
        left = quantity
        for lot in self._lots.get(symbol, ()):
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

    def _consume(self, symbol: str, consumption: Consumption) -> None:
        queue = self._lots[symbol]
        for take in consumption.lots:
            head = queue[0]
            if take.quantity == head.quantity:
                queue.popleft()
            else:
                queue[0] = Lot(head.fitid, head.quantity - take.quantity, head.cost - take.cost,
                               head.acquired_at, head.short)
        if not queue:
            del self._lots[symbol]

    # -- rebuilding -----------------------------------------------------------------------
    @classmethod
    def from_ledger(cls, ledger_path: Path, equities_account: str) -> LotBook:
        """Rebuild the lots by replaying `equities_account`'s postings that carry a symbol,
        entry by entry in order, over a read-only connection (corrections as the module
        docstring says).

        A positive quantity opens a long lot at the posted amount, or covers short lots at
        their FIFO proceeds; a negative one is a sale whose posted cost must equal the FIFO
        cost, or, in a ``SHORT`` entry, opens a short lot at the posted proceeds.
        LotsMismatchError otherwise.
        """
        connection = open_reader_connection(ledger_path)
        try:
            return cls.from_connection(connection, equities_account)
        finally:
            connection.close()

    @classmethod
    def from_connection(cls, connection: sqlite3.Connection, equities_account: str) -> LotBook:
        """`from_ledger` over an open connection to the ledger."""
        return cls.replayed(connection, equities_account)[0]

    @classmethod
    def replayed(cls, connection: sqlite3.Connection, equities_account: str
                 ) -> tuple[LotBook, int]:
        """The lots and the last entry id they stand for: the newest checkpoint's lots and
        the replay of every entry after it (all entries when there is none), read in one
        read transaction (the caller's, when it has one open)."""
        own_transaction = not connection.in_transaction
        if own_transaction:
            connection.execute("BEGIN")
        try:
            return cls._replayed(connection, equities_account)
        finally:
            if own_transaction:
                connection.execute("COMMIT")

    @classmethod
    def _replayed(cls, connection: sqlite3.Connection, equities_account: str
                  ) -> tuple[LotBook, int]:
        (through,) = connection.execute(
            "SELECT COALESCE(MAX(id), 0) FROM ledger_entries").fetchone()
        book = cls()
        after = 0
        checkpoint = latest_checkpoint(connection, equities_account)
        if checkpoint is not None and checkpoint.through_entry_id <= through:
            after = checkpoint.through_entry_id
            for lot in checkpoint.lots:
                book._lots.setdefault(lot.symbol, deque()).append(Lot(
                    lot.fitid, lot.quantity, lot.cost, lot.acquired_at, lot.short))
                book._opened[lot.fitid] = lot.opened_quantity
        # `+p.account_code`: the entry_id range is what narrows the postings; without the
        # `+`, SQLite walks the account's index over the whole history instead.
        rows = connection.execute(
            "SELECT e.id, e.fitid, e.trntype, e.dtposted, o.fitid, p.symbol, p.quantity, "
            "p.amount "
            "FROM ledger_postings p JOIN ledger_entries e ON e.id = p.entry_id "
            "LEFT JOIN ledger_entries o ON o.id = e.reverses_entry_id "
            "WHERE p.entry_id > ? AND p.entry_id <= ? AND +p.account_code = ? "
            "AND p.symbol IS NOT NULL ORDER BY p.entry_id, p.id",
            (after, through, equities_account),
        )
        entries: list[_EntryLegs] = []
        for entry_id, fitid, trntype, dtposted, reversed_fitid, symbol, quantity, amount in rows:
            if not entries or entries[-1].entry_id != entry_id:
                entries.append(_EntryLegs(entry_id, fitid, str(trntype), parse_utc(dtposted),
                                          reversed_fitid, []))
            entries[-1].legs.append((symbol, quantity, amount))
        book._replay_entries(entries)
        return book, through

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
                    if quantity is not None:
                        self._replay_withdrawal(entry.fitid, symbol, int(quantity),
                                                base_fitid(original))
                index += 1
                continue
            for symbol, quantity, amount in entry.legs:
                if quantity is None:
                    raise LotsMismatchError(
                        entry.fitid, symbol, "an equities posting without a quantity outside "
                        "a correction")
                self._replay(entry, symbol, quantity, amount)
            index += 1

    def _replay_withdrawal(self, fitid: str, symbol: str, quantity: int,
                           lot_fitid: str) -> None:
        """A reversal on its own: it must take back a whole opening lot (a purchase's
        shares leave, a short sale's shares come back)."""
        lot = self.lot(symbol, lot_fitid)
        if lot is not None and lot.short == (quantity > 0):
            try:
                self.withdraw(symbol, lot_fitid)
            except LedgerError as problem:
                raise LotsMismatchError(fitid, symbol, str(problem)) from None
            return
        if quantity < 0:
            raise LotsMismatchError(
                fitid, symbol, f"lot {lot_fitid!r} of {symbol} is not open: it cannot be "
                "withdrawn")
        raise LotsMismatchError(fitid, symbol, "a sale's reversal without a correction")

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
            lot = self.lot(symbol, lot_fitid)
            if removed < 0 and (lot is None or not lot.short):  # the reversal of a purchase
                try:
                    self.restate(symbol, lot_fitid, change)
                except LedgerError as problem:
                    raise LotsMismatchError(correction.fitid, symbol, str(problem)) from None
            elif change:
                raise LotsMismatchError(correction.fitid, symbol,
                                        "a sale's correction that changes its cost basis")

    def _replay(self, entry: _EntryLegs, symbol: str, stored_quantity: object,
                stored_amount: object) -> None:
        fitid = entry.fitid
        if type(stored_quantity) is not int or type(stored_amount) is not int:
            raise LotsMismatchError(fitid, symbol, "quantity or amount is not a scaled integer")
        quantity = from_scaled(stored_quantity, QUANTITY_PLACES)
        amount = from_scaled(stored_amount, MONEY_PLACES)
        if quantity == 0:
            raise LotsMismatchError(fitid, symbol, "an equities posting has a zero quantity")
        try:
            if quantity > 0:
                self._replay_increase(entry, symbol, quantity, amount)
            else:
                self._replay_decrease(entry, symbol, -quantity, -amount)
        except (OversellError, OvercoverError, SideConflictError) as problem:
            raise LotsMismatchError(fitid, symbol, str(problem)) from None

    def _replay_increase(self, entry: _EntryLegs, symbol: str, quantity: Decimal,
                         amount: Decimal) -> None:
        """Shares in: a cover when `symbol` is short, else a purchase."""
        if self.is_short(symbol):
            consumption = self.preview_cover(symbol, quantity)
            if amount != consumption.cost_basis:
                raise LotsMismatchError(
                    entry.fitid, symbol,
                    f"posted cover at {amount} but the FIFO short lots' proceeds are "
                    f"{consumption.cost_basis}",
                )
            self.cover(symbol, quantity)
            return
        if entry.trntype == COVER_TRNTYPE:
            raise LotsMismatchError(entry.fitid, symbol,
                                    f"a {COVER_TRNTYPE} of {quantity} with no short lots")
        if amount <= 0:
            raise LotsMismatchError(entry.fitid, symbol, f"a purchase of {quantity} is posted "
                                                         f"at a non-positive cost {amount}")
        self.buy(symbol, quantity, amount, entry.at, entry.fitid)

    def _replay_decrease(self, entry: _EntryLegs, symbol: str, quantity: Decimal,
                         credited: Decimal) -> None:
        """Shares out: a short sale in a ``SHORT`` entry, else a sale of long lots."""
        if entry.trntype == SHORT_TRNTYPE:
            if credited <= 0:
                raise LotsMismatchError(entry.fitid, symbol, f"a short sale of {quantity} is "
                                                             f"posted at proceeds {credited}")
            self.sell_short(symbol, quantity, credited, entry.at, entry.fitid)
            return
        consumption = self.preview_sell(symbol, quantity)
        if credited != consumption.cost_basis:
            raise LotsMismatchError(
                entry.fitid, symbol,
                f"posted cost {credited} but FIFO cost {consumption.cost_basis}",
            )
        self.sell(symbol, quantity)


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
