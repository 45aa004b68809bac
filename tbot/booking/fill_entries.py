"""Broker fills into balanced ledger drafts, with their trade rows.

The FITID of a fill's entry is the broker's own fill id, so a fill seen twice is refused by
the writer as a duplicate FITID: the engine treats that as "already booked" and does not
`commit` it again. Drafting never changes the lots; `commit` applies a fill to them once
its entry is posted.

Postings of a BUY of q shares at price p with fee f (cost = q × p rounded half-even):

    Dr equities  cost (quantity q, symbol)     Dr fees  f (when f > 0)
    Cr cash      cost + f

of a SELL, with the FIFO cost basis b of the shares sold and proceeds r = q × p:

    Dr cash      r − f (when not 0)            Dr fees  f (when f > 0)
    Cr equities  b (quantity −q, symbol)       Cr realized gains  r − b (a debit for a loss;
                                                                   omitted when 0)

A bearish view is held one of two ways. As a long position in an inverse ETF (tag
``InverseETF``): the shares are bought and sold like any other, so the trade row is on the
``long`` side (the writer's rule: BUY/SELL are long) while the tag says the exposure is
bearish. Or as a short sale of the stock itself (tag ``ShortSell``), booked as ``SHORT`` and
``COVER`` entries with trade rows on the ``short`` side (OFX's SELLSHORT and BUYTOCOVER).
The short position stays on the equities account as a credit balance with a negative
quantity, so the account's signed quantity per symbol is what the broker reports.

A SHORT of q shares at price p with fee f, proceeds r = q × p:

    Dr cash      r − f (when not 0)            Dr fees  f (when f > 0)
    Cr equities  r (quantity −q, symbol)

a COVER of q shares at price p with fee f, cost c = q × p, where b is the FIFO proceeds of
the short lots it covers:

    Dr equities  b (quantity q, symbol)        Dr fees  f (when f > 0)
    Cr cash      c + f                         Cr realized gains  b − c (a debit for a loss;
                                                                   omitted when 0)

A SELL opens a short only when the engine says it is a short sale (context tag
``ShortSell``) and nothing is held long; a BUY covers whenever the symbol is short. A fill
that would cross zero (sell more than is held long, cover more than is short, sell short
while long) is refused with nothing drafted: tbot never sends such an order, and one fill
cannot be two trades with one broker id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from tbot.booking.broker_accounts import CAPITAL_FLOAT, BrokerAccounts, accounts_for
from tbot.booking.fifo_lots import (
    COVER_TRNTYPE,
    SHORT_TRNTYPE,
    Consumption,
    LotBook,
    OvercoverError,
    SideConflictError,
)
from tbot.broker.models import BrokerFill, CashActivity, OrderSide
from tbot.config.setting_types import BrokerName
from tbot.ledger.amounts import MONEY_PLACES, QUANTITY_PLACES, to_scaled
from tbot.ledger.drafts import EntryDraft, PostingDraft, TradeDraft
from tbot.ledger.errors import LedgerError

ENGINE_SOURCE = "engine"
INVERSE_ETF_TAG = "InverseETF"
SHORT_SELL_TAG = "ShortSell"
FILL_SIDES = ("long", "short")
BEARISH_TAGS = (INVERSE_ETF_TAG, SHORT_SELL_TAG)
LEDGER_TRADE_SIDE = "long"
"""The trade side of BUY and SELL rows: shares held long (an inverse ETF too)."""
SHORT_TRADE_SIDE = "short"
"""The trade side of SHORT and COVER rows: the stock itself sold short."""

_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)


class FillBookingError(LedgerError):
    """A fill (or its context) that cannot be booked as given; nothing was drafted."""


@dataclass(frozen=True, slots=True)
class FillContext:
    """What the engine knows about a fill that the broker does not: which strategy traded
    and why. `side` is the exposure: ``short`` means bearish, through an inverse ETF (tag
    ``InverseETF``) or a short sale of the stock (tag ``ShortSell``, leverage 1). Only a
    short-sale context lets a SELL open a short. `memo_hint` is appended to the entry's
    memo ("trailing stop exit")."""

    strategy: str
    side: str
    tag: str = "none"
    leverage_multiplier: int = 1
    memo_hint: str = ""

    def __post_init__(self) -> None:
        if self.side not in FILL_SIDES:
            raise FillBookingError(f"fill side must be one of {FILL_SIDES}, not {self.side!r}")
        if self.side == "short" and self.tag not in BEARISH_TAGS:
            raise FillBookingError(
                f"a short-side fill is booked only as an inverse ETF (tag {INVERSE_ETF_TAG!r})"
                f" or a short sale (tag {SHORT_SELL_TAG!r}), not with tag {self.tag!r}"
            )
        if self.tag == SHORT_SELL_TAG and self.side != "short":
            raise FillBookingError(f"a {SHORT_SELL_TAG} fill is on the short side, "
                                   f"not {self.side!r}")
        leverage = self.leverage_multiplier
        if type(leverage) is not int or leverage < 1:
            raise FillBookingError(
                f"leverage_multiplier must be a whole number >= 1, not "
                f"{self.leverage_multiplier!r}"
            )
        if self.tag == SHORT_SELL_TAG and leverage != 1:
            raise FillBookingError(f"a short sale of the stock has leverage 1, not {leverage}")

    @property
    def is_short_sale(self) -> bool:
        """True when the fill belongs to a short sale of the stock (tag ``ShortSell``)."""
        return self.tag == SHORT_SELL_TAG


@dataclass(frozen=True, slots=True)
class _Amounts:
    """A fill's checked side and its money, rounded half-even to money places."""

    side: OrderSide
    gross: Decimal  # quantity × price
    fee: Decimal


