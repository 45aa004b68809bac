"""What callers hand the writer: drafts of entries, postings and trade rows, and what they
get back. Plain immutable values; every rule is checked by the writer (`validation`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PostingDraft:
    """One leg: `amount` > 0 debits `account`, < 0 credits it (in `currency`)."""

    account: str
    amount: Decimal
    currency: str = "USD"
    quantity: Decimal | None = None
    symbol: str | None = None
    memo: str | None = None


@dataclass(frozen=True, slots=True)
class TradeDraft:
    """The trade facts of a fill. The writer fills in FITID, DTPOSTED, the bot identity,
    the entry link and the audit reference.

    BUY/SELL are the long side, SHORT/COVER the short side. Opening legs (BUY, SHORT) have
    no `exit_price`; closing legs (SELL, COVER) must have one.
    """

    trntype: str
    strategy: str
    symbol: str
    side: str
    size: Decimal
    entry_price: Decimal
    pnl: Decimal
    broker: str
    exit_price: Decimal | None = None
    tag: str = "none"
    leverage_multiplier: Decimal = Decimal(1)
    currency: str = "USD"
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """One journal entry to post: at least two postings that balance per currency."""

    fitid: str
    dtposted: datetime
    trntype: str
    memo: str
    postings: tuple[PostingDraft, ...]
    source: str = "engine"
    trade: TradeDraft | None = None


@dataclass(frozen=True, slots=True)
class PostedEntry:
    """An entry as committed: its row id, FITID and audit row id."""

    entry_id: int
    fitid: str
    audit_id: int
