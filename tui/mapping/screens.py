"""View 5: the mapping queue and its rule sets, in three tabs (`tab` moves on).

- Queue: the items waiting for an account, newest first, with the top suggestion, its
  confidence and why. `enter` accepts the top suggestion, `1`-`3` one of the first three,
  `o` any postable account from the chart, `r` saves a rule with the assignment (an editor
  with a live preview); `d`/`i` show an item in full.
- Rules: the active version's rules.
- Versions: every version with author, reason and time; `m` marks one, `d` diffs the
  marked (or the active) one with the selected one, `p` replays the selected one over the
  past decisions, `R` rolls back to it (reason, then `y`).
- Everywhere: `g` reads again, `x` exports a version to a file, `I` imports one.

Reads run in workers (the UI never waits on the socket or the file); every change is a dry
run or a reason first, then `y`, then one request (`operations`). Keys the caller's role
may not use stay in the footer, dimmed, and pressing one says why. With the engine stopped
the view reads the ledger file read-only (`offline_reads`) and changes are disabled.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import ContentSwitcher, Input, Static

from tbot.control.client import EngineUnavailableError, RpcCallError
from tui.commands.registry import method_availability
from tui.link.event_handling import describe_rpc_error
from tui.mapping.dialogs import (
    AssignConfirmScreen,
    ChangeConfirmScreen,
    ItemDetailsScreen,
    PathPromptScreen,
    ResultScreen,
)
from tui.mapping.offline_reads import OfflineAnswers, read_offline
from tui.mapping.operations import MappingOperations
from tui.mapping.queue_items import (
    ASSIGN_METHOD,
    QUEUE_METHOD,
    QueueItem,
    QueuePage,
    parse_queue,
)
from tui.mapping.rows import QUEUE_COLUMNS, queue_row
from tui.mapping.rule_editor import RuleEditorScreen
from tui.mapping.rule_sets import (
    DIFF_METHOD,
    EXPORT_METHOD,
    IMPORT_METHOD,
    REPLAY_METHOD,
    ROLLBACK_METHOD,
    RULES_METHOD,
    VERSIONS_METHOD,
    RuleSetPage,
    VersionList,
    VersionRow,
    parse_rules,
    parse_versions,
)
from tui.mapping.tab_rows import RULE_COLUMNS, VERSION_COLUMNS, rule_row, version_row
from tui.model.formatting import clock_time
from tui.model.live_state import LinkState, Topic
from tui.model.snapshot import SnapshotError
from tui.screens.dashboard import SectionTitle
from tui.screens.live_screen import LiveScreen
from tui.widgets.data_grid import DataGrid
from tui.widgets.filterable_grid import FilterableGrid
from tui.widgets.grid_source import ListSource

QUEUE_LIMIT = 500
FIRST_READ = 100
"""Items of the first read: the screen fills at once; the rest (to QUEUE_LIMIT) follows."""
"""Items read per refresh: the engine's largest page."""

READ_TIMEOUT = 15.0

OFFLINE_NOTE = (
    "offline: the mapping queue is read from the engine; start it "
    "(or use `tbot mapping queue`)"
)
LEDGER_NOTE = (
    "offline: read-only from the ledger file; changes need the engine. Suggestions are "
    "the ones stored when each item was queued"
)

TABS = ("queue", "rules", "versions")
_TAB_TITLES = {"queue": "Queue", "rules": "Rules", "versions": "Versions"}

_TAB_OF = {"accept": "queue", "pick": "queue", "details": "queue", "other": "queue",
           "rule": "queue", "mark": "versions", "diff": "versions", "replay": "versions",
           "rollback": "versions"}
