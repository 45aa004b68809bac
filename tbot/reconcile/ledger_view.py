"""What the ledger says, read for reconciliation: booked fills and cash by the broker's id,
positions and cash balances, and the latest reconciliation state of every record.

Plain SQL over a read-only connection (the writer is never blocked under WAL), aggregated
in SQLite so that a 100,000-fill window reads in a fraction of a second. Amounts come back
as the ledger stores them (scaled integers) and leave here as exact `Decimal`s.

A corrected entry (posted when an admin accepts a broker's restatement) carries the FITID
of the entry it corrects followed by ``~c`` and a number; an entry that has been reversed
no longer speaks for its fill: the latest corrected entry does, or nothing does.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from tbot.booking.broker_accounts import BrokerAccounts
from tbot.booking.correction_ids import CORRECTION_MARK, base_fitid
from tbot.ledger.amounts import (
    LEVERAGE_PLACES,
    MONEY_PLACES,
    PRICE_PLACES,
    QUANTITY_PLACES,
    from_scaled,
)
from tbot.ledger.balances import account_sums
from tbot.ledger.timestamps import format_utc
from tbot.reconcile.statuses import BreakKind, RecordStatus

_ZERO = Decimal(0)


class LedgerFill(NamedTuple):
    """One fill as the ledger books it (the live entry for its broker id). A NamedTuple:
    a first sync builds one per fill."""

    entry_id: int
    fitid: str
    broker_id: str
    posted_at: datetime
    symbol: str
    side: str  # buy / sell
    quantity: Decimal  # > 0
    price: Decimal | None  # from the trade row; None for an entry without one
    notional: Decimal  # quantity x price as booked (money places)
    fee: Decimal
    cash_effect: Decimal  # signed change of the cash account
    equity_amount: Decimal  # what the entry posted to the equities account (with quantity)
    strategy: str | None


class LedgerCash(NamedTuple):
    """A cash activity as the ledger books it."""

    entry_id: int
    fitid: str
    broker_id: str
    posted_at: datetime
    amount: Decimal  # signed change of the cash account


class LatestState(NamedTuple):
    """The newest reconciliation row of one record, position or currency (a NamedTuple:
    a sync reads one per record, 100,000 of them)."""

    row_id: int
    status: RecordStatus
    record_hash: str | None
    resolved_status: RecordStatus | None
    """For a `resolved` row: the status of the break it resolved."""
    resolved_hash: str | None
    entry_id: int | None = None


_STATUS = {status.value: status for status in RecordStatus}


def _utc(text: str) -> datetime:
    """Stored UTC text (fixed width, ``Z``) as an aware datetime; fast, unlike strptime."""
    return datetime.fromisoformat(text)


def _money(value: int | None) -> Decimal:
    return _ZERO if value is None else from_scaled(int(value), MONEY_PLACES)


def reversed_entry_ids(connection: sqlite3.Connection) -> set[int]:
    """Ids of entries some later entry reverses."""
    return {
        row[0]
        for row in connection.execute(
            "SELECT reverses_entry_id FROM ledger_entries WHERE reverses_entry_id IS NOT NULL"
        )
    }


def ledger_fills(
    connection: sqlite3.Connection,
    accounts: BrokerAccounts,
    since: datetime,
    until: datetime,
) -> dict[str, LedgerFill]:
    """The live fill entries posted in [since, until), by broker id. A fill entry is one
    with a quantity on the equities account; reversed entries and reversals are left out,
    and a correction replaces the entry it corrects."""
    return _fills(connection, accounts,
                  "e.dtposted >= :since AND e.dtposted < :until",
                  {"since": format_utc(since), "until": format_utc(until)})


def live_entry_ids(
    connection: sqlite3.Connection, since: datetime, until: datetime
) -> dict[str, int]:
    """Entry id by broker id of every live entry posted in [since, until) (fills and
    cash alike; no postings read: cheap enough for every sync)."""
    reversed_ids = reversed_entry_ids(connection)
    live: dict[str, int] = {}
    for entry_id, fitid in connection.execute(
        "SELECT id, fitid FROM ledger_entries WHERE dtposted >= ? AND dtposted < ? "
        # `+`: the day range drives; on the reversal index, "IS NULL" is every entry.
        "AND +reverses_entry_id IS NULL ORDER BY id",
        (format_utc(since), format_utc(until)),
    ):
        if entry_id not in reversed_ids:
            live[base_fitid(fitid)] = entry_id
    return live


def fills_by_entry_ids(
    connection: sqlite3.Connection, accounts: BrokerAccounts, entry_ids: Iterable[int]
) -> dict[str, LedgerFill]:
    """The fill facts of the given entries, by broker id (entries that are not fills are
    left out)."""
    wanted = sorted(set(entry_ids))
    if not wanted:
        return {}
    return _fills(connection, accounts,
                  "e.id IN (SELECT value FROM json_each(:ids))", {"ids": json.dumps(wanted)})


def ledger_fill(
    connection: sqlite3.Connection, accounts: BrokerAccounts, broker_id: str
) -> LedgerFill | None:
    """The live entry booking fill `broker_id` (or its latest correction), if any."""
    found = _fills(connection, accounts,
                   "(e.fitid = :fitid OR e.fitid LIKE :corrections)",
                   {"fitid": broker_id, "corrections": f"{broker_id}{CORRECTION_MARK}%"})
    return found.get(broker_id)


def _fills(connection: sqlite3.Connection, accounts: BrokerAccounts, where: str,
           parameters: dict[str, object]) -> dict[str, LedgerFill]:
    reversed_ids = reversed_entry_ids(connection)
    rows = connection.execute(
        "SELECT e.id, e.fitid, e.dtposted, "  # noqa: S608 (`where` is one of two fixed texts)
        "  SUM(CASE WHEN p.account_code = :eq THEN p.quantity END), "
        "  MAX(CASE WHEN p.account_code = :eq AND p.quantity IS NOT NULL THEN p.symbol END), "
        "  SUM(CASE WHEN p.account_code = :fees THEN p.amount ELSE 0 END), "
        "  SUM(CASE WHEN p.account_code = :cash THEN p.amount ELSE 0 END), "
        "  SUM(CASE WHEN p.account_code = :eq AND p.quantity IS NOT NULL "
        "      THEN p.amount ELSE 0 END), "
        "  t.trntype, t.entry_price, t.exit_price, t.strategy "
        "FROM ledger_entries e "
        "JOIN ledger_postings p ON p.entry_id = e.id "
        "LEFT JOIN trades t ON t.entry_id = e.id "
        f"WHERE {where} AND +e.reverses_entry_id IS NULL "  # `+`: see live_entry_ids
        "GROUP BY e.id ORDER BY e.id",
        {
            "eq": accounts.equities,
            "fees": accounts.fees,
            "cash": accounts.cash,
            **parameters,
        },
    )
    fills: dict[str, LedgerFill] = {}
    for (entry_id, fitid, posted, quantity, symbol, fee, cash, equity_amount, trntype,
         entry_price, exit_price, strategy) in rows:
        if quantity is None or symbol is None or entry_id in reversed_ids:
            continue
        signed = from_scaled(int(quantity), QUANTITY_PLACES)
        side = "buy" if signed > 0 else "sell"
        fee_amount = _money(fee)
        cash_amount = _money(cash)
        # A buy's notional is what it paid (a cover's equities leg is the short's proceeds,
        # not its cost); a sale's, what it received.
        notional = -cash_amount - fee_amount if side == "buy" else cash_amount + fee_amount
        # The fill's own price: an opening leg's entry price (BUY, SHORT), else the exit's.
        price_scaled = entry_price if trntype in ("BUY", "SHORT") else exit_price
        price = None if price_scaled is None else from_scaled(int(price_scaled), PRICE_PLACES)
        broker_id = base_fitid(fitid)
        fills[broker_id] = LedgerFill(
            entry_id=entry_id,
            fitid=fitid,
            broker_id=broker_id,
            posted_at=_utc(posted),
            symbol=symbol,
            side=side,
            quantity=abs(signed),
            price=price,
            notional=notional,
            fee=fee_amount,
            cash_effect=cash_amount,
            equity_amount=_money(equity_amount),
            strategy=strategy,
        )
    return fills


def ledger_cash_entries(
    connection: sqlite3.Connection, cash_account: str, broker_ids: Iterable[str]
) -> dict[str, LedgerCash]:
    """The live entries booking the cash activities `broker_ids` (or a correction of
    them), by broker id. Index lookups only: one per id, and one range per id for its
    corrections (``id~c...``)."""
    wanted = json.dumps(sorted(set(broker_ids)))
    found: dict[str, LedgerCash] = {}
    rows = connection.execute(
        "SELECT e.id, e.fitid, e.dtposted, "
        "  SUM(CASE WHEN p.account_code = :cash THEN p.amount ELSE 0 END) "
        "FROM (SELECT e.id FROM json_each(:wanted) j "
        "      JOIN ledger_entries e ON e.fitid = j.value "
        "      UNION ALL "
        "      SELECT e.id FROM json_each(:wanted) j "
        "      JOIN ledger_entries e ON e.fitid > j.value || :mark "
        "                           AND e.fitid < j.value || :after) w "
        # CROSS JOIN: the wanted ids drive the query (SQLite otherwise walked every entry
        # that reverses nothing: the whole journal). Reversed entries are left out by their
        # reversal's index entry, one lookup each.
        "CROSS JOIN ledger_entries e ON e.id = w.id "
        "CROSS JOIN ledger_postings p ON p.entry_id = e.id "
        "WHERE +e.reverses_entry_id IS NULL AND NOT EXISTS "
        "  (SELECT 1 FROM ledger_entries r WHERE r.reverses_entry_id = e.id) "
        "GROUP BY e.id ORDER BY e.id",
        {"cash": cash_account, "wanted": wanted, "mark": CORRECTION_MARK,
         "after": CORRECTION_MARK[:-1] + chr(ord(CORRECTION_MARK[-1]) + 1)},
    )
    for entry_id, fitid, posted, amount in rows:
        broker_id = base_fitid(fitid)
        found[broker_id] = LedgerCash(entry_id, fitid, broker_id, _utc(posted),
                                      _money(amount))
    return found


def latest_states(
    connection: sqlite3.Connection, kinds: Iterable[BreakKind] | None = None
) -> dict[tuple[str, str], LatestState]:
    """The newest reconciliation row of every (kind, trade_id), of `kinds` (default all)."""
    wanted = [kind.value for kind in (kinds if kinds is not None else BreakKind)]
    marks = ",".join("?" for _ in wanted)
    rows = connection.execute(
        "SELECT l.kind, l.trade_id, l.id, l.status, l.record_hash, r.status, "  # noqa: S608
        "  r.record_hash, l.entry_id "
        "FROM reconciliation_log l "
        "JOIN (SELECT MAX(id) AS id FROM reconciliation_log "
        f"      WHERE kind IN ({marks}) GROUP BY kind, trade_id) m "
        "  ON m.id = l.id "
        "LEFT JOIN reconciliation_log r ON r.id = l.resolves_id",
        wanted,
    )
    status_of = _STATUS.get
    return {
        (kind, trade_id): LatestState(row_id, _STATUS[status], record_hash,
                                      status_of(resolved) if resolved else None,
                                      resolved_hash, entry_id)
        for kind, trade_id, row_id, status, record_hash, resolved, resolved_hash, entry_id
        in rows
    }


def latest_states_of(
    connection: sqlite3.Connection, kind: str, trade_ids: Iterable[str]
) -> dict[tuple[str, str], LatestState]:
    """The newest reconciliation row of each of `trade_ids` of `kind` that has one: an
    index lookup per id, so a batch of pages reads only its own records' states."""
    wanted = json.dumps(sorted(set(trade_ids)))
    rows = connection.execute(
        # CROSS JOIN keeps the ids outside (one (kind, trade_id) index search each).
        "SELECT l.kind, l.trade_id, l.id, l.status, l.record_hash, r.status, "
        "  r.record_hash, l.entry_id "
        "FROM json_each(:ids) j "
        "CROSS JOIN reconciliation_log l ON l.id = (SELECT MAX(n.id) FROM reconciliation_log n "
        "  WHERE n.kind = :kind AND n.trade_id = j.value) "
        "LEFT JOIN reconciliation_log r ON r.id = l.resolves_id",
        {"ids": wanted, "kind": kind},
    )
    status_of = _STATUS.get
    return {
        (row_kind, trade_id): LatestState(row_id, _STATUS[status], record_hash,
                                          status_of(resolved) if resolved else None,
                                          resolved_hash, entry_id)
        for row_kind, trade_id, row_id, status, record_hash, resolved, resolved_hash, entry_id
        in rows
    }


