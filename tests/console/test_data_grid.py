"""DataGrid and FilterableGrid, driven by keys in a tiny 80x24 app.

Pins: cursor keys (j/k, arrows, pages, g/G), enter selects the row's key, reloads keep the
cursor on its row key (or clamp when the row is gone), `/` filters as you type and esc
clears it, esc without a filter reaches the screen, a million-row source is paged (never
scanned), and an empty source says so.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence

from rich.segment import Segment
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.geometry import Region
from textual.screen import Screen

from tui.widgets.data_grid import PAGE_SIZE, DataGrid, fit_cell, layout_widths
from tui.widgets.filterable_grid import FilterableGrid, FilterInput
from tui.widgets.grid_source import GridColumn, GridRow, GridSource, ListSource

SIZE = (80, 24)
VISIBLE_ROWS = 23
"""At 80x24 with the filter input hidden: 24 lines, less the header."""

COLUMNS = (
    GridColumn("symbol", "Symbol", 8),
    GridColumn("note", "Note", 10, flex=True),
    GridColumn("qty", "Qty", 8, align="right"),
)


def _row(number: int, qty: int | None = None) -> GridRow:
    return GridRow(f"S{number}", (f"SYM{number}", f"note {number}", str(qty or number)))


def _rows(count: int, start: int = 0) -> list[GridRow]:
    return [_row(number) for number in range(start, start + count)]


class GridScreen(Screen[None]):
    """A screen with one filterable grid and an esc binding meaning back."""

    BINDINGS = [Binding("escape", "back", "Back")]  # noqa: RUF012

    def __init__(self, source: GridSource, empty_text: str) -> None:
        super().__init__()
        self.source = source
        self.empty_text = empty_text
        self.backs = 0
        self.selected: list[tuple[str, int]] = []
        self.moved: list[str] = []
        self.filters: list[str] = []

    def compose(self) -> ComposeResult:
        yield FilterableGrid(COLUMNS, self.source, empty_text=self.empty_text, id="positions")

    def on_mount(self) -> None:
        self.query_one(DataGrid).focus()

    def action_back(self) -> None:
        self.backs += 1

    def on_data_grid_row_selected(self, message: DataGrid.RowSelected) -> None:
        self.selected.append((message.key, message.index))

    def on_data_grid_cursor_moved(self, message: DataGrid.CursorMoved) -> None:
        self.moved.append(message.key)

    def on_data_grid_filter_changed(self, message: DataGrid.FilterChanged) -> None:
        self.filters.append(message.text)


class GridApp(App[None]):
    def __init__(self, source: GridSource, empty_text: str = "nothing to show") -> None:
        super().__init__()
        self.source = source
        self.empty_text = empty_text

    def get_default_screen(self) -> Screen[None]:
        return GridScreen(self.source, self.empty_text)

    @property
    def grid(self) -> DataGrid:
        return self.screen.query_one(DataGrid)

    @property
    def grid_screen(self) -> GridScreen:
        assert isinstance(self.screen, GridScreen)
        return self.screen


def visible_lines(grid: DataGrid) -> list[str]:
    """The grid's lines as the operator sees them (header first)."""
    return [grid.render_line(y).text for y in range(grid.scrollable_content_region.height)]


def cursor_line(grid: DataGrid) -> int:
    """The screen line the cursor is drawn on (0 is the header)."""
    return grid.cursor_index - int(grid.scroll_offset.y) + 1


class MillionSource:
    """A synthetic 1,000,000-entry source that records every question it is asked."""

    def __init__(self, total: int = 1_000_000) -> None:
        self.total = total
        self.asked: list[tuple[int, int]] = []
        self.counts = 0
        self._filter = ""

    def count(self) -> int:
        self.counts += 1
        return self.total

    def rows(self, offset: int, limit: int) -> Sequence[GridRow]:
        self.asked.append((offset, limit))
        end = min(self.total, offset + limit)
        return [GridRow(f"E{n}", (f"{n}", f"entry {n}", "1")) for n in range(offset, end)]

    def index_of(self, key: str) -> int | None:
        return None

    def set_filter(self, text: str) -> None:
        self._filter = text

    @property
    def filter_text(self) -> str:
        return self._filter


# -- cursor movement ----------------------------------------------------------------------


