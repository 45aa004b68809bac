"""The breaks grid's rows, paged from the engine (or the ledger file) around what is on
screen, so a hundred thousand breaks show their first page as fast as eight.

The grid asks its source synchronously while it paints; this source answers from the rows
read so far and a placeholder row for the others, and tells the screen which blocks are
missing (`on_missing`), which reads them in a worker and hands them back (`accept`). A
query change (a status key, the `/` search, which the engine runs: `recon.breaks`
`search`) starts a new generation: answers of an older one are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tui.recon.breaks import Break, BreakPage
from tui.recon.rows import break_row, placeholder_row
from tui.widgets.grid_source import GridRow

FETCH_SIZE = 200
"""Breaks per read: a few screens, well under the engine's largest page (500)."""

MAX_KEPT = 4_000
"""Rows kept in memory; the ones furthest from the latest read go first."""

MAX_SEARCH = 64
"""The engine's longest `search`."""


@dataclass(frozen=True)
class BreakQuery:
    """Which breaks the grid lists: open ones (status None) or one status, and a search."""

    status: str | None = None
    search: str = ""

    def params(self, offset: int, limit: int) -> dict[str, object]:
        """The `recon.breaks` params of one page."""
        params: dict[str, object] = {"limit": limit, "offset": offset}
        if self.status is not None:
            params["status"] = self.status
        if self.search:
            params["search"] = self.search
        return params


class PagedBreakSource:
    """A `GridSource` over the breaks read so far, with placeholders for the rest."""

    def __init__(self, on_missing: Callable[[int], None] | None = None) -> None:
        self.on_missing: Callable[[int], None] = on_missing or (lambda start: None)
        """Called with the first index of each block the grid asked for and no read holds."""
        self.query = BreakQuery()
        self.generation = 0
        self.epoch = 0
        """Bumped by each fresh read: a block read before it may hold rows that moved."""
        self._rows: dict[int, Break] = {}
        self._total = 0
        self._loaded = False
        self._keys: dict[str, int] | None = None

    # -- what the screen does ------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether a page of the current query has arrived."""
        return self._loaded

    def set_status(self, status: str | None) -> bool:
        """List one status (None: every open break); False if it already does."""
        if status == self.query.status:
            return False
        self.query = replace(self.query, status=status)
        self.restart()
        return True

    def restart(self) -> None:
        """Forget the rows read (a new query): a new generation, no rows until its first
        page arrives."""
        self.generation += 1
        self._rows.clear()
        self._total = 0
        self._loaded = False
        self._keys = None

    @property
    def token(self) -> tuple[int, int]:
        """What a read started now hands back to `accept`."""
        return (self.generation, self.epoch)

    def accept(self, token: tuple[int, int], page: BreakPage, *, fresh: bool) -> bool:
        """Keep a page read under `token` (False: a newer query, or for a block a newer
        fresh read, made it stale). `fresh` (a re-read after a change): the rows read
        before are dropped, they may have moved."""
        generation, epoch = token
        if generation != self.generation or (not fresh and epoch != self.epoch):
            return False
        if fresh:
            self._rows.clear()
            self.epoch += 1
        self._total = page.total
        self._loaded = True
        for position, brk in enumerate(page.breaks):
            self._rows[page.offset + position] = brk
        if len(self._rows) > MAX_KEPT:
            middle = page.offset
            for index in sorted(self._rows, key=lambda i: abs(i - middle))[MAX_KEPT:]:
                del self._rows[index]
        self._keys = None
        return True

    def break_of(self, key: str | None) -> Break | None:
        """The break with row key `key`, if it was read."""
        index = self.index_of(key) if key is not None else None
        return None if index is None else self._rows.get(index)

    def has(self, index: int) -> bool:
        """Whether row `index` was read."""
        return index in self._rows

    # -- GridSource ----------------------------------------------------------------------

    def count(self) -> int:
        """Breaks matching the query, as of the last page read."""
        return self._total

    def rows(self, offset: int, limit: int) -> Sequence[GridRow]:
        """The rows read, a placeholder for each one not read yet (whose block is asked
        for)."""
        start, end = max(0, offset), min(offset + max(0, limit), self._total)
        rows: list[GridRow] = []
        missing: set[int] = set()
        for index in range(start, end):
            brk = self._rows.get(index)
            if brk is None:
                rows.append(placeholder_row(index))
                missing.add(index - index % FETCH_SIZE)
            else:
                rows.append(break_row(brk))
        for block in sorted(missing):
            self.on_missing(block)
        return rows

    def index_of(self, key: str) -> int | None:
        """Where the break `key` is, among the rows read."""
        if self._keys is None:
            self._keys = {brk.key: index for index, brk in self._rows.items()}
        return self._keys.get(key)

    def set_filter(self, text: str) -> None:
        """Search the breaks for `text` (the engine does, over every row)."""
        search = text.strip()[:MAX_SEARCH]
        if search == self.query.search:
            return
        self.query = replace(self.query, search=search)
        self.restart()

    @property
    def filter_text(self) -> str:
        """The search set last."""
        return self.query.search
