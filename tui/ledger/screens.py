"""The ledger view: trial balance → an account's postings → one entry and its audit rows.

`TrialBalanceScreen` is the root of the "ledger" mode; `enter` drills in, `esc` walks back,
`a` opens the whole journal, ctrl+r re-reads what the engine wrote since, `/` filters every
table. Anything that may take a while on a big ledger (the trial balance's scan, counting
an account's postings, an entry's audit rows, a filter's scan) runs in a thread worker
while a line says so, so the UI never freezes; results come back as a message.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tbot.ledger.amounts import format_money
from tbot.ledger.reports import CurrencyTotal
from tui.ledger.ledger_reader import (
    AuditLine,
    EntryDetail,
    LedgerReader,
    PostingLine,
    TrialBalanceRow,
    currency_totals,
)
from tui.ledger.sources import (
    AccountSource,
    BackgroundRunner,
    JournalSource,
    LedgerSource,
    dr_cr,
    entry_id_of_key,
    signed_pnl,
)
from tui.model.formatting import price, quantity, stamp
from tui.model.live_state import Topic
from tui.screens.live_screen import LiveScreen
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import GridColumn, GridRow, ListSource, cell_plain_text

T = TypeVar("T")

BACK_BINDING = Binding("escape", "back", "Back", id="screen.back")
REFRESH_BINDING = Binding("ctrl+r", "refresh", "Refresh", id="ledger.refresh")

POSTING_COLUMNS = (
    GridColumn("code", "Acct", 4),
    GridColumn("account", "Account", 12, flex=True),
    GridColumn("debit", "Debit", 14, align="right"),
    GridColumn("credit", "Credit", 14, align="right"),
    GridColumn("quantity", "Qty", 8, align="right"),
    GridColumn("symbol", "Sym", 5),
)
AUDIT_COLUMNS = (
    GridColumn("id", "Audit #", 8, align="right"),
    GridColumn("time", "Time (UTC)", 20),
    GridColumn("actor", "Actor", 8),
    GridColumn("action", "Action", 13),
    GridColumn("subject", "Subject", 10, flex=True),
)


class LedgerWorkDone(Message):
    """A ledger worker finished: `apply` shows its result (run, and awaited when it is a
    coroutine, on the UI thread)."""

    def __init__(self, apply: Callable[[], object]) -> None:
        super().__init__()
        self.apply = apply


class Caption(Static):
    """One or two lines above a table: what it shows, or what is being computed."""

    DEFAULT_CSS = """
    Caption {
        height: auto;
        max-height: 6;
        padding: 0 1;
    }
    """


class LedgerScreen(LiveScreen):
    """What every ledger screen shares: the reader, thread workers, `esc` back."""

    VIEW_TITLE = "Ledger"
    AUTO_FOCUS = "DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [BACK_BINDING]

    DEFAULT_CSS = """
    LedgerScreen > Vertical.ledger-body {
        height: 1fr;
    }
    """

    @property
    def ledger(self) -> LedgerReader | None:
        """The bot's ledger, or None when it cannot be read (see `unavailable`)."""
        return self.console.ledger

    @property
    def unavailable(self) -> str:
        """Why there is no ledger to show."""
        return self.console.ledger_error or "the ledger is not available"

    def action_back(self) -> None:
        """Back to the screen this one was opened from."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The root of the view has nowhere to go back to: no `esc` in its footer.
        if action == "back":
            return len(self.app.screen_stack) > 1
        return True

    def in_thread(
        self,
        work: Callable[[LedgerReader], T],
        done: Callable[[T], object],
        failed: Callable[[str], None],
        *,
        name: str,
    ) -> None:
        """Run `work(ledger)` in a thread worker, then `done(result)` or `failed(reason)`
        back on the UI thread."""
        ledger = self.ledger
        if ledger is None:
            failed(self.unavailable)
            return

        def run() -> None:
            try:
                result = work(ledger)
            except Exception as error:  # a broken ledger must not take the console down
                self.post_message(LedgerWorkDone(partial(failed, str(error) or repr(error))))
                return
            finally:
                ledger.release_thread_connection()
            self.post_message(LedgerWorkDone(partial(done, result)))

        self.run_worker(run, thread=True, name=name, group="ledger", exit_on_error=False)

    def filter_runner(self, grid: DataGrid, settled: Callable[[], None]) -> BackgroundRunner:
        """A runner for a SQL source's filter scans: off the UI thread, then reload `grid`
        and call `settled` (to update a caption)."""

        def finish() -> None:
            failure = getattr(grid.source, "scan_error", None)
            grid.empty_text = f"the filter failed: {failure}" if failure \
                else "no row matches the filter"
            grid.reload()
            settled()

        def runner(work: Callable[[], None]) -> None:
            grid.empty_text = "searching the ledger…"
            grid.refresh()

            def run() -> None:
                work()
                self.post_message(LedgerWorkDone(finish))

            self.run_worker(run, thread=True, name="ledger-filter", group="ledger-filter",
                            exit_on_error=False)

        return runner

    async def on_ledger_work_done(self, message: LedgerWorkDone) -> None:
        message.stop()
        shown = message.apply()
        if inspect.isawaitable(shown):
            await shown


# -- trial balance --------------------------------------------------------------------------


class TrialBalanceScreen(LedgerScreen):
    """Every account's debits, credits and balance, and a total per currency that says
    whether it balances. `enter` opens the account, `a` the whole journal."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "journal", "All entries", id="ledger.journal"),
        REFRESH_BINDING,
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source = ListSource()
        self._codes: dict[str, str] = {}
        self._computing = False

    def body(self) -> ComposeResult:
        with Vertical(classes="ledger-body"):
            yield Caption("", id="ledger-caption")
            yield self._new_grid(trial_balance_columns(()))

    def _new_grid(self, columns: Sequence[GridColumn]) -> FilterableGrid:
        return FilterableGrid(columns, self._source, empty_text="computing the trial balance…",
                              id="trial-balance")

    @property
    def grid(self) -> DataGrid:
        """The trial balance table."""
        return self.query_one("#trial-balance", FilterableGrid).grid

    def on_mount(self) -> None:
        self._compute()

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        # New fills are new postings: the sums move (cheaply: only new postings are read).
        if Topic.FILLS in topics:
            self._compute()

    def action_refresh(self) -> None:
        """Add what was posted since the last look."""
        self._compute()

    def action_journal(self) -> None:
        """Every entry, newest first."""
        self.app.push_screen(JournalScreen())

    @on(DataGrid.RowSelected, "#trial-balance DataGrid")
    def _open_account(self, message: DataGrid.RowSelected) -> None:
        code = self._codes.get(message.key)
        if code is not None:
            self.app.push_screen(AccountScreen(code))

    def _compute(self) -> None:
        caption = self.query_one("#ledger-caption", Caption)
        ledger = self.ledger
        if ledger is None:
            caption.update(Text(self.unavailable, style="bold red"))
            self.grid.empty_text = self.unavailable
            self.grid.refresh()
            return
        if self._computing:
            return
        self._computing = True
        if not self._source.count():
            caption.update(Text("computing the trial balance…", style="italic"))
        self.in_thread(_trial_balance, self._show_balances, self._balances_failed,
                       name="trial-balance")

    async def _show_balances(self, figures: tuple[int, list[TrialBalanceRow]]) -> None:
        self._computing = False
        entries, rows = figures
        totals = currency_totals(rows)
        self._codes = {_account_key(row): row.code for row in rows}
        grid_rows = [*map(_trial_balance_row, rows), *map(_total_row, totals)]
        self._source.replace(grid_rows)
        columns = trial_balance_columns(grid_rows)
        if self.grid.columns != columns:
            # Money is never cropped: a wider figure gets a wider column.
            await self._replace_grid(columns)
        grid = self.grid
        grid.empty_text = "the ledger has no postings yet"
        grid.reload()
        balanced = all(total.balanced for total in totals)
        caption = Text(f"Trial balance · {entries:,} entries · ")
        caption.append("balanced" if balanced else "NOT BALANCED",
                       style="bold green" if balanced else "bold white on red")
        caption.append("  enter: account · a: all entries", style="dim")
        self.query_one("#ledger-caption", Caption).update(caption)

    async def _replace_grid(self, columns: Sequence[GridColumn]) -> None:
        old = self.query_one("#trial-balance", FilterableGrid)
        had_focus = old.grid.has_focus
        await old.remove()
        new = self._new_grid(columns)
        await self.query_one(".ledger-body", Vertical).mount(new)
        if had_focus or self.focused is None:
            new.grid.focus()

    def _balances_failed(self, reason: str) -> None:
        self._computing = False
        message = f"cannot compute the trial balance: {reason}"
        self.query_one("#ledger-caption", Caption).update(Text(message, style="bold red"))
        self.grid.empty_text = message
        self.grid.refresh()