def unchanged_hashes(
    connection: sqlite3.Connection, entry_ids: Mapping[str, int]
) -> dict[str, dict[str, str]]:
    """Per record kind (``fill``, ``cash``): trade id -> record hash of every record whose
    newest reconciliation row is `ok`, with that hash, against the entry `entry_ids` still
    names for it. A final record reported again with that hash is unchanged: a re-sync
    skips it on one dictionary lookup, without building its state."""
    found: dict[str, dict[str, str]] = {BreakKind.FILL.value: {}, BreakKind.CASH.value: {}}
    live = entry_ids.get
    for kind, trade_id, record_hash, entry_id in connection.execute(
        "SELECT l.kind, l.trade_id, l.record_hash, l.entry_id FROM reconciliation_log l "
        "JOIN (SELECT MAX(id) AS id FROM reconciliation_log WHERE kind IN (?, ?) "
        "      GROUP BY kind, trade_id) m ON m.id = l.id "
        "WHERE l.status = ? AND l.record_hash IS NOT NULL AND l.entry_id IS NOT NULL",
        (BreakKind.FILL.value, BreakKind.CASH.value, RecordStatus.OK.value),
    ):
        if live(trade_id) == entry_id:
            found[kind][trade_id] = record_hash
    return found


def stored_records(
    connection: sqlite3.Connection, kind: str, broker_ids: Iterable[str]
) -> dict[tuple[str, str, str], int]:
    """Row ids of the broker records of `kind` already kept for `broker_ids`, by (kind,
    broker_id, record_hash)."""
    wanted = json.dumps(sorted(set(broker_ids)))
    return {
        (kind, broker_id, record_hash): row_id
        for row_id, broker_id, record_hash in connection.execute(
            # CROSS JOIN keeps the ids outside: SQLite otherwise scans every record of
            # `kind` once per id (nine seconds for 1,000 ids among 100,000 records).
            "SELECT b.id, b.broker_id, b.record_hash FROM json_each(?) j "
            "CROSS JOIN broker_records b ON b.kind = ? AND b.broker_id = j.value",
            (wanted, kind),
        )
    }