class FillBooker:
    """Drafts the ledger entries of one broker's fills against `lots`.

    Single-threaded by design: the engine drafts, posts and commits one fill at a time.
    """

    def __init__(self, broker: BrokerName, lots: LotBook, *, currency: str = "USD") -> None:
        self.broker = BrokerName(broker)
        self.lots = lots
        self.currency = currency
        self._accounts = accounts_for(self.broker)
        # fill id -> (BUY/SELL/SHORT/COVER, cost its entry was drafted at), checked again
        # at commit
        self._drafted: dict[str, tuple[str, Decimal]] = {}
        self._committed: set[str] = set()

    @property
    def accounts(self) -> BrokerAccounts:
        """The chart accounts this booker posts to."""
        return self._accounts

    # -- fills ----------------------------------------------------------------------------
    def entry_for_fill(self, fill: BrokerFill, context: FillContext) -> EntryDraft:
        """The balanced entry (with its trade row) for `fill`: a BUY, SELL, SHORT or COVER
        as the lots and `context` say (the module docstring). Does not change the lots;
        OversellError, OvercoverError or SideConflictError when the fill would cross zero."""
        amounts = _amounts_of(fill)
        kind = self._kind_of(fill, amounts.side, context)
        if kind == "BUY":
            draft = self._buy_entry(fill, context, amounts)
            cost = amounts.gross
        elif kind == SHORT_TRNTYPE:
            draft = self._short_entry(fill, context, amounts)
            cost = amounts.gross
        elif kind == COVER_TRNTYPE:
            consumption = self.lots.preview_cover(fill.symbol, fill.quantity)
            draft = self._cover_entry(fill, context, amounts, consumption)
            cost = consumption.cost_basis
        else:
            consumption = self.lots.preview_sell(fill.symbol, fill.quantity)
            draft = self._sell_entry(fill, context, amounts, consumption)
            cost = consumption.cost_basis
        self._drafted[fill.fill_id] = (kind, cost)
        return draft

    def commit(self, fill: BrokerFill) -> None:
        """Apply `fill` to the lots, after its entry was posted. Refuses a fill committed
        before, and one whose cost no longer matches its drafted entry (the lots changed
        in between), before changing anything. A fill never drafted is applied as the lots
        read it (a sale beyond the long lots is refused: only a drafted SHORT opens a
        short)."""
        if fill.fill_id in self._committed:
            raise FillBookingError(f"fill {fill.fill_id!r} was already applied to the lots")
        amounts = _amounts_of(fill)
        drafted = self._drafted.get(fill.fill_id)
        kind = drafted[0] if drafted is not None else self._kind_of(
            fill, amounts.side, None)
        if kind in ("BUY", SHORT_TRNTYPE):
            cost = amounts.gross
        elif kind == COVER_TRNTYPE:
            cost = self.lots.preview_cover(fill.symbol, fill.quantity).cost_basis
        else:
            cost = self.lots.preview_sell(fill.symbol, fill.quantity).cost_basis
        if drafted is not None and drafted[1] != cost:
            raise FillBookingError(
                f"fill {fill.fill_id!r}: its entry was drafted at cost {drafted[1]} but the "
                f"lots now give {cost}; fills must be drafted and committed one at a time"
            )
        if kind == "BUY":
            self.lots.buy(fill.symbol, fill.quantity, cost, fill.filled_at, fill.fill_id)
        elif kind == SHORT_TRNTYPE:
            self.lots.sell_short(fill.symbol, fill.quantity, cost, fill.filled_at,
                                 fill.fill_id)
        elif kind == COVER_TRNTYPE:
            self.lots.cover(fill.symbol, fill.quantity)
        else:
            self.lots.sell(fill.symbol, fill.quantity)
        self._drafted.pop(fill.fill_id, None)
        self._committed.add(fill.fill_id)

    def _kind_of(self, fill: BrokerFill, side: OrderSide,
                 context: FillContext | None) -> str:
        """BUY, SELL, SHORT or COVER: what `fill` is against the lots now, or the error
        that says why it cannot be booked (nothing changed)."""
        position = self.lots.position(fill.symbol)
        short_sale = context is not None and context.is_short_sale
        if side is OrderSide.BUY:
            if position.is_short:
                return COVER_TRNTYPE  # OvercoverError later if it buys more than is short
            if short_sale:
                # "Buy to cover" with nothing short would open a long under a short's tag.
                raise OvercoverError(fill.symbol, fill.quantity, Decimal(0))
            return "BUY"
        if short_sale:
            if position.quantity > 0:
                # Never sell what is held long as a "short".
                raise SideConflictError(fill.symbol, "short", position.quantity)
            return SHORT_TRNTYPE
        return "SELL"  # OversellError later when the long lots hold fewer shares

    # -- cash -----------------------------------------------------------------------------
    def funding_entry(self, activity: CashActivity) -> EntryDraft:
        """Funding of the trading account from the capital float: Dr cash / Cr 3010 (a
        negative amount, money returned, books the other way round)."""
        amount = activity.amount
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount == 0:
            raise FillBookingError(
                f"cash activity {activity.activity_id!r}: amount must be a non-zero Decimal, "
                f"not {amount!r}"
            )
        direction = "funding" if amount > 0 else "float return"
        memo = f"{direction}: {activity.activity_type} {_plain(amount)}"
        if activity.description:
            memo += f" ({activity.description})"
        return EntryDraft(
            fitid=activity.activity_id,
            dtposted=activity.occurred_at,
            trntype="CREDIT" if amount > 0 else "DEBIT",
            memo=memo,
            postings=(
                PostingDraft(self._accounts.cash, amount, self.currency),
                PostingDraft(CAPITAL_FLOAT, -amount, self.currency),
            ),
            source=ENGINE_SOURCE,
        )

    # -- internals ------------------------------------------------------------------------
    def _buy_entry(self, fill: BrokerFill, context: FillContext,
                   amounts: _Amounts) -> EntryDraft:
        accounts, currency = self._accounts, self.currency
        cost, fee = amounts.gross, amounts.fee
        postings = [
            PostingDraft(accounts.equities, cost, currency, quantity=fill.quantity,
                         symbol=fill.symbol),
        ]
        if fee:
            postings.append(PostingDraft(accounts.fees, fee, currency))
        postings.append(PostingDraft(accounts.cash, -(cost + fee), currency))
        trade = self._trade(fill, context, "BUY", entry_price=fill.price, exit_price=None,
                            pnl=Decimal(0) - fee)
        return self._entry(fill, context, "BUY", fee, tuple(postings), trade)

    def _sell_entry(self, fill: BrokerFill, context: FillContext, amounts: _Amounts,
                    consumption: Consumption) -> EntryDraft:
        accounts, currency = self._accounts, self.currency
        proceeds, fee = amounts.gross, amounts.fee
        cost_basis = consumption.cost_basis
        gain = proceeds - cost_basis
        postings: list[PostingDraft] = []
        if proceeds - fee:
            postings.append(PostingDraft(accounts.cash, proceeds - fee, currency))
        if fee:
            postings.append(PostingDraft(accounts.fees, fee, currency))
        postings.append(PostingDraft(accounts.equities, -cost_basis, currency,
                                     quantity=-fill.quantity, symbol=fill.symbol))
        if gain:
            postings.append(PostingDraft(accounts.realized_gains, -gain, currency))
        trade = self._trade(fill, context, "SELL",
                            entry_price=consumption.average_entry_price,
                            exit_price=fill.price, pnl=gain - fee)
        return self._entry(fill, context, "SELL", fee, tuple(postings), trade)

    def _short_entry(self, fill: BrokerFill, context: FillContext,
                     amounts: _Amounts) -> EntryDraft:
        accounts, currency = self._accounts, self.currency
        proceeds, fee = amounts.gross, amounts.fee
        postings: list[PostingDraft] = []
        if proceeds - fee:
            postings.append(PostingDraft(accounts.cash, proceeds - fee, currency))
        if fee:
            postings.append(PostingDraft(accounts.fees, fee, currency))
        postings.append(PostingDraft(accounts.equities, -proceeds, currency,
                                     quantity=-fill.quantity, symbol=fill.symbol))
        trade = self._trade(fill, context, SHORT_TRNTYPE, entry_price=fill.price,
                            exit_price=None, pnl=Decimal(0) - fee)
        return self._entry(fill, context, SHORT_TRNTYPE, fee, tuple(postings), trade)

    def _cover_entry(self, fill: BrokerFill, context: FillContext, amounts: _Amounts,
                     consumption: Consumption) -> EntryDraft:
        accounts, currency = self._accounts, self.currency
        cost, fee = amounts.gross, amounts.fee
        proceeds = consumption.cost_basis  # what the covered shares were sold short for
        gain = proceeds - cost
        postings = [
            PostingDraft(accounts.equities, proceeds, currency, quantity=fill.quantity,
                         symbol=fill.symbol),
        ]
        if fee:
            postings.append(PostingDraft(accounts.fees, fee, currency))
        postings.append(PostingDraft(accounts.cash, -(cost + fee), currency))
        if gain:
            postings.append(PostingDraft(accounts.realized_gains, -gain, currency))
        trade = self._trade(fill, context, COVER_TRNTYPE,
                            entry_price=consumption.average_entry_price,
                            exit_price=fill.price, pnl=gain - fee)
        return self._entry(fill, context, COVER_TRNTYPE, fee, tuple(postings), trade)

    def _trade(self, fill: BrokerFill, context: FillContext, trntype: str, *,
               entry_price: Decimal, exit_price: Decimal | None, pnl: Decimal) -> TradeDraft:
        short = trntype in (SHORT_TRNTYPE, COVER_TRNTYPE)
        return TradeDraft(
            trntype=trntype,
            strategy=context.strategy,
            symbol=fill.symbol,
            side=SHORT_TRADE_SIDE if short else LEDGER_TRADE_SIDE,
            size=fill.quantity,
            entry_price=entry_price,
            exit_price=exit_price,
            pnl=pnl,
            broker=self.broker.value,
            # A SHORT or COVER row is a short sale's leg whatever context booked it (a
            # cover found by reconciliation has none).
            tag=SHORT_SELL_TAG if short else context.tag,
            leverage_multiplier=Decimal(1 if short else context.leverage_multiplier),
            currency=self.currency,
        )

    def _entry(self, fill: BrokerFill, context: FillContext, trntype: str, fee: Decimal,
               postings: tuple[PostingDraft, ...], trade: TradeDraft) -> EntryDraft:
        memo = (f"{context.strategy}: {trntype.lower()} {_plain(fill.quantity)} {fill.symbol}"
                f" @ {_plain(fill.price)} (fee {_plain(fee)})")
        if trntype in (SHORT_TRNTYPE, COVER_TRNTYPE):
            memo += f" [bearish via {SHORT_SELL_TAG}]"
        elif context.side == "short":
            memo += f" [bearish via {context.tag}]"
        if context.memo_hint:
            memo += f"; {context.memo_hint}"
        return EntryDraft(
            fitid=fill.fill_id,
            dtposted=fill.filled_at,
            trntype=trntype,
            memo=memo,
            postings=postings,
            source=ENGINE_SOURCE,
            trade=trade,
        )