async def test_j_k_and_arrows_move_the_cursor_and_announce_the_row() -> None:
    app = GridApp(ListSource(_rows(50)))
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        assert grid.cursor_key == "S0"
        await pilot.press("j", "j", "down")
        assert grid.cursor_index == 3
        await pilot.press("k", "up")
        assert (grid.cursor_index, grid.cursor_key) == (1, "S1")
        await pilot.press("k", "k", "k")
        assert grid.cursor_index == 0
        await pilot.pause()
        assert app.grid_screen.moved == ["S0", "S1", "S2", "S3", "S2", "S1", "S0"]


async def test_pages_and_ends_jump_and_keep_the_cursor_on_screen() -> None:
    app = GridApp(ListSource(_rows(200)))
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("pagedown")
        assert grid.cursor_index == VISIBLE_ROWS
        assert 1 <= cursor_line(grid) <= VISIBLE_ROWS
        await pilot.press("ctrl+f")
        assert grid.cursor_index == 2 * VISIBLE_ROWS
        await pilot.press("pageup")
        assert grid.cursor_index == VISIBLE_ROWS
        await pilot.press("G")
        assert grid.cursor_key == "S199"
        assert cursor_line(grid) == VISIBLE_ROWS
        assert visible_lines(grid)[-1].startswith("SYM199")
        await pilot.press("ctrl+b")
        assert grid.cursor_index == 199 - VISIBLE_ROWS
        await pilot.press("g")
        assert (grid.cursor_index, grid.scroll_offset.y) == (0, 0)
        await pilot.press("end")
        assert grid.cursor_index == 199
        await pilot.press("home")
        assert grid.cursor_index == 0


async def test_enter_posts_row_selected_with_the_row_key() -> None:
    app = GridApp(ListSource(_rows(10)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j", "j", "enter")
        await pilot.pause()
        assert app.grid_screen.selected == [("S2", 2)]


async def test_clicking_a_row_moves_the_cursor_and_a_second_click_opens_it() -> None:
    app = GridApp(ListSource(_rows(10)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click(DataGrid, offset=(2, 4))
        assert app.grid.cursor_key == "S3"
        await pilot.click(DataGrid, offset=(2, 4))
        await pilot.pause()
        assert app.grid_screen.selected == [("S3", 3)]


# -- reload -------------------------------------------------------------------------------


async def test_reload_keeps_the_cursor_on_its_key_when_rows_are_inserted_above() -> None:
    source = ListSource(_rows(100))
    app = GridApp(source)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        grid.go_to(40)
        await pilot.pause()
        line_before = cursor_line(grid)
        source.replace(_rows(5, start=1000) + _rows(100))
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_key, grid.cursor_index) == ("S40", 45)
        assert cursor_line(grid) == line_before  # the view moved with the row: no jump
        assert visible_lines(grid)[line_before].startswith("SYM40 ")
        assert app.grid_screen.moved[-1] == "S40"  # no spurious announcement of another row


async def test_a_newest_first_feed_keeps_the_newest_rows_in_sight() -> None:
    source = ListSource(_rows(10))
    app = GridApp(source)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        grid.follow_head = True
        source.replace(_rows(3, start=1000) + _rows(10))
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_key, grid.cursor_index) == ("S1000", 0)
        assert visible_lines(grid)[1].startswith("SYM1000 ")
        # Once the operator moves down, the cursor follows its row as usual.
        await pilot.press("j")
        source.replace(_rows(2, start=2000) + _rows(3, start=1000) + _rows(10))
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_key, grid.cursor_index) == ("S1001", 3)


async def test_reload_follows_the_key_when_its_row_moves() -> None:
    source = ListSource(_rows(100))
    app = GridApp(source)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("j", "j", "j")
        rows = _rows(100)
        source.replace([row for row in rows if row.key != "S3"] + [_row(3, qty=777)])
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_key, grid.cursor_index) == ("S3", 99)
        assert visible_lines(grid)[cursor_line(grid)].rstrip().endswith("777")


async def test_cursor_clamps_when_its_row_disappears() -> None:
    source = ListSource(_rows(30))
    app = GridApp(source)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("G")
        source.replace(_rows(10))
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_index, grid.cursor_key) == (9, "S9")
        assert int(grid.scroll_offset.y) == 0
        grid.go_to(4)
        source.replace([row for row in _rows(10) if row.key != "S4"])
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_index, grid.cursor_key) == (4, "S5")
        assert app.grid_screen.moved[-1] == "S5"
        source.replace([])
        grid.reload()
        await pilot.pause()
        assert (grid.cursor_index, grid.cursor_key) == (0, None)


