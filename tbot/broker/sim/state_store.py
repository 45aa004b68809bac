"""The simulated account's own SQLite file: cash, positions, orders, fills, cash activity,
last prices, the fault log and the simulated time.

It lives apart from the ledger, as a remote paper account would, so an engine restart finds
the broker where it left it. Money and quantities are exact `Decimal` text, times
fixed-width ISO UTC text (text order is time order). Every change the broker makes runs in
one `transaction()`, with WAL and ``synchronous=FULL``, so a SIGKILL at any instant leaves
either the state before the change or the state after it.

A file that is not ours (not SQLite, another application's database, a schema version
this tbot does not know) is refused with `SimStateError` and never written to; a state file
of an older version is migrated in place, in one transaction, when opened. A new file is
built under a temporary name and linked into place only once complete, so a crash during
creation never leaves a half-made state file behind.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote

from tbot.broker.models import (
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    CashActivity,
    OrderSide,
    OrderStatus,
)
from tbot.broker.sim.errors import SimStateError
from tbot.broker.sim.execution import exact_arithmetic
from tbot.broker.sim.state_schema import (
    APPLICATION_ID,
    SCHEMA,
    SCHEMA_VERSION,
    check_is_sqlite,
    check_schema,
    migrate,
)
from tbot.clock import ensure_utc

BUSY_TIMEOUT_MS = 5000

# Queries are written out whole (no string building), so no identifier ever comes from input.
SELECT_ORDER_BY_ID = (
    "SELECT order_id, client_order_id, symbol, side, quantity, filled_quantity, average_price, "
    "status, submitted_at, updated_at, reject_reason FROM orders WHERE order_id = ?"
)
SELECT_ORDER_BY_CLIENT_ID = (
    "SELECT order_id, client_order_id, symbol, side, quantity, filled_quantity, average_price, "
    "status, submitted_at, updated_at, reject_reason FROM orders WHERE client_order_id = ?"
)
SELECT_OPEN_ORDERS = (
    "SELECT order_id, client_order_id, symbol, side, quantity, filled_quantity, average_price, "
    "status, submitted_at, updated_at, reject_reason FROM orders "
    "WHERE status IN ('new', 'partially_filled') ORDER BY seq"
)
SELECT_SESSION_ORDERS = (
    "SELECT order_id, client_order_id, symbol, side, quantity, filled_quantity, average_price, "
    "status, submitted_at, updated_at, reject_reason FROM orders "
    "WHERE status IN ('new', 'partially_filled') OR updated_at >= ? ORDER BY seq"
)
INSERT_ORDER = (
    "INSERT INTO orders (seq, order_id, client_order_id, symbol, side, quantity, "
    "filled_quantity, average_price, status, submitted_at, updated_at, reject_reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_FILL = (
    "INSERT INTO fills (seq, fill_id, order_id, client_order_id, symbol, side, quantity, "
    "price, fee, filled_at, announced_price, reported, pending_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_REPORTED_FILLS = (
    "SELECT fill_id, order_id, client_order_id, symbol, side, quantity, price, fee, filled_at "
    "FROM fills WHERE reported = 1 AND filled_at >= ? AND (? IS NULL OR filled_at < ?) "
    "ORDER BY filled_at, seq LIMIT ? OFFSET ?"
)
SELECT_STORED_FILLS = (
    "SELECT f.fill_id, f.order_id, f.client_order_id, f.symbol, f.side, f.quantity, f.price, "
    "f.fee, f.filled_at, f.pending_until, o.quantity, o.status, f.seq "
    "FROM fills AS f JOIN orders AS o ON o.order_id = f.order_id "
    "WHERE f.reported = 1 AND f.filled_at >= ? AND (? IS NULL OR f.filled_at < ?) "
    "ORDER BY f.filled_at, f.seq LIMIT ? OFFSET ?"
)
SELECT_ORDER_FILL_QUANTITIES = (
    "SELECT order_id, seq, quantity FROM fills "
    "WHERE order_id IN (SELECT value FROM json_each(?)) ORDER BY order_id, seq"
)
INSERT_ACTIVITY = (
    "INSERT INTO cash_activities (seq, activity_id, activity_type, amount, occurred_at, "
    "description, symbol) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SELECT_ACTIVITIES = (
    "SELECT activity_id, activity_type, amount, occurred_at, description, symbol "
    "FROM cash_activities WHERE occurred_at >= ? AND (? IS NULL OR occurred_at < ?) "
    "ORDER BY occurred_at, seq LIMIT ? OFFSET ?"
)
SELECT_POSITIONS = (
    "SELECT p.symbol, p.quantity, p.average_cost, l.price FROM positions AS p "
    "LEFT JOIN last_prices AS l ON l.symbol = p.symbol ORDER BY p.symbol"
)
SELECT_POSITION = (
    "SELECT p.symbol, p.quantity, p.average_cost, l.price FROM positions AS p "
    "LEFT JOIN last_prices AS l ON l.symbol = p.symbol WHERE p.symbol = ?"
)


@dataclass(frozen=True, slots=True)
class StoredFill:
    """A reported fill as the state file holds it, for the broker's raw reports: money and
    quantities are the exact text written. `order_quantity` and `order_status` are the
    order's now; `cumulative_quantity` is what the order had filled up to and including
    this execution (reported or not: the broker's own books)."""

    fill_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: str
    quantity: str
    price: str
    fee: str
    filled_at: datetime
    pending_until: datetime | None
    order_quantity: str
    order_status: str
    cumulative_quantity: Decimal


@dataclass(frozen=True, slots=True)
class StoredActivity:
    """A cash activity as the state file holds it (the amount is the exact text written)."""

    activity_id: str
    activity_type: str
    amount: str
    occurred_at: datetime
    description: str
    symbol: str | None


def format_stamp(moment: datetime) -> str:
    """`moment` (aware) as stored: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, fixed width."""
    return ensure_utc(moment).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_stamp(text: str) -> datetime:
    """The aware UTC datetime of a stored timestamp (``2026-11-20T14:31:00.000000Z``)."""
    # fromisoformat is some twenty times faster than strptime: a page reads 1,000.
    if len(text) != 27 or not text.endswith("Z"):
        raise ValueError(f"{text!r} is not a stored timestamp")
    return datetime.fromisoformat(text)


class SimStateStore:
    """Reads and writes one state file. Not thread-safe by itself: the broker serialises
    calls with its lock. Write methods must run inside `transaction()`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = connection
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        self.account_id: str = meta["account_id"]
        self.currency: str = meta["currency"]

    # -- opening and closing ----------------------------------------------------------------

    @classmethod
    def create(
        cls, path: Path, *, account_id: str, currency: str, funding: CashActivity
    ) -> SimStateStore:
        """Build a new state file at `path` holding `funding` as its first cash activity (and
        as its cash), then open it. Refuses (SimStateError) if `path` appeared meanwhile."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary_name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".creating", dir=path.parent
            )
        except OSError as failure:
            raise SimStateError(
                f"simulated broker state file {path} cannot be created ({failure.strerror})"
            ) from None
        os.close(handle)
        temporary = Path(temporary_name)
        try:
            _initialise(temporary, account_id=account_id, currency=currency, funding=funding)
            try:
                # A hard link never replaces an existing file, unlike a rename.
                os.link(temporary, path)
            except FileExistsError:
                raise SimStateError(
                    f"simulated broker state file {path} appeared while it was being "
                    "created; it was left untouched"
                ) from None
            _fsync_directory(path.parent)
        finally:
            temporary.unlink(missing_ok=True)
        return cls.open_existing(path)

    @classmethod
    def open_existing(cls, path: Path) -> SimStateStore:
        """Open the state file at `path` for reading and writing after checking it is one."""
        check_is_sqlite(path)
        # Check the schema over a read-only connection first: nothing, not even a hot
        # journal's rollback, may change a file we are about to refuse.
        checker = _connect(path, "ro")
        try:
            check_schema(checker, path)
        except sqlite3.DatabaseError as failure:
            raise SimStateError(
                f"simulated broker state file {path} is unreadable ({failure}); "
                "it was left untouched"
            ) from None
        finally:
            checker.close()
        connection = _connect(path, "rw")
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            migrate(connection, path)
            return cls(path, connection)
        except sqlite3.DatabaseError as failure:
            connection.close()
            raise SimStateError(
                f"simulated broker state file {path} could not be opened ({failure})"
            ) from None
        except SimStateError:
            connection.close()
            raise

    @property
    def path(self) -> Path:
        """The state file."""
        return self._path

    def close(self) -> None:
        """Close the file; further use raises SimStateError. Closing twice is harmless."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic change: everything inside commits together or not at all."""
        connection = self._live()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            connection.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full) can leave the transaction open: end it either way.
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    # -- account ----------------------------------------------------------------------------

    def cash(self) -> Decimal:
        """The cash balance."""
        return _decimal(self._meta("cash"), "meta.cash")

    def set_cash(self, amount: Decimal) -> None:
        """Store a new cash balance."""
        self._set_meta("cash", str(amount))

    def sim_time(self) -> datetime | None:
        """The last simulated time recorded, None on a new file."""
        text = self._meta_or_none("sim_time")
        return None if text is None else parse_stamp(text)

    def set_sim_time(self, moment: datetime) -> None:
        """Store the simulated time."""
        self._set_meta("sim_time", format_stamp(moment))

    # -- orders -----------------------------------------------------------------------------

    def next_order_number(self) -> int:
        """The number the next order gets (1, 2, ...)."""
        return int(self._scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM orders"))

    def insert_order(self, number: int, order: BrokerOrder) -> None:
        """Store a new order as number `number`."""
        self._write(INSERT_ORDER, (number, *_order_row(order)))

    def update_order(self, order: BrokerOrder) -> None:
        """Store the new state of an existing order (matched by order id)."""
        self._write(
            "UPDATE orders SET filled_quantity = ?, average_price = ?, status = ?, "
            "updated_at = ?, reject_reason = ? WHERE order_id = ?",
            (
                str(order.filled_quantity),
                None if order.average_price is None else str(order.average_price),
                order.status.value,
                format_stamp(order.updated_at),
                order.reject_reason,
                order.order_id,
            ),
        )

    def order_by_id(self, order_id: str) -> BrokerOrder | None:
        """The order with that broker id, if any."""
        row = self._live().execute(SELECT_ORDER_BY_ID, (order_id,)).fetchone()
        return None if row is None else _order(row)

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """The order with that client order id, if any."""
        row = self._live().execute(SELECT_ORDER_BY_CLIENT_ID, (client_order_id,)).fetchone()
        return None if row is None else _order(row)

    def open_orders(self) -> list[BrokerOrder]:
        """Orders not yet final, oldest first."""
        rows = self._live().execute(SELECT_OPEN_ORDERS).fetchall()
        return [_order(row) for row in rows]

    def session_orders(self, session_start: datetime) -> list[BrokerOrder]:
        """Orders still open plus those that changed at or after `session_start`, oldest
        first."""
        rows = self._live().execute(
            SELECT_SESSION_ORDERS, (format_stamp(session_start),)
        ).fetchall()
        return [_order(row) for row in rows]

    # -- fills ------------------------------------------------------------------------------

    def next_fill_number(self) -> int:
        """The number the next fill gets (1, 2, ...)."""
        return int(self._scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM fills"))

    def insert_fill(
        self,
        number: int,
        fill: BrokerFill,
        *,
        announced_price: Decimal,
        reported: bool,
        pending_until: datetime | None = None,
    ) -> None:
        """Store a fill as the broker books it. `announced_price` is what the engine was told
        (differs from `fill.price` when restated); an unreported fill is left out of the
        trade reports; a fill with `pending_until` is reported pending until then."""
        self._write(
            INSERT_FILL,
            (
                number,
                fill.fill_id,
                fill.order_id,
                fill.client_order_id,
                fill.symbol,
                fill.side.value,
                str(fill.quantity),
                str(fill.price),
                str(fill.fee),
                format_stamp(fill.filled_at),
                str(announced_price),
                int(reported),
                None if pending_until is None else format_stamp(pending_until),
            ),
        )

    def reported_fills(
        self, since: datetime, until: datetime | None, offset: int, limit: int
    ) -> list[BrokerFill]:
        """Reported fills with `since <= filled_at < until`, oldest first, one window."""
        until_text = None if until is None else format_stamp(until)
        rows = self._live().execute(
            SELECT_REPORTED_FILLS,
            (format_stamp(since), until_text, until_text, limit, offset),
        ).fetchall()
        return [_fill(row) for row in rows]

    def stored_fills(
        self, since: datetime, until: datetime | None, offset: int, limit: int
    ) -> list[StoredFill]:
        """Reported fills with `since <= filled_at < until` as stored, oldest first, one
        window (the same window as `reported_fills`)."""
        connection = self._live()
        until_text = None if until is None else format_stamp(until)
        rows = connection.execute(
            SELECT_STORED_FILLS,
            (format_stamp(since), until_text, until_text, limit, offset),
        ).fetchall()
        # One query for every order on the page (not one per order: a page of 500 fills
        # of 500 orders would be 500 queries).
        cumulative = self._cumulative_quantities({str(row[1]) for row in rows})
        stored: list[StoredFill] = []
        for row in rows:
            (fill_id, order_id, client_order_id, symbol, side, quantity, price, fee, filled_at,
             pending_until, order_quantity, order_status, seq) = row
            stored.append(
                StoredFill(
                    fill_id=str(fill_id),
                    order_id=str(order_id),
                    client_order_id=str(client_order_id),
                    symbol=str(symbol),
                    side=str(side),
                    quantity=str(quantity),
                    price=str(price),
                    fee=str(fee),
                    filled_at=parse_stamp(str(filled_at)),
                    pending_until=(
                        None if pending_until is None else parse_stamp(str(pending_until))
                    ),
                    order_quantity=str(order_quantity),
                    order_status=str(order_status),
                    cumulative_quantity=cumulative[int(seq)],
                )
            )
        return stored

    def _cumulative_quantities(self, order_ids: set[str]) -> dict[int, Decimal]:
        """Fill number -> the quantity its order had filled up to and including it, for
        every fill of `order_ids`."""
        rows = self._live().execute(
            SELECT_ORDER_FILL_QUANTITIES, (json.dumps(sorted(order_ids)),)).fetchall()
        by_fill: dict[int, Decimal] = {}
        running = Decimal(0)
        current: str | None = None
        with exact_arithmetic():
            for order_id, seq, quantity in rows:
                if order_id != current:
                    current, running = order_id, Decimal(0)
                running += _decimal(str(quantity), "fills.quantity")
                by_fill[int(seq)] = running
        return by_fill

    # -- cash activity ----------------------------------------------------------------------

    def next_activity_number(self) -> int:
        """The number the next cash activity gets (the funding is 1)."""
        return int(self._scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM cash_activities"))

    def insert_activity(self, number: int, activity: CashActivity) -> None:
        """Store a cash activity as number `number`."""
        _insert_activity(self._live(), number, activity)

    def activities(
        self, since: datetime, until: datetime | None, offset: int, limit: int
    ) -> list[CashActivity]:
        """Cash activities with `since <= occurred_at < until`, oldest first, one window."""
        until_text = None if until is None else format_stamp(until)
        rows = self._live().execute(
            SELECT_ACTIVITIES,
            (format_stamp(since), until_text, until_text, limit, offset),
        ).fetchall()
        return [_activity(row) for row in rows]

    def stored_activities(
        self, since: datetime, until: datetime | None, offset: int, limit: int
    ) -> list[StoredActivity]:
        """Cash activities with `since <= occurred_at < until` as stored, oldest first, one
        window (the same window as `activities`)."""
        until_text = None if until is None else format_stamp(until)
        rows = self._live().execute(
            SELECT_ACTIVITIES,
            (format_stamp(since), until_text, until_text, limit, offset),
        ).fetchall()
        return [
            StoredActivity(
                activity_id=str(activity_id),
                activity_type=str(activity_type),
                amount=str(amount),
                occurred_at=parse_stamp(str(occurred_at)),
                description=str(description),
                symbol=None if symbol is None else str(symbol),
            )
            for activity_id, activity_type, amount, occurred_at, description, symbol in rows
        ]

    # -- positions and prices ---------------------------------------------------------------

    def positions(self) -> list[BrokerPosition]:
        """Every holding with its last price, by symbol."""
        rows = self._live().execute(SELECT_POSITIONS).fetchall()
        return [_position(row) for row in rows]

    def position(self, symbol: str) -> BrokerPosition | None:
        """The holding of `symbol`, if any."""
        row = self._live().execute(SELECT_POSITION, (symbol,)).fetchone()
        return None if row is None else _position(row)

    def save_position(self, symbol: str, quantity: Decimal, average_cost: Decimal) -> None:
        """Store a holding (quantity > 0, or < 0 for a short position)."""
        self._write(
            "INSERT INTO positions (symbol, quantity, average_cost) VALUES (?, ?, ?) "
            "ON CONFLICT (symbol) DO UPDATE SET quantity = excluded.quantity, "
            "average_cost = excluded.average_cost",
            (symbol, str(quantity), str(average_cost)),
        )

    def remove_position(self, symbol: str) -> None:
        """Forget a holding that reached zero."""
        self._write("DELETE FROM positions WHERE symbol = ?", (symbol,))

    def last_price(self, symbol: str) -> Decimal | None:
        """The last traded price of `symbol`, if it has one."""
        row = self._live().execute(
            "SELECT price FROM last_prices WHERE symbol = ?", (symbol,)
        ).fetchone()
        return None if row is None else _decimal(row[0], "last_prices.price")

    def symbols_with_price(self) -> list[str]:
        """Every symbol with a last price, alphabetically."""
        rows = self._live().execute("SELECT symbol FROM last_prices ORDER BY symbol").fetchall()
        return [symbol for (symbol,) in rows]

    def set_last_price(self, symbol: str, price: Decimal, as_of: datetime) -> None:
        """Mark `symbol` at `price`."""
        self._write(
            "INSERT INTO last_prices (symbol, price, as_of) VALUES (?, ?, ?) "
            "ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, as_of = excluded.as_of",
            (symbol, str(price), format_stamp(as_of)),
        )

    # -- fault log --------------------------------------------------------------------------

    def faults_fired_on(self, day: date) -> set[str]:
        """The faults that fired on simulated day `day`."""
        rows = self._live().execute(
            "SELECT fault FROM fault_log WHERE sim_day = ?", (day.isoformat(),)
        ).fetchall()
        return {fault for (fault,) in rows}

    def log_fault(self, fault: str, fired_at: datetime, detail: str) -> None:
        """Record that `fault` fired at `fired_at` (once per simulated day)."""
        self._write(
            "INSERT INTO fault_log (fault, sim_day, fired_at, detail) VALUES (?, ?, ?, ?)",
            (fault, ensure_utc(fired_at).date().isoformat(), format_stamp(fired_at), detail),
        )

    def fault_log(self) -> list[tuple[str, datetime, str]]:
        """Every fault fired, oldest first: (fault, when, what it did)."""
        rows = self._live().execute(
            "SELECT fault, fired_at, detail FROM fault_log ORDER BY seq"
        ).fetchall()
        return [(fault, parse_stamp(fired_at), detail) for fault, fired_at, detail in rows]

    # -- plumbing ---------------------------------------------------------------------------

    def _live(self) -> sqlite3.Connection:
        if self._connection is None:
            raise SimStateError(f"simulated broker state file {self._path} is closed")
        return self._connection

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        connection = self._live()
        if not connection.in_transaction:
            raise RuntimeError("simulated broker state written outside a transaction")
        connection.execute(sql, parameters)

    def _scalar(self, sql: str) -> object:
        return self._live().execute(sql).fetchone()[0]

    def _meta_or_none(self, key: str) -> str | None:
        row = self._live().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _meta(self, key: str) -> str:
        value = self._meta_or_none(key)
        if value is None:
            raise SimStateError(f"simulated broker state file {self._path} has no {key}")
        return value

    def _set_meta(self, key: str, value: str) -> None:
        self._write(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


# -- file creation and checks -----------------------------------------------------------------


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    # Percent-encode the path: '?', '#' and '%' are legal in file names but not in a URI.
    uri = f"file:{quote(str(path.resolve()))}?mode={mode}"
    connection = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False
    )
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return connection


def _initialise(
    path: Path, *, account_id: str, currency: str, funding: CashActivity
) -> None:
    connection = sqlite3.connect(str(path), isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA:
            connection.execute(statement)
        connection.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("account_id", account_id),
                ("currency", currency),
                ("cash", str(funding.amount)),
                ("created_at", format_stamp(funding.occurred_at)),
            ],
        )
        _insert_activity(connection, 1, funding)
        connection.execute("COMMIT")
    finally:
        connection.close()


def _fsync_directory(directory: Path) -> None:
    # Make the new directory entry durable; some platforms cannot open directories.
    with suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


# -- rows -------------------------------------------------------------------------------------


def _insert_activity(connection: sqlite3.Connection, number: int, activity: CashActivity) -> None:
    connection.execute(
        INSERT_ACTIVITY,
        (
            number,
            activity.activity_id,
            activity.activity_type,
            str(activity.amount),
            format_stamp(activity.occurred_at),
            activity.description,
            activity.symbol,
        ),
    )


def _decimal(text: str, column: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise SimStateError(f"simulated broker state holds {text!r} in {column}") from None
    if not value.is_finite():
        raise SimStateError(f"simulated broker state holds {text!r} in {column}")
    return value


def _order_row(order: BrokerOrder) -> tuple[object, ...]:
    return (
        order.order_id,
        order.client_order_id,
        order.symbol,
        order.side.value,
        str(order.quantity),
        str(order.filled_quantity),
        None if order.average_price is None else str(order.average_price),
        order.status.value,
        format_stamp(order.submitted_at),
        format_stamp(order.updated_at),
        order.reject_reason,
    )


def _order(row: tuple[object, ...]) -> BrokerOrder:
    (order_id, client_order_id, symbol, side, quantity, filled, average, status,
     submitted_at, updated_at, reject_reason) = row
    return BrokerOrder(
        order_id=str(order_id),
        client_order_id=str(client_order_id),
        symbol=str(symbol),
        side=OrderSide(side),
        quantity=_decimal(str(quantity), "orders.quantity"),
        filled_quantity=_decimal(str(filled), "orders.filled_quantity"),
        average_price=None if average is None else _decimal(str(average), "orders.average_price"),
        status=OrderStatus(status),
        submitted_at=parse_stamp(str(submitted_at)),
        updated_at=parse_stamp(str(updated_at)),
        reject_reason=None if reject_reason is None else str(reject_reason),
    )


def _position(row: tuple[object, ...]) -> BrokerPosition:
    symbol, quantity, average_cost, price = row
    return BrokerPosition(
        symbol=str(symbol),
        quantity=_decimal(str(quantity), "positions.quantity"),
        average_cost=_decimal(str(average_cost), "positions.average_cost"),
        market_price=None if price is None else _decimal(str(price), "last_prices.price"),
    )


def _fill(row: tuple[object, ...]) -> BrokerFill:
    fill_id, order_id, client_order_id, symbol, side, quantity, price, fee, filled_at = row
    return BrokerFill(
        fill_id=str(fill_id),
        order_id=str(order_id),
        client_order_id=str(client_order_id),
        symbol=str(symbol),
        side=OrderSide(side),
        quantity=_decimal(str(quantity), "fills.quantity"),
        price=_decimal(str(price), "fills.price"),
        fee=_decimal(str(fee), "fills.fee"),
        filled_at=parse_stamp(str(filled_at)),
    )


def _activity(row: tuple[object, ...]) -> CashActivity:
    activity_id, activity_type, amount, occurred_at, description, symbol = row
    return CashActivity(
        activity_id=str(activity_id),
        activity_type=str(activity_type),
        amount=_decimal(str(amount), "cash_activities.amount"),
        occurred_at=parse_stamp(str(occurred_at)),
        description=str(description),
        symbol=None if symbol is None else str(symbol),
    )