def _amounts_of(fill: BrokerFill) -> _Amounts:
    """Check a fill's numbers and round its money to what the ledger stores."""
    for label, value in (("quantity", fill.quantity), ("price", fill.price), ("fee", fill.fee)):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise FillBookingError(
                f"fill {fill.fill_id!r}: {label} must be a finite Decimal, not {value!r}"
            )
    try:
        side = OrderSide(fill.side)
    except ValueError:
        raise FillBookingError(f"fill {fill.fill_id!r}: unknown side {fill.side!r}") from None
    if fill.quantity <= 0 or fill.price <= 0 or fill.fee < 0:
        raise FillBookingError(
            f"fill {fill.fill_id!r}: quantity and price must be > 0 and fee >= 0 "
            f"(got {fill.quantity}, {fill.price}, {fill.fee})"
        )
    try:
        to_scaled(fill.quantity, QUANTITY_PLACES)
    except LedgerError:
        # Rounding a share count would book shares the broker never delivered.
        raise FillBookingError(
            f"fill {fill.fill_id!r}: quantity {fill.quantity} has more than "
            f"{QUANTITY_PLACES} decimal places"
        ) from None
    with localcontext() as exact:
        exact.prec = 60  # wide enough that the product itself is never rounded
        gross = (fill.quantity * fill.price).quantize(_MONEY_QUANTUM, ROUND_HALF_EVEN)
        fee = fill.fee.quantize(_MONEY_QUANTUM, ROUND_HALF_EVEN)
    return _Amounts(side=side, gross=gross, fee=fee)


def _plain(number: Decimal) -> str:
    """`number` in plain notation without trailing zeros: 12, 187.2537, 0.06."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text
