"""The day's results read from the ledger: the one source of every money figure people see.

Given a ledger, the broker's accounts and a UTC range (a day is ``[00:00, 24:00)`` of
``dtposted``), per strategy and in total:

- realized gains: minus the postings on the realized-gains account (credits are gains);
- fees: the postings on the fees account;
- net: realized gains − fees (the accounts' view: it includes the entry fees of positions
  still open);
- the round trips closed: one per live closing trade row (SELL closes a long, COVER a
  short sale), each with its PnL computed from the ledger = realized gain of the exit entry
  − fees of the exit entry − the entry fees of the shares it closed (below);
- the entry fills: the live opening trade rows (BUY, and SHORT for a short sale).

A strategy is the trade row's (a reversal's, the entry it reverses); money on entries
without one (reconciliation's broker-only fills, manual entries) is in `unattributed` and
in the total. Reversed entries and reversals are left out of round trips and entry fills,
but their postings count in the account totals (a reversal cancels the entry it reverses).

The entry fee rule. FIFO, as `fifo_lots` consumes lots: a round trip closes shares of the
live entries that opened its symbol's position (bought it, or sold it short; trade row or
not), oldest first. Each such entry fill's fee belongs to the shares it opened, and a round
trip closing shares ``(a, b]`` of an entry fill of ``Q`` shares with fee ``F`` is
charged::

    round_half_even(F × b / Q, 6 places) − round_half_even(F × a / Q, 6 places)

so each charge is pro rata, its rounding remainder is carried to the next charge of that
fill, and the charges over a position's round trips add up to exactly the sum of its entry
fees. A correction (FITID ``<original>~c<n>``) takes its original's place in the FIFO order,
as the lot book replays it, so a restated fee is charged where the original was.

Readings reflect the ledger as it stands: a later correction or reversal changes the
reading of an earlier day.

Cost: a few fixed SQL queries on indexed columns, no ORM and no query per row: the range's
entries with their sums per account (``dtposted`` index); per closed symbol, the shares held
before the first round trip (one aggregate); and the fills from the last point where that
symbol was flat (entry-id range), which the FIFO replay walks. A symbol held overnight adds
one walk back to its last flat point.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import groupby
from pathlib import Path

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.booking.correction_ids import base_fitid
from tbot.ledger.amounts import MONEY_PLACES, PRICE_PLACES, QUANTITY_PLACES, from_scaled, to_scaled
from tbot.ledger.balances import BalanceCheckpoint, latest_balances
from tbot.ledger.database import open_reader_connection
from tbot.ledger.errors import LedgerError
from tbot.ledger.timestamps import TIMESTAMP_PATTERN, format_utc, parse_utc

ZERO = Decimal(0)
OPENING_TRNTYPES = frozenset({"BUY", "SHORT"})
"""Trade rows that open a position: entry fills."""
CLOSING_TRNTYPES = frozenset({"SELL", "COVER"})
"""Trade rows that close one: round trips."""


class LedgerResultsError(LedgerError):
    """The ledger's fills cannot be read as round trips (a sale or cover beyond the entry
    fills)."""


@dataclass(frozen=True, slots=True)
class FeeCharge:
    """The part of one entry fill a round trip closed, and the fee charged for it."""

    fitid: str
    filled_at: datetime
    quantity: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One live SELL (or COVER) trade row: the exit entry and the entry fills whose shares
    it closed. `quantity` is the shares closed (positive); `cost_basis` is what they cost,
    or for a short sale (side ``short``) what they were sold short for."""

    entry_id: int
    fitid: str
    strategy: str
    symbol: str
    side: str
    tag: str
    quantity: Decimal
    exit_price: Decimal | None
    cost_basis: Decimal
    realized_gain: Decimal
    exit_fee: Decimal
    entry_fees: Decimal
    opened_at: datetime
    """When the oldest entry fill it closed was filled."""
    closed_at: datetime
    charges: tuple[FeeCharge, ...]

    @property
    def fees(self) -> Decimal:
        """The exit fee plus the entry fees charged to this round trip."""
        return self.exit_fee + self.entry_fees

    @property
    def pnl(self) -> Decimal:
        """Realized gain less every fee of the round trip (net)."""
        return self.realized_gain - self.fees

    @property
    def holding_seconds(self) -> int:
        """Whole seconds from the oldest entry fill it closed to the exit."""
        return int((self.closed_at - self.opened_at).total_seconds())


