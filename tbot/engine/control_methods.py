"""The engine's control methods: what `tbot ctl` and the console may ask, and who may ask.

Reads are open to every role; state changes need operator (admin for `risk.reset`,
`engine.shutdown` and `keys.rotated`). The control server checks the role before anything
else and audits every state change through `audit_command`.

Secrets and keys: a CLI rotating keys beside the running engine (`tbot secrets set`,
`tbot config encrypt|decrypt`, `tbot keys rotate`) cannot take the ledger's writer lock,
which the engine holds; it asks the engine to write its audit rows (`keys.rotated`). The
engine keeps the values it decrypted at start; `config.reload` reads config and secrets
again under the home's rotation lock, decrypting everything before it changes anything,
takes the alert channels live and says which changed secrets need a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from tbot.admin.config_changes import AUDITED_ACTIONS, KEYS_ROTATED_METHOD
from tbot.alerts.channels import AlertChannels
from tbot.alerts.dispatcher import AlertDispatcher
from tbot.alerts.engine_alerts import EngineAlerts
from tbot.alerts.routing import AlertRouting, load_routed_channels
from tbot.broker.errors import BrokerError
from tbot.config.key_rotation import RotationLockedError, rotation_lock
from tbot.config.loader import LoadedConfig, load_config
from tbot.config.problems import ConfigError
from tbot.config.setting_types import BrokerName, StrategyName
from tbot.control.methods import Caller, MethodSpec, NoParams, RpcError
from tbot.control.roles import Role
from tbot.control.wire import BROKER_ERROR, CONFIG_INVALID, INVALID_PARAMS, REFUSED
from tbot.engine import entry_approvals, order_flow
from tbot.engine.approval_queue import ApprovalError
from tbot.engine.config_watch import (
    LIVE_SECRETS,
    RESTART_ONLY_BOT_KEYS,
    RESTART_SECRETS,
    ConfigFingerprint,
    SecretDigests,
    changed_bot_keys,
    changed_env_keys,
    engine_secrets,
)
from tbot.engine.engine import Engine
from tbot.errors import TbotError
from tbot.reconcile.adapters import DeskLedger
from tbot.reconcile.mapping.methods import MappingMethods
from tbot.reconcile.methods import ReconMethods
from tbot.risk.drawdown_guard import DrawdownLimits
from tbot.risk.risk_gate import RiskGate
from tbot.risk.trading_state import TradingState, TradingStateError

log = logging.getLogger("tbot.engine")

# config.reload waits this long for a key rotation under way before refusing: it runs while
# the server's state lock is held, so it must not wait for long.
RELOAD_LOCK_WAIT_SECONDS: Final = 5.0
# The replaced alert dispatcher's queued alerts get this long to go out.
OLD_ALERTS_DRAIN_SECONDS: Final = 2.0
NO_ALERT_ROOM: Final = (
    "this engine started without alert channels, so none can be swapped in live; restart "
    "it to send alerts through the new ones"
)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrdersParams(_Params):
    """`orders.list`."""

    open_only: bool = False


class PauseParams(_Params):
    """`trading.pause`."""

    reason: str = Field(default="paused by an operator", min_length=1, max_length=500)


class StrategyParams(_Params):
    """`strategy.enable` / `strategy.disable`."""

    strategy: Literal["open", "mid", "close"]


class KillParams(_Params):
    """`risk.kill`: the reason is required; it goes into the audit trail."""

    reason: str = Field(min_length=1, max_length=500)


class ApproveParams(_Params):
    """`entries.approve`: the waiting entry's id (its client order id)."""

    id: str = Field(min_length=1, max_length=200)


class RejectParams(_Params):
    """`entries.reject`: the entry's id and why; the reason goes into the audit trail."""

    id: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="rejected by an operator", min_length=1, max_length=500)


class AuditRowParams(_Params):
    """One row of `keys.rotated`: an action of `AUDITED_ACTIONS`, its subject, details."""

    action: str
    subject: str = Field(min_length=1, max_length=500)
    details: dict[str, Any]

    @field_validator("action")
    @classmethod
    def _known_action(cls, action: str) -> str:
        if action not in AUDITED_ACTIONS:
            raise ValueError(f"must be one of {', '.join(AUDITED_ACTIONS)}")
        return action