"""The tab an action belongs to; the others work on every tab."""
_ASSIGNING_ACTIONS = frozenset({"accept", "pick", "other", "rule"})
"""Actions that write with mapping.assign: admin only, online only."""
_VIEW_ACTIONS = frozenset({*_TAB_OF, "refresh", "export", "import", "next_tab", "prev_tab"})
"""This view's own actions, each enabled or dimmed by `_refusal`."""
_ACTION_NAMES = {"details": "Details", "other": "Another account", "rule": "Saving a rule",
                 "mark": "Marking", "diff": "Diff", "replay": "Replay",
                 "rollback": "Rolling back", "export": "Export", "import": "Import",
                 "accept": "Accepting a mapping", "pick": "Accepting a mapping"}


class MappingQueueScreen(LiveScreen):
    """The items waiting for an account, and the rule sets that map the others."""

    VIEW_TITLE = "Mapping"
    AUTO_FOCUS = "#mapping-queue DataGrid"
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: the grid's own enter (open) and g (first row) would win otherwise.
        Binding("enter", "accept", "Accept", id="mapping.accept", priority=True),
        Binding("1", "pick(1)", "Pick", key_display="1-3", id="mapping.pick_1"),
        Binding("2", "pick(2)", "Pick 2", show=False, id="mapping.pick_2"),
        Binding("3", "pick(3)", "Pick 3", show=False, id="mapping.pick_3"),
        Binding("o", "other", "Other", id="mapping.other"),
        Binding("r", "rule", "Rule", id="mapping.rule"),
        Binding("d,i", "details", "Details", id="mapping.details"),
        Binding("m", "mark", "Mark", id="mapping.mark"),
        Binding("d", "diff", "Diff", id="mapping.diff"),
        Binding("p", "replay", "Replay", id="mapping.replay"),
        Binding("R", "rollback", "Rollback", id="mapping.rollback"),
        Binding("g", "refresh", "Refresh", id="mapping.refresh", priority=True),
        # Not in the footer: the tab line above the table says it.
        Binding("tab", "next_tab", "Next tab", show=False, id="mapping.next_tab"),
        Binding("shift+tab", "prev_tab", "Previous tab", show=False, id="mapping.prev_tab"),
        Binding("x", "export", "Export", id="mapping.export"),
        Binding("I", "import", "Import", id="mapping.import"),
    ]

    DEFAULT_CSS = """
    MappingQueueScreen {
        #mapping-tabs {
            height: 1;
            padding: 0 1;
        }
        #mapping-note {
            height: auto;
            padding: 0 1;
            display: none;
        }
        #mapping-note.-shown {
            display: block;
        }
        #mapping-note.-offline, #mapping-note.-error {
            color: $warning;
        }
        #mapping-note.-readonly {
            color: $text-muted;
        }
        #mapping-panes {
            height: 1fr;
        }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.operations = MappingOperations(self)
        self._tab = "queue"
        self._source = ListSource()
        self._rule_source = ListSource()
        self._version_source = ListSource()
        self._items: dict[str, QueueItem] = {}
        self._page: QueuePage | None = None
        self._rules: RuleSetPage | None = None
        self._versions: VersionList | None = None
        self._marked: int | None = None
        self._loaded_at: datetime | None = None
        self._loading = False
        self._from_ledger = False
        """The data on screen was read from the ledger file (the engine being offline)."""
        self._rule_sets_wanted = False
        """The rules or versions tab was shown: keep them read from then on."""
        self._error: str | None = None
        self._link_state: LinkState | None = None
        self._in_flight: set[str] = set()
        """Conversations under way (an item's accept, a rollback...): further presses of
        the same wait."""

    # -- layout -----------------------------------------------------------------------------

    def body(self) -> ComposeResult:
        yield Static("", id="mapping-tabs")
        yield SectionTitle(id="mapping-title")
        yield Static("", id="mapping-note")
        with ContentSwitcher(initial="mapping-queue", id="mapping-panes"):
            yield FilterableGrid(QUEUE_COLUMNS, self._source,
                                 empty_text="reading the mapping queue…", id="mapping-queue")
            yield FilterableGrid(RULE_COLUMNS, self._rule_source,
                                 empty_text="reading the rules…", id="mapping-rules")
            yield FilterableGrid(VERSION_COLUMNS, self._version_source,
                                 empty_text="reading the versions…", id="mapping-versions")

    def on_mount(self) -> None:
        self._show_tabs()

    @property
    def grid(self) -> DataGrid:
        """The queue's table."""
        return self.query_one("#mapping-queue", FilterableGrid).grid

    @property
    def rules_grid(self) -> DataGrid:
        """The rules' table."""
        return self.query_one("#mapping-rules", FilterableGrid).grid

    @property
    def versions_grid(self) -> DataGrid:
        """The versions' table."""
        return self.query_one("#mapping-versions", FilterableGrid).grid

    @property
    def tab(self) -> str:
        """`queue`, `rules` or `versions`."""
        return self._tab

    @property
    def page(self) -> QueuePage | None:
        """The last queue read (kept while offline or when a read fails)."""
        return self._page

    @property
    def rule_set(self) -> RuleSetPage | None:
        """The last read of the active rules."""
        return self._rules

    @property
    def version_list(self) -> VersionList | None:
        """The last read of the versions."""
        return self._versions

    @property
    def loading(self) -> bool:
        """Whether a read is on its way."""
        return self._loading

    @property
    def from_ledger(self) -> bool:
        """Whether what is shown was read from the ledger file (engine offline)."""
        return self._from_ledger

    @property
    def selected(self) -> QueueItem | None:
        """The item under the cursor."""
        key = self.grid.cursor_key
        return self._items.get(key) if key is not None else None

    @property
    def selected_version(self) -> VersionRow | None:
        """The version under the cursor of the versions tab."""
        key = self.versions_grid.cursor_key
        if key is None or self._versions is None:
            return None
        return next((v for v in self._versions.versions if v.key == key), None)

    @property
    def marked(self) -> int | None:
        """The version marked (`m`) for a diff."""
        return self._marked

    # -- tabs -------------------------------------------------------------------------------

    def show_tab(self, tab: str) -> None:
        """Show tab `tab` and focus its table (reading the rule sets on first show)."""
        self._tab = tab
        self.query_one("#mapping-panes", ContentSwitcher).current = f"mapping-{tab}"
        {"queue": self.grid, "rules": self.rules_grid, "versions": self.versions_grid}[
            tab].focus()
        if tab != "queue" and not self._rule_sets_wanted:
            self._rule_sets_wanted = True
            self.load_all()
        self._show_tabs()
        self._show_header()
        self.refresh_bindings()

    def action_next_tab(self) -> None:
        """The next tab (queue, rules, versions, queue...)."""
        self.show_tab(TABS[(TABS.index(self._tab) + 1) % len(TABS)])

    def action_prev_tab(self) -> None:
        """The previous tab."""
        self.show_tab(TABS[(TABS.index(self._tab) - 1) % len(TABS)])

    def _show_tabs(self) -> None:
        counts = {
            "queue": self._page.total if self._page else None,
            "rules": len(self._rules.rules) if self._rules else None,
            "versions": len(self._versions.versions) if self._versions else None,
        }
        line = Text(no_wrap=True, overflow="ellipsis")
        for tab in TABS:
            label = _TAB_TITLES[tab]
            if counts[tab] is not None:
                label += f" {counts[tab]:,}"
            style = "bold reverse" if tab == self._tab else "dim"
            line.append(f" {label} ", style=style)
            line.append(" ")
        line.append(" tab: next", style="dim")
        self.query_one("#mapping-tabs", Static).update(line)

    # -- reading ----------------------------------------------------------------------------

    def refresh_live(self, topics: frozenset[Topic]) -> None:
        state = self.live.connection.state
        link_changed = state is not self._link_state
        self._link_state = state
        if Topic.MAPPING in topics or (link_changed and state in (LinkState.ONLINE,
                                                                  LinkState.OFFLINE)):
            self.load_all()
        elif link_changed:
            self._show_header()
        if link_changed:
            self.refresh_bindings()

    def load_queue(self) -> None:
        """Read again (the name the first slice used)."""
        self.load_all()

    def load_all(self) -> None:
        """Read the queue (and, once their tabs were shown, the rules and versions) in a
        worker; from the engine, or with it offline from the ledger file. A newer read
        replaces one still running."""
        online = self.live.connection.online
        if online and not self.live.may_call(QUEUE_METHOD):
            self._loading = False
            self._show_header()
            return
        if not online and self._ledger() is None:
            self._loading = False
            self._show_header()
            return
        self._loading = True
        self._show_header()
        # The method, not a coroutine: a read cancelled before it started leaves nothing
        # un-awaited behind.
        work = self._read_engine if online else self._read_ledger
        self.run_worker(work, name="mapping-read", group="mapping-read", exclusive=True,
                        exit_on_error=False)

    def _ledger(self) -> Any:
        """The console's read-only ledger, when the engine is offline and one is set."""
        if self.live.connection.state is not LinkState.OFFLINE:
            return None
        return self.console.ledger

    async def _read_engine(self) -> None:
        link = self.console.link
        try:
            page = parse_queue(await link.call(QUEUE_METHOD, {"limit": FIRST_READ},
                                               timeout=READ_TIMEOUT))
            rules = versions = None
            if self._rule_sets_wanted:
                rules = parse_rules(await link.call(RULES_METHOD, {}, timeout=READ_TIMEOUT))
                versions = parse_versions(await link.call(VERSIONS_METHOD, {},
                                                          timeout=READ_TIMEOUT))
            if page.total > len(page.items) >= FIRST_READ:
                # The first page on screen now; the rest of the newest QUEUE_LIMIT after.
                self._from_ledger = False
                self._show(page, rules, versions)
                rules = versions = None
                rest = parse_queue(await link.call(
                    QUEUE_METHOD, {"limit": QUEUE_LIMIT - FIRST_READ, "offset": FIRST_READ},
                    timeout=READ_TIMEOUT))
                seen = {item.id for item in page.items}
                page = QueuePage(total=rest.total, items=page.items + tuple(
                    item for item in rest.items if item.id not in seen))
        except EngineUnavailableError as error:
            self._read_failed(f"cannot read the mapping queue: {error}")
        except RpcCallError as error:
            self._read_failed(f"cannot read the mapping queue: {describe_rpc_error(error)}")
        except SnapshotError as error:
            kept = ", the last one is shown" if self._page is not None else ""
            self._read_failed(f"the mapping queue answer is malformed ({error}){kept}")
        except Exception as error:  # a bug in one read must not take the console down
            self._read_failed(f"cannot read the mapping queue: {type(error).__name__}: {error}")
        else:
            self._from_ledger = False
            self._show(page, rules, versions)

    async def _read_ledger(self) -> None:
        ledger = self._ledger()
        if ledger is None:
            return
        try:
            answers: OfflineAnswers = await asyncio.to_thread(read_offline, ledger,
                                                              limit=QUEUE_LIMIT)
            page = parse_queue(answers.queue)
            rules = parse_rules(answers.rules) if answers.rules is not None else None
            versions = parse_versions(answers.versions)
        except Exception as error:  # an old or damaged ledger: one line, not a crash
            self._read_failed(f"cannot read the mapping tables of the ledger: "
                              f"{type(error).__name__}: {error}")
        else:
            self._from_ledger = True
            self._show(page, rules, versions)

    def _show(self, page: QueuePage, rules: RuleSetPage | None,
              versions: VersionList | None) -> None:
        self._loading = False
        self._error = None
        self._page = page
        self._loaded_at = self.console.clock.now()
        self._items = {item.key: item for item in page.items}
        self._source.replace(queue_row(item) for item in page.items)
        grid = self.grid
        grid.empty_text = "the mapping queue is empty"
        grid.reload()
        if rules is not None:
            self._rules = rules
            self._rule_source.replace(rule_row(rule) for rule in rules.rules)
            self.rules_grid.empty_text = "this version has no rules"
            self.rules_grid.reload()
        if versions is not None:
            self._versions = versions
            self._show_versions()
        self._show_tabs()
        self._show_header()
        self.refresh_bindings()

    def _show_versions(self) -> None:
        versions = self._versions
        if versions is None:
            return
        self._version_source.replace(
            version_row(v, active=v.version == versions.active, marked=v.version == self._marked)
            for v in versions.versions)
        self.versions_grid.empty_text = "no version yet"
        self.versions_grid.reload()

    def _read_failed(self, text: str) -> None:
        self._loading = False
        self._error = text
        self._show_header()

    def _show_header(self) -> None:
        details: list[Text | str] = []
        if self._tab == "queue":
            title = "Mapping queue"
            details.append(self._queue_detail())
            if self._source.filter_text:
                details.append(f"{self._source.count():,} match /{self._source.filter_text}")
        elif self._tab == "rules":
            title = "Rules"
            if self._rules is not None:
                version = self._rules.version
                state = "active" if self._rules.active else "not active"
                details.append(f"version {version.version} ({state}), "
                               f"{len(self._rules.rules)} rules")
            else:
                details.append("reading…" if self._loading else "not read yet")
        else:
            title = "Versions"
            if self._versions is not None:
                details.append(f"{len(self._versions.versions)} versions, "
                               f"active {self._versions.active or '—'}")
                if self._marked is not None:
                    details.append(f"marked {self._marked}")
            else:
                details.append("reading…" if self._loading else "not read yet")
        if self._loaded_at is not None:
            details.append(Text(f"refreshed {clock_time(self._loaded_at)}", style="dim"))
        self.query_one("#mapping-title", SectionTitle).show(title, *details)
        self._show_note()

    def _queue_detail(self) -> str:
        page = self._page
        if page is None:
            empty = "reading the mapping queue…" if self._loading else "nothing read yet"
            if self.grid.empty_text != empty:
                self.grid.empty_text = empty
                self.grid.refresh()
            return "reading…" if self._loading else "not read yet"
        if page.total == 0:
            return "the mapping queue is empty"
        waiting = f"{page.total:,} item{'s' if page.total != 1 else ''} waiting"
        if page.total > len(page.items):
            waiting += f" (newest {len(page.items):,} shown)"
        return waiting

    def _show_note(self) -> None:
        note = self.query_one("#mapping-note", Static)
        connection = self.live.connection
        kind = ""
        if connection.state is LinkState.OFFLINE:
            if self._error is not None:
                text, kind = self._error, "error"
            elif self._from_ledger or self._ledger() is not None:
                text, kind = LEDGER_NOTE, "offline"
            else:
                text, kind = OFFLINE_NOTE, "offline"
        elif connection.state is LinkState.CONNECTING:
            text = "connecting to the engine…"
        elif self._error is not None:
            text, kind = self._error, "error"
        elif not (reading := method_availability(QUEUE_METHOD, self.live)).enabled:
            text, kind = f"cannot read the mapping queue: {reading.reason}", "error"
        elif not (writing := method_availability(ASSIGN_METHOD, self.live)).enabled:
            what = "accepting" if self._tab == "queue" else "changes"
            text, kind = f"read-only: {what} {writing.reason}", "readonly"
        else:
            text = ""
        note.update(text)
        for name in ("offline", "error", "readonly"):
            note.set_class(kind == name, f"-{name}")
        note.set_class(bool(text), "-shown")

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        self._show_header()

    def on_data_grid_cursor_moved(self, message: DataGrid.CursorMoved) -> None:
        # Pick keys follow the selected item's suggestions; diff/rollback the version.
        self.refresh_bindings()

    @on(DataGrid.RowSelected)
    def _row_clicked(self, message: DataGrid.RowSelected) -> None:
        # `enter` accepts (a screen binding); a click on the selected queue row opens it.
        if self._tab == "queue":
            self.action_details()

    # -- which keys work ------------------------------------------------------------------------

    def _refusal(self, action: str, rank: int = 1) -> str | None:
        """Why `action` cannot run now, or None when it can."""
        if action in ("next_tab", "prev_tab"):
            return None
        if action == "refresh":
            if self._ledger() is not None:
                return None
            reading = method_availability(QUEUE_METHOD, self.live)
            return None if reading.enabled else f"Refresh is not available: {reading.reason}"
        name = _ACTION_NAMES.get(action, action)
        method = {"export": EXPORT_METHOD, "import": IMPORT_METHOD, "diff": DIFF_METHOD,
                  "replay": REPLAY_METHOD, "rollback": ROLLBACK_METHOD}.get(action)
        if action in _ASSIGNING_ACTIONS:
            method = ASSIGN_METHOD
        if method is not None:
            available = method_availability(method, self.live)
            if not available.enabled:
                return f"{name} is not available: {available.reason}"
        if action in ("export", "import"):
            return None
        if _TAB_OF[action] == "versions":
            return self._version_refusal(action)
        item = self.selected
        if item is None:
            return "no item is selected"
        if action in ("accept", "pick") and len(item.suggestions) < rank:
            count = len(item.suggestions)
            return (f"item #{item.id} has {count or 'no'} suggestion{'s' if count != 1 else ''}"
                    f"{'' if count else ' to accept'}")
        return None

    def _version_refusal(self, action: str) -> str | None:
        version = self.selected_version
        if version is None:
            return "no version is selected"
        active = self._versions.active if self._versions else None
        if action == "diff":
            other = self._marked if self._marked is not None else active
            if other is None or other == version.version:
                return (f"version {version.version} is the one marked: select another"
                        if self._marked is not None else
                        f"version {version.version} is the active one: mark one (m) and "
                        "select another")
        if action == "rollback" and version.version == active:
            return f"version {version.version} is the active one already"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in _VIEW_ACTIONS:
            return True
        if isinstance(self.focused, Input):
            return False  # typing a filter: enter and tab are the input's
        tab = _TAB_OF.get(action)
        if tab is not None and tab != self._tab:
            return False  # another tab's key: hidden here (`on_key` says where it works)
        rank = int(str(parameters[0])) if parameters else 1
        # None: shown dimmed; the key press then reaches `on_key`, which says why.
        return None if self._refusal(action, rank) is not None else True

    def on_key(self, event: events.Key) -> None:
        """A dimmed key of this view was pressed: say why it does nothing. A key of
        another tab: say where it works, rather than let the app's key of that letter
        run unasked."""
        if isinstance(self.focused, Input):
            return
        active = self.active_bindings.get(event.key)
        if active is not None and active.node is self:
            if active.enabled:
                return
            action, _, argument = active.binding.action.partition("(")
            if action not in _VIEW_ACTIONS:
                return
            event.stop()
            event.prevent_default()
            rank = int(argument.rstrip(")") or 1)
            reason = self._refusal(action, rank)
            if reason is not None:
                self._refused(action, reason)
            return
        elsewhere = self._other_tab_action(event.key)
        if elsewhere is not None:
            event.stop()
            event.prevent_default()
            action, tab = elsewhere
            self.notify(f"{event.key}: {_ACTION_NAMES.get(action, action)} works on the "
                        f"{_TAB_TITLES[tab]} tab (tab to move)", title="Mapping",
                        severity="warning", timeout=3)

    def _other_tab_action(self, key: str) -> tuple[str, str] | None:
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            action = binding.action.partition("(")[0]
            tab = _TAB_OF.get(action)
            if tab is not None and tab != self._tab and key in binding.key.split(","):
                return action, tab
        return None

    def _refused(self, action: str, reason: str) -> None:
        if action in _ASSIGNING_ACTIONS and self.selected is not None:
            self.operations.log(ASSIGN_METHOD, {"id": self.selected.id},
                                f"not sent: {reason}", ok=False)
        self.notify(reason, title="Mapping", severity="warning", timeout=4)

    def _allowed(self, action: str, rank: int = 1) -> bool:
        reason = self._refusal(action, rank)
        if reason is not None:
            self._refused(action, reason)
        return reason is None

    def _start(self, key: str, work: Any, name: str) -> None:
        """Run one conversation in a worker unless the same one is still running."""
        if key in self._in_flight:
            work.close()
            return  # the first press is still being answered
        self._in_flight.add(key)

        async def run() -> None:
            try:
                await work
            finally:
                self._in_flight.discard(key)

        self.run_worker(run(), name=name, group="mapping-change", exit_on_error=False)

    # -- actions: the queue ---------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read again now."""
        if self._allowed("refresh"):
            self.load_all()

    def action_details(self) -> None:
        """Every suggestion of the selected item, and its raw fields."""
        item = self.selected
        if item is not None:
            self.app.push_screen(ItemDetailsScreen(item))

    def action_accept(self) -> None:
        """Accept the selected item's top suggestion (after a dry run and a y/n)."""
        self.action_pick(1)

    def action_pick(self, rank: int) -> None:
        """Accept the selected item's suggestion number `rank` (1-based)."""
        action = "accept" if rank == 1 else "pick"
        item = self.selected
        if not self._allowed(action, rank) or item is None:
            return
        suggestion = item.suggestions[rank - 1]
        reason = f"accepted in the console: {suggestion.source or 'engine'} suggestion"
        self._start(f"item {item.id}", self.operations.accept(item, rank, suggestion, reason),
                    f"mapping-assign {item.id}")

    def action_other(self) -> None:
        """Map the selected item to any postable account (picker, dry run, y)."""
        item = self.selected
        if self._allowed("other") and item is not None:
            self._start(f"item {item.id}", self.operations.other_account(item),
                        f"mapping-other {item.id}")

    def action_rule(self) -> None:
        """Map the selected item and save a rule (editor with a preview, dry run, y)."""
        item = self.selected
        if self._allowed("rule") and item is not None:
            self._start(f"item {item.id}", self.operations.save_rule(item),
                        f"mapping-rule {item.id}")

    # -- actions: the versions ------------------------------------------------------------------

    def action_mark(self) -> None:
        """Mark the selected version for a diff (again: unmark it)."""
        version = self.selected_version
        if not self._allowed("mark") or version is None:
            return
        self._marked = None if self._marked == version.version else version.version
        self._show_versions()
        self._show_header()
        self.refresh_bindings()

    def action_diff(self) -> None:
        """How the selected version differs from the marked one (else the active one)."""
        version = self.selected_version
        if not self._allowed("diff") or version is None or self._versions is None:
            return
        old = self._marked if self._marked is not None else self._versions.active
        if old is None:
            return
        self._start("diff", self.operations.diff(old, version.version), "mapping-diff")

    def action_replay(self) -> None:
        """What the selected version would decide differently over the past decisions."""
        version = self.selected_version
        if self._allowed("replay") and version is not None:
            self._start("replay", self.operations.replay(version.version), "mapping-replay")

    def action_rollback(self) -> None:
        """Roll back to the selected version (admin; reason, then y)."""
        version = self.selected_version
        if self._allowed("rollback") and version is not None:
            active = self._versions.active if self._versions else None
            self._start("rollback", self.operations.rollback(version, active),
                        "mapping-rollback")

    # -- actions: files -------------------------------------------------------------------------

    def action_export(self) -> None:
        """Export a version (the selected one on the versions tab, else the active one)."""
        if not self._allowed("export"):
            return
        version = self.selected_version if self._tab == "versions" else None
        number = version.version if version is not None else None
        self._start("export", self.operations.export(number), "mapping-export")

    def action_import(self) -> None:
        """Import a document file as a candidate version (admin)."""
        if self._allowed("import"):
            self._start("import", self.operations.import_file(), "mapping-import")


BINDING_OWNERS: tuple[type, ...] = (
    MappingQueueScreen, AssignConfirmScreen, ItemDetailsScreen, ChangeConfirmScreen,
    ResultScreen, PathPromptScreen, RuleEditorScreen,
)
"""Every class of this view whose BINDINGS a keymap file may name."""