def trial_balance_columns(rows: Sequence[GridRow]) -> tuple[GridColumn, ...]:
    """The trial balance's columns, each money column as wide as its widest figure."""

    def width(position: int, title: str, least: int) -> int:
        cells = (len(cell_plain_text(row.cells[position])) for row in rows)
        return max(least, len(title), *cells)

    return (
        GridColumn("code", "Code", 4),
        GridColumn("account", "Account", 12, flex=True),
        GridColumn("currency", "Cur", 3),
        GridColumn("debit", "Debit", width(3, "Debit", 12), align="right"),
        GridColumn("credit", "Credit", width(4, "Credit", 12), align="right"),
        GridColumn("balance", "Balance", width(5, "Balance", 15), align="right"),
    )


def _trial_balance(ledger: LedgerReader) -> tuple[int, list[TrialBalanceRow]]:
    return ledger.entry_count(), ledger.trial_balance()


def _account_key(row: TrialBalanceRow) -> str:
    return f"{row.code} {row.currency}"


def _trial_balance_row(row: TrialBalanceRow) -> GridRow:
    return GridRow(
        key=_account_key(row),
        cells=(row.code, row.name, row.currency, format_money(row.debit),
               format_money(row.credit), dr_cr(row.balance)),
    )


def _total_row(total: CurrencyTotal) -> GridRow:
    # The verdict first: it must survive a narrow Account column.
    label = Text("Total ", style="bold")
    if total.balanced:
        label.append("✓ balanced", style="bold green")
    else:
        label.append("✗ NOT BALANCED", style="bold white on red")
    return GridRow(
        key=f"= {total.currency}",
        cells=("", label, total.currency, Text(format_money(total.debit), style="bold"),
               Text(format_money(total.credit), style="bold"), dr_cr(total.debit - total.credit)),
    )


