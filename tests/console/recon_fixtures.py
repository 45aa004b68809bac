"""The engine side of view 4's tests: `recon.*` answers in the shapes of docs/protocol.md
("recon.*") as a simulated bot's fault day gives them (a dropped fill, a restated price, a
phantom fill, a pending fill, an unknown fee, an unexplained position, a cash drift),
frozen a few minutes before console_fixtures.FROZEN_NOW, and a link that pages and
searches them as the engine does."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tbot.clock import FrozenClock
from tests.console import console_fixtures as fixtures
from tests.console.pilot_support import ToastingConsole
from tui.link.fixture_link import FixtureLink
from tui.settings import ConsoleSettings

SOCKET = Path("/srv/tbot/bot01/control/engine.sock")
PREFIX = "SIM-TBOT_US_SIM_BOT01-"
SYNCED_AT = "2026-11-20T14:58:00.000000Z"
AGE = 303
"""Seconds from SYNCED_AT to FROZEN_NOW."""
HASH = "264bd11f173542ba672e05671502ec6ced20bf67cb4a09dc61098e509d8c5710"

RECON_METHODS = (
    ("recon.status", "viewer", False),
    ("recon.runs", "viewer", False),
    ("recon.breaks", "viewer", False),
    ("recon.show", "viewer", False),
    ("recon.positions", "viewer", False),
    ("recon.sync", "admin", True),
    ("recon.resolve", "admin", True),
)


def discover_record(role: str = "admin") -> dict[str, Any]:
    """`rpc.discover` of console_fixtures, plus the recon methods."""
    record = fixtures.discover_record(role)
    rank = {"viewer": 0, "auditor": 1, "operator": 2, "admin": 3}
    record["methods"] = [*record["methods"], *(
        {"name": name, "summary": name, "min_role": minimum, "changes_state": changes,
         "allowed": rank[role] >= rank[minimum], "params": []}
        for name, minimum, changes in RECON_METHODS)]
    return record


def break_record(number: int, kind: str, trade_id: str, status: str, symbol: str | None,
                 broker: str | None, ledger: str | None, cash: str, shares: str,
                 detail: str, *, fields: list[dict[str, str]] | None = None,
                 entry_id: int | None = None, record_id: int | None = None,
                 age: int = AGE) -> dict[str, Any]:
    """One `recon.breaks` row."""
    return {
        "id": number, "kind": kind, "trade_id": trade_id, "status": status,
        "symbol": symbol, "broker_value": broker, "ledger_value": ledger,
        "difference": {"cash": cash, "quantity": shares, "symbol": symbol},
        "compare_fields": fields or [], "detail": detail,
        "record_hash": HASH if record_id is not None else None, "entry_id": entry_id,
        "broker_record_id": record_id, "sync_run_id": 1, "at": SYNCED_AT,
        "age_seconds": age, "resolves_id": None, "resolution_action": None, "actor": None,
        "reason": None, "posted_entry_ids": [],
    }


def fault_breaks() -> list[dict[str, Any]]:
    """The fault day's eight open breaks, newest first."""
    return [
        break_record(13, "balance", "USD", "mismatch", None, "100458.686", "100571.476",
                     "-0.37", "0", "broker cash 100458.686 USD, ledger 1070 100571.476, open "
                     "breaks explain -112.42; unexplained -0.37 FAILS a tolerance of 0.01",
                     fields=[{"field": "cash", "ledger": "100459.056",
                              "broker": "100458.686"}]),
        break_record(12, "position", "AMD", "broker-only", "AMD", "5", "0", "0", "5",
                     "broker holds 5, the ledger 0; 5 unexplained",
                     fields=[{"field": "quantity", "ledger": "0", "broker": "5"}]),
        break_record(11, "position", "AAPL", "broker-only", "AAPL", "1", "0", "0", "1",
                     "broker holds 1, the ledger 0; fully explained",
                     fields=[{"field": "quantity", "ledger": "0", "broker": "1"}]),
        break_record(10, "cash", f"{PREFIX}A000004", "unmapped", None, "MISCFEE -12.34", None,
                     "-12.34", "0", "MISCFEE cash activity not booked: waiting for a mapping",
                     record_id=9),
        break_record(6, "fill", f"{PREFIX}F000001", "local-only", "AAPL", None,
                     "buy 10 AAPL @ 100.02 fee 0.05", "1000.25", "-10",
                     "booked in the ledger, absent from the broker's complete report",
                     entry_id=2),
        break_record(3, "fill", f"{PREFIX}F000004", "pending", "NVDA",
                     "buy 3 NVDA @ 150.03 fee 0.02", "buy 3 NVDA @ 150.03 fee 0.02", "0", "0",
                     "booked; pending at the broker until it is final", entry_id=4,
                     record_id=3),
        break_record(2, "fill", f"{PREFIX}F000003", "mismatch", "MSFT",
                     "buy 5 MSFT @ 300.07 fee 0.03", "buy 5 MSFT @ 300.06 fee 0.03", "-0.05",
                     "0", "the broker reports it differently: price 300.06 in the ledger, "
                     "300.07 at the broker",
                     fields=[{"field": "price", "ledger": "300.06", "broker": "300.07"}],
                     entry_id=3, record_id=2),
        break_record(1, "fill", f"{PREFIX}F000002", "broker-only", "AAPL",
                     "buy 1 AAPL @ 100.02 fee 0.01", None, "-100.03", "1",
                     "a fill of an order the engine never placed", record_id=1),
    ]


