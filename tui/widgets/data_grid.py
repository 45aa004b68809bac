"""The console's table: a Line-API grid that renders only the rows on screen.

Textual's DataTable lays out every row up front (about 1 s for 10k rows, 12 s for 100k); the
console shows a million-entry ledger and 2,000 positions updating ten times a second. A
`DataGrid` holds no rows: it asks its `GridSource` for the count once per reload and for
rows a page at a time as they scroll into view, and keeps a few pages and the rendered lines
of recent rows. Line 0 is a fixed header; the cursor follows a row key across reloads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.widgets.grid_source import Cell, ColumnAlign, GridColumn, GridRow, GridSource

PAGE_SIZE = 100
"""Rows fetched from the source per request."""

CACHED_PAGES = 8
"""Pages kept (least recently used dropped): a few screens either side of the viewport."""

CACHED_LINES = 512
"""Rendered row lines kept, keyed by row key and look."""

COLUMN_GAP = 1
"""Blank cells between two columns."""

GAP = " " * COLUMN_GAP


def layout_widths(columns: Sequence[GridColumn], available: int) -> tuple[int, ...]:
    """Each column's width in cells: as declared, the first flex column taking what is left."""
    natural = natural_width(columns)
    spare = max(0, available - natural)
    widths: list[int] = []
    for column in columns:
        width = column.width
        if column.flex and spare:
            width += spare
            spare = 0
        widths.append(width)
    return tuple(widths)


def natural_width(columns: Sequence[GridColumn]) -> int:
    """Cells the columns need at their declared widths, gaps included."""
    gaps = COLUMN_GAP * max(0, len(columns) - 1)
    return sum(column.width for column in columns) + gaps


def fit_plain(text: str, width: int, align: ColumnAlign) -> str:
    """Plain text cropped to `width` cells (ellipsis when cut), padded away from `align`."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 0 else ""
    padding = " " * (width - length)
    return padding + text if align == "right" else text + padding


def fit_cell(cell: Cell, width: int, align: ColumnAlign) -> Text:
    """A cell cropped to `width` (ellipsis when cut) and padded on the side away from `align`."""
    if isinstance(cell, str) and "\n" not in cell:
        return Text(fit_plain(cell, width, align), no_wrap=True, end="")
    text = Text(cell, no_wrap=True) if isinstance(cell, str) else cell.copy()
    if "\n" in text.plain:
        # A cell is one line; a stray newline would break the grid's row geometry.
        text = Text(" ", no_wrap=True).join(text.split("\n"))
    text.truncate(width, overflow="ellipsis")
    text.align(align, width)
    return text


def text_segments(text: Text, console: Console, base: Style) -> list[Segment]:
    """A one-line text as segments drawn over `base`.

    `Text.render` leaves out the text's own style when it has no spans (the console applies
    it later), so it is combined here: a red cell stays red.
    """
    style = base + console.get_style(text.style, default=Style.null())
    return list(Segment.apply_style(text.render(console), style))


class _Looks(NamedTuple):
    """The styles lines are drawn with, read from CSS once per paint."""

    base: Style
    header: Style
    cursor: Style
    empty: Style
    hint: Style


class _Paint(NamedTuple):
    """What every line of one paint shares: styles and geometry."""

    looks: _Looks
    view_width: int
    widths: tuple[int, ...]
    line_width: int
    """Cells of a whole line: the columns, or the view when it is wider."""
    top: int
    """Index of the row on the first line under the header."""
    scroll_x: int


class _PageCache:
    """Pages of rows fetched from a source, least recently used first out."""

    def __init__(self, source: GridSource) -> None:
        self.source = source
        self._pages: OrderedDict[int, Sequence[GridRow]] = OrderedDict()

    def row(self, index: int) -> GridRow | None:
        """The row at `index`, fetching its page if needed; None past the source's end."""
        if index < 0:
            return None
        number, position = divmod(index, PAGE_SIZE)
        page = self._pages.get(number)
        if page is None:
            page = self.source.rows(number * PAGE_SIZE, PAGE_SIZE)
            self._pages[number] = page
            if len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        return page[position] if position < len(page) else None

    def clear(self) -> None:
        """Forget every page (the source's data or filter changed)."""
        self._pages.clear()


