"""The simulated broker: a paper account that behaves like a remote one.

It keeps its own state (cash, positions, orders, fills, cash activity, its simulated time)
in its own SQLite file, fills market orders against the minute bars the engine delivers,
and, in fault mode, misbehaves in the ways reconciliation must catch. Every public call
that changes state is one transaction on that file.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from tbot.broker.errors import UnknownOrderError
from tbot.broker.models import (
    AccountSnapshot,
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CashActivity,
    OrderRequest,
    OrderSide,
    OrderStatus,
    Page,
)
from tbot.broker.reports import CashReport, FillReport, RefusedReport, ReportKind
from tbot.broker.sim.errors import SimStateError
from tbot.broker.sim.execution import (
    CENT,
    FillModel,
    exact_arithmetic,
    has_at_most_nine_places,
    is_whole,
    weighted_average,
)
from tbot.broker.sim.faults import (
    CASH_DRIFT_AMOUNT,
    CASH_FAULTS,
    PENDING_PERIOD,
    PHANTOM_QUANTITY,
    TRANSFER_IN_QUANTITY,
    DailyFaults,
    SimFault,
    cash_faults_may_fire,
    cash_movement_for,
    parse_faults,
    restated_price,
    transfer_in_symbol,
)
from tbot.broker.sim.reports import (
    cash_payload,
    fill_payload,
    normalize_cash_payload,
    normalize_fill_payload,
)
from tbot.broker.sim.settings import SimBrokerSettings
from tbot.broker.sim.state_store import SimStateStore
from tbot.clock import Clock, ensure_utc
from tbot.market.bars import Bar
from tbot.market.universe import is_inverse_etf

__all__ = ["SimBroker", "SimBrokerSettings"]

BROKER_NAME = "SIM"
CREDENTIAL_PREFIX = "SIM:"
"""The simulated broker has no key: its credential identity is the account id."""
FILL_REPORTS_SOURCE = "fetch_fill_reports"
CASH_REPORTS_SOURCE = "fetch_cash_reports"
FUNDING_DESCRIPTION = "Initial funding of the simulated account"
MAX_PAGE_SIZE = 1000
SYMBOL_PATTERN = re.compile(r"[A-Z][A-Z0-9./-]*")
PAGE_TOKEN_PATTERN = re.compile(r"[0-9]{1,15}")

T = TypeVar("T")


class SimBroker:
    """The embedded default broker (implements `tbot.broker.protocol.BrokerAdapter`).

    Market orders only, a cash account without leverage. An order fills from the first
    `on_bars` call after it was submitted that has a bar for its symbol, at that bar's open
    plus slippage, at most a share of the bar's volume per bar. Calls are serialised by a
    lock. Open it with `SimBroker.open`.

    Short sales. A sell of a symbol not held long opens (or adds to) a short position, as
    at a real broker, if the broker can borrow the shares: never an inverse ETF, never a
    symbol of `settings.hard_to_borrow`, never a fraction of a share. The position's
    quantity goes negative and cash rises by the proceeds; a buy of a symbol held short
    covers it. A short holds buying power worth twice its market value: its proceeds, which
    stay as collateral, and as much again of the account's own cash (a 100% margin
    requirement: no leverage). An order never crosses zero: a sell of more than is held
    long, or a buy of more than is short, is refused; the position is closed first.
    """

    def __init__(self, store: SimStateStore, settings: SimBrokerSettings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._model = FillModel(
            fee_per_share=settings.fee_per_share,
            min_fee=settings.min_fee,
            slippage_bps=settings.slippage_bps,
            max_volume_participation=settings.max_volume_participation,
        )

    @classmethod
    def open(cls, state_file: Path, settings: SimBrokerSettings, clock: Clock) -> SimBroker:
        """Resume the account in `state_file`, or create it (with its initial funding dated
        `clock.now()`) when the file does not exist. A file that is not a state file, or
        belongs to another account or currency, raises SimStateError and is left as is."""
        if not state_file.exists() and not state_file.is_symlink():
            funding = CashActivity(
                activity_id=f"{settings.account_id}-FUNDING",
                activity_type="CSD",
                amount=settings.starting_cash,
                occurred_at=ensure_utc(clock.now()),
                description=FUNDING_DESCRIPTION,
            )
            store = SimStateStore.create(
                state_file,
                account_id=settings.account_id,
                currency=settings.currency,
                funding=funding,
            )
            return cls(store, settings, clock)
        store = SimStateStore.open_existing(state_file)
        for what, found, wanted in (
            ("account", store.account_id, settings.account_id),
            ("currency", store.currency, settings.currency),
        ):
            if found != wanted:
                store.close()
                raise SimStateError(
                    f"simulated broker state file {state_file} belongs to {what} {found}, "
                    f"not {wanted}; it was left untouched (point the bot at its own file)"
                )
        return cls(store, settings, clock)

    # -- identity and time ------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``SIM``, as `.env_bot`'s BROKER_NAME spells it."""
        return BROKER_NAME

    def credential_fingerprint(self) -> str:
        """SHA-256 (hex) of ``SIM:`` and the account id: the identity the reports come from."""
        return hashlib.sha256(
            f"{CREDENTIAL_PREFIX}{self._settings.account_id}".encode()
        ).hexdigest()

    @property
    def state_file(self) -> Path:
        """The SQLite file holding the account."""
        return self._store.path

    @property
    def sim_time(self) -> datetime | None:
        """The last simulated time recorded (None on a new file)."""
        with self._lock:
            return self._store.sim_time()

    def record_sim_time(self, moment: datetime) -> None:
        """Persist the simulated time; an earlier `moment` than the one recorded is ignored,
        so the recorded time never moves backwards."""
        moment = ensure_utc(moment)
        with self._lock, self._store.transaction():
            recorded = self._store.sim_time()
            if recorded is None or moment > recorded:
                self._store.set_sim_time(moment)

    # -- the account ------------------------------------------------------------------------

    def account(self) -> AccountSnapshot:
        """Cash, buying power (cash less what open buy orders and short sales reserve and
        what short positions hold, never below zero) and equity (cash plus holdings at
        their last price, a short's negative) now."""
        with self._lock, exact_arithmetic():
            cash = self._store.cash()
            holdings = sum(
                (held.quantity * self._mark(held) for held in self._store.positions()),
                Decimal(0),
            )
            return AccountSnapshot(
                account_id=self._settings.account_id,
                currency=self._settings.currency,
                cash=cash,
                buying_power=max(self._buying_power(), Decimal(0)),
                equity=cash + holdings,
                as_of=self._now(),
            )

    def positions(self) -> list[BrokerPosition]:
        """Every holding with its average cost (a short's average sale price) and last
        price, by symbol; a short position has a negative quantity."""
        with self._lock:
            return self._store.positions()

    def last_price(self, symbol: str) -> Decimal | None:
        """The close of the last bar seen for `symbol`, None before its first bar."""
        with self._lock:
            return self._store.last_price(symbol)

    # -- orders -----------------------------------------------------------------------------

    def orders(self, *, open_only: bool = False) -> list[BrokerOrder]:
        """Orders of the current session, oldest first: every order still open plus those
        that changed since midnight UTC of `clock.now()` (rejected ones included). Only the
        open ones when `open_only`."""
        with self._lock:
            if open_only:
                return self._store.open_orders()
            session_start = datetime.combine(self._now().date(), time(0), tzinfo=UTC)
            return self._store.session_orders(session_start)

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Place a market order. A refusal for market reasons (no price yet, not enough
        buying power, shares that cannot be borrowed for a short sale, an order that would
        cross from long to short or back) is stored and returned with status REJECTED and a
        reason; a malformed request raises ValueError; a `client_order_id` seen before
        returns that order unchanged."""
        _check_request(request)
        with self._lock, exact_arithmetic(), self._store.transaction():
            existing = self._store.order_by_client_id(request.client_order_id)
            if existing is not None:
                return existing
            now = self._now()
            reason = self._refusal(request)
            number = self._store.next_order_number()
            order = BrokerOrder(
                order_id=self._order_id(number),
                client_order_id=request.client_order_id,
                symbol=request.symbol,
                side=request.side,
                quantity=request.quantity,
                filled_quantity=Decimal(0),
                average_price=None,
                status=OrderStatus.NEW if reason is None else OrderStatus.REJECTED,
                submitted_at=now,
                updated_at=now,
                reject_reason=reason,
            )
            self._store.insert_order(number, order)
            return order

    def cancel(self, order_id: str) -> BrokerOrder:
        """Cancel what is left of an open order (the filled part stays filled). A final
        order comes back unchanged; an unknown id raises UnknownOrderError."""
        with self._lock, self._store.transaction():
            order = self._store.order_by_id(order_id)
            if order is None:
                raise UnknownOrderError(f"the simulated broker has no order {order_id}")
            if order.status.is_final:
                return order
            canceled = replace(order, status=OrderStatus.CANCELED, updated_at=self._now())
            self._store.update_order(canceled)
            return canceled

    # -- the market -------------------------------------------------------------------------

    def on_bars(self, bars: Mapping[str, Bar], at: datetime) -> list[BrokerFill]:
        """Deliver one simulated minute: `bars` by symbol, `at` the minute's end.

        Executes open orders against their symbol's bar, marks last prices at the closes,
        lets due faults fire and records `at` as the simulated time, all in one
        transaction. Returns the fills the engine should see, oldest first (a restated fill
        at the price first announced; a phantom fill never). Bars older than the simulated
        time already recorded raise SimStateError and change nothing; malformed bars (keyed
        under another symbol, non-positive price, negative volume) raise ValueError.
        """
        at = ensure_utc(at)
        _check_bars(bars)
        with self._lock, exact_arithmetic(), self._store.transaction():
            recorded = self._store.sim_time()
            if recorded is not None and at < recorded:
                # A restart with an earlier --start, not a coding slip: a BrokerError, so
                # the engine halts trading rather than replaying minutes already executed.
                raise SimStateError(
                    f"bars delivered for {at.isoformat()} but the simulated broker in "
                    f"{self._store.path} is already at {recorded.isoformat()}"
                )
            due = DailyFaults(
                self._settings.faults, parse_faults(self._store.faults_fired_on(at.date()))
            )
            announced = self._execute_open_orders(bars, at, due)
            for symbol in sorted(bars):
                self._store.set_last_price(symbol, bars[symbol].close, at)
            if announced:
                self._phantom_fill(announced[0].symbol, at, due)
            if cash_faults_may_fire(at):
                self._cash_faults(at, due)
                self._silent_faults(at, due)
            self._store.set_sim_time(at)
            return announced

    # -- reports ----------------------------------------------------------------------------

    def fetch_all_trades(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[BrokerFill]:
        """Reported fills with `since <= filled_at < until`, oldest first, one page at a
        time; pass the returned `next_token` back for the next page."""
        since, until, offset = _page_request(since, until, page_token, page_size)
        with self._lock:
            window = self._store.reported_fills(since, until, offset, page_size + 1)
        return _page(window, offset, page_size)

    def fetch_cash_activity(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[CashActivity]:
        """Cash activities with `since <= occurred_at < until`, oldest first, one page at a
        time (the initial funding is the first)."""
        since, until, offset = _page_request(since, until, page_token, page_size)
        with self._lock:
            window = self._store.activities(since, until, offset, page_size + 1)
        return _page(window, offset, page_size)

    def fetch_fill_reports(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[FillReport | RefusedReport]:
        """Reported fills with `since <= filled_at < until` as raw payloads with provenance,
        normalized, oldest first, paged (and checked) like `fetch_all_trades`. A dropped fill
        is missing, a restated one shows its restated price, a phantom one shows, a pending
        one says ``pending`` until its time is up."""
        since, until, offset = _page_request(since, until, page_token, page_size)
        with self._lock:
            now = self._now()
            window = _page(
                self._store.stored_fills(since, until, offset, page_size + 1), offset, page_size
            )
        return Page(
            items=tuple(
                normalize_fill_payload(fill_payload(stored, now=now), source=FILL_REPORTS_SOURCE)
                for stored in window.items
            ),
            next_token=window.next_token,
        )

    def fetch_cash_reports(
        self,
        since: datetime,
        until: datetime | None = None,
        *,
        page_token: str | None = None,
        page_size: int = 100,
    ) -> Page[CashReport | RefusedReport]:
        """Cash activities with `since <= occurred_at < until` as raw payloads with
        provenance, normalized, oldest first, paged (and checked) like
        `fetch_cash_activity`."""
        since, until, offset = _page_request(since, until, page_token, page_size)
        with self._lock:
            window = _page(
                self._store.stored_activities(since, until, offset, page_size + 1),
                offset,
                page_size,
            )
        return Page(
            items=tuple(
                normalize_cash_payload(cash_payload(stored), source=CASH_REPORTS_SOURCE)
                for stored in window.items
            ),
            next_token=window.next_token,
        )

    def normalize_report(
        self, kind: ReportKind, raw: Mapping[str, Any]
    ) -> FillReport | CashReport | RefusedReport:
        """A payload this broker sent earlier (kept by sync), normalized again."""
        if kind is ReportKind.FILL:
            return normalize_fill_payload(raw, source="normalize_report")
        return normalize_cash_payload(raw, source="normalize_report")

    def faults_fired(self) -> list[tuple[str, datetime, str]]:
        """Every fault that fired, oldest first: (fault name, simulated time, what it did)."""
        with self._lock:
            return self._store.fault_log()

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the state file; later calls raise SimStateError. Closing twice is harmless."""
        with self._lock:
            self._store.close()

    def __enter__(self) -> SimBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals (called with the lock held) ------------------------------------------------

    def _now(self) -> datetime:
        return ensure_utc(self._clock.now())

    def _order_id(self, number: int) -> str:
        return f"{self._settings.account_id}-O{number:06d}"

    def _mark(self, held: BrokerPosition) -> Decimal:
        return held.market_price if held.market_price is not None else held.average_cost

    def _market_price(self, symbol: str) -> Decimal:
        price = self._store.last_price(symbol)
        if price is None:
            # Submit refuses buys without a price and prices are never forgotten.
            raise SimStateError(f"simulated broker holds an open order in {symbol} without a price")
        return price

    def _buying_power(self) -> Decimal:
        """Cash less what open buy orders and open short sales would take at today's
        prices, and less twice each short position's market value (may be negative)."""
        reserved = Decimal(0)
        holdings = {held.symbol: held for held in self._store.positions()}
        selling: dict[str, Decimal] = {}
        for order in self._store.open_orders():
            remaining = order.quantity - order.filled_quantity
            if order.side is OrderSide.BUY:
                reserved += self._model.estimated_buy_cost(
                    remaining, self._market_price(order.symbol))
            else:
                selling[order.symbol] = selling.get(order.symbol, Decimal(0)) + remaining
        for symbol, sold in selling.items():
            held = holdings.get(symbol)
            long_part = max(held.quantity, Decimal(0)) if held is not None else Decimal(0)
            short_part = sold - long_part
            if short_part > 0:  # the part of the open sells that sells short
                reserved += self._model.estimated_buy_cost(
                    short_part, self._market_price(symbol))
        for held in holdings.values():
            if held.quantity < 0:
                reserved += 2 * -held.quantity * self._mark(held)
        return self._store.cash() - reserved

    def _open_quantities(self, symbol: str) -> tuple[Decimal, Decimal]:
        """What the open orders of `symbol` still have to buy and to sell."""
        buying = selling = Decimal(0)
        for order in self._store.open_orders():
            if order.symbol != symbol:
                continue
            remaining = order.quantity - order.filled_quantity
            if order.side is OrderSide.BUY:
                buying += remaining
            else:
                selling += remaining
        return buying, selling

    def _refusal(self, request: OrderRequest) -> str | None:
        """Why the market refuses `request`, or None when it is accepted."""
        symbol, quantity = request.symbol, request.quantity
        held = self._store.position(symbol)
        holding = held.quantity if held is not None else Decimal(0)
        buying, selling = self._open_quantities(symbol)
        if request.side is OrderSide.BUY:
            if holding < 0:
                return self._cover_refusal(symbol, quantity, -holding - buying)
            if holding == 0 and selling:
                # Whichever filled first, the other could cross zero.
                return (f"a short sale of {selling} {symbol} is still open: a buy waits "
                        "until it has filled or been canceled")
            return self._buy_refusal(symbol, quantity, self._buying_power())
        if holding > 0:
            if quantity > holding - selling:
                return (
                    f"cash account: cannot sell more than held ({quantity} {symbol} asked, "
                    f"{holding} held, {selling} already being sold); a sale never crosses "
                    "into a short: sell what is held, then sell short"
                )
            return None
        return self._short_refusal(symbol, quantity, buying)

    def _buy_refusal(self, symbol: str, quantity: Decimal, available: Decimal) -> str | None:
        price = self._store.last_price(symbol)
        if price is None:
            return f"no market price for {symbol} yet"
        needed = self._model.estimated_buy_cost(quantity, price)
        if needed > available:
            has = max(available, Decimal(0)).quantize(CENT, rounding=ROUND_FLOOR)
            needs = needed.quantize(CENT, rounding=ROUND_CEILING)
            return f"insufficient buying power: needs {needs}, has {has}"
        return None

    def _cover_refusal(self, symbol: str, quantity: Decimal, short: Decimal) -> str | None:
        """A buy to cover: at most what is short and not already being covered, paid from
        cash (the short's proceeds are there; its margin does not stop a cover)."""
        if quantity > short:
            return (
                f"cannot buy more than is short: {quantity} {symbol} asked, {short} left to "
                "cover; a cover never crosses into a long: cover, then buy"
            )
        reserved = sum(
            (self._model.estimated_buy_cost(order.quantity - order.filled_quantity,
                                            self._market_price(order.symbol))
             for order in self._store.open_orders() if order.side is OrderSide.BUY),
            Decimal(0),
        )
        refusal = self._buy_refusal(symbol, quantity, self._store.cash() - reserved)
        return None if refusal is None else f"cannot cover: {refusal}"

    def _short_refusal(self, symbol: str, quantity: Decimal, buying: Decimal) -> str | None:
        """A sell of a symbol not held long: a short sale, if the shares can be borrowed
        and the account can hold the position."""
        if buying and self._store.position(symbol) is None:
            return (f"a buy of {buying} {symbol} is still open: a short sale waits until it "
                    "has filled or been canceled")
        if is_inverse_etf(symbol):
            return f"not shortable: {symbol} is an inverse ETF, which the broker does not lend"
        if symbol in self._settings.hard_to_borrow:
            return f"hard to borrow: no {symbol} shares are available to sell short"
        if not is_whole(quantity):
            return f"fractional shares cannot be sold short ({quantity} {symbol} asked)"
        refusal = self._buy_refusal(symbol, quantity, self._buying_power())
        return None if refusal is None else f"short sale refused: {refusal}"

    def _execute_open_orders(
        self, bars: Mapping[str, Bar], at: datetime, due: DailyFaults
    ) -> list[BrokerFill]:
        """Fill open orders, oldest first, from their symbol's bar; orders in one symbol
        share the bar's capacity. The day's first fills carry the fill faults."""
        capacity: dict[str, Decimal] = {}
        announced: list[BrokerFill] = []
        for order in self._store.open_orders():
            bar = bars.get(order.symbol)
            if bar is None:
                continue
            left = capacity.get(order.symbol, self._model.bar_capacity(bar.volume))
            quantity = self._model.fill_quantity(
                order.quantity, order.quantity - order.filled_quantity, left
            )
            if quantity <= 0:
                continue
            capacity[order.symbol] = left - quantity
            price = self._model.execution_price(bar.open, order.side)
            if due.take(SimFault.DROP_FILL):
                fill = self._book_fill(order, quantity, price, at, announced=price, reported=False)
                self._store.log_fault(
                    SimFault.DROP_FILL.value,
                    at,
                    f"{fill.fill_id}: {fill.side} {quantity} {fill.symbol} at {price} left out "
                    "of the trade reports",
                )
            elif due.take(SimFault.RESTATE_PRICE):
                booked = restated_price(price, order.side)
                fill = self._book_fill(order, quantity, booked, at, announced=price, reported=True)
                self._store.log_fault(
                    SimFault.RESTATE_PRICE.value,
                    at,
                    f"{fill.fill_id}: announced at {price}, reported and booked at {booked}",
                )
            elif due.take(SimFault.PENDING_FILL):
                until = at + PENDING_PERIOD
                fill = self._book_fill(
                    order, quantity, price, at, announced=price, reported=True,
                    pending_until=until,
                )
                self._store.log_fault(
                    SimFault.PENDING_FILL.value,
                    at,
                    f"{fill.fill_id} (order {order.order_id}): {fill.side} {quantity} "
                    f"{fill.symbol} at {price} reported pending until {until.isoformat()}",
                )
            else:
                fill = self._book_fill(order, quantity, price, at, announced=price, reported=True)
            announced.append(replace(fill, price=price))
        return announced

    def _book_fill(
        self,
        order: BrokerOrder,
        quantity: Decimal,
        price: Decimal,
        at: datetime,
        *,
        announced: Decimal,
        reported: bool,
        pending_until: datetime | None = None,
    ) -> BrokerFill:
        """Record one execution of `order` at the booked `price`: the fill, the order's
        progress, the position and the cash. `pending_until`: reported pending until then."""
        fee = self._model.fee(quantity)
        number = self._store.next_fill_number()
        fill = BrokerFill(
            fill_id=f"{self._settings.account_id}-F{number:06d}",
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=quantity,
            price=price,
            fee=fee,
            filled_at=at,
        )
        self._store.insert_fill(
            number, fill, announced_price=announced, reported=reported,
            pending_until=pending_until,
        )
        filled = order.filled_quantity + quantity
        self._store.update_order(
            replace(
                order,
                filled_quantity=filled,
                average_price=weighted_average(
                    order.filled_quantity, order.average_price, quantity, price
                ),
                status=(
                    OrderStatus.FILLED if filled == order.quantity
                    else OrderStatus.PARTIALLY_FILLED
                ),
                updated_at=at,
            )
        )
        self._move_position(order.symbol, order.side, quantity, price)
        notional = quantity * price
        cash = self._store.cash()
        if order.side is OrderSide.BUY:
            self._store.set_cash(cash - notional - fee)
        else:
            self._store.set_cash(cash + notional - fee)
        return fill

    def _move_position(
        self, symbol: str, side: OrderSide, quantity: Decimal, price: Decimal
    ) -> None:
        held = self._store.position(symbol)
        holding = held.quantity if held is not None else Decimal(0)
        change = quantity if side is OrderSide.BUY else -quantity
        after = holding + change
        if holding and after and (after > 0) != (holding > 0):
            # Submit never lets an order cross zero; one that does means corrupt state.
            raise SimStateError(
                f"simulated broker would {side.value} {quantity} {symbol} while holding "
                f"{holding}: a position never crosses from long to short or back"
            )
        if after == 0:
            self._store.remove_position(symbol)
        elif holding == 0 or (change > 0) == (holding > 0):
            # Opening or adding (long or short): the average price moves.
            average = weighted_average(
                abs(holding), held.average_cost if held is not None else None, quantity, price
            )
            self._store.save_position(symbol, after, average)
        else:  # reducing a long or covering part of a short: the average stays
            assert held is not None
            self._store.save_position(symbol, after, held.average_cost)

    def _phantom_fill(self, symbol: str, at: datetime, due: DailyFaults) -> None:
        """Buy one share of `symbol` the engine never asked for (and is never told of), if
        the account can pay for it and does not hold `symbol` short; otherwise wait for the
        day's next fill."""
        if not due.is_due(SimFault.PHANTOM_FILL):
            return
        held = self._store.position(symbol)
        if held is not None and held.quantity < 0:
            return  # a phantom purchase of a short would cover it (maybe past zero): wait
        market = self._market_price(symbol)
        if self._model.estimated_buy_cost(PHANTOM_QUANTITY, market) > self._buying_power():
            return
        due.mark_fired(SimFault.PHANTOM_FILL)
        number = self._store.next_order_number()
        order = BrokerOrder(
            order_id=self._order_id(number),
            client_order_id=f"phantom-{at:%Y%m%d}",
            symbol=symbol,
            side=OrderSide.BUY,
            quantity=PHANTOM_QUANTITY,
            filled_quantity=Decimal(0),
            average_price=None,
            status=OrderStatus.NEW,
            submitted_at=at,
            updated_at=at,
        )
        self._store.insert_order(number, order)
        price = self._model.execution_price(market, OrderSide.BUY)
        fill = self._book_fill(order, PHANTOM_QUANTITY, price, at, announced=price, reported=True)
        self._store.log_fault(
            SimFault.PHANTOM_FILL.value,
            at,
            f"{fill.fill_id} (order {order.order_id}): buy {PHANTOM_QUANTITY} {symbol} at "
            f"{price}, never returned to the engine",
        )

    def _cash_faults(self, at: datetime, due: DailyFaults) -> None:
        """Post the cash activities of the due cash faults that can fire now."""
        for fault in CASH_FAULTS:
            if not due.is_due(fault):
                continue
            # A dividend is paid on shares held long (a short would owe it: not simulated).
            holdings = [(held.symbol, held.quantity) for held in self._store.positions()
                        if held.quantity > 0]
            movement = cash_movement_for(fault, holdings, self._store.symbols_with_price())
            if movement is None:
                continue
            due.mark_fired(fault)
            number = self._store.next_activity_number()
            activity = CashActivity(
                activity_id=f"{self._settings.account_id}-A{number:06d}",
                activity_type=movement.activity_type,
                amount=movement.amount,
                occurred_at=at,
                description=movement.description,
                symbol=movement.symbol,
            )
            self._store.insert_activity(number, activity)
            self._store.set_cash(self._store.cash() + activity.amount)
            on_symbol = f" on {activity.symbol}" if activity.symbol else ""
            self._store.log_fault(
                fault.value,
                at,
                f"{activity.activity_id}: {activity.activity_type} {activity.amount}{on_symbol}",
            )

    def _silent_faults(self, at: datetime, due: DailyFaults) -> None:
        """Change the account with nothing reported: the due silent faults that can fire."""
        if due.take(SimFault.CASH_DRIFT):
            before = self._store.cash()
            after = before + CASH_DRIFT_AMOUNT
            self._store.set_cash(after)
            self._store.log_fault(
                SimFault.CASH_DRIFT.value,
                at,
                f"account {self._settings.account_id}: cash {before} -> {after} "
                f"({CASH_DRIFT_AMOUNT}), no cash activity recorded",
            )
        if due.is_due(SimFault.UNKNOWN_POSITION):
            held = [position.symbol for position in self._store.positions()]
            symbol = transfer_in_symbol(held, self._store.symbols_with_price())
            if symbol is not None:  # otherwise wait for a priced symbol, like the dividend
                self._transfer_in(symbol, at, due)

    def _transfer_in(self, symbol: str, at: datetime, due: DailyFaults) -> None:
        """The unknown_position fault: shares of `symbol` appear, with no fill and no cash."""
        due.mark_fired(SimFault.UNKNOWN_POSITION)
        price = self._market_price(symbol)
        self._store.save_position(symbol, TRANSFER_IN_QUANTITY, price)
        self._store.log_fault(
            SimFault.UNKNOWN_POSITION.value,
            at,
            f"account {self._settings.account_id}, position {symbol}: transfer-in of "
            f"{TRANSFER_IN_QUANTITY} {symbol} at average cost {price}, no fill and no cash "
            "movement",
        )


