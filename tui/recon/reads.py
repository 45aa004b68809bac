"""Where view 4 reads from: the engine's `recon.*` methods, or, with the engine stopped,
the ledger file read-only through the engine's own queries (`tbot.reconcile.queries`).

Both answer in the protocol's shapes, so the view parses them the same way. The ledger's
reads run in a thread: a hundred thousand breaks never block the UI. Offline there is no
sync status, only the last run the ledger recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tbot.reconcile import queries
from tbot.reconcile.open_breaks import OpenBreakCounts
from tui.recon.breaks import (
    BREAKS_METHOD,
    POSITIONS_METHOD,
    SHOW_METHOD,
    STATUS_METHOD,
)

if TYPE_CHECKING:
    import sqlite3

    from tui.ledger.ledger_reader import LedgerReader
    from tui.link.console_link import ConsoleLink

READ_TIMEOUT = 15.0
T = TypeVar("T")


class ReconReads(Protocol):
    """The reads of view 4, answering raw protocol results."""

    async def breaks(self, params: Mapping[str, object]) -> object:
        """`recon.breaks`."""
        ...

    async def show(self, break_id: int) -> object:
        """`recon.show`."""
        ...

    async def status(self) -> object:
        """`recon.status` (offline: the last run recorded)."""
        ...

    async def positions(self) -> object:
        """`recon.positions`."""
        ...


class EngineReads:
    """The reads, over the console's link to the engine."""

    def __init__(self, link: ConsoleLink) -> None:
        self.link = link

    async def breaks(self, params: Mapping[str, object]) -> object:
        """`recon.breaks`."""
        return await self.link.call(BREAKS_METHOD, dict(params), timeout=READ_TIMEOUT)

    async def show(self, break_id: int) -> object:
        """`recon.show`."""
        return await self.link.call(SHOW_METHOD, {"id": break_id}, timeout=READ_TIMEOUT)

    async def status(self) -> object:
        """`recon.status`."""
        return await self.link.call(STATUS_METHOD, {}, timeout=READ_TIMEOUT)

    async def positions(self) -> object:
        """`recon.positions`."""
        return await self.link.call(POSITIONS_METHOD, {}, timeout=READ_TIMEOUT)


class LedgerReads:
    """The same reads on the ledger file, read-only, in a worker thread."""

    def __init__(self, reader: LedgerReader, now: Callable[[], datetime]) -> None:
        self.reader = reader
        self.now = now
        self.open_counts = OpenBreakCounts()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def in_thread() -> T:
            try:
                return work(self.reader.connection())
            finally:
                self.reader.release_thread_connection()

        return await asyncio.to_thread(in_thread)

    async def breaks(self, params: Mapping[str, object]) -> object:
        """`recon.breaks` from the ledger's reconciliation log."""
        now = self.now()
        status, search = params.get("status"), params.get("search")
        limit, offset = params.get("limit", 100), params.get("offset", 0)
        return await self._run(lambda c: queries.list_breaks(
            c, now, status=str(status) if status else None,
            search=str(search) if search else None,
            limit=int(limit) if isinstance(limit, int) else 100,
            offset=int(offset) if isinstance(offset, int) else 0,
            counts=self.open_counts))

    async def show(self, break_id: int) -> object:
        """`recon.show` from the ledger."""
        now = self.now()
        return await self._run(lambda c: queries.show_break(c, break_id, now))

    async def status(self) -> object:
        """No sync runs offline: the last run the ledger recorded, as `last_sync`."""
        runs = await self._run(lambda c: queries.list_runs(c, limit=1))
        latest: list[dict[str, Any]] = runs["runs"]
        return {"running": None, "last_sync": latest[0] if latest else None,
                "last_check": None}

    async def positions(self) -> object:
        """`recon.positions` from the ledger."""
        return await self._run(queries.latest_positions)