# -- pages of entries or postings -----------------------------------------------------------


class _PagedScreen(LedgerScreen):
    """A SQL-paged table (the journal, an account): counted in a worker, then shown."""

    BINDINGS: ClassVar[list[BindingType]] = [REFRESH_BINDING]
    GRID_ID: ClassVar[str] = "ledger-rows"
    COLUMNS: ClassVar[tuple[GridColumn, ...]] = ()
    HEADING: ClassVar[str] = ""
    NOUN: ClassVar[str] = "rows"
    """What the rows are, for the caption: "1,000 entries"."""

    def __init__(self, open_source: Callable[[LedgerReader], LedgerSource[Any]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._open_source = open_source
        self._source: LedgerSource[Any] | None = None

    def body(self) -> ComposeResult:
        with Vertical(classes="ledger-body"):
            yield Caption("", id="ledger-caption")
            yield FilterableGrid(self.COLUMNS, ListSource(), empty_text="reading the ledger…",
                                 id=self.GRID_ID)

    def heading(self) -> str:
        """What the table shows, first in its caption."""
        return self.HEADING

    @property
    def grid(self) -> DataGrid:
        """The table."""
        return self.query_one(f"#{self.GRID_ID}", FilterableGrid).grid

    def on_mount(self) -> None:
        caption = self.query_one("#ledger-caption", Caption)
        if self.ledger is None:
            caption.update(Text(self.unavailable, style="bold red"))
            self.grid.empty_text = self.unavailable
            return
        caption.update(_count_caption(self.heading(), None, self.NOUN))
        self.in_thread(self._prepared, self._source_ready, self._failed, name="ledger-count")

    def _prepared(self, ledger: LedgerReader) -> LedgerSource[Any]:
        source = self._open_source(ledger)
        source.prepare()
        return source

    def _source_ready(self, source: LedgerSource[Any]) -> None:
        self._source = source
        grid = self.grid
        source.run_in_background = self.filter_runner(grid, self._update_caption)
        grid.empty_text = "nothing recorded yet"
        grid.set_source(source)
        self._update_caption()

    def _failed(self, reason: str) -> None:
        message = f"cannot read the ledger: {reason}"
        self.query_one("#ledger-caption", Caption).update(Text(message, style="bold red"))
        self.grid.empty_text = message
        self.grid.refresh()

    def _update_caption(self) -> None:
        caption = _count_caption(self.heading(), self._source, self.NOUN)
        self.query_one("#ledger-caption", Caption).update(caption)

    @on(DataGrid.FilterChanged)
    def _filter_changed(self, message: DataGrid.FilterChanged) -> None:
        self._update_caption()

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        if Topic.FILLS in topics:
            self.action_refresh()

    def action_refresh(self) -> None:
        """Show what was written since the table was counted (a filter keeps its scan)."""
        if self._source is not None:
            self.grid.reload()
            self._update_caption()

    @on(DataGrid.RowSelected)
    def _open_entry(self, message: DataGrid.RowSelected) -> None:
        entry_id = entry_id_of_key(message.key)
        if entry_id is not None:
            self.app.push_screen(EntryScreen(entry_id))


def _count_caption(what: str, source: LedgerSource[Any] | None, total: str) -> Text:
    text = Text(what, style="bold")
    if source is None:
        text.append(" · counting…", style="italic")
        return text
    if source.filter_text:
        if source.searching:
            text.append(f" · searching for “{source.filter_text}”…", style="italic")
        elif source.scan_error:
            text.append(f" · the filter failed: {source.scan_error}", style="bold red")
        else:
            text.append(f" · {source.count():,} match “{source.filter_text}”")
        return text
    text.append(f" · {source.count():,} {total}, newest first")
    return text


class JournalScreen(_PagedScreen):
    """Every entry of the ledger, newest first; `enter` opens one."""

    GRID_ID = "journal"
    COLUMNS = JournalSource.columns
    HEADING = "Journal"
    NOUN = "entries"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(LedgerReader.journal_source, **kwargs)


class AccountScreen(_PagedScreen):
    """One account's postings, newest first, with their entries; `enter` opens the entry."""

    GRID_ID = "account"
    COLUMNS = AccountSource.columns
    NOUN = "postings"

    def __init__(self, code: str, **kwargs: Any) -> None:
        super().__init__(lambda ledger: ledger.account_source(code), **kwargs)
        self.code = code

    def heading(self) -> str:
        ledger = self.ledger
        return f"{self.code} {ledger.account_name(self.code)}" if ledger else self.code


# -- one entry ------------------------------------------------------------------------------


class EntryScreen(LedgerScreen):
    """One entry: its fields, its postings (`enter` opens the account) and its audit rows
    (the highlighted row's details and hashes show below them)."""

    DEFAULT_CSS = """
    EntryScreen #entry-postings, EntryScreen #entry-audit {
        height: 1fr;
    }
    EntryScreen #audit-detail {
        height: 2;
        color: $text-muted;
    }
    """

    def __init__(self, entry_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry_id = entry_id
        self._postings = ListSource()
        self._audit = ListSource()
        self._detail: EntryDetail | None = None

    def body(self) -> ComposeResult:
        with Vertical(classes="ledger-body"):
            yield Caption(Text(f"entry {self.entry_id}: reading…", style="italic"),
                          id="ledger-caption")
            yield FilterableGrid(POSTING_COLUMNS, self._postings, empty_text="reading…",
                                 id="entry-postings")
            yield FilterableGrid(AUDIT_COLUMNS, self._audit, empty_text="reading…",
                                 id="entry-audit")
            yield Static("", id="audit-detail")

    @property
    def detail(self) -> EntryDetail | None:
        """The entry, once read."""
        return self._detail

    def on_mount(self) -> None:
        self.in_thread(lambda ledger: ledger.entry_detail(self.entry_id), self._show,
                       self._failed, name="ledger-entry")

    def _show(self, detail: EntryDetail) -> None:
        self._detail = detail
        self.query_one("#ledger-caption", Caption).update(entry_header(detail))
        self._postings.replace(posting_row(line) for line in detail.postings)
        self._audit.replace(audit_row(line) for line in detail.audit_rows)
        for grid_id, empty in (("#entry-postings", "no postings"),
                               ("#entry-audit", "no audit row names this entry")):
            grid = self.query_one(grid_id, FilterableGrid).grid
            grid.empty_text = empty
            grid.reload()
        self._show_audit(self.query_one("#entry-audit", FilterableGrid).grid.cursor_key)

    def _failed(self, reason: str) -> None:
        message = f"cannot read entry {self.entry_id}: {reason}"
        self.query_one("#ledger-caption", Caption).update(Text(message, style="bold red"))
        for grid_id in ("#entry-postings", "#entry-audit"):
            grid = self.query_one(grid_id, FilterableGrid).grid
            grid.empty_text = "—"
            grid.refresh()

    @on(DataGrid.RowSelected, "#entry-postings DataGrid")
    def _open_account(self, message: DataGrid.RowSelected) -> None:
        if self._detail is None:
            return
        for line in self._detail.postings:
            if str(line.id) == message.key:
                self.app.push_screen(AccountScreen(line.account_code))
                return

    @on(DataGrid.CursorMoved, "#entry-audit DataGrid")
    def _audit_cursor(self, message: DataGrid.CursorMoved) -> None:
        self._show_audit(message.key)

    def _show_audit(self, key: str | None) -> None:
        text = Text()
        if self._detail is not None and key is not None:
            for line in self._detail.audit_rows:
                if str(line.id) == key:
                    text.append(line.details)
                    text.append(f"\nhash {line.row_hash}  prev {line.prev_hash}")
        self.query_one("#audit-detail", Static).update(text)


def entry_header(detail: EntryDetail) -> Text:
    """The entry's fields, a few short lines."""
    text = Text()
    text.append(f"Entry {detail.id} · {detail.fitid} · {detail.trntype}", style="bold")
    text.append(f" · {stamp(detail.dtposted)} · {detail.currency}\n")
    text.append(f"{detail.memo or '(no memo)'}\n")
    text.append(f"source {detail.source} · recorded {stamp(detail.created_at)} · "
                f"audit #{detail.audit_id} · {detail.bot}", style="dim")
    trade = detail.trade
    if trade is not None:
        fill_price = trade.exit_price if trade.exit_price is not None else trade.entry_price
        text.append(f"\nTrade {trade.trntype} {quantity(trade.size)} {trade.symbol} "
                    f"@ {price(fill_price)} ({trade.side}, {trade.strategy}, {trade.broker}) "
                    f"PnL ")
        text.append_text(signed_pnl(trade.pnl))
        if trade.tag != "none":
            text.append(f" · {trade.tag}")
        if trade.error_code:
            text.append(f" · error {trade.error_code}", style="bold red")
    notes = []
    if detail.is_manual:
        notes.append("manual")
    if detail.reverses_fitid:
        notes.append(f"reverses {detail.reverses_fitid}")
    if detail.reversed_by_fitid:
        notes.append(f"reversed by {detail.reversed_by_fitid}")
    if notes:
        text.append("\n" + " · ".join(notes), style="bold yellow")
    return text


def posting_row(line: PostingLine) -> GridRow:
    """One posting of the entry screen (key: the posting id)."""
    return GridRow(
        key=str(line.id),
        cells=(
            line.account_code,
            line.account_name,
            format_money(line.debit) if line.debit is not None else "",
            format_money(line.credit) if line.credit is not None else "",
            quantity(line.quantity) if line.quantity is not None else "",
            line.symbol or "",
        ),
    )


def audit_row(line: AuditLine) -> GridRow:
    """One audit row of the entry screen (key: the audit row id)."""
    return GridRow(
        key=str(line.id),
        cells=(str(line.id), stamp(line.created_at), line.actor, line.action, line.subject),
    )
