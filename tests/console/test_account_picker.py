"""The account picker: only postable accounts, filtered as the bookkeeper types, picked with
enter, cancelled with esc (nothing chosen)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App

from tbot.ledger.chart import STANDARD_CHART, AccountType
from tui.widgets.account_picker import AccountChoice, AccountPickerScreen, postable_accounts

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


class PickerHost(App[None]):
    """An empty app that opens the picker and keeps its answer."""

    def __init__(self, current: str | None = None) -> None:
        super().__init__()
        self.current = current
        self.picked: list[str | None] = []

    def on_mount(self) -> None:
        self.push_screen(
            AccountPickerScreen(postable_accounts(self), title="Item #3 · account for FEE -1.25",
                                current=self.current),
            self.picked.append,
        )

    @property
    def picker(self) -> AccountPickerScreen:
        screen = self.screen
        assert isinstance(screen, AccountPickerScreen)
        return screen


def test_without_a_ledger_the_standard_charts_postable_accounts_are_offered() -> None:
    offered = postable_accounts(App())
    codes = [choice.code for choice in offered]
    assert codes == sorted(codes)
    assert codes and all(STANDARD_CHART.is_postable(code) for code in codes)
    parents = [a.code for a in STANDARD_CHART if not STANDARD_CHART.is_leaf(a.code)]
    controls = [a.code for a in STANDARD_CHART if a.type is AccountType.CONTROL]
    assert not set(codes) & (set(parents) | set(controls))


def test_every_word_typed_must_match() -> None:
    fees = AccountChoice("5010", "Broker fees", "expense")
    assert fees.matches("broker FEES")
    assert fees.matches("5010 expense")
    assert not fees.matches("broker income")


async def test_typing_filters_and_enter_picks_the_highlighted_account() -> None:
    app = PickerHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"5010")
        await pilot.pause()
        assert [choice.code for choice in app.picker.shown] == ["5010"]
        await pilot.press("enter")
        await pilot.pause()
    assert app.picked == ["5010"]


async def test_arrows_move_while_the_filter_keeps_the_focus() -> None:
    app = PickerHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"expense")
        await pilot.pause()
        second = app.picker.shown[1].code
        await pilot.press("down", "enter")
        await pilot.pause()
    assert app.picked == [second]


async def test_esc_chooses_nothing_and_a_filter_matching_nothing_cannot_pick() -> None:
    app = PickerHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*"zzz", "enter")
        await pilot.pause()
        assert app.picker.shown == ()
        assert app.picked == []
        await pilot.press("escape")
        await pilot.pause()
    assert app.picked == [None]


async def test_the_current_account_starts_highlighted() -> None:
    app = PickerHost(current="5010")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    assert app.picked == ["5010"]


@pytest.mark.parametrize("size", SIZES)
def test_picker(snap_compare: Any, size: tuple[int, int]) -> None:
    async def steps(pilot: Any) -> None:
        await pilot.press(*"fee")
        await pilot.pause()

    assert snap_compare(PickerHost(current="5010"), terminal_size=size, run_before=steps)