async def test_reload_leaves_a_view_scrolled_away_from_the_cursor_alone() -> None:
    source = ListSource(_rows(200))
    app = GridApp(source)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        grid.scroll_to(y=100, animate=False)  # as the mouse wheel does
        await pilot.pause()
        source.replace(_rows(3, start=1000) + _rows(200))
        grid.reload()
        await pilot.pause()
        assert int(grid.scroll_offset.y) == 100
        assert grid.cursor_key == "S0"


async def test_move_cursor_to_key_and_set_source() -> None:
    app = GridApp(ListSource(_rows(100)))
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        assert grid.move_cursor_to_key("S70")
        assert not grid.move_cursor_to_key("nope")
        await pilot.pause()
        assert (grid.cursor_index, grid.cursor_key) == (70, "S70")
        assert 1 <= cursor_line(grid) <= VISIBLE_ROWS
        grid.set_source(ListSource(_rows(5, start=500)))
        await pilot.pause()
        assert (grid.cursor_index, grid.cursor_key, grid.row_count) == (0, "S500", 5)
        assert int(grid.scroll_offset.y) == 0
        assert visible_lines(grid)[1].startswith("SYM500")
        assert app.grid_screen.moved[-2:] == ["S70", "S500"]


async def test_live_replace_ten_times_a_second_keeps_keys_working() -> None:
    source = ListSource(_rows(2000))
    app = GridApp(source)
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        source.replace([_row(n, qty=n + ticks) for n in range(2000)])
        app.grid.reload()

    async with app.run_test(size=SIZE) as pilot:
        app.set_interval(0.1, tick)
        for _ in range(3):
            await pilot.press("j")
            await pilot.pause(0.05)
        await pilot.pause(0.15)
        assert ticks >= 2
        assert app.grid.cursor_key == "S3"
        assert visible_lines(app.grid)[4].rstrip().endswith(str(3 + ticks))


def test_a_key_press_repaints_well_within_50_ms_while_2000_rows_reload() -> None:
    """Reload plus a cursor move plus a full repaint: the work between a key and the screen.

    The median of ten is asserted, so a garbage collection or a busy machine does not fail
    the test, while drawing every row instead of the visible ones (or a per-key O(n) scan
    with rich Text) would.
    """

    async def measure() -> list[float]:
        source = ListSource(_rows(2000))
        app = GridApp(source)
        durations: list[float] = []
        async with app.run_test(size=SIZE) as pilot:
            grid = app.grid
            region = Region(0, 0, grid.size.width, grid.size.height)
            for tick in range(10):
                source.replace([_row(n, qty=n + tick) for n in range(2000)])
                started = time.perf_counter()
                grid.reload()
                grid.action_cursor_down()
                grid.render_lines(region)
                durations.append(time.perf_counter() - started)
            await pilot.pause()
        return durations

    assert statistics.median(asyncio.run(measure())) < 0.025


# -- filter -------------------------------------------------------------------------------


async def test_slash_then_typing_filters_and_escape_in_the_input_clears_it() -> None:
    app = GridApp(ListSource(_rows(300)))
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("slash")
        assert isinstance(app.focused, FilterInput)
        await pilot.press(*"sym2")
        await pilot.pause(0.2)
        # SYM2, SYM20..29, SYM200..299
        assert grid.row_count == 111
        assert grid.source.filter_text == "sym2"
        await pilot.press("escape")
        await pilot.pause()
        assert grid.row_count == 300
        assert grid.source.filter_text == ""
        assert app.focused is grid
        assert not app.query_one(FilterInput).display
        assert app.grid_screen.backs == 0
        assert app.grid_screen.filters == ["sym2", ""]


async def test_enter_keeps_the_filter_and_escape_on_the_grid_clears_it() -> None:
    app = GridApp(ListSource(_rows(300)))
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("slash", *"sym29", "enter")
        await pilot.pause()
        assert app.focused is grid
        assert grid.row_count == 11
        assert grid.cursor_key == "S29"
        assert app.query_one(FilterInput).display  # still shows what is filtered
        await pilot.press("j", "escape")
        await pilot.pause()
        assert grid.row_count == 300
        assert grid.cursor_key == "S290"  # the cursor stayed on its row
        assert not app.query_one(FilterInput).display
        assert app.grid_screen.backs == 0