def ledger_positions(
    connection: sqlite3.Connection, equities_account: str
) -> dict[str, tuple[Decimal, Decimal]]:
    """(quantity, cost basis) per symbol on the equities account; flat symbols left out.
    Summed from the newest balance checkpoint (`tbot.ledger.balances`): a check costs the
    postings since the last end of day, not the ledger's whole history."""
    positions: dict[str, tuple[Decimal, Decimal]] = {}
    for symbol, sums in sorted(account_sums(connection, equities_account).items(),
                               key=lambda item: item[0] or ""):
        if symbol is None:
            continue
        held = from_scaled(sums.quantity, QUANTITY_PLACES)
        if held != 0:
            positions[symbol] = (held, _money(sums.amount))
    return positions


def account_balance(connection: sqlite3.Connection, account: str) -> Decimal:
    """The balance (debits positive) of `account` over the whole ledger (from the newest
    balance checkpoint, as `ledger_positions`)."""
    return _money(sum(sums.amount for sums in account_sums(connection, account).values()))


BREAK_STATUSES = tuple(status.value for status in RecordStatus if status.is_break)

LATEST_ROW = (
    "NOT EXISTS (SELECT 1 FROM reconciliation_log n "
    "WHERE n.kind = l.kind AND n.trade_id = l.trade_id AND n.id > l.id)"
)
"""True of a row `l` that is the newest of its record. Finding rows by status first (its
index) and then checking this (the (kind, trade_id) index) costs the number of rows in
that status, not the size of the whole log."""


