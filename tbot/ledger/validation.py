"""Turning drafts into storable values, refusing anything the ledger must not hold.

Pure Python, no database: the writer runs this before it opens a transaction, so a
refused entry or batch changes nothing. This is the hot
path of bulk posting, hence plain tuples and local variables rather than objects.

Text columns must be printable (`str.isprintable`): no control characters, which keeps log
lines clean and the canonical JSON of `audit_chain` identical to SQLite's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded
from typing import NamedTuple

from tbot.ledger.amounts import (
    LEVERAGE_PLACES,
    MONEY_PLACES,
    PRICE_PLACES,
    QUANTITY_PLACES,
    from_scaled,
    to_scaled,
)
from tbot.ledger.chart import Chart
from tbot.ledger.drafts import EntryDraft, PostingDraft, TradeDraft
from tbot.ledger.errors import (
    AmountError,
    InvalidEntryError,
    LedgerError,
    NonPostableAccountError,
    UnbalancedEntryError,
    UnknownAccountError,
)
from tbot.ledger.models import STRATEGIES, TRADE_TRNTYPES
from tbot.ledger.timestamps import format_utc

FITID_MAX_LENGTH = 255  # OFX's limit for FITID
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TRNTYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
_SIDE_OF = {"BUY": "long", "SELL": "long", "SHORT": "short", "COVER": "short"}
_OPENING = frozenset({"BUY", "SHORT"})
_EXACT = Context(prec=60, traps=[Inexact, Rounded, InvalidOperation])


def is_currency_code(text: object) -> bool:
    """True for an ISO-4217-shaped code: three upper-case letters."""
    return isinstance(text, str) and _CURRENCY.match(text) is not None


def require_currency(text: object) -> str:
    """`text` if it is a currency code, else LedgerError."""
    if not is_currency_code(text):
        raise LedgerError(f"currency {text!r} is not a three-letter ISO 4217 code")
    return text  # type: ignore[return-value]


def is_clean_text(text: object, *, allow_empty: bool = False) -> bool:
    """True for a printable str (non-empty unless `allow_empty`)."""
    return type(text) is str and (allow_empty or text != "") and text.isprintable()


class CompiledEntry(NamedTuple):
    """A validated entry, its values already in stored form (scaled ints, UTC text).

    `postings` rows are ``(account_code, amount, currency_code, quantity, symbol, memo)``;
    `trade` is ``(trntype, currency_code, strategy, symbol, side, size, entry_price,
    exit_price, pnl, tag, leverage_multiplier, broker, error_code)`` or None.
    """

    fitid: str
    dtposted: str
    trntype: str
    memo: str
    source: str
    currency_code: str
    postings: list[tuple[str, int, str, int | None, str | None, str | None]]
    trade: tuple[object, ...] | None
    is_manual: int
    reverses_entry_id: int | None


class DraftCompiler:
    """Validates drafts against the chart and converts them to stored form."""

    def __init__(self, chart: Chart) -> None:
        self._chart = chart
        self._postable = chart.postable_codes()  # cached: checked for every posting
        self._currencies: set[str] = set()  # codes already seen valid: skips the regex

    def compile(
        self,
        draft: EntryDraft,
        *,
        is_manual: bool = False,
        reverses_entry_id: int | None = None,
    ) -> CompiledEntry:
        """`draft` in stored form, or the LedgerError that says why it is refused."""
        if type(draft) is not EntryDraft and not isinstance(draft, EntryDraft):
            raise TypeError(f"an EntryDraft is required, not {type(draft).__name__}")
        fitid = draft.fitid
        if not (type(fitid) is str and fitid and len(fitid) <= FITID_MAX_LENGTH
                and fitid.isprintable()):
            raise InvalidEntryError(
                str(fitid), f"FITID must be 1-{FITID_MAX_LENGTH} printable characters"
            )
        moment = draft.dtposted
        if not isinstance(moment, datetime):
            raise InvalidEntryError(fitid, "DTPOSTED must be an aware datetime")
        try:
            dtposted = format_utc(moment)
        except ValueError:
            raise InvalidEntryError(
                fitid, "DTPOSTED is a naive datetime; give it a time zone"
            ) from None
        trntype = draft.trntype
        if type(trntype) is not str or _TRNTYPE.match(trntype) is None:
            raise InvalidEntryError(fitid, f"TRNTYPE {trntype!r} is not an upper-case OFX code")
        memo = draft.memo
        if not (type(memo) is str and memo.isprintable()):
            raise InvalidEntryError(fitid, "memo must be printable text without control chars")
        source = draft.source
        if not (type(source) is str and source and source.isprintable()):
            raise InvalidEntryError(fitid, f"source {source!r} must be printable text")
        postings = self._postings(fitid, draft.postings)
        trade = draft.trade
        return CompiledEntry(
            fitid,
            dtposted,
            trntype,
            memo,
            source,
            postings[0][2],
            postings,
            None if trade is None else self._trade(fitid, trade),
            1 if is_manual else 0,
            reverses_entry_id,
        )

    def _currency(self, fitid: str, currency: object) -> str:
        if currency not in self._currencies:
            if not is_currency_code(currency):
                raise InvalidEntryError(fitid, f"currency {currency!r} is not an ISO 4217 code")
            self._currencies.add(currency)  # type: ignore[arg-type]
        return currency  # type: ignore[return-value]

    def _postings(
        self, fitid: str, drafts: Sequence[PostingDraft]
    ) -> list[tuple[str, int, str, int | None, str | None, str | None]]:
        if not isinstance(drafts, tuple | list) or len(drafts) < 2:
            count = len(drafts) if isinstance(drafts, tuple | list) else 0
            raise InvalidEntryError(fitid, f"an entry needs at least 2 postings, it has {count}")
        postable = self._postable
        currencies = self._currencies
        sums: dict[str, int] = {}
        rows = []
        for posting in drafts:
            if type(posting) is not PostingDraft and not isinstance(posting, PostingDraft):
                raise TypeError(f"entry {fitid!r}: postings must be PostingDraft values")
            account = posting.account
            if account not in postable:
                self._refuse_account(fitid, account)
            amount = _scaled(fitid, "amount", posting.amount, MONEY_PLACES)
            if amount == 0:
                raise InvalidEntryError(fitid, f"posting to {account} has a zero amount")
            currency = posting.currency
            if currency not in currencies:
                self._currency(fitid, currency)
            quantity = posting.quantity
            if quantity is not None:
                quantity = _scaled(fitid, "quantity", quantity, QUANTITY_PLACES)
            symbol = posting.symbol
            if symbol is not None and not (type(symbol) is str and symbol
                                           and symbol.isprintable()):
                raise InvalidEntryError(fitid, f"symbol {symbol!r} must be printable text")
            memo = posting.memo
            if memo is not None and not (type(memo) is str and memo.isprintable()):
                raise InvalidEntryError(fitid, "posting memo must be printable text")
            sums[currency] = sums.get(currency, 0) + amount
            rows.append((account, amount, currency, quantity, symbol, memo))
        for total in sums.values():
            if total:
                raise UnbalancedEntryError(
                    fitid,
                    {currency: from_scaled(total, MONEY_PLACES)
                     for currency, total in sums.items() if total},
                )
        return rows

    def _refuse_account(self, fitid: str, account: object) -> None:
        if type(account) is not str or account not in self._chart:
            raise UnknownAccountError(fitid, str(account))
        reason = self._chart.refusal_reason(account) or "not postable"
        raise NonPostableAccountError(fitid, account, reason)

    def _trade(self, fitid: str, trade: TradeDraft) -> tuple[object, ...]:
        if type(trade) is not TradeDraft and not isinstance(trade, TradeDraft):
            raise TypeError(f"entry {fitid!r}: trade must be a TradeDraft")
        trntype = trade.trntype
        if trntype not in _SIDE_OF:
            raise InvalidEntryError(
                fitid, f"trade TRNTYPE {trntype!r} is not one of {', '.join(TRADE_TRNTYPES)}"
            )
        if trade.side != _SIDE_OF[trntype]:
            raise InvalidEntryError(
                fitid, f"a {trntype} is on the {_SIDE_OF[trntype]} side, not {trade.side!r}"
            )
        if trade.strategy not in STRATEGIES:
            raise InvalidEntryError(
                fitid, f"strategy {trade.strategy!r} is not one of {', '.join(STRATEGIES)}"
            )
        symbol, broker, tag, error_code = trade.symbol, trade.broker, trade.tag, trade.error_code
        if not (is_clean_text(symbol) and is_clean_text(broker) and is_clean_text(tag)):
            raise InvalidEntryError(fitid, "trade symbol, broker and tag must be printable text")
        if error_code is not None and not is_clean_text(error_code):
            raise InvalidEntryError(fitid, "trade error_code must be printable text or None")
        currency = trade.currency
        if currency not in self._currencies:
            self._currency(fitid, currency)
        size = _scaled(fitid, "size", trade.size, QUANTITY_PLACES)
        entry_price = _scaled(fitid, "entry_price", trade.entry_price, PRICE_PLACES)
        exit_price = trade.exit_price
        if trntype in _OPENING:
            if exit_price is not None:
                raise InvalidEntryError(fitid, f"an opening {trntype} has no exit_price")
        elif exit_price is None:
            raise InvalidEntryError(fitid, f"a closing {trntype} needs an exit_price")
        else:
            exit_price = _scaled(fitid, "exit_price", exit_price, PRICE_PLACES)
            if exit_price <= 0:
                raise InvalidEntryError(fitid, "trade exit_price must be positive")
        pnl = _scaled(fitid, "pnl", trade.pnl, MONEY_PLACES)
        leverage = _scaled(fitid, "leverage_multiplier", trade.leverage_multiplier,
                           LEVERAGE_PLACES)
        if size <= 0 or entry_price <= 0 or leverage <= 0:
            raise InvalidEntryError(
                fitid, "trade size, entry_price and leverage_multiplier must be positive"
            )
        return (trntype, currency, trade.strategy, symbol, trade.side, size, entry_price,
                exit_price, pnl, tag, leverage, broker, error_code)


def _scaled(fitid: str, label: str, value: Decimal | int | str, places: int) -> int:
    # Fast path for the common case (an in-range Decimal with few places); anything else,
    # including every refusal, goes through `to_scaled` for its exact rules and messages.
    if type(value) is Decimal and value.adjusted() + places <= 18:
        try:
            scaled = value.scaleb(places, _EXACT)
            integral = int(scaled)
        except (ArithmeticError, ValueError):
            pass
        else:
            if integral == scaled:
                return integral
    try:
        return to_scaled(value, places)
    except AmountError as problem:
        raise InvalidEntryError(fitid, f"{label}: {problem}") from None
    except TypeError as problem:
        raise TypeError(f"entry {fitid!r}, {label}: {problem}") from None