# -- request checks and paging ----------------------------------------------------------------


def _check_request(request: OrderRequest) -> None:
    """Refuse (ValueError) a request no market should ever see: a programming error."""
    if not isinstance(request.client_order_id, str) or not request.client_order_id.strip():
        raise ValueError("client_order_id must be a non-empty string")
    if not isinstance(request.symbol, str) or not SYMBOL_PATTERN.fullmatch(request.symbol):
        raise ValueError(f"symbol {request.symbol!r} must be non-empty upper-case (e.g. AAPL)")
    if not isinstance(request.side, OrderSide):
        raise ValueError(f"side {request.side!r} must be an OrderSide")
    quantity = request.quantity
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
        raise ValueError(f"quantity {quantity!r} must be a Decimal above zero")
    if not has_at_most_nine_places(quantity):
        raise ValueError(f"quantity {quantity} has more than nine decimal places")
    if request.limit_price is not None:
        # Filling it as a market order would be silently wrong.
        raise ValueError("the simulated broker executes market orders only (limit_price set)")


def _check_bars(bars: Mapping[str, Bar]) -> None:
    for symbol, bar in bars.items():
        if bar.symbol != symbol:
            raise ValueError(f"bar for {bar.symbol} delivered under {symbol}")
        if bar.open <= 0 or bar.close <= 0 or bar.volume < 0:
            raise ValueError(
                f"bar for {symbol} at {bar.start.isoformat()} has a non-positive price or a "
                "negative volume"
            )


def _page_request(
    since: datetime, until: datetime | None, page_token: str | None, page_size: int
) -> tuple[datetime, datetime | None, int]:
    """Checked (since, until, offset) of a paged report request."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError(f"page_size must be a whole number, got {page_size!r}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size {page_size} must be between 1 and {MAX_PAGE_SIZE}")
    if page_token is None:
        offset = 0
    elif isinstance(page_token, str) and PAGE_TOKEN_PATTERN.fullmatch(page_token):
        offset = int(page_token)
    else:
        raise ValueError(f"page token {page_token!r} was not issued by the simulated broker")
    return ensure_utc(since), None if until is None else ensure_utc(until), offset


def _page(window: list[T], offset: int, page_size: int) -> Page[T]:
    """The page of `window` (fetched one row long to see whether more follow)."""
    more = len(window) > page_size
    return Page(
        items=tuple(window[:page_size]),
        next_token=str(offset + page_size) if more else None,
    )