def open_break_rows(
    connection: sqlite3.Connection, kinds: Iterable[BreakKind] | None = None
) -> list[dict[str, object]]:
    """The latest row of every record that is a break (neither ok nor resolved)."""
    wanted = [kind.value for kind in kinds] if kinds is not None else [k.value for k in BreakKind]
    statuses = ",".join("?" for _ in BREAK_STATUSES)
    marks = ",".join("?" for _ in wanted)
    cursor = connection.execute(
        f"SELECT l.* FROM reconciliation_log l WHERE l.status IN ({statuses}) "  # noqa: S608
        f"AND l.kind IN ({marks}) AND {LATEST_ROW} ORDER BY l.id DESC",
        (*BREAK_STATUSES, *wanted),
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def json_list(text: str | None) -> list[object]:
    """A JSON list column's value (None and '' are empty)."""
    if not text:
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else []


def break_row(connection: sqlite3.Connection, row_id: int) -> dict[str, object] | None:
    """One reconciliation row by id, as a dict of its columns."""
    cursor = connection.execute("SELECT * FROM reconciliation_log WHERE id = ?", (row_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def latest_row_id(connection: sqlite3.Connection, kind: str, trade_id: str) -> int | None:
    """The id of the newest reconciliation row of (kind, trade_id)."""
    (found,) = connection.execute(
        "SELECT MAX(id) FROM reconciliation_log WHERE kind = ? AND trade_id = ?",
        (kind, trade_id),
    ).fetchone()
    return found


def broker_record(connection: sqlite3.Connection, record_id: int) -> dict[str, object] | None:
    """One kept broker record by id."""
    cursor = connection.execute("SELECT * FROM broker_records WHERE id = ?", (record_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def entry_postings(connection: sqlite3.Connection, entry_id: int) -> list[tuple[str, Decimal]]:
    """(account, amount) of an entry's postings, in order."""
    return [
        (account, _money(amount))
        for account, amount in connection.execute(
            "SELECT account_code, amount FROM ledger_postings WHERE entry_id = ? ORDER BY id",
            (entry_id,),
        )
    ]


def trade_facts(connection: sqlite3.Connection, entry_id: int) -> dict[str, object] | None:
    """The trade row of an entry (strategy, tag, leverage, entry price...), if any."""
    cursor = connection.execute(
        "SELECT strategy, tag, leverage_multiplier, side, entry_price FROM trades "
        "WHERE entry_id = ?", (entry_id,))
    row = cursor.fetchone()
    if row is None:
        return None
    strategy, tag, leverage, side, entry_price = row
    return {
        "strategy": strategy,
        "tag": tag,
        "leverage_multiplier": from_scaled(int(leverage), LEVERAGE_PLACES),
        "side": side,
        "entry_price": from_scaled(int(entry_price), PRICE_PLACES),
    }


def corrections_of(connection: sqlite3.Connection, broker_id: str) -> int:
    """How many corrected entries fill `broker_id` already has."""
    (count,) = connection.execute(
        "SELECT COUNT(*) FROM ledger_entries WHERE fitid LIKE ?",
        (f"{broker_id}{CORRECTION_MARK}%",),
    ).fetchone()
    return int(count)


def entry_id_of(connection: sqlite3.Connection, fitid: str) -> int | None:
    """The id of the entry booked under `fitid`, if any."""
    found = connection.execute(
        "SELECT id FROM ledger_entries WHERE fitid = ?", (fitid,)).fetchone()
    return int(found[0]) if found else None
