"""The engine's internal event bus: the engine says what happened, the rooms that care listen.

In-process and synchronous (NautilusTrader's MessageBus is the model, much smaller):
`publish` calls every matching handler, in subscription order, on the publishing thread
(the engine's event loop) before it returns. A handler that raises is logged with its topic
and stays subscribed; the other handlers still run. A bad subscriber must never stop the
engine, nor starve the other subscribers.

Every handler has the same shape, `handler(topic, data)`, whether it was subscribed to one
topic or to all of them. `data` is a mapping of JSON-ready values (Decimals and datetimes
are fine: the control wire encoder handles them); handlers must not change it.

Topics the engine publishes. The wire topics are forwarded to the control server's
subscribers (`tbot.control.topics.TOPICS`, shapes in docs/protocol.md):

- ``fills``: a fill was booked: {fill_id, order_id, client_order_id, symbol, side,
  quantity, price, fee, strategy, filled_at, entry_fitid, realized_pnl (an exit's; None
  for an entry), reason}.
- ``orders``: an order was submitted or changed status: one order in the ``orders.list``
  shape.
- ``state``: the engine or trading state changed: {engine_state, trading_state, reason}.
- ``pnl``: profit and loss after a market minute with bars: the ``pnl.summary`` shape.
- ``alerts``: something an operator should see: {level, message}, optionally trigger,
  strategy, symbol (and a guard's own keys).
- ``recon``: reconciliation runs and resolved breaks: {event, ...}.

(``logs`` is a wire topic too, but the runner's log handler sends it to the server
directly: log records are not engine events.)

Internal topics, which the control server does not forward:

- ``positions``: a booked fill changed the position book: {symbols: [symbol, ...]}.
- ``equity``: the account was read from the broker: {cash, equity, buying_power, as_of}.
- ``minute``: a market minute was processed: {at} (the minute's end, engine clock).
- ``recon_check``: a position and cash check ran, whatever it found: {trigger, outcome,
  counts, seconds} (``recon`` announces only the checks that opened or closed a break).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final

log = logging.getLogger("tbot.engine.bus")

Handler = Callable[[str, Mapping[str, object]], None]
"""Called as `handler(topic, data)` for each event it is subscribed to."""

POSITIONS_TOPIC: Final = "positions"
EQUITY_TOPIC: Final = "equity"
MINUTE_TOPIC: Final = "minute"
RECON_CHECK_TOPIC: Final = "recon_check"
INTERNAL_TOPICS: Final[frozenset[str]] = frozenset(
    {POSITIONS_TOPIC, EQUITY_TOPIC, MINUTE_TOPIC, RECON_CHECK_TOPIC})
"""The topics only the engine's own rooms hear (never sent on the control socket)."""


class Subscription:
    """One handler's subscription, to a topic or (`topic` None) to every topic."""

    __slots__ = ("_bus", "handler", "topic")

    def __init__(self, bus: EventBus, topic: str | None, handler: Handler) -> None:
        self._bus: EventBus | None = bus
        self.topic = topic
        self.handler = handler

    @property
    def active(self) -> bool:
        """Whether the handler still receives events."""
        return self._bus is not None

    def cancel(self) -> None:
        """Stop delivering events to the handler. Safe to call twice, or from a handler."""
        bus, self._bus = self._bus, None
        if bus is not None:
            bus._remove(self)

    def matches(self, topic: str) -> bool:
        """Whether an event on `topic` goes to this handler."""
        return self.topic is None or self.topic == topic


class EventBus:
    """Synchronous publish/subscribe by topic name, for one engine."""

    def __init__(self) -> None:
        # One list for topic and catch-all subscriptions keeps delivery in subscription order.
        self._subscriptions: list[Subscription] = []

    def subscribe(self, topic: str, handler: Handler) -> Subscription:
        """Call `handler(topic, data)` for each event published on `topic`."""
        if not topic:
            raise ValueError("a topic is a non-empty string")
        return self._add(Subscription(self, topic, handler))

    def subscribe_all(self, handler: Handler) -> Subscription:
        """Call `handler(topic, data)` for every event, whatever its topic."""
        return self._add(Subscription(self, None, handler))

    def publish(self, topic: str, data: Mapping[str, object]) -> None:
        """Deliver an event to its subscribers now, in subscription order. Never raises
        because of a handler: a failing handler is logged and kept."""
        # A snapshot: a handler may subscribe or cancel while the event is delivered
        # (a new subscriber hears the next event, a canceled one is skipped from now on).
        for subscription in tuple(self._subscriptions):
            if not subscription.active or not subscription.matches(topic):
                continue
            try:
                subscription.handler(topic, data)
            except Exception:
                log.exception(
                    "event handler %s failed on topic %r; it stays subscribed",
                    _name(subscription.handler),
                    topic,
                )

    def subscriber_count(self, topic: str | None = None) -> int:
        """How many handlers hear `topic` (catch-alls included), or all handlers if None."""
        if topic is None:
            return len(self._subscriptions)
        return sum(1 for subscription in self._subscriptions if subscription.matches(topic))

    def _add(self, subscription: Subscription) -> Subscription:
        self._subscriptions.append(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        # Safe during a publish: it iterates its own snapshot and skips inactive entries.
        self._subscriptions.remove(subscription)


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
