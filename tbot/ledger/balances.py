"""Balance checkpoints: the sums of every account's postings (per symbol) as of an entry,
kept in the audit trail, so that a balance or a holding is the checkpoint's sum plus the
postings since, not a sum over the journal's whole history.

Reconciliation checks the positions and the cash every `RECONCILIATION_SYNC_INTERVAL`
seconds of a session; each check summed a million-entry ledger's equities and cash
postings (about a second each), which at a fast simulation's pace was the whole run.

The engine writes one at each end of day, beside the lot checkpoint: an audit row, action
`ledger.balances`, subject `postings`, details

    {"through_entry_id": E, "previous_audit_id": the previous checkpoint's audit row or null,
     "sums": [[account_code, symbol or null, quantity, amount, last_moved], ...]}

with quantity and amount the SUMs of the stored (scaled integer) values of every posting up
to entry E and last_moved the last entry whose posting there carried a quantity (null:
none; the FIFO readers of `booking.ledger_results` ask whether it was a reversal), computed
from the previous checkpoint and the postings since, in one read transaction. Integers:
exact, whatever the number of postings. A checkpoint that cannot be read, or that lies past
the ledger's end, is not used: the sums are read whole.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("tbot.ledger.balances")

BALANCES_ACTION = "ledger.balances"
_SUMS = ("SUM(COALESCE(quantity, 0)), SUM(amount), "
         "MAX(CASE WHEN quantity IS NOT NULL THEN entry_id END)")
BALANCES_SUBJECT = "postings"


@dataclass(frozen=True, slots=True)
class PostingSums:
    """Scaled-integer sums of postings: quantity (NULL counted as 0) and amount, and the
    last entry whose posting carried a quantity (None: none did)."""

    quantity: int
    amount: int
    last_moved: int | None = None

    def plus(self, quantity: int, amount: int, last_moved: int | None) -> PostingSums:
        """These sums with later postings' added."""
        return PostingSums(self.quantity + quantity, self.amount + amount,
                           self.last_moved if last_moved is None else last_moved)


Sums = dict[tuple[str, str | None], PostingSums]
"""(account_code, symbol) -> the sums of its postings."""


@dataclass(frozen=True, slots=True)
class BalanceCheckpoint:
    """The sums of every (account, symbol) over the postings of entries up to
    `through_entry_id`."""

    through_entry_id: int
    sums: Sums
    previous_audit_id: int | None = None
    """The audit row of the checkpoint before this one (None: the first, or a checkpoint
    of a version that did not link them): older checkpoints are found by key, without
    walking the trail back."""
    audit_id: int | None = None
    """The audit row this checkpoint was read from (None: not written yet)."""


_CHECKPOINTS_LOOKED_AT = 400
"""How many checkpoints back `latest_balances` looks for one before an entry (more than a
year of days); past that, summing the history is about as cheap as parsing them."""


def latest_balances(connection: sqlite3.Connection, before_entry_id: int | None = None
                    ) -> BalanceCheckpoint | None:
    """The newest readable balance checkpoint that the ledger on `connection` reaches (and
    that ends before entry `before_entry_id`, when given), or None."""
    (last_entry,) = connection.execute(
        "SELECT COALESCE(MAX(id), 0) FROM ledger_entries").fetchone()
    limit = last_entry + 1 if before_entry_id is None else min(before_entry_id, last_entry + 1)
    # The newest from the end of the trail (LIMIT 1 and fetchone: a cursor reads a row
    # ahead, and with no second checkpoint that read-ahead walked the whole trail back),
    # then the older ones by their links.
    row = connection.execute(
        "SELECT id, details FROM audit_trail WHERE action = ? AND subject = ? "
        "ORDER BY id DESC LIMIT 1", (BALANCES_ACTION, BALANCES_SUBJECT)).fetchone()
    for _ in range(_CHECKPOINTS_LOOKED_AT):
        if row is None:
            return None
        audit_id, details = row
        try:
            checkpoint = _parse(json.loads(details), audit_id)
        except (ValueError, TypeError, KeyError) as problem:
            log.warning("balance checkpoint in audit row %s cannot be read (%s); balances "
                        "are summed over the whole ledger", audit_id, problem)
            return None
        if checkpoint.through_entry_id < limit:
            return checkpoint
        if checkpoint.previous_audit_id is None or checkpoint.previous_audit_id >= audit_id:
            return None
        row = connection.execute(
            "SELECT id, details FROM audit_trail WHERE id = ? AND action = ? AND subject = ?",
            (checkpoint.previous_audit_id, BALANCES_ACTION, BALANCES_SUBJECT)).fetchone()
    return None