async def test_escape_without_a_filter_reaches_the_screen() -> None:
    app = GridApp(ListSource(_rows(5)))
    async with app.run_test(size=SIZE) as pilot:
        assert app.focused is app.grid
        await pilot.press("escape")
        assert app.grid_screen.backs == 1


# -- paging and empty -----------------------------------------------------------------------


async def test_a_million_rows_mount_and_jump_to_the_end_fetching_a_few_pages() -> None:
    source = MillionSource()
    app = GridApp(source)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("G")
        await pilot.pause()
        assert (grid.cursor_index, grid.cursor_key) == (999_999, "E999999")
        assert visible_lines(grid)[-1].startswith("999999")
        await pilot.press("k", "pageup", "g")
        await pilot.pause()
        assert grid.cursor_key == "E0"
        assert len(source.asked) <= 5
        assert all(limit == PAGE_SIZE for _, limit in source.asked)
        assert source.counts == 1
        grid.reload()
        assert source.counts == 2


async def test_an_empty_source_shows_the_empty_text() -> None:
    app = GridApp(ListSource(), empty_text="no open positions")
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        lines = visible_lines(grid)
        assert lines[0].split() == ["Symbol", "Note", "Qty"]
        assert lines[1].strip() == "no open positions"
        assert grid.cursor_key is None
        await pilot.press("j", "enter")
        await pilot.pause()
        assert app.grid_screen.selected == []
        assert app.grid_screen.moved == []


# -- layout ---------------------------------------------------------------------------------


async def test_header_and_rows_are_laid_out_in_columns() -> None:
    app = GridApp(ListSource(_rows(3)))
    async with app.run_test(size=SIZE):
        lines = visible_lines(app.grid)
        assert lines[0].startswith("Symbol   Note")
        assert "1 / 3" in lines[0]
        assert lines[0].rstrip().endswith("Qty")
        assert lines[1].startswith("SYM0     note 0")
        assert lines[1].rstrip().endswith(" 0")
        assert len(lines[1]) == 80  # three rows fit: no scrollbar, the flex column takes the rest


async def test_the_cursor_row_is_highlighted_with_or_without_focus() -> None:
    rows = _rows(5)
    rows[2] = GridRow("RED", (Text("LOSS", style="red"), "x", "1"))
    app = GridApp(ListSource(rows))
    async with app.run_test(size=SIZE) as pilot:
        grid = app.grid
        await pilot.press("j")

        def first_segment(line: int) -> Segment:
            return next(iter(grid.render_line(line)))

        plain_background = first_segment(1).style.bgcolor
        focused_cursor = first_segment(2).style
        assert focused_cursor.bgcolor != plain_background
        red_cell = first_segment(3)
        assert (red_cell.text.strip(), red_cell.style.color.name) == ("LOSS", "red")
        grid.blur()
        await pilot.pause()
        blurred_cursor = first_segment(2).style
        assert blurred_cursor.bgcolor not in (plain_background, focused_cursor.bgcolor)


def test_cells_are_cropped_with_an_ellipsis_and_right_columns_pad_left() -> None:
    assert fit_cell("ABCDEFGHIJ", 6, "left").plain == "ABCDE…"
    assert fit_cell("12", 6, "right").plain == "    12"
    assert fit_cell("ab", 4, "left").plain == "ab  "
    cropped = fit_cell(Text("-1234567.89", style="red"), 8, "right")
    assert cropped.plain == "-123456…"
    assert cropped.style == "red"
    assert fit_cell("two\nlines", 12, "left").plain == "two lines   "


def test_the_flex_column_takes_the_width_left_over() -> None:
    # 8 + 1 + 10 + 1 + 8 = 28 natural cells
    assert layout_widths(COLUMNS, 80) == (8, 62, 8)
    assert layout_widths(COLUMNS, 20) == (8, 10, 8)  # never below the declared width
    fixed = (GridColumn("a", "A", 4), GridColumn("b", "B", 4))
    assert layout_widths(fixed, 80) == (4, 4)


def test_every_grid_binding_has_an_id_for_the_keymap() -> None:
    bindings = [binding for binding in DataGrid.BINDINGS if isinstance(binding, Binding)]
    assert len(bindings) == len(DataGrid.BINDINGS)
    assert all(binding.id and binding.id.startswith("grid.") for binding in bindings)