class DataGrid(ScrollView, can_focus=True):
    """A table of a `GridSource`'s rows with a row cursor, paging rows in as they show."""

    DEFAULT_CSS = """
    DataGrid {
        height: 1fr;
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        & > .datagrid--header {
            text-style: bold underline;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datagrid--header {
            text-style: bold reverse;
        }
        & > .datagrid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .datagrid--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        &:ansi > .datagrid--cursor {
            text-style: reverse;
        }
        &:ansi:focus > .datagrid--cursor {
            text-style: bold reverse;
        }
        & > .datagrid--empty {
            color: $text-muted;
            text-style: italic;
        }
        & > .datagrid--hint {
            background: $panel;
            color: $text-muted;
            text-style: not bold not underline;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datagrid--header",
        "datagrid--cursor",
        "datagrid--empty",
        "datagrid--hint",
    }
    """
    | Class | Description |
    | :- | :- |
    | `datagrid--header` | The fixed line of column titles. |
    | `datagrid--cursor` | The highlighted row (stronger while the grid has focus). |
    | `datagrid--empty` | The text shown when the source has no rows. |
    | `datagrid--hint` | The "n / total" position hint in the header. |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", id="grid.down", show=False),
        Binding("up,k", "cursor_up", "Up", id="grid.up", show=False),
        Binding("pagedown,ctrl+f", "page_down", "Page down", id="grid.page_down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", id="grid.page_up", show=False),
        Binding("home,g", "first", "First", id="grid.first", show=False),
        Binding("end,G", "last", "Last", id="grid.last", show=False),
        Binding("enter", "select", "Open", id="grid.select"),
        Binding("slash", "filter", "Filter", id="grid.filter", key_display="/"),
        # Active only while a filter is set (check_action), so otherwise esc reaches the
        # screen, where it means "back".
        Binding("escape", "clear_filter", "Clear filter", id="grid.clear_filter"),
    ]

    cursor_index: reactive[int] = reactive(0, repaint=False, init=False)
    """Position of the highlighted row under the source's filter."""

    class RowSelected(Message):
        """The operator pressed enter on a row (drill in)."""

        def __init__(self, grid: DataGrid, key: str, index: int) -> None:
            super().__init__()
            self.grid = grid
            self.key = key
            self.index = index

        @property
        def control(self) -> DataGrid:
            """The grid the row belongs to."""
            return self.grid

    class CursorMoved(Message):
        """The highlighted row changed (another key is under the cursor)."""

        def __init__(self, grid: DataGrid, key: str, index: int) -> None:
            super().__init__()
            self.grid = grid
            self.key = key
            self.index = index

        @property
        def control(self) -> DataGrid:
            """The grid whose cursor moved."""
            return self.grid

    class FilterChanged(Message):
        """The grid's filter changed ("" when cleared)."""

        def __init__(self, grid: DataGrid, text: str) -> None:
            super().__init__()
            self.grid = grid
            self.text = text

        @property
        def control(self) -> DataGrid:
            """The filtered grid."""
            return self.grid

    class FilterRequested(Message):
        """The operator asked to filter (`/`); a `FilterableGrid` answers with its input."""

        def __init__(self, grid: DataGrid) -> None:
            super().__init__()
            self.grid = grid

        @property
        def control(self) -> DataGrid:
            """The grid to filter."""
            return self.grid

    def __init__(
        self,
        columns: Sequence[GridColumn],
        source: GridSource,
        *,
        empty_text: str = "nothing to show",
        follow_head: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[GridColumn, ...] = tuple(columns)
        self.empty_text = empty_text
        self.follow_head = follow_head
        """For newest-first feeds: a cursor on the first row stays on the first row when
        rows arrive above it, so the newest stay in sight (instead of following its key)."""
        self._source = source
        self._pages = _PageCache(source)
        self._count = source.count()
        self._cursor_key: str | None = None
        self._announced_key: str | None = None
        self._lines: OrderedDict[tuple[object, ...], tuple[GridRow, Strip]] = OrderedDict()
        self._paint: _Paint | None = None
        self._widths_for: tuple[int, tuple[int, ...]] = (-1, ())

    # -- public API -------------------------------------------------------------------------

    @property
    def source(self) -> GridSource:
        """Where the rows come from."""
        return self._source

    def set_source(self, source: GridSource) -> None:
        """Show another source's rows, from the top."""
        self._source = source
        self._pages = _PageCache(source)
        self._lines.clear()
        self._count = source.count()
        self.set_reactive(DataGrid.cursor_index, 0)
        self._update_virtual_size()
        self.scroll_to(y=0, animate=False, force=True)
        self._sync_cursor_key()
        self.refresh()
        self.refresh_bindings()

    @property
    def row_count(self) -> int:
        """Rows under the current filter (as of the last reload)."""
        return self._count

    @property
    def cursor_key(self) -> str | None:
        """The key of the highlighted row; None when the grid is empty."""
        return self._cursor_key

    def reload(self, *, keep_key: bool = False) -> None:
        """The source's data changed: re-count, drop fetched rows, keep the cursor on its key.

        If the cursor's row is still there the cursor follows it (and stays on the same
        screen line, so an insert above does not make the view jump); otherwise it stays at
        the same position, clamped to the new count. A view scrolled away from the cursor
        (mouse wheel) stays where it is, or a live table could not be scrolled. A
        `follow_head` grid with its cursor on the first row keeps it there instead, unless
        `keep_key` (the rows changed by a filter, not by new arrivals).
        """
        old_index = self.cursor_index
        screen_line = old_index - self._top_row()
        cursor_was_visible = 0 <= screen_line < self._viewport_rows()
        self._pages.clear()
        self._count = self._source.count()
        new_index = None
        following = (
            self.follow_head and not keep_key and old_index == 0 and self._top_row() == 0
        )
        if following:
            new_index = 0
        elif self._cursor_key is not None:
            new_index = self._source.index_of(self._cursor_key)
        if new_index is None:
            new_index = self._clamp(old_index)
        self.set_reactive(DataGrid.cursor_index, new_index)
        self._update_virtual_size()
        if cursor_was_visible:
            if new_index != old_index:
                self.scroll_to(y=max(0, new_index - screen_line), animate=False, force=True)
            self._scroll_cursor_into_view()
        self._fill_view()
        self._sync_cursor_key()
        self.refresh()

    def move_cursor_to_key(self, key: str) -> bool:
        """Put the cursor on the row with `key`; False if the source does not show it."""
        index = self._source.index_of(key)
        if index is None:
            return False
        self.go_to(index)
        return True

    def go_to(self, index: int) -> None:
        """Put the cursor on row `index` (clamped) and scroll it into view."""
        self.cursor_index = index
        self._scroll_cursor_into_view()

    def apply_filter(self, text: str) -> None:
        """Filter the source with `text` ("" clears), reload, and post `FilterChanged`."""
        if text == self._source.filter_text:
            return
        self._source.set_filter(text)
        # A filter change shows other rows, not newer ones: the cursor keeps its row.
        self.reload(keep_key=True)
        self.refresh_bindings()
        self._announce(self.FilterChanged(self, text))

    # -- actions ----------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        """Highlight the next row."""
        self.go_to(self.cursor_index + 1)

    def action_cursor_up(self) -> None:
        """Highlight the previous row."""
        self.go_to(self.cursor_index - 1)

    def action_page_down(self) -> None:
        """Move the cursor and the view one screen down."""
        rows = self._viewport_rows()
        self.scroll_to(y=self._top_row() + rows, animate=False, force=True)
        self.go_to(self.cursor_index + rows)

    def action_page_up(self) -> None:
        """Move the cursor and the view one screen up."""
        rows = self._viewport_rows()
        self.scroll_to(y=max(0, self._top_row() - rows), animate=False, force=True)
        self.go_to(self.cursor_index - rows)

    def action_first(self) -> None:
        """Highlight the first row."""
        self.go_to(0)

    def action_last(self) -> None:
        """Highlight the last row."""
        self.go_to(self._count - 1)

    def action_select(self) -> None:
        """Post `RowSelected` for the highlighted row."""
        if self._cursor_key is not None:
            self._announce(self.RowSelected(self, self._cursor_key, self.cursor_index))

    def action_filter(self) -> None:
        """Ask the container for a filter input."""
        self._announce(self.FilterRequested(self))

    def action_clear_filter(self) -> None:
        """Show every row again."""
        self.apply_filter("")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`clear_filter` exists only while a filter is set, so esc otherwise means back."""
        if action == "clear_filter":
            return bool(self._source.filter_text)
        return True

    # -- reactive watchers and events -------------------------------------------------------

    def validate_cursor_index(self, index: int) -> int:
        return self._clamp(index)

    def watch_cursor_index(self, old_index: int, new_index: int) -> None:
        self._scroll_cursor_into_view()
        self._sync_cursor_key()
        self.refresh()

    def on_mount(self) -> None:
        self._update_virtual_size()
        self._sync_cursor_key()

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_cursor_into_view()
        self._fill_view()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = self._top_row() + offset.y - 1
        if index >= self._count:
            return
        if index == self.cursor_index:
            self.action_select()
        else:
            self.go_to(index)

    # -- rendering --------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles (focus, theme) and geometry are read once per paint, not once per line.
        self._paint = self._prepare_paint()
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def render_line(self, y: int) -> Strip:
        paint = self._paint or self._prepare_paint()
        looks = paint.looks
        if y == 0:
            strip = self._header_strip(paint)
        elif self._count == 0:
            strip = self._empty_strip(y, paint)
        else:
            index = paint.top + y - 1
            row = self._pages.row(index) if index < self._count else None
            if row is None:
                strip = Strip.blank(paint.line_width, looks.base)
            else:
                strip = self._row_strip(row, index == self.cursor_index, paint)
        if paint.scroll_x == 0 and paint.line_width == paint.view_width:
            return strip
        return strip.crop(paint.scroll_x, paint.scroll_x + paint.view_width).adjust_cell_length(
            paint.view_width, looks.base
        )

    def _prepare_paint(self) -> _Paint:
        base = self.rich_style
        looks = _Looks(
            base=base,
            header=base + self.get_component_rich_style("datagrid--header"),
            cursor=base + self.get_component_rich_style("datagrid--cursor"),
            empty=base + self.get_component_rich_style("datagrid--empty"),
            hint=self.get_component_rich_style("datagrid--hint"),
        )
        view_width = self.scrollable_content_region.width
        available, widths = self._widths_for
        if available != view_width:
            widths = layout_widths(self.columns, view_width)
            self._widths_for = (view_width, widths)
        columns_width = sum(widths) + COLUMN_GAP * max(0, len(widths) - 1)
        scroll_x, top = self.scroll_offset
        return _Paint(
            looks=looks,
            view_width=view_width,
            widths=widths,
            line_width=max(view_width, columns_width),
            top=top,
            scroll_x=scroll_x,
        )

    def _row_segments(
        self, cells: Sequence[Cell], widths: Sequence[int], style: Style
    ) -> list[Segment]:
        """One row's cells laid out in their columns, as segments drawn in `style`."""
        segments: list[Segment] = []
        plain: list[str] = []
        for position, (column, width) in enumerate(zip(self.columns, widths, strict=False)):
            if position:
                plain.append(GAP)
            cell = cells[position] if position < len(cells) else ""
            if isinstance(cell, str) and "\n" not in cell:
                # Plain text (most cells) skips rich's Text machinery: it is the hot path
                # when a live table reloads ten times a second.
                plain.append(fit_plain(cell, width, column.align))
                continue
            if plain:
                segments.append(Segment("".join(plain), style))
                plain = []
            fitted = fit_cell(cell, width, column.align)
            segments.extend(text_segments(fitted, self.app.console, style))
        if plain:
            segments.append(Segment("".join(plain), style))
        return segments

    def _header_strip(self, paint: _Paint) -> Strip:
        looks = paint.looks
        hint = f"{self.cursor_index + 1} / {self._count}" if self._count else ""
        titles: list[Cell] = []
        for column, width in zip(self.columns, paint.widths, strict=False):
            titles.append(self._title_with_hint(column, width, hint, looks))
            if titles[-1] is not column.title:
                hint = ""
        line = Text(style=looks.header, no_wrap=True, end="")
        line.append_text(Text.assemble(*self._row_segments_text(titles, paint.widths)))
        line.pad_right(max(0, paint.line_width - line.cell_len))
        used = cell_len(line.plain.rstrip())
        if hint and paint.line_width - used >= len(hint) + 2:
            line.truncate(paint.line_width - len(hint) - 1)
            line.append(hint, style=looks.hint)
            line.append(" ")
        return self._text_strip(line, paint.line_width, looks.header)

    def _row_segments_text(self, cells: Sequence[Cell], widths: Sequence[int]) -> list[Text]:
        """Cells fitted to their columns as rich texts, gaps included (for the header)."""
        texts: list[Text] = []
        for position, (column, width) in enumerate(zip(self.columns, widths, strict=False)):
            if position:
                texts.append(Text(GAP))
            cell = cells[position] if position < len(cells) else ""
            texts.append(fit_cell(cell, width, column.align))
        return texts

    @staticmethod
    def _title_with_hint(column: GridColumn, width: int, hint: str, looks: _Looks) -> Cell:
        """The flex column's title with the position hint at its right end, if both fit.

        The hint goes only where it hides no title (the flex column's spare width, or the
        blank end of the header): titles matter more than the position.
        """
        if not (hint and column.flex and column.align == "left"):
            return column.title
        room = width - cell_len(column.title) - len(hint) - 2
        if room < 0:
            return column.title
        title = Text(column.title + " " * (room + 1))
        title.append(hint, style=looks.hint)
        return title

    def _empty_strip(self, y: int, paint: _Paint) -> Strip:
        if y != 1:
            return Strip.blank(paint.line_width, paint.looks.base)
        line = Text(f" {self.empty_text}", style=paint.looks.empty, no_wrap=True, end="")
        line.truncate(paint.line_width, overflow="ellipsis")
        return self._text_strip(line, paint.line_width, paint.looks.base)

    def _text_strip(self, line: Text, width: int, style: Style) -> Strip:
        segments = text_segments(line, self.app.console, style)
        return Strip(segments).adjust_cell_length(width, style).simplify()

    def _row_strip(self, row: GridRow, is_cursor: bool, paint: _Paint) -> Strip:
        style = paint.looks.cursor if is_cursor else paint.looks.base
        cache_key = (row.key, style, paint.widths, paint.line_width)
        cached = self._lines.get(cache_key)
        # A reload hands over new row objects; an unchanged row keeps its rendered line.
        if cached is not None and (cached[0] is row or cached[0] == row):
            self._lines.move_to_end(cache_key)
            return cached[1]
        segments = self._row_segments(row.cells, paint.widths, style)
        strip = Strip(segments).adjust_cell_length(paint.line_width, style)
        self._lines[cache_key] = (row, strip)
        if len(self._lines) > CACHED_LINES:
            self._lines.popitem(last=False)
        return strip

    # -- geometry ---------------------------------------------------------------------------

    def _clamp(self, index: int) -> int:
        return max(0, min(index, self._count - 1))

    def _top_row(self) -> int:
        """The index of the first row on screen (the header takes line 0)."""
        return int(self.scroll_offset.y)

    def _viewport_rows(self) -> int:
        """How many rows fit below the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(natural_width(self.columns), self._count + 1)

    def _scroll_cursor_into_view(self) -> None:
        top = self._top_row()
        rows = self._viewport_rows()
        index = self.cursor_index
        if index < top:
            self.scroll_to(y=index, animate=False, force=True)
        elif index >= top + rows:
            self.scroll_to(y=index - rows + 1, animate=False, force=True)

    def _fill_view(self) -> None:
        """After rows went away below, pull the view down so no blank tail shows."""
        top = self._top_row()
        rows = self._viewport_rows()
        if top > 0 and top + rows > self._count:
            self.scroll_to(y=max(0, self._count - rows), animate=False, force=True)

    def _sync_cursor_key(self) -> None:
        """Record the key under the cursor; tell listeners when it is another row."""
        row = self._pages.row(self.cursor_index) if self._count else None
        self._cursor_key = row.key if row is not None else None
        if self._cursor_key != self._announced_key:
            self._announced_key = self._cursor_key
            if self._cursor_key is not None:
                self._announce(self.CursorMoved(self, self._cursor_key, self.cursor_index))

    def _announce(self, message: Message) -> None:
        # The grid is the sender whoever called it: Textual stops a message from bubbling
        # past the widget that sent it, which would hide e.g. a filter the container applied
        # from every screen.
        self.post_message(message.set_sender(self))