@dataclass(frozen=True, slots=True)
class EntryFill:
    """One live BUY (or SHORT) trade row; `quantity` is positive."""

    entry_id: int
    fitid: str
    strategy: str
    symbol: str
    side: str
    quantity: Decimal
    fee: Decimal
    filled_at: datetime


@dataclass(frozen=True, slots=True)
class StrategyResults:
    """One strategy's (or all strategies') results in the range."""

    realized_gains: Decimal = ZERO
    fees: Decimal = ZERO
    round_trips: tuple[RoundTrip, ...] = ()
    entry_fills: tuple[EntryFill, ...] = ()

    @property
    def net(self) -> Decimal:
        """Realized gains less fees, as the accounts have them."""
        return self.realized_gains - self.fees

    @property
    def round_trip_pnl(self) -> Decimal:
        """The sum of the round trips' PnL (net of their fees)."""
        return sum((trip.pnl for trip in self.round_trips), ZERO)

    @property
    def round_trip_gains(self) -> Decimal:
        """The realized gains of the round trips' exit entries."""
        return sum((trip.realized_gain for trip in self.round_trips), ZERO)

    @property
    def round_trip_fees(self) -> Decimal:
        """The fees charged to the round trips: exit fees and their share of entry fees."""
        return sum((trip.fees for trip in self.round_trips), ZERO)


@dataclass(frozen=True, slots=True)
class LedgerResults:
    """What the ledger says about ``[start, end)``."""

    start: datetime
    end: datetime
    by_strategy: Mapping[str, StrategyResults]
    unattributed: StrategyResults
    total: StrategyResults


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC range ``[day 00:00, next day 00:00)``."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def read_day(ledger: Path, accounts: BrokerAccounts, day: date) -> LedgerResults:
    """The results of the UTC `day`, over a read-only connection to `ledger`."""
    return read_range(ledger, accounts, *day_bounds(day))


def read_range(ledger: Path, accounts: BrokerAccounts, start: datetime,
               end: datetime) -> LedgerResults:
    """The results of ``[start, end)``, over a read-only connection to `ledger`."""
    connection = open_reader_connection(ledger)
    try:
        return results_between(connection, accounts, start, end)
    finally:
        connection.close()


def read_round_trip(ledger: Path, accounts: BrokerAccounts, fitid: str) -> RoundTrip | None:
    """The round trip the entry `fitid` closed (None when it is not a live SELL or COVER
    trade row), over a read-only connection to `ledger`."""
    connection = open_reader_connection(ledger)
    try:
        return round_trip_of(connection, accounts, fitid)
    finally:
        connection.close()


