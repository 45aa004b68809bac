"""What the engine says about itself: `engine.status`, `pnl.summary`, order rows.

Consoles ask for status many times a second, so the schedule block is built once per
minute and times are preformatted text: a call costs little more than its encoding.
"""

from __future__ import annotations

import os
import time as monotonic_time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tbot.broker.models import BrokerOrder
from tbot.clock import utc_text
from tbot.engine.minutes import floor_minute
from tbot.engine.order_intents import parse_client_order_id
from tbot.engine.scheduler import SessionScheduler
from tbot.engine.sim_clock import SimClock
from tbot.version import current_tag

if TYPE_CHECKING:
    from tbot.engine.engine import Engine


class StatusReport:
    """Reads one engine's state into the control protocol's shapes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._schedule_cache: tuple[datetime, SessionScheduler, dict[str, object]] | None = None

    def pnl_summary(self) -> dict[str, object]:
        """The `pnl.summary` result."""
        return self.engine.book.summary("USD", self.engine.current_day)

    def order_row(self, order: BrokerOrder) -> dict[str, object]:
        intent = self.engine.intents.get(order.client_order_id)
        parsed = parse_client_order_id(order.client_order_id)
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": order.side,
            "quantity": order.quantity,
            "filled_quantity": order.filled_quantity,
            "average_price": order.average_price,
            "status": order.status,
            "strategy": intent.strategy if intent else (parsed.strategy if parsed else None),
            "submitted_at": order.submitted_at,
            "updated_at": order.updated_at,
            "reject_reason": order.reject_reason,
        }

    async def orders_list(self, open_only: bool) -> list[dict[str, object]]:
        """The `orders.list` rows, from the broker."""
        gateway, _ = self.engine.require_started()
        orders = await gateway.call("orders", gateway.broker.orders, open_only=open_only)
        return [self.order_row(order) for order in orders]

    def status(self) -> dict[str, Any]:
        """The `engine.status` result.

        Asked many times a second by every console: the schedule part is built once per
        minute and times are preformatted text, so a call costs little more than encoding.
        """
        now = self.engine.clock.now()
        gateway = self.engine.gateway
        return {
            "bot": self.engine.identity.bot_identity,
            "version": current_tag(),
            "pid": os.getpid(),
            "uptime_seconds": round(monotonic_time.monotonic() - self.engine.started_monotonic, 3),
            "engine_state": self.engine.engine_state.value,
            "trading_state": {
                "state": self.engine.state.state.value,
                "reason": self.engine.state.reason,
                "since": utc_text(self.engine.state.since),
            },
            "clock": {
                "now": utc_text(now),
                "mode": "sim" if isinstance(self.engine.clock, SimClock) else "real",
                "speed": self.engine.clock.speed
                if isinstance(self.engine.clock, SimClock)
                else 1.0,
            },
            "strategy": {**self._schedule_of_minute(now), "enabled": dict(self.engine.enabled)},
            "broker": gateway.health.as_dict() if gateway else None,
            "market_data": self._market_data(),
            "order_stream": self._order_stream(),
            "counters": self.engine.counters.as_dict(self.engine.retries()),
            # Each guard's state: the console shows drawdown against its limit and, once
            # triggered, the countdown to the close-all.
            "guards": {"drawdown": self.engine.drawdown.status(),
                       "market": self.engine.market.status(),
                       "watchdog": self.engine.watchdog.status(),
                       "defense": self.engine.defense.status()},
            # TRADE_CONFIRMATION_REQUIRED: how many entries wait (`entries.pending` lists them).
            "approvals": {"required": self.engine.bot.TRADE_CONFIRMATION_REQUIRED,
                          "waiting": len(self.engine.approvals)},
            "config": {
                "loaded_at": utc_text(self.engine.config_loaded_at),
                "changed_on_disk": False,
            },
        }

    def _market_data(self) -> dict[str, object] | None:
        """A live feed's health; None for generated or replayed bars."""
        health = self.engine.feed_health()
        return health.as_dict() if health is not None else None

    def _order_stream(self) -> dict[str, object] | None:
        """The broker's order-update stream; None when the broker pushes none (SIM)."""
        updates = self.engine.order_updates
        if updates is None:
            return None
        block = updates.status()
        last = block.get("last_catch_up")
        block["last_catch_up"] = utc_text(last) if isinstance(last, datetime) else None
        return block

    def _schedule_of_minute(self, now: datetime) -> dict[str, object]:
        """The `strategy` block of `now`'s minute (phases change on whole minutes)."""
        minute = floor_minute(now)
        cached = self._schedule_cache
        if cached is None or cached[0] != minute or cached[1] is not self.engine.scheduler:
            slot = self.engine.scheduler.slot_at(minute)
            window, phase = slot.window, slot.phase
            phase_ends = window.phase_end(phase) if window and phase else None
            block: dict[str, object] = {
                "active": window.strategy.value if window else None,
                "phase": phase.value if phase else None,
                "phase_ends": utc_text(phase_ends) if phase_ends else None,
                "next_change": utc_text(slot.next_change) if slot.next_change else None,
                "window": None
                if window is None
                else {
                    "start": utc_text(window.start),
                    "analysis_end": utc_text(window.analysis_end),
                    "breakout_end": utc_text(window.breakout_end),
                    "monitoring_end": utc_text(window.monitoring_end),
                },
            }
            cached = (minute, self.engine.scheduler, block)
            self._schedule_cache = cached
        return cached[2]