def run_record(*, outcome: str = "complete", spans: list[dict[str, str]] | None = None
               ) -> dict[str, Any]:
    """A sync run in the `recon.status` result shape."""
    return {
        "run_id": 1, "trigger": "manual", "outcome": outcome,
        "window": {"since": "2026-10-21T14:58:00Z", "until": "2026-11-20T14:58:01Z"},
        "started_at": "2026-11-20T14:57:58Z", "ended_at": "2026-11-20T14:58:00Z",
        "counts": {"broker-only": 1, "local-only": 1, "mapped": 2, "mismatch": 1, "ok": 5,
                   "pending": 1, "unmapped": 1},
        "refused": [], "booked": [], "spans_not_read": spans or [], "rows_written": 30,
        "new_breaks": [1, 2, 3, 6, 10, 11, 12, 13], "breaks_detail": [], "closed": [],
        "positions": [], "balances": [], "error": None, "seconds": 0.03,
    }


def status_record(*, running: dict[str, Any] | None = None, **run: Any) -> dict[str, Any]:
    """A `recon.status` answer."""
    return {"running": running, "last_sync": run_record(**run), "last_check": None,
            "min_interval_seconds": 60.0}


def show_record(brk: Mapping[str, Any]) -> dict[str, Any]:
    """A `recon.show` answer for a break row: the restated MSFT fill's record and entry
    (for the others, what their kind has)."""
    row = copy.deepcopy(dict(brk))
    record = None
    if row["broker_record_id"] is not None:
        record = {
            "id": row["broker_record_id"], "kind": row["kind"], "broker_id": row["trade_id"],
            "record_hash": HASH,
            "raw_payload": {
                "activity_type": "FILL", "client_order_id": "open-20261120T1432-MSFT-entry",
                "cum_qty": "5", "fee": "0.03", "id": row["trade_id"], "leaves_qty": "0",
                "order_id": f"{PREFIX}O000003", "order_status": "filled", "price": "300.0700",
                "qty": "5", "side": "buy", "status": "executed", "symbol": "MSFT",
                "transaction_time": "2026-11-20T09:33:00-05:00", "type": "fill"},
            "json_metadata": {}, "broker_local_time": "2026-11-20T09:33:00-05:00",
            "occurred_at": "2026-11-20T14:33:00.000000Z", "final": True,
            "source": "fetch_fill_reports", "fetched_at": SYNCED_AT}
    entry = None
    if row["entry_id"] is not None:
        entry = {
            "id": row["entry_id"], "fitid": row["trade_id"],
            "dtposted": "2026-11-20T14:33:00.000000Z", "trntype": "BUY",
            "memo": "open: buy 5 MSFT @ 300.06 (fee 0.03)", "source": "engine",
            "is_manual": False, "reverses_entry_id": None, "reversed_by": None,
            "postings": [
                {"account": "1115", "amount": "1500.3", "quantity": "5", "symbol": "MSFT"},
                {"account": "5045", "amount": "0.03", "quantity": None, "symbol": None},
                {"account": "1070", "amount": "-1500.33", "quantity": None, "symbol": None}]}
    run = run_record()
    sync_run = {"id": 1, "trigger": "manual", "window": run["window"],
                "started_at": run["started_at"], "ended_at": run["ended_at"],
                "actor": "control:operator1(uid=1001)", "credential_fingerprint": "0a" * 32,
                "outcome": "complete", "counts": run["counts"], "records_seen": 10,
                "records_refused": 0, "spans_not_read": [], "error": None}
    return {"break": row, "is_open": True, "latest_id": row["id"], "broker_record": record,
            "ledger_entry": entry, "history": [row], "sync_runs": [sync_run]}


