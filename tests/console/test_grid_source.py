"""ListSource: the in-memory GridSource's counting, paging, key lookup and filtering."""

from __future__ import annotations

from rich.text import Text

from tui.widgets.grid_source import GridRow, ListSource, row_contains


def _row(key: str, *cells: str | Text) -> GridRow:
    return GridRow(key, tuple(cells))


def _positions() -> list[GridRow]:
    return [
        _row("AAPL", "AAPL", "long", "100"),
        _row("MSFT", "MSFT", "short", "50"),
        _row("TSLA", "TSLA", "long", Text("-12.50", style="red")),
        _row("NVDA", "NVDA", "flat", "0"),
    ]


def test_without_a_filter_every_row_is_counted_and_paged_in_order() -> None:
    source = ListSource(_positions())
    assert source.count() == 4
    assert [row.key for row in source.rows(1, 2)] == ["MSFT", "TSLA"]
    assert [row.key for row in source.rows(3, 100)] == ["NVDA"]
    assert source.rows(4, 10) == []
    assert source.filter_text == ""


def test_filter_is_a_case_insensitive_substring_of_any_cell() -> None:
    source = ListSource(_positions())
    source.set_filter("LONG")
    assert [row.key for row in source.rows(0, 10)] == ["AAPL", "TSLA"]
    assert source.count() == 2
    source.set_filter("ms")
    assert [row.key for row in source.rows(0, 10)] == ["MSFT"]


def test_filter_reads_the_plain_text_of_rich_cells() -> None:
    source = ListSource(_positions())
    source.set_filter("-12.5")
    assert [row.key for row in source.rows(0, 10)] == ["TSLA"]


def test_index_of_counts_positions_under_the_filter() -> None:
    source = ListSource(_positions())
    assert source.index_of("TSLA") == 2
    source.set_filter("long")
    assert source.index_of("TSLA") == 1
    assert source.index_of("MSFT") is None
    assert source.index_of("nope") is None


def test_empty_or_blank_filter_shows_every_row_again() -> None:
    source = ListSource(_positions())
    source.set_filter("flat")
    assert source.count() == 1
    source.set_filter("")
    assert source.count() == 4
    source.set_filter("   ")
    assert source.count() == 4


def test_replace_keeps_the_filter_and_the_given_order() -> None:
    source = ListSource(_positions())
    source.set_filter("long")
    source.replace([_row("B", "long b"), _row("X", "short x"), _row("A", "long a")])
    assert [row.key for row in source.rows(0, 10)] == ["B", "A"]
    assert source.index_of("A") == 1
    assert source.filter_text == "long"
    assert [row.key for row in source.all_rows] == ["B", "X", "A"]


def test_a_custom_matcher_decides_what_matches() -> None:
    def symbol_starts_with(row: GridRow, text: str) -> bool:
        return row.key.startswith(text.upper())

    source = ListSource(_positions(), matches=symbol_starts_with)
    source.set_filter("m")
    assert [row.key for row in source.rows(0, 10)] == ["MSFT"]
    source.set_filter("long")  # would match cells with the default matcher
    assert source.count() == 0


def test_default_matcher_is_usable_on_its_own() -> None:
    assert row_contains(_row("k", "Opening Range", "x"), "range")
    assert not row_contains(_row("k", "Opening Range", "x"), "close")


def test_rows_tolerates_offsets_outside_the_list() -> None:
    source = ListSource(_positions())
    assert [row.key for row in source.rows(-5, 1)] == ["AAPL"]
    assert source.rows(0, 0) == []
    assert source.rows(99, 5) == []
