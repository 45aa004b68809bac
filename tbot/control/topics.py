"""The event topics a control client can subscribe to (``events.subscribe``).

Each event arrives as an ``events.notify`` notification whose ``data`` has the shape
documented under its topic here and in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Topic(StrEnum):
    """A subscribable event stream."""

    FILLS = "fills"
    """A fill from the broker: {fill_id, order_id, client_order_id, symbol, side, quantity,
    price, fee, strategy, filled_at, entry_fitid, realized_pnl, reason}."""

    ORDERS = "orders"
    """An order was submitted or changed status: one order in the ``orders.list`` shape."""

    STATE = "state"
    """The engine or trading state changed: {engine_state, trading_state, reason}."""

    PNL = "pnl"
    """Profit and loss moved: the ``pnl.summary`` shape."""

    ALERTS = "alerts"
    """Something an operator should see: {level, message}, optionally trigger, strategy,
    symbol."""

    LOGS = "logs"
    """The engine's log records: {level, logger, message}."""

    RECON = "recon"
    """Reconciliation: {event, ...}: ``sync_started`` (trigger, started_at),
    ``sync_finished`` / ``check_finished`` (run_id, trigger, outcome, counts, new_breaks,
    closed, spans_not_read), ``break_resolved`` (break_id, action, kind, trade_id,
    resolution_id, posted_entry_ids, actor)."""

    MAPPING = "mapping"
    """The mapping queue and rules changed: {change, ...}: ``sync`` (posted, queued: broker
    ids), ``assign`` (item, broker_id, account, version), ``undo`` (item, broker_id),
    ``add`` / ``edit`` / ``enable`` / ``disable`` (version, rule), ``import`` (version),
    ``activate`` / ``rollback`` (version, source_version)."""


TOPICS: Final[frozenset[str]] = frozenset(topic.value for topic in Topic)

# The same words at run time (rpc.discover lists them for the console's help).
TOPIC_SUMMARIES: Final[Mapping[str, str]] = {
    Topic.FILLS.value: "fills from the broker",
    Topic.ORDERS.value: "orders submitted or changing status",
    Topic.STATE.value: "engine and trading state changes",
    Topic.PNL.value: "profit and loss updates",
    Topic.ALERTS.value: "alerts for the operator",
    Topic.LOGS.value: "the engine's log records",
    Topic.RECON.value: "reconciliation runs, new and resolved breaks",
    Topic.MAPPING.value: "the mapping queue, assignments and rule versions",
}