def resolve_record(params: Mapping[str, Any]) -> dict[str, Any]:
    """A `recon.resolve` answer to `params`, as the engine builds it."""
    action = params["action"]
    number = params["id"]
    dry_run = bool(params.get("dry_run"))
    entries: list[dict[str, Any]] = []
    if action == "accept-broker" and params.get("account"):
        entries = [{"fitid": f"{PREFIX}A000004", "dtposted": "2026-11-20T15:00:00Z",
                    "trntype": "DEBIT",
                    "memo": "MISCFEE -12.34: Simulated fee of a type no mapping knows",
                    "postings": [
                        {"account": "1070", "amount": "-12.34", "symbol": None,
                         "quantity": None},
                        {"account": params["account"], "amount": "12.34", "symbol": None,
                         "quantity": None}]}]
    elif action == "accept-broker":
        entries = [
            {"fitid": f"{PREFIX}F000003~r1", "reverses": f"{PREFIX}F000003",
             "memo": f"reversed on accepting the broker's version (break #{number})",
             "dtposted": "2026-11-20T14:30:00Z"},
            {"fitid": f"{PREFIX}F000003~c1", "dtposted": "2026-11-20T14:33:00Z",
             "trntype": "BUY",
             "memo": f"restated by the broker (break #{number}): buy 5 MSFT @ 300.07",
             "postings": [
                 {"account": "1115", "amount": "1500.35", "symbol": "MSFT", "quantity": "5"},
                 {"account": "5045", "amount": "0.03", "symbol": None, "quantity": None},
                 {"account": "1070", "amount": "-1500.38", "symbol": None, "quantity": None}]},
        ]
    elif action == "book-manually":
        entries = [{"fitid": f"recon-{number}", "dtposted": "2026-11-20T14:30:00Z",
                    "trntype": "OTHER", "memo": params.get("memo"),
                    "postings": [{**posting, "symbol": None, "quantity": None}
                                 for posting in params.get("postings", [])]}]
    kinds = {brk["id"]: brk for brk in fault_breaks()}
    brk = kinds.get(number, kinds[2])
    return {"break_id": number, "action": action, "kind": brk["kind"],
            "trade_id": brk["trade_id"], "resolution_id": None if dry_run else 14,
            "dry_run": dry_run, "entries": entries,
            "posted_entry_ids": [] if dry_run else list(range(20, 20 + len(entries)))}


def positions_record() -> dict[str, Any]:
    """A `recon.positions` answer: AAPL and AMD held at the broker only, NVDA matched, and
    the USD cash assertion failing by 0.37."""
    def check(symbol: str, broker: str, ledger: str, explained: str, outcome: str,
              reason: str) -> dict[str, Any]:
        return {"symbol": symbol, "checked_at": SYNCED_AT, "trigger": "manual",
                "broker_quantity": broker, "broker_average_cost": "100.02",
                "ledger_quantity": ledger, "ledger_cost_basis": "0",
                "engine_quantity": ledger, "explained_quantity": explained,
                "outcome": outcome, "reason": reason}

    return {
        "positions": [
            check("AAPL", "1", "0", "1", "missing_in_ledger",
                  "broker holds 1, the ledger 0; 1 explained by broker-only F000002"),
            check("AMD", "5", "0", "0", "missing_in_ledger",
                  "broker holds 5, the ledger 0; 5 unexplained"),
            check("NVDA", "3", "3", "0", "matched", "broker and ledger hold 3"),
        ],
        "balances": [{
            "currency": "USD", "account": "1070", "asserted_at": SYNCED_AT,
            "trigger": "manual", "broker_cash": "100458.686", "ledger_cash": "100571.476",
            "in_transit": "-112.42", "difference": "-0.37", "tolerance": "0.01",
            "passed": False, "detail": "unexplained -0.37 FAILS a tolerance of 0.01"}],
    }


