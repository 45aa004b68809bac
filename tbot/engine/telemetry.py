"""The engine's counters and gauges: what happened since it started, and how it stands now.

Counters are fed by the engine's event bus (`EngineTelemetry.on_event`, subscribed to every
topic), so nothing in the engine calls telemetry and a new room is counted by publishing:

- ``tbot_recon_syncs_total{kind, trigger, outcome}``: broker syncs (``recon``) and
  position and cash checks (``recon_check``);
- ``tbot_recon_divergences_total{reason}``: records found in a break, by status;
- ``tbot_recon_sync_seconds``: how long each sync took (a histogram);
- ``tbot_guard_triggers_total{guard, trigger}``: a guard entering its warning (``state``);
- ``tbot_positions_autoclosed_total{reason}``: closing orders the engine sent on its own,
  by their reason (``orders``: exits and flattens, the operator's own closes excepted);
- ``tbot_fills_total{strategy}`` and ``tbot_alerts_total{level}``.

Gauges are read when they are collected (`sample`, given by the engine), never cached: open
positions, equity, drawdown from the peak and the trading state.

Two readers: the `engine.metrics` control method (`as_dict`) and, when `METRICS_LISTEN` is
set, a Prometheus endpoint in its text format (`serve`), local by default. prometheus-client
keeps the numbers: its types are what a scraper expects, and its registry is private to
this engine so that two engines in one process (the tests) never mix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.exposition import generate_latest

from tbot.engine.event_bus import RECON_CHECK_TOPIC
from tbot.engine.order_intents import Purpose, parse_client_order_id
from tbot.reconcile.statuses import RecordStatus

log = logging.getLogger("tbot.engine.telemetry")

SYNC_SECONDS_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""From a check of a quiet day to a first sync of 100,000 fills at the rate limit."""

TRADING_STATES = ("active", "reducing", "halted")
_BREAK_STATUSES = frozenset(status.value for status in RecordStatus if status.is_break)
_WARNING_PHASES = frozenset({"warning"})
_OPERATOR_REASONS = frozenset({"operator"})


@dataclass(frozen=True, slots=True)
class GaugeSample:
    """The engine's standing at one moment, for the gauges (None: not known yet)."""

    open_positions: int
    equity: Decimal | None
    drawdown_pct: Decimal | None
    trading_state: str


Sampler = Callable[[], GaugeSample]