class KeysRotatedParams(_Params):
    """`keys.rotated`: the command that changed keys or secrets, when, and its rows."""

    command: str = Field(min_length=1, max_length=200, pattern=r"^tbot [a-z]")
    at: AwareDatetime
    rows: list[AuditRowParams] = Field(min_length=1, max_length=4)


@dataclass(frozen=True)
class _StagedReload:
    """Everything a reload will apply, read and validated before anything is applied."""

    config: LoadedConfig
    digests: SecretDigests
    changed_secrets: list[str]
    alerts: tuple[AlertRouting, AlertChannels | None] | None  # None: leave them as they are


class ControlMethods:
    """Binds the control methods to one running engine."""

    def __init__(self, engine: Engine, *,
                 metrics: Callable[[], Mapping[str, Any]] | None = None,
                 alerts: EngineAlerts | None = None) -> None:
        """`alerts`: the engine's alert room, whose channels `config.reload` swaps (None:
        an engine run without one; a changed alert secret then needs a restart)."""
        self.engine = engine
        self.fingerprint = ConfigFingerprint.of(engine.home.config)
        self.subscriber_count = lambda: 0
        # The runner's telemetry and alert counters (None: an engine run without them).
        self._metrics = metrics
        self._alerts = alerts
        # The values the engine holds, as keyed digests: a reload applies or names those
        # that changed. Lenient here: an unreadable secret only reads as changed later.
        self._secret_names = engine_secrets(engine.broker_name() is not BrokerName.SIM)
        self.secret_digests = SecretDigests.read(
            engine.paths, self._secret_names, SecretDigests.new_key(), strict=False)

    def table(self) -> dict[str, MethodSpec]:
        """Every method by name."""
        specs = [
            MethodSpec(
                "engine.status",
                "states, clock, active strategy, broker health, counters",
                self.engine_status,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "engine.metrics",
                "counters and gauges: syncs, divergences, guard triggers, auto-closes, "
                "fills, alerts and their delivery, open positions, equity, drawdown",
                self.engine_metrics,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "entries.pending",
                "entries waiting for an operator's approval, with their countdown",
                self.entries_pending,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "entries.approve",
                "send a waiting entry (judged again: risk gate, market guard, its price)",
                self.entries_approve,
                ApproveParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "entries.reject",
                "drop a waiting entry",
                self.entries_reject,
                RejectParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "positions.list",
                "open positions with unrealized PnL",
                self.positions_list,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "orders.list",
                "the session's orders",
                self.orders_list,
                OrdersParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "pnl.summary",
                "realized, unrealized and total PnL, today and per strategy",
                self.pnl_summary,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "pnl.history",
                "today's total PnL and equity, one sample a market minute",
                self.pnl_history,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "account.summary",
                "cash, buying power and equity",
                self.account_summary,
                NoParams,
                Role.VIEWER,
                False,
            ),
            MethodSpec(
                "ledger.verify",
                "re-check the whole ledger",
                self.ledger_verify,
                NoParams,
                Role.AUDITOR,
                False,
            ),
            MethodSpec(
                "trading.pause",
                "stop new entries (REDUCING)",
                self.trading_pause,
                PauseParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "trading.resume",
                "allow new entries again (ACTIVE)",
                self.trading_resume,
                NoParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "strategy.enable",
                "let a strategy trade",
                self.strategy_enable,
                StrategyParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "strategy.disable",
                "stop a strategy's new entries",
                self.strategy_disable,
                StrategyParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "risk.kill",
                "kill switch: HALTED and flatten every position",
                self.risk_kill,
                KillParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "config.reload",
                "apply the configuration on disk, all or nothing",
                self.config_reload,
                NoParams,
                Role.OPERATOR,
                True,
            ),
            MethodSpec(
                "risk.reset",
                "leave HALTED (ACTIVE again)",
                self.risk_reset,
                NoParams,
                Role.ADMIN,
                True,
            ),
            MethodSpec(
                "engine.shutdown", "graceful stop", self.engine_shutdown, NoParams, Role.ADMIN, True
            ),
            MethodSpec(
                KEYS_ROTATED_METHOD,
                "write the audit rows of a key rotation or secret change a CLI made beside "
                "the running engine (its writer lock)",
                self.keys_rotated,
                KeysRotatedParams,
                Role.ADMIN,
                True,
            ),
        ]
        reconciliation = self.engine.require_reconciliation()
        specs += ReconMethods(
            reconciliation.service, DeskLedger(self.engine.desk), self.engine.clock,
            self.engine.bot.SYNC_LOOKBACK_DAYS,
        ).specs()
        specs += MappingMethods(reconciliation.mapping).specs()
        return {spec.name: spec for spec in specs}

    # -- reads ------------------------------------------------------------------------------
    async def engine_status(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        status = self.engine.report.status()
        status["config"]["changed_on_disk"] = self.fingerprint.changed()
        status["subscribers"] = self.subscriber_count()
        return status

    async def engine_metrics(self, _: NoParams, caller: Caller) -> Mapping[str, Any]:
        if self._metrics is None:
            raise RpcError(REFUSED, "this engine runs without telemetry")
        return self._metrics()

    async def entries_pending(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        engine = self.engine
        now = engine.clock.now()
        return {"required": engine.bot.TRADE_CONFIRMATION_REQUIRED,
                "max_move_bps": engine.approvals.max_move_bps,
                "entries": [entry.as_dict(now) for entry in engine.approvals.pending()]}

    async def entries_approve(self, params: ApproveParams, caller: Caller) -> dict[str, Any]:
        engine = self.engine
        async with engine.trading_lock:  # not in the middle of a minute
            try:
                entry, refusal = entry_approvals.take_for_approval(engine, params.id)
            except ApprovalError as error:
                raise RpcError(INVALID_PARAMS, error.message) from None
            if refusal is not None:
                raise RpcError(REFUSED, f"entry {params.id} dropped: {refusal}")
            sent = await order_flow.on_entry_signal(engine, entry.signal,
                                                    approved_by=caller.name)
        if sent is None:
            raise RpcError(REFUSED, f"entry {params.id} was judged again and not sent: see "
                                    f"the {entry.signal.strategy.value} strategy's log")
        return {"approved": params.id, "client_order_id": sent}

    async def entries_reject(self, params: RejectParams, caller: Caller) -> dict[str, Any]:
        try:
            entry_approvals.reject(self.engine, params.id, caller.name, params.reason)
        except ApprovalError as error:
            raise RpcError(INVALID_PARAMS, error.message) from None
        return {"rejected": params.id}

    async def positions_list(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        now = self.engine.clock.now()
        rows = [held.as_dict(now) for held in self.engine.book.positions.values()]
        return {"positions": sorted(rows, key=lambda row: str(row["symbol"]))}

    async def orders_list(self, params: OrdersParams, caller: Caller) -> dict[str, Any]:
        try:
            return {"orders": await self.engine.report.orders_list(params.open_only)}
        except BrokerError as error:
            raise RpcError(BROKER_ERROR, f"the broker did not answer: {error.message}") from None

    async def pnl_summary(self, _: NoParams, caller: Caller) -> Mapping[str, Any]:
        return self.engine.report.pnl_summary()

    async def pnl_history(self, _: NoParams, caller: Caller) -> Mapping[str, Any]:
        return self.engine.pnl_curve.as_wire("USD")

    async def account_summary(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        account = self.engine.account
        if account is None:
            raise RpcError(BROKER_ERROR, "no account snapshot from the broker yet")
        return {
            "account_id": account.account_id,
            "currency": account.currency,
            "cash": account.cash,
            "buying_power": account.buying_power,
            "equity": account.equity,
            "session_start_equity": self.engine.session_start_equity,
            "as_of": account.as_of,
        }

    async def ledger_verify(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        # verify reads on its own connection (and may use a helper process): off the loop.
        report = await asyncio.to_thread(self.engine.desk.verify)
        return {
            "ok": report.ok,
            "entries": report.entries,
            "postings": report.postings,
            "audit_rows": report.audit_rows,
            "problems": [str(problem) for problem in report.problems],
            "seconds": round(report.seconds, 3),
        }

    # -- commands ---------------------------------------------------------------------------
    async def trading_pause(self, params: PauseParams, caller: Caller) -> dict[str, Any]:
        engine = self.engine
        if engine.state.state is TradingState.HALTED:
            raise RpcError(REFUSED, f"trading is HALTED ({engine.state.reason}); nothing to pause")
        change = engine.state.pause(f"{params.reason} ({caller.name})", engine.clock.now())
        engine._announce_state(change)
        return {"trading_state": engine.state.snapshot()}

    async def trading_resume(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        engine = self.engine
        refusal = engine.drawdown.refusal("trading.resume")
        if refusal is not None:  # nothing cancels or delays the guard's countdown
            raise RpcError(REFUSED, refusal)
        try:
            change = engine.state.resume(engine.clock.now(), f"resumed by {caller.name}")
        except TradingStateError as error:
            raise RpcError(REFUSED, error.message) from None
        engine._announce_state(change)
        return {"trading_state": engine.state.snapshot()}

    async def strategy_enable(self, params: StrategyParams, caller: Caller) -> dict[str, Any]:
        return self._set_enabled(params.strategy, True)

    async def strategy_disable(self, params: StrategyParams, caller: Caller) -> dict[str, Any]:
        return self._set_enabled(params.strategy, False)

    def _set_enabled(self, strategy: str, enabled: bool) -> dict[str, Any]:
        self.engine.enabled[StrategyName(strategy).value] = enabled
        self.engine.publish(
            "state",
            {
                "engine_state": self.engine.engine_state,
                "trading_state": self.engine.state.snapshot(),
                "reason": f"strategy {strategy} {'enabled' if enabled else 'disabled'}",
            },
        )
        return {"strategy": strategy, "enabled": enabled}

    async def risk_kill(self, params: KillParams, caller: Caller) -> dict[str, Any]:
        orders = await self.engine.kill(
            f"{params.reason} ({caller.name})", actor=f"control:{caller.name}"
        )
        return {"trading_state": self.engine.state.snapshot(), "flatten_orders": orders}

    async def risk_reset(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        engine = self.engine
        refusal = engine.drawdown.refusal("risk.reset")
        if refusal is not None:  # not even an admin stops a countdown once it has started
            raise RpcError(REFUSED, refusal)
        try:
            change = engine.state.reset(engine.clock.now(), f"reset by {caller.name}")
        except TradingStateError as error:
            raise RpcError(REFUSED, error.message) from None
        if change is None:
            raise RpcError(
                REFUSED, f"trading is {engine.state.state}, not HALTED: nothing to reset"
            )
        engine._announce_state(change)
        # A guard that closed everything starts again from today's equity.
        await engine.drawdown.rearm(caller.name)
        return {"trading_state": engine.state.snapshot()}

    async def engine_shutdown(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        self.engine.request_stop(f"engine.shutdown by {caller.name}")
        return {"shutting_down": True}

    async def keys_rotated(self, params: KeysRotatedParams, caller: Caller) -> dict[str, Any]:
        """Write a CLI's audit rows with the ledger writer the engine holds. Who is the
        caller the kernel names (never a name the CLI claims); when is the ledger's clock,
        with the command's own time in `at`."""
        desk = self.engine.desk
        actor = f"cli:{caller.name}"
        ids: list[int] = []
        for row in params.rows:
            details = {
                **row.details,
                "command": params.command,
                "at": params.at.isoformat(),
                "recorded_by": "engine",
                "caller_pid": caller.pid,
            }
            ids.append(await desk.run(desk.record_event, row.action, actor, row.subject,
                                      details))
        log.info("%s by %s: audited (%s); the engine keeps the values it decrypted until "
                 "config.reload", params.command, actor,
                 ", ".join(row.action for row in params.rows))
        return {"recorded": len(ids), "actor": actor,
                "actions": [row.action for row in params.rows]}

    def _stage_reload(self) -> _StagedReload:
        """Read and check everything a reload applies, off the loop, under the rotation
        lock (never from a key half-way through a rotation). Changes nothing."""
        engine = self.engine
        with rotation_lock(engine.paths, wait_seconds=RELOAD_LOCK_WAIT_SECONDS):
            fresh = load_config(engine.paths.home)
            digests = SecretDigests.read(engine.paths, self._secret_names,
                                         self.secret_digests.key, strict=True)
            changed = self.secret_digests.changed(digests)
            room = self._alerts
            alerts: tuple[AlertRouting, AlertChannels | None] | None = None
            if room is not None:
                routing = AlertRouting.from_settings(fresh.bot)
                if "alert" in changed or routing != room.routing:
                    alerts = (routing, load_routed_channels(engine.paths, routing))
        return _StagedReload(fresh, digests, changed, alerts)

    async def config_reload(self, _: NoParams, caller: Caller) -> dict[str, Any]:
        engine = self.engine
        try:
            staged = await asyncio.to_thread(self._stage_reload)
        except ConfigError as error:
            raise RpcError(
                CONFIG_INVALID,
                "the configuration on disk is invalid; nothing was applied",
                [str(problem) for problem in error.problems],
            ) from None
        except RotationLockedError:
            raise RpcError(
                REFUSED,
                "a key rotation is under way on this home; nothing was applied: run "
                "config.reload again once it is done",
            ) from None
        except TbotError as error:  # a secret that does not open with its key
            raise RpcError(
                CONFIG_INVALID,
                "a secret on disk cannot be read; nothing was applied",
                [error.message],
            ) from None
        fresh = staged.config
        current = engine.home.config
        env_keys = changed_env_keys(current, fresh)
        bot_keys = changed_bot_keys(engine.bot, fresh.bot)
        restart_keys = env_keys + [key for key in bot_keys if key in RESTART_ONLY_BOT_KEYS]
        if restart_keys:
            raise RpcError(
                REFUSED,
                "these changes need an engine restart; nothing was applied: "
                + ", ".join(restart_keys),
                {"restart_keys": restart_keys},
            )
        # All or nothing: everything below only assigns already-validated objects.
        bot = fresh.bot
        limits = engine.limits
        limits.max_trades, limits.max_open_positions = bot.MAX_TRADES, bot.MAX_OPEN_POSITIONS
        engine.bot = bot
        engine.home = type(engine.home)(config=fresh, identity=engine.identity, paths=engine.paths)
        engine.limits = limits
        engine.gate = RiskGate(bot, engine.state, limits)
        await engine.defense.reconfigure(bot)
        engine.apply_trading_settings()  # defense mode's settings, if it is on
        engine.drawdown.reconfigure(DrawdownLimits.from_settings(bot))
        engine.market.reconfigure(bot)
        engine.approvals.max_move_bps = bot.MAX_SLIPPAGE_BPS
        engine.closes.interval = timedelta(seconds=bot.CLOSE_MIN_INTERVAL_SECONDS)
        engine.scheduler = type(engine.scheduler)(bot, engine.calendar)
        for key in bot_keys:
            if key.startswith("STRAT_") and key.endswith("_ENABLED"):
                name = key.removeprefix("STRAT_").removesuffix("_ENABLED").lower()
                engine.enabled[name] = bool(getattr(bot, key))
        retired = self._swap_alerts(*staged.alerts) if staged.alerts is not None else None
        applied = [name for name in staged.changed_secrets
                   if name in LIVE_SECRETS and staged.alerts is not None]
        restart = {name: RESTART_SECRETS.get(name, NO_ALERT_ROOM)
                   for name in staged.changed_secrets if name not in applied}
        # Secrets still waiting for a restart keep their old digest: named again next time.
        self.secret_digests = self.secret_digests.with_values_of(staged.digests, applied)
        engine.config_loaded_at = engine.real_clock.now()
        self.fingerprint = ConfigFingerprint.of(fresh)
        answer: dict[str, Any] = {"reloaded": True, "changed_keys": bot_keys}
        if staged.changed_secrets:
            answer["secrets"] = {"applied": applied, "restart_needed": restart}
            if restart:
                log.warning("config.reload: changed secrets that need a restart: %s",
                            ", ".join(restart))
        if retired is not None:  # after the swap: its queued alerts get a moment to go out
            await asyncio.to_thread(retired.close, OLD_ALERTS_DRAIN_SECONDS)
        return answer

    def _swap_alerts(self, routing: AlertRouting,
                     channels: AlertChannels | None) -> AlertDispatcher | None:
        """Give the alert room its new routing and channels (validated together); returns
        the dispatcher it replaced, still to be closed. Runs on the loop, as `submit`."""
        room = self._alerts
        assert room is not None  # staged only with a room
        return room.replace_channels(routing, channels, self.engine.bus)

    # -- audit ------------------------------------------------------------------------------
    async def audit_command(
        self, caller: Caller, method: str, params: object, outcome: str
    ) -> None:
        """Every state-changing command, allowed or refused, as an audit row."""
        await self.engine.desk.run(
            self.engine.desk.record_event,
            f"control.{method}",
            f"control:{caller.name}",
            method,
            {
                "role": caller.role.label,
                "params": _plain(params),
                "outcome": outcome,
                "pid": caller.pid,
            },
        )


def _plain(params: object) -> object:
    if params is None:
        return {}
    if isinstance(params, Mapping | list):
        return params
    return str(params)
