"""The ports of `tbot.reconcile.ports` over the engine's own tools: the broker gateway
(one broker thread, timeouts, retries with backoff) and the ledger desk (one ledger
thread, the single writer). The engine and the offline CLI both build these."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from tbot.broker.models import AccountSnapshot, BrokerPosition, Page
from tbot.broker.reports import CashReport, FillReport, RefusedReport, ReportKind
from tbot.engine.broker_gateway import BrokerGateway
from tbot.engine.ledger_desk import LedgerDesk
from tbot.ledger.batch import BatchResult, LedgerBatch

T = TypeVar("T")


class GatewayBroker:
    """`BrokerPort` through a `BrokerGateway`: every page is retried as any broker call."""

    def __init__(self, gateway: BrokerGateway) -> None:
        self._gateway = gateway

    async def fill_reports(self, since: datetime, until: datetime, page_token: str | None,
                           page_size: int) -> Page[FillReport | RefusedReport]:
        broker = self._gateway.broker
        return await self._gateway.call(
            "fetch_fill_reports", broker.fetch_fill_reports, since, until,
            page_token=page_token, page_size=page_size,
        )

    async def cash_reports(self, since: datetime, until: datetime, page_token: str | None,
                           page_size: int) -> Page[CashReport | RefusedReport]:
        broker = self._gateway.broker
        return await self._gateway.call(
            "fetch_cash_reports", broker.fetch_cash_reports, since, until,
            page_token=page_token, page_size=page_size,
        )

    async def positions(self) -> list[BrokerPosition]:
        return await self._gateway.call("positions", self._gateway.broker.positions)

    async def account(self) -> AccountSnapshot:
        return await self._gateway.call("account", self._gateway.broker.account)

    def credential_fingerprint(self) -> str:
        return self._gateway.broker.credential_fingerprint()

    def normalize(self, kind: ReportKind, raw: Mapping[str, Any]
                  ) -> FillReport | CashReport | RefusedReport:
        """A kept payload normalized again (to accept the broker's version of it)."""
        return self._gateway.broker.normalize_report(kind, raw)


class DeskLedger:
    """`LedgerPort` through the `LedgerDesk`'s thread."""

    def __init__(self, desk: LedgerDesk) -> None:
        self._desk = desk

    async def read(self, function: Callable[[sqlite3.Connection], T]) -> T:
        return await self._desk.run(self._desk.read_with, function)

    async def commit(self, batch: LedgerBatch, *, actor: str, action: str, subject: str,
                     details: Mapping[str, Any]) -> BatchResult:
        return await self._desk.run(self._desk.commit_batch, batch, actor, action, subject,
                                    details)