class EngineTelemetry:
    """Counters fed by events, gauges read through `sample` when collected."""

    def __init__(self, sample: Sampler) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._sample = sample
        self.syncs = Counter("tbot_recon_syncs", "Broker syncs and checks run",
                             ["kind", "trigger", "outcome"], registry=registry)
        self.divergences = Counter("tbot_recon_divergences",
                                   "Records found in a break by a sync, by status",
                                   ["reason"], registry=registry)
        self.sync_seconds = Histogram("tbot_recon_sync_seconds", "How long a sync took",
                                      buckets=SYNC_SECONDS_BUCKETS, registry=registry)
        self.guard_triggers = Counter("tbot_guard_triggers",
                                      "Guards that started their warning",
                                      ["guard", "trigger"], registry=registry)
        self.auto_closes = Counter("tbot_positions_autoclosed",
                                   "Closing orders the engine sent on its own, by reason",
                                   ["reason"], registry=registry)
        self.fills = Counter("tbot_fills", "Fills booked", ["strategy"], registry=registry)
        self.alerts = Counter("tbot_alerts", "Alerts raised", ["level"], registry=registry)
        self.open_positions = Gauge("tbot_open_positions", "Symbols with a position",
                                    registry=registry)
        self.equity = Gauge("tbot_account_equity_usd", "Account equity as last read",
                            registry=registry)
        self.drawdown = Gauge("tbot_account_drawdown_percent",
                              "Equity below its peak, in percent", registry=registry)
        self.trading_state = Gauge("tbot_trading_state",
                                   "1 for the current trading state", ["state"],
                                   registry=registry)
        for state in TRADING_STATES:
            self.trading_state.labels(state).set_function(
                lambda state=state: float(self._is_state(state)))
        self.open_positions.set_function(lambda: self._gauge("open_positions"))
        self.equity.set_function(lambda: self._gauge("equity"))
        self.drawdown.set_function(lambda: self._gauge("drawdown_pct"))
        self._guard_phase: dict[str, str] = {}
        self._closes_seen: set[str] = set()
        self._server: WSGIServer | None = None
        self._server_thread: threading.Thread | None = None

    # -- events ----------------------------------------------------------------------------
    def on_event(self, topic: str, data: Mapping[str, object]) -> None:
        """Count one engine event (an event bus handler for every topic)."""
        if topic == "recon":
            self._on_recon(data)
        elif topic == RECON_CHECK_TOPIC:
            self.syncs.labels("check", str(data.get("trigger")), str(data.get("outcome"))).inc()
        elif topic == "state":
            self._on_state(data)
        elif topic == "orders":
            self._on_order(data)
        elif topic == "fills":
            self.fills.labels(str(data.get("strategy") or "none")).inc()
        elif topic == "alerts":
            self.alerts.labels(str(data.get("level") or "info")).inc()

    def _on_recon(self, data: Mapping[str, object]) -> None:
        # Every check is counted on its own topic; `recon` announces only some of them,
        # and the breaks a check opens are counted by the sync that finds them again.
        if data.get("event") != "sync_finished":
            return
        self.syncs.labels("sync", str(data.get("trigger")), str(data.get("outcome"))).inc()
        counts = data.get("counts")
        if isinstance(counts, Mapping):
            for status, count in counts.items():
                if status in _BREAK_STATUSES and isinstance(count, int) and count > 0:
                    self.divergences.labels(status).inc(count)
        seconds = data.get("seconds")
        if isinstance(seconds, int | float):
            self.sync_seconds.observe(float(seconds))

    def _on_state(self, data: Mapping[str, object]) -> None:
        guard = data.get("guard")
        if not isinstance(guard, Mapping):
            return
        name = str(guard.get("name") or "guard")
        phase = str(guard.get("phase") or "")
        before = self._guard_phase.get(name)
        self._guard_phase[name] = phase
        # One trigger per warning, however many events the countdown publishes.
        if phase in _WARNING_PHASES and before not in _WARNING_PHASES:
            self.guard_triggers.labels(name, str(guard.get("trigger") or "unknown")).inc()

    def _on_order(self, data: Mapping[str, object]) -> None:
        client_id = str(data.get("client_order_id") or "")
        parsed = parse_client_order_id(client_id)
        if parsed is None or parsed.purpose is Purpose.ENTRY or client_id in self._closes_seen:
            return  # an entry, a manual order, or an order already counted
        reason = str(data.get("reason") or parsed.purpose.value)
        if reason in _OPERATOR_REASONS:
            return
        self._closes_seen.add(client_id)
        self.auto_closes.labels(reason).inc()

    # -- reading ---------------------------------------------------------------------------
    def _gauge(self, name: str) -> float:
        try:
            value = getattr(self._sample(), name)
        except Exception:  # a scrape must never take the engine's sampling down with it
            log.exception("telemetry: reading %s failed", name)
            return float("nan")
        return float("nan") if value is None else float(value)

    def _is_state(self, state: str) -> bool:
        try:
            return self._sample().trading_state == state
        except Exception:
            log.exception("telemetry: reading the trading state failed")
            return False

    def as_dict(self) -> dict[str, Any]:
        """Every metric as JSON-ready data (`engine.metrics`): per metric its type, help
        and samples (labels and value); NaN (not known yet) becomes None."""
        metrics: dict[str, Any] = {}
        for family in self.registry.collect():
            samples = []
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # creation times: noise to an operator
                value = sample.value
                samples.append({
                    "name": sample.name,
                    "labels": dict(sample.labels),
                    "value": None if value != value else value,  # NaN
                })
            metrics[family.name] = {"type": family.type, "help": family.documentation,
                                    "samples": samples}
        return metrics

    def prometheus_text(self) -> bytes:
        """The metrics in Prometheus' text exposition format."""
        return generate_latest(self.registry)

    # -- the endpoint ----------------------------------------------------------------------
    def serve(self, host: str, port: int) -> tuple[str, int]:
        """Serve the metrics over HTTP at host:port (port 0: any free port) on a daemon
        thread; returns the address bound. Raises OSError when the address is taken."""
        if self._server is not None:
            raise RuntimeError("the metrics endpoint is already served")
        self._server, self._server_thread = start_http_server(port, addr=host,
                                                              registry=self.registry)
        bound_host, bound_port = self._server.server_address[:2]
        return str(bound_host), int(bound_port)

    def close(self) -> None:
        """Stop the endpoint, if served. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
            self._server_thread = None
