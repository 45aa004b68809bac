"""Lot checkpoints: the open FIFO lots as of an entry, kept in the ledger's audit trail so
that rebuilding the lots after a restart replays only the entries since, not the journal's
whole history (a million-entry ledger took twenty seconds to replay at every start, and
again for every fill a sync booked).

The engine writes one at each end of day (`Engine._end_of_day`): an audit row, action
`lots.checkpoint`, subject the equities account, details

    {"through_entry_id": E, "lots": [[symbol, fitid, quantity, cost, acquired_at, short,
                                      opened_quantity], ...]}

(numbers as exact decimal text, lots oldest first per symbol) computed from the ledger
itself, never from the engine's memory: the lots of the previous checkpoint plus the
replay of every entry up to E, read in one read transaction. A checkpoint is in the
audit hash chain, so it is as tamper-evident as the entries it stands for; the replay after
it still checks every later entry against the lots, as a whole replay would.

A checkpoint that cannot be read (another version's shape, an edited row) is not trusted:
the lots are replayed from the start, with a warning.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tbot.ledger.timestamps import format_utc, parse_utc

log = logging.getLogger("tbot.booking.lots")

LOTS_CHECKPOINT_ACTION = "lots.checkpoint"


@dataclass(frozen=True, slots=True)
class CheckpointLot:
    """One open lot as a checkpoint keeps it (see `fifo_lots.Lot`), with the quantity it
    was opened with (a reversal may only withdraw a lot still whole)."""

    symbol: str
    fitid: str
    quantity: Decimal
    cost: Decimal
    acquired_at: datetime
    short: bool
    opened_quantity: Decimal


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The open lots of an equities account after entry `through_entry_id`."""

    through_entry_id: int
    lots: tuple[CheckpointLot, ...]


def checkpoint_details(through_entry_id: int, lots: Iterable[CheckpointLot]) -> dict[str, Any]:
    """The audit row's details for a checkpoint of `lots` after entry `through_entry_id`."""
    return {
        "through_entry_id": through_entry_id,
        "lots": [[lot.symbol, lot.fitid, str(lot.quantity), str(lot.cost),
                  format_utc(lot.acquired_at), lot.short, str(lot.opened_quantity)]
                 for lot in lots],
    }


def latest_checkpoint(connection: sqlite3.Connection, equities_account: str
                      ) -> Checkpoint | None:
    """The newest readable checkpoint of `equities_account` in the ledger on `connection`,
    None when there is none (a ledger older than checkpoints) or it cannot be read."""
    # Newest first by rowid: one is written a day, so this stops within a day's rows.
    row = connection.execute(
        "SELECT id, details FROM audit_trail WHERE action = ? AND subject = ? "
        "ORDER BY id DESC LIMIT 1", (LOTS_CHECKPOINT_ACTION, equities_account)).fetchone()
    if row is None:
        return None
    audit_id, details = row
    try:
        return _parse(json.loads(details))
    except (ValueError, TypeError, KeyError, InvalidOperation) as problem:
        log.warning("lot checkpoint in audit row %s cannot be read (%s); the lots are "
                    "replayed from the start of the ledger", audit_id, problem)
        return None


def _parse(details: Any) -> Checkpoint:
    through = details["through_entry_id"]
    if not isinstance(through, int) or isinstance(through, bool) or through < 0:
        raise ValueError(f"through_entry_id {through!r} is not an entry id")
    lots = []
    for item in details["lots"]:
        symbol, fitid, quantity, cost, acquired_at, short, opened = item
        texts = (symbol, fitid, quantity, cost, acquired_at, opened)
        if not (all(isinstance(text, str) for text in texts) and isinstance(short, bool)):
            raise TypeError(f"lot {item!r} is not a checkpoint lot")
        lots.append(CheckpointLot(symbol, fitid, Decimal(quantity), Decimal(cost),
                                  parse_utc(acquired_at), short, Decimal(opened)))
    return Checkpoint(through, tuple(lots))