def page_of(breaks: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """`recon.breaks` over `breaks` (newest first) as the engine pages and filters it."""
    status, search = params.get("status"), str(params.get("search") or "").casefold()
    chosen = [b for b in breaks if (b["status"] == status if status else
                                    b["status"] != "resolved")]
    if search:
        chosen = [b for b in chosen if any(search in str(b[name] or "").casefold() for name in
                                           ("symbol", "trade_id", "detail", "kind", "status"))]
    offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
    open_by_kind: dict[str, dict[str, int]] = {}
    for row in breaks:
        if row["status"] != "resolved":
            by_status = open_by_kind.setdefault(row["kind"], {})
            by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    return {"breaks": chosen[offset:offset + limit], "total": len(chosen), "offset": offset,
            "limit": limit, "open_by_kind": open_by_kind}


class ReconLink(FixtureLink):
    """A FixtureLink whose engine pages `breaks`, answers the other recon methods from
    this module, records every call attempted (offline ones included), and can hold dry
    runs until released (to press a key while one is on its way). An `answers` entry (an
    exception instance is raised) overrides a method."""

    def __init__(self, *args: Any, breaks: list[dict[str, Any]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaks = fault_breaks() if breaks is None else breaks
        self.status = status_record()
        self.attempts: list[tuple[str, Mapping[str, Any] | None]] = []
        self.dry_runs_wait: asyncio.Event | None = None
        self.recon_answers: dict[str, object] = {}

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   timeout: float = 30.0) -> object:
        self.attempts.append((method, params))
        if self.dry_runs_wait is not None and params and params.get("dry_run"):
            await self.dry_runs_wait.wait()
        if method.startswith("recon."):
            # Set as the answer, so the base class refuses it offline or to a role that
            # may not call it, as the engine does.
            override = self.recon_answers.get(method)
            self.set_answer(method, override if override is not None
                            else self._recon(method, params or {}))
        return await super().call(method, params, timeout=timeout)

    def _recon(self, method: str, params: Mapping[str, Any]) -> object:
        if method == "recon.breaks":
            return page_of(self.breaks, params)
        if method == "recon.show":
            return show_record(next(b for b in self.breaks if b["id"] == params["id"]))
        if method == "recon.status":
            return self.status
        if method == "recon.positions":
            return positions_record()
        if method == "recon.resolve":
            return resolve_record(params)
        if method == "recon.sync":
            return {"started": True, "status": self.status}
        return {}

    def calls_of(self, method: str) -> list[Mapping[str, Any] | None]:
        """The params of every attempt to call `method`."""
        return [params for called, params in self.attempts if called == method]


class ReconConsole(ToastingConsole):
    """The console app, remembering its toasts, with its fixture engine."""

    @property
    def recon_link(self) -> ReconLink:
        """The fixture engine."""
        assert isinstance(self.link, ReconLink)
        return self.link


def console(*, role: str = "admin", online: bool = True,
            breaks: list[dict[str, Any]] | None = None, ledger: Path | None = None,
            answers: dict[str, object] | None = None) -> ReconConsole:
    """The real console app on the fixture engine (or, `online=False` with `ledger`, the
    engine stopped and that ledger file to read)."""
    clock = FrozenClock(fixtures.FROZEN_NOW)
    settings = ConsoleSettings(bot_name=fixtures.BOT, bot_id="BOT01", socket_path=SOCKET,
                               ledger_path=ledger)

    def link(state: Any, notify: Any) -> ReconLink:
        made = ReconLink(
            state, notify, clock, status=fixtures.status_record(),
            positions=fixtures.positions_records(), orders=fixtures.orders_records(),
            pnl=fixtures.pnl_record(), account=fixtures.account_record(),
            discover=discover_record(role), online=online, breaks=breaks)
        made.recon_answers.update(answers or {})
        return made

    app = ReconConsole(settings, link, clock=clock)
    app.animation_level = "none"
    return app