def account_sums(connection: sqlite3.Connection, account: str) -> dict[str | None, PostingSums]:
    """Per symbol (None for postings without one), the sums of `account`'s postings over
    the whole ledger: the newest checkpoint's and those of the entries after it."""
    checkpoint = latest_balances(connection)
    after = 0 if checkpoint is None else checkpoint.through_entry_id
    found: dict[str | None, PostingSums] = {}
    if checkpoint is not None:
        found = {symbol: sums for (code, symbol), sums in checkpoint.sums.items()
                 if code == account}
    # `+account_code`: the entry_id range narrows the postings (see fifo_lots).
    for symbol, quantity, amount, last_moved in connection.execute(
        f"SELECT symbol, {_SUMS} FROM ledger_postings "  # noqa: S608
        "WHERE entry_id > ? AND +account_code = ? GROUP BY symbol", (after, account)):
        found[symbol] = found.get(symbol, PostingSums(0, 0)).plus(
            int(quantity), int(amount), last_moved)
    return found


def balance_checkpoint(connection: sqlite3.Connection) -> BalanceCheckpoint:
    """The checkpoint of the ledger on `connection` as it is now (call inside a read
    transaction): the newest checkpoint's sums plus the postings after it."""
    previous = latest_balances(connection)
    (through,) = connection.execute(
        "SELECT COALESCE(MAX(id), 0) FROM ledger_entries").fetchone()
    sums: Sums = dict(previous.sums) if previous is not None else {}
    after = 0 if previous is None else previous.through_entry_id
    for code, symbol, quantity, amount, last_moved in connection.execute(
        f"SELECT account_code, symbol, {_SUMS} "  # noqa: S608
        "FROM ledger_postings WHERE entry_id > ? AND entry_id <= ? "
        "GROUP BY account_code, symbol", (after, through)):
        sums[(code, symbol)] = sums.get((code, symbol), PostingSums(0, 0)).plus(
            int(quantity), int(amount), last_moved)
    return BalanceCheckpoint(through, sums,
                             previous_audit_id=None if previous is None else previous.audit_id)


def balances_details(checkpoint: BalanceCheckpoint) -> dict[str, Any]:
    """The audit row's details for `checkpoint` (rows sorted: the same sums, same text)."""
    rows: Iterable[tuple[tuple[str, str | None], PostingSums]] = sorted(
        checkpoint.sums.items(), key=lambda item: (item[0][0], item[0][1] or ""))
    return {"through_entry_id": checkpoint.through_entry_id,
            "previous_audit_id": checkpoint.previous_audit_id,
            "sums": [[code, symbol, sums.quantity, sums.amount, sums.last_moved]
                     for (code, symbol), sums in rows]}


def _parse(details: Any, audit_id: int) -> BalanceCheckpoint:
    through = details["through_entry_id"]
    if not isinstance(through, int) or isinstance(through, bool) or through < 0:
        raise ValueError(f"through_entry_id {through!r} is not an entry id")
    sums: Sums = {}
    for item in details["sums"]:
        code, symbol, quantity, amount, last_moved = item
        if not (isinstance(code, str) and (symbol is None or isinstance(symbol, str))
                and all(isinstance(v, int) and not isinstance(v, bool)
                        for v in (quantity, amount))
                and (last_moved is None or isinstance(last_moved, int))):
            raise TypeError(f"{item!r} is not an account's sums")
        sums[(code, symbol)] = PostingSums(quantity, amount, last_moved)
    previous = details.get("previous_audit_id")
    if previous is not None and (not isinstance(previous, int) or isinstance(previous, bool)):
        raise TypeError(f"previous_audit_id {previous!r} is not an audit row id")
    return BalanceCheckpoint(through, sums, previous, audit_id)
