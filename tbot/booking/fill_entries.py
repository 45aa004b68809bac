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

A bearish view is held as a long position in an inverse ETF (tag ``InverseETF``): the shares
are bought and sold like any other, so the ledger's trade row is on the ``long`` side (the
writer's rule: BUY/SELL are long) while the tag says the exposure is bearish.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from tbot.booking.broker_accounts import CAPITAL_FLOAT, BrokerAccounts, accounts_for
from tbot.booking.fifo_lots import Consumption, LotBook
from tbot.broker.models import BrokerFill, CashActivity, OrderSide
from tbot.config.setting_types import BrokerName
from tbot.ledger.amounts import MONEY_PLACES, QUANTITY_PLACES, to_scaled
from tbot.ledger.drafts import EntryDraft, PostingDraft, TradeDraft
from tbot.ledger.errors import LedgerError

ENGINE_SOURCE = "engine"
INVERSE_ETF_TAG = "InverseETF"
FILL_SIDES = ("long", "short")
LEDGER_TRADE_SIDE = "long"
"""Every fill booked here buys or sells shares held long (see the module docstring)."""

_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)


class FillBookingError(LedgerError):
    """A fill (or its context) that cannot be booked as given; nothing was drafted."""


@dataclass(frozen=True, slots=True)
class FillContext:
    """What the engine knows about a fill that the broker does not: which strategy traded
    and why. `side` is the exposure: ``short`` means bearish through an inverse ETF, so it
    needs the ``InverseETF`` tag. `memo_hint` is appended to the entry's memo
    ("trailing stop exit")."""

    strategy: str
    side: str
    tag: str = "none"
    leverage_multiplier: int = 1
    memo_hint: str = ""

    def __post_init__(self) -> None:
        if self.side not in FILL_SIDES:
            raise FillBookingError(f"fill side must be one of {FILL_SIDES}, not {self.side!r}")
        if self.side == "short" and self.tag != INVERSE_ETF_TAG:
            raise FillBookingError(
                f"a short-side fill is booked only as an inverse ETF (tag {INVERSE_ETF_TAG!r}),"
                f" not with tag {self.tag!r}: short selling is not supported"
            )
        leverage = self.leverage_multiplier
        if type(leverage) is not int or leverage < 1:
            raise FillBookingError(
                f"leverage_multiplier must be a whole number >= 1, not "
                f"{self.leverage_multiplier!r}"
            )


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
        # fill id -> cost its entry was drafted at, checked again at commit
        self._drafted_costs: dict[str, Decimal] = {}
        self._committed: set[str] = set()

    @property
    def accounts(self) -> BrokerAccounts:
        """The chart accounts this booker posts to."""
        return self._accounts

    # -- fills ----------------------------------------------------------------------------
    def entry_for_fill(self, fill: BrokerFill, context: FillContext) -> EntryDraft:
        """The balanced entry (with its trade row) for `fill`. Does not change the lots;
        OversellError when a sale exceeds them."""
        amounts = _amounts_of(fill)
        if amounts.side is OrderSide.BUY:
            draft = self._buy_entry(fill, context, amounts)
            self._drafted_costs[fill.fill_id] = amounts.gross
        else:
            consumption = self.lots.preview_sell(fill.symbol, fill.quantity)
            draft = self._sell_entry(fill, context, amounts, consumption)
            self._drafted_costs[fill.fill_id] = consumption.cost_basis
        return draft

    def commit(self, fill: BrokerFill) -> None:
        """Apply `fill` to the lots, after its entry was posted. Refuses a fill committed
        before, and one whose cost no longer matches its drafted entry (the lots changed
        in between), before changing anything."""
        if fill.fill_id in self._committed:
            raise FillBookingError(f"fill {fill.fill_id!r} was already applied to the lots")
        amounts = _amounts_of(fill)
        if amounts.side is OrderSide.BUY:
            cost = amounts.gross
        else:
            cost = self.lots.preview_sell(fill.symbol, fill.quantity).cost_basis
        drafted = self._drafted_costs.get(fill.fill_id)
        if drafted is not None and drafted != cost:
            raise FillBookingError(
                f"fill {fill.fill_id!r}: its entry was drafted at cost {drafted} but the lots "
                f"now give {cost}; fills must be drafted and committed one at a time"
            )
        if amounts.side is OrderSide.BUY:
            self.lots.buy(fill.symbol, fill.quantity, cost, fill.filled_at, fill.fill_id)
        else:
            self.lots.sell(fill.symbol, fill.quantity)
        self._drafted_costs.pop(fill.fill_id, None)
        self._committed.add(fill.fill_id)

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

    def _trade(self, fill: BrokerFill, context: FillContext, trntype: str, *,
               entry_price: Decimal, exit_price: Decimal | None, pnl: Decimal) -> TradeDraft:
        return TradeDraft(
            trntype=trntype,
            strategy=context.strategy,
            symbol=fill.symbol,
            side=LEDGER_TRADE_SIDE,
            size=fill.quantity,
            entry_price=entry_price,
            exit_price=exit_price,
            pnl=pnl,
            broker=self.broker.value,
            tag=context.tag,
            leverage_multiplier=Decimal(context.leverage_multiplier),
            currency=self.currency,
        )

    def _entry(self, fill: BrokerFill, context: FillContext, trntype: str, fee: Decimal,
               postings: tuple[PostingDraft, ...], trade: TradeDraft) -> EntryDraft:
        memo = (f"{context.strategy}: {trntype.lower()} {_plain(fill.quantity)} {fill.symbol}"
                f" @ {_plain(fill.price)} (fee {_plain(fee)})")
        if context.side == "short":
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