def results_between(connection: sqlite3.Connection, accounts: BrokerAccounts,
                    start: datetime, end: datetime) -> LedgerResults:
    """The results of ``[start, end)`` (entries by ``dtposted``) over `connection`."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    rows = _entry_rows(connection, accounts, "e.dtposted >= :low AND e.dtposted < :high",
                       {"low": format_utc(start), "high": format_utc(end)})
    return _results(connection, accounts, start, end, rows)


def round_trip_of(connection: sqlite3.Connection, accounts: BrokerAccounts,
                  fitid: str) -> RoundTrip | None:
    """The round trip of the entry `fitid` over `connection` (None when it is not one)."""
    rows = _entry_rows(connection, accounts, "e.fitid = :fitid", {"fitid": fitid})
    if not rows:
        return None
    at = rows[0].dtposted
    results = _results(connection, accounts, at, at, rows)
    return results.total.round_trips[0] if results.total.round_trips else None


def entry_fee_share(fee: Decimal, quantity: Decimal, closed_before: Decimal,
                    closed_after: Decimal) -> Decimal:
    """The fee charged for closing shares ``(closed_before, closed_after]`` of an entry
    fill of `quantity` shares that paid `fee` (the module's rule, exact and half-even)."""
    if quantity <= 0 or not ZERO <= closed_before <= closed_after <= quantity:
        raise ValueError(f"cannot close ({closed_before}, {closed_after}] of {quantity} shares")
    scaled_fee, bought = to_scaled(fee, MONEY_PLACES), to_scaled(quantity, QUANTITY_PLACES)
    return from_scaled(
        _share(scaled_fee, bought, to_scaled(closed_after, QUANTITY_PLACES))
        - _share(scaled_fee, bought, to_scaled(closed_before, QUANTITY_PLACES)),
        MONEY_PLACES,
    )


# -- internals ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EntryRow:
    """One entry of the range with its sums per account (scaled integers)."""

    entry_id: int
    fitid: str
    dtposted: datetime
    live: bool  # neither a reversal nor reversed
    strategy: str | None
    trntype: str | None
    symbol: str | None
    side: str | None
    tag: str | None
    exit_price: int | None
    gains: int
    fees: int
    equity_cost: int
    equity_quantity: int


@dataclass
class _Accumulator:
    realized_gains: int = 0
    fees: int = 0
    round_trips: list[RoundTrip] = field(default_factory=list)
    entry_fills: list[EntryFill] = field(default_factory=list)

    def freeze(self) -> StrategyResults:
        return StrategyResults(
            realized_gains=-from_scaled(self.realized_gains, MONEY_PLACES),
            fees=from_scaled(self.fees, MONEY_PLACES),
            round_trips=tuple(self.round_trips),
            entry_fills=tuple(self.entry_fills),
        )


# One row per entry: its sums on the three accounts, its trade row (or, for a reversal, the
# strategy of the entry it reverses) and whether some later entry reverses it.
# The entries' own index (a day's dtposted, a FITID) must drive the query (CROSS JOIN keeps
# the order, `+` keeps SQLite off the account index): driven by the postings' account
# index, or by a scan of them, it read every fill's postings (0.8 s on a million entries).
_ENTRY_SQL = """
SELECT e.id, e.fitid, e.dtposted,
       e.reverses_entry_id IS NULL
         AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_entry_id = e.id),
       COALESCE(t.strategy, o.strategy), t.trntype, t.symbol, t.side, t.tag, t.exit_price,
       SUM(CASE WHEN p.account_code = :gains THEN p.amount ELSE 0 END),
       SUM(CASE WHEN p.account_code = :fees THEN p.amount ELSE 0 END),
       SUM(CASE WHEN p.account_code = :equities AND p.quantity IS NOT NULL
                THEN p.amount ELSE 0 END),
       SUM(CASE WHEN p.account_code = :equities THEN COALESCE(p.quantity, 0) ELSE 0 END)
FROM ledger_entries e
CROSS JOIN ledger_postings p
  ON p.entry_id = e.id AND +p.account_code IN (:gains, :fees, :equities)
LEFT JOIN trades t ON t.entry_id = e.id
LEFT JOIN trades o ON o.entry_id = e.reverses_entry_id
WHERE {where}
GROUP BY e.id
ORDER BY e.id
"""

# Per symbol: its shares held (the journal's sum) before entry `low`, and whether the last
# entry that moved them is a reversal (then a correction may follow: not a flat point).
_BEFORE_SQL = """
SELECT b.symbol, b.held,
       (SELECT e.reverses_entry_id IS NOT NULL FROM ledger_entries e WHERE e.id = b.last)
FROM (SELECT p.symbol AS symbol, SUM(p.quantity) AS held, MAX(p.entry_id) AS last
      FROM ledger_postings p
      WHERE p.account_code = ? AND p.quantity IS NOT NULL AND p.symbol IN ({marks})
        AND p.entry_id < ?
      GROUP BY p.symbol) b
"""

# The same, over the entries after a balance checkpoint (`:after`) and before `low` only.
_SINCE_SQL = """
SELECT p.symbol, SUM(p.quantity), MAX(p.entry_id)
FROM ledger_postings p
WHERE p.entry_id > ? AND p.entry_id < ? AND +p.account_code = ? AND p.quantity IS NOT NULL
  AND p.symbol IN ({marks})
GROUP BY p.symbol
"""

# The moves of some symbols before entry `low`, newest first, read lazily along the entry
# ids (the unary plus keeps SQLite off the account index, which would sort everything).
_WALK_SQL = """
SELECT e.id, e.reverses_entry_id IS NOT NULL, p.symbol, p.quantity
FROM ledger_entries e
JOIN ledger_postings p ON p.entry_id = e.id
WHERE e.id < ? AND e.id > ? AND +p.account_code = ? AND p.quantity IS NOT NULL
  AND p.symbol IN ({marks})
ORDER BY e.id DESC
"""

# The entries matching {where} that moved shares of the wanted symbols, with their fee and
# whether they are reversals or reversed (then skipped, but a correction finds its original
# among them). The unary plus keeps SQLite on the entry-id range, off the account index.
_MOVES_SQL = """
SELECT p.symbol, e.id, e.fitid, e.dtposted, e.reverses_entry_id IS NOT NULL,
       EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses_entry_id = e.id),
       SUM(p.quantity),
       (SELECT COALESCE(SUM(f.amount), 0) FROM ledger_postings f
         WHERE f.entry_id = e.id AND f.account_code = :fees)
FROM ledger_entries e
JOIN ledger_postings p ON p.entry_id = e.id
WHERE {where} AND +p.account_code = :equities AND p.quantity IS NOT NULL
  AND p.symbol IN ({marks})
GROUP BY e.id, p.symbol
"""
_WINDOW = "e.id BETWEEN :start AND :high"
_CORRECTIONS = "e.fitid >= :first AND e.fitid < :last"
"""The FITIDs ``<original>~c<digits>`` (':' sorts right after '9')."""


def _entry_rows(connection: sqlite3.Connection, accounts: BrokerAccounts, where: str,
                parameters: Mapping[str, object]) -> list[_EntryRow]:
    """The entries matching `where` (a fixed fragment with named parameters)."""
    names = {"gains": accounts.realized_gains, "fees": accounts.fees,
             "equities": accounts.equities, **parameters}
    sql = _ENTRY_SQL.format(where=where)
    return [
        _EntryRow(
            entry_id=int(entry_id), fitid=str(fitid), dtposted=_parse_time(dtposted),
            live=bool(live), strategy=strategy, trntype=trntype, symbol=symbol, side=side,
            tag=tag, exit_price=exit_price, gains=int(gains), fees=int(fees),
            equity_cost=int(cost), equity_quantity=int(quantity),
        )
        for (entry_id, fitid, dtposted, live, strategy, trntype, symbol, side, tag, exit_price,
             gains, fees, cost, quantity) in connection.execute(sql, names)
    ]


def _results(connection: sqlite3.Connection, accounts: BrokerAccounts, start: datetime,
             end: datetime, rows: list[_EntryRow]) -> LedgerResults:
    exits = [row for row in rows if row.live and row.trntype in CLOSING_TRNTYPES and row.symbol]
    charges = _fee_charges(connection, accounts, exits)
    by_strategy: dict[str, _Accumulator] = {}
    unattributed = _Accumulator()
    total = _Accumulator()
    for row in rows:
        into = unattributed if row.strategy is None else by_strategy.setdefault(
            row.strategy, _Accumulator())
        for accumulator in (into, total):
            accumulator.realized_gains += row.gains
            accumulator.fees += row.fees
        if not row.live or row.strategy is None or row.symbol is None:
            continue
        if row.trntype in CLOSING_TRNTYPES:
            trip = _round_trip(row, charges[row.entry_id])
            into.round_trips.append(trip)
            total.round_trips.append(trip)
        elif row.trntype in OPENING_TRNTYPES:
            fill = EntryFill(
                entry_id=row.entry_id, fitid=row.fitid, strategy=row.strategy,
                symbol=row.symbol, side=row.side or "long",
                quantity=abs(from_scaled(row.equity_quantity, QUANTITY_PLACES)),
                fee=from_scaled(row.fees, MONEY_PLACES), filled_at=row.dtposted,
            )
            into.entry_fills.append(fill)
            total.entry_fills.append(fill)
    return LedgerResults(
        start=start,
        end=end,
        by_strategy={name: figures.freeze() for name, figures in sorted(by_strategy.items())},
        unattributed=unattributed.freeze(),
        total=total.freeze(),
    )


def _round_trip(row: _EntryRow, charges: list[FeeCharge]) -> RoundTrip:
    entry_fees = sum(to_scaled(charge.fee, MONEY_PLACES) for charge in charges)
    # A SELL takes shares (and their cost) off the equities account; a COVER puts shares
    # back at the proceeds they were sold short for.
    sign = 1 if row.trntype == "COVER" else -1
    return RoundTrip(
        entry_id=row.entry_id,
        fitid=row.fitid,
        strategy=row.strategy or "",
        symbol=row.symbol or "",
        side=row.side or "long",
        tag=row.tag or "none",
        quantity=sign * from_scaled(row.equity_quantity, QUANTITY_PLACES),
        exit_price=None if row.exit_price is None else from_scaled(int(row.exit_price),
                                                                     PRICE_PLACES),
        cost_basis=sign * from_scaled(row.equity_cost, MONEY_PLACES),
        realized_gain=-from_scaled(row.gains, MONEY_PLACES),
        exit_fee=from_scaled(row.fees, MONEY_PLACES),
        entry_fees=from_scaled(entry_fees, MONEY_PLACES),
        opened_at=charges[0].filled_at if charges else row.dtposted,
        closed_at=row.dtposted,
        charges=tuple(charges),
    )


@dataclass(slots=True)
class _Move:
    """One live entry's shares of one symbol, in FIFO order (`slot`)."""

    slot: int
    entry_id: int
    fitid: str
    filled_at: str  # as stored; parsed only for the fills a wanted round trip closes
    quantity: int
    fee: int


@dataclass(slots=True)
class _OpenFill:
    fitid: str
    filled_at: str
    quantity: int
    fee: int
    closed: int = 0


def _fee_charges(connection: sqlite3.Connection, accounts: BrokerAccounts,
                 exits: Iterable[_EntryRow]) -> dict[int, list[FeeCharge]]:
    """Replay each closed symbol's live fills in FIFO order, from its last flat point
    before the first round trip wanted to the last, and charge entry fees (the module's
    rule)."""
    wanted: dict[str, set[int]] = {}
    corrections: list[str] = []
    for row in exits:
        wanted.setdefault(row.symbol or "", set()).add(row.entry_id)
        if base_fitid(row.fitid) != row.fitid:
            corrections.append(base_fitid(row.fitid))
    if not wanted:
        return {}
    low = min(entry_id for ids in wanted.values() for entry_id in ids)
    high = max(entry_id for ids in wanted.values() for entry_id in ids)
    if corrections:  # a correction is replayed where its original was
        marks = ",".join("?" * len(corrections))
        (original,) = connection.execute(
            f"SELECT MIN(id) FROM ledger_entries WHERE fitid IN ({marks})",  # noqa: S608
            corrections,
        ).fetchone()
        if original is not None:
            low = min(low, int(original))
    symbols = sorted(wanted)
    starts = _replay_starts(connection, accounts, symbols, low)
    moves = _moves(connection, accounts, starts, high)
    charged: dict[int, list[FeeCharge]] = {}
    for symbol in symbols:
        _replay(symbol, moves.get(symbol, []), wanted[symbol], charged)
    return charged


def _replay_starts(connection: sqlite3.Connection, accounts: BrokerAccounts,
                   symbols: list[str], low: int) -> dict[str, int]:
    """Per symbol, the entry id to replay from: just after its last flat point before
    entry `low`.

    Under the lot book's rules the journal's running quantity is the lots' quantity (a
    reversal and its correction move the same shares), so a point where it is zero, after
    an entry that is not a reversal, has no open lot: what came before cannot be charged
    to what comes after."""
    checkpoint = latest_balances(connection, before_entry_id=low)
    before = _held_before(connection, accounts, symbols, low, checkpoint)
    starts: dict[str, int] = {}
    held: dict[str, int] = {}  # symbol -> shares held after the move being looked at
    for symbol in symbols:
        shares, after_reversal = before.get(symbol, (0, False))
        if not shares and not after_reversal:
            starts[symbol] = low  # the usual case: flat overnight
        else:
            held[symbol] = shares
    flat = _flat_at(connection, accounts, checkpoint, held)
    if flat:  # the walk back stops at the checkpoint, where they were flat
        assert checkpoint is not None
        _walk_back(connection, accounts, low, {s: held.pop(s) for s in flat}, starts,
                   floor=checkpoint.through_entry_id)
    if held:
        _walk_back(connection, accounts, low, held, starts)
    return starts


def _flat_at(connection: sqlite3.Connection, accounts: BrokerAccounts,
             checkpoint: BalanceCheckpoint | None, symbols: Iterable[str]) -> list[str]:
    """Which of `symbols` were flat at `checkpoint` (no shares, the last move not a
    reversal): a flat point, so a walk back need not pass it."""
    if checkpoint is None:
        return []
    found: dict[str, int | None] = {}
    for symbol in symbols:
        sums = checkpoint.sums.get((accounts.equities, symbol))
        if sums is None or sums.quantity == 0:
            found[symbol] = None if sums is None else sums.last_moved
    reversals = _reversals(connection, [last for last in found.values() if last is not None])
    return [symbol for symbol, last in found.items() if last not in reversals]


def _reversals(connection: sqlite3.Connection, entry_ids: list[int]) -> set[int]:
    """Which of `entry_ids` are reversals (one primary-key lookup each)."""
    if not entry_ids:
        return set()
    query = "SELECT id FROM ledger_entries WHERE reverses_entry_id IS NOT NULL AND id IN (%s)"
    return {int(entry_id) for (entry_id,) in connection.execute(
        query % ",".join("?" * len(entry_ids)), entry_ids)}


def _held_before(connection: sqlite3.Connection, accounts: BrokerAccounts,
                 symbols: list[str], low: int, checkpoint: BalanceCheckpoint | None
                 ) -> dict[str, tuple[int, bool]]:
    """Per symbol that moved before entry `low`: its shares held then (the journal's sum)
    and whether the last entry that moved them is a reversal. From the newest balance
    checkpoint before `low` and the entries between (`tbot.ledger.balances`): summing a
    symbol's whole history took a quarter of a second on a million-entry ledger, for every
    round trip read."""
    if checkpoint is None:
        marks = ",".join("?" * len(symbols))
        return {str(symbol): (int(held), bool(after_reversal))
                for symbol, held, after_reversal in connection.execute(
                    _BEFORE_SQL.format(marks=marks), (accounts.equities, *symbols, low))}
    held: dict[str, tuple[int, int | None]] = {}
    for symbol in symbols:
        sums = checkpoint.sums.get((accounts.equities, symbol))
        if sums is not None and sums.last_moved is not None:
            held[symbol] = (sums.quantity, sums.last_moved)
    marks = ",".join("?" * len(symbols))
    for symbol, quantity, last in connection.execute(
            _SINCE_SQL.format(marks=marks),
            (checkpoint.through_entry_id, low, accounts.equities, *symbols)):
        shares = held.get(str(symbol), (0, None))[0]
        held[str(symbol)] = (shares + int(quantity), int(last))
    reversals = _reversals(connection, [last for _, last in held.values() if last is not None])
    return {symbol: (shares, last in reversals) for symbol, (shares, last) in held.items()}


def _walk_back(connection: sqlite3.Connection, accounts: BrokerAccounts, low: int,
               held: dict[str, int], starts: dict[str, int], *, floor: int = 0) -> None:
    """Walk the moves of `held`'s symbols back from entry `low` to each one's last flat
    point, no further back than entry `floor` (a flat point of them all, when not 0); a
    symbol not flat on the way starts after `floor` (0: from the first entry)."""
    marks = ",".join("?" * len(held))
    cursor = connection.execute(_WALK_SQL.format(marks=marks),
                                (low, floor, accounts.equities, *held))
    try:
        for (entry_id, is_reversal), rows in groupby(cursor, key=lambda row: row[:2]):
            moved: dict[str, int] = {}
            for *_, symbol, quantity in rows:
                moved[symbol] = moved.get(symbol, 0) + int(quantity)
            for symbol, quantity in moved.items():
                if symbol not in held:
                    continue
                if not held[symbol] and not is_reversal:  # flat after this entry
                    starts[symbol] = int(entry_id) + 1
                    del held[symbol]
                else:
                    held[symbol] -= quantity  # the shares held before this entry
            if not held:
                break
    finally:
        cursor.close()
    for symbol in held:
        starts[symbol] = floor + 1 if floor else 0


def _moves(connection: sqlite3.Connection, accounts: BrokerAccounts,
           starts: Mapping[str, int], high: int) -> dict[str, list[_Move]]:
    """The live moves of each symbol from entry `starts[symbol]` to entry `high` (and the
    corrections of its entries there, posted later), in FIFO order."""
    symbols = sorted(starts)
    marks = ",".join(f":s{index}" for index in range(len(symbols)))
    names: dict[str, object] = {"fees": accounts.fees, "equities": accounts.equities,
                                **{f"s{index}": symbol for index, symbol in enumerate(symbols)}}
    raw = connection.execute(
        _MOVES_SQL.format(where=_WINDOW, marks=marks),
        {**names, "start": min(starts.values()), "high": high},
    ).fetchall()
    seen = {row[2] for row in raw}
    for original in sorted({base_fitid(row[2]) for row in raw if row[5] and not row[4]}):
        # An entry reversed in the window: its correction (maybe posted after `high`)
        # takes its place.
        raw += [row for row in connection.execute(
            _MOVES_SQL.format(where=_CORRECTIONS, marks=marks),
            {**names, "first": f"{original}~c0", "last": f"{original}~c:"},
        ) if row[2] not in seen]
    id_of_fitid = {fitid: entry_id for _, entry_id, fitid, *_ in raw}
    moves: dict[str, list[_Move]] = {}
    for symbol, entry_id, fitid, dtposted, is_reversal, is_reversed, quantity, fee in raw:
        if is_reversal or is_reversed or not quantity:
            continue
        slot = entry_id
        original = base_fitid(fitid)
        if original != fitid:
            # A correction replays where its original was (as `LotBook` restates in place).
            slot = id_of_fitid.get(original, -1)
        if slot < starts[symbol]:
            continue  # consumed before the symbol's flat point
        moves.setdefault(symbol, []).append(
            _Move(slot, entry_id, fitid, dtposted, int(quantity), int(fee)))
    for listed in moves.values():
        listed.sort(key=lambda move: move.slot)
    return moves


def _replay(symbol: str, moves: list[_Move], wanted: set[int],
            charged: dict[int, list[FeeCharge]]) -> None:
    """Walk `symbol`'s moves FIFO: a move on the open position's side (or from flat) opens
    an entry fill, a move against it closes the oldest ones (long or short alike)."""
    open_fills: deque[_OpenFill] = deque()
    direction = 0  # +1 while long, -1 while short, 0 when flat
    left = set(wanted)
    for move in moves:
        if not left:
            return
        sign = 1 if move.quantity > 0 else -1
        if not open_fills or sign == direction:
            direction = sign
            open_fills.append(_OpenFill(move.fitid, move.filled_at, abs(move.quantity),
                                        move.fee))
            continue
        to_close = abs(move.quantity)
        keep = move.entry_id in left
        charges: list[FeeCharge] = []
        while to_close:
            if not open_fills:
                raise LedgerResultsError(
                    f"entry {move.fitid!r} closes more {symbol} than the ledger's live entry "
                    "fills opened: its round trip cannot be read"
                )
            head = open_fills[0]
            take = min(to_close, head.quantity - head.closed)
            before, after = head.closed, head.closed + take
            if keep:
                fee = (_share(head.fee, head.quantity, after)
                       - _share(head.fee, head.quantity, before))
                charges.append(FeeCharge(head.fitid, _parse_time(head.filled_at),
                                         from_scaled(take, QUANTITY_PLACES),
                                         from_scaled(fee, MONEY_PLACES)))
            head.closed = after
            to_close -= take
            if head.closed == head.quantity:
                open_fills.popleft()
        if keep:
            charged[move.entry_id] = charges
            left.discard(move.entry_id)
    if left:
        raise LedgerResultsError(f"round trips of {symbol} not found in its fills: {sorted(left)}")


def _parse_time(text: str) -> datetime:
    """A stored timestamp as an aware UTC datetime (the strict parser's rule, faster)."""
    if not TIMESTAMP_PATTERN.match(text):
        return parse_utc(text)  # raises, saying why
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _share(fee: int, bought: int, closed: int) -> int:
    """``fee × closed / bought`` rounded half-even, on scaled integers (no float, no
    intermediate rounding): money scaled 6, quantities scaled 9."""
    whole, remainder = divmod(fee * closed, bought)
    if 2 * remainder > bought or (2 * remainder == bought and whole % 2):
        whole += 1
    return whole
