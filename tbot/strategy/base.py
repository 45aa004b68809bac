"""The interface every strategy implements, so the engine and the backtester drive any of
them the same way: bars in, signals out, fills reported back.

Two ways in, one strategy: `on_bars` takes a minute as the feed's `Bar`s (the engine);
`step` takes it as a `MinuteFrame` of arrays (a backtester that keeps the market as
arrays). `tbot.strategy` says how the step works and what it costs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tbot.config.setting_types import StrategyName
from tbot.market.bars import Bar
from tbot.strategy.minute_frame import MinuteFrame
from tbot.strategy.signals import Signal
from tbot.strategy.window import StrategyWindow


class Strategy(Protocol):
    """One strategy for one trading window.

    Implementations are pure and deterministic: no I/O, no clock, no event loop. Time only
    enters through the `at` arguments, so the same bars always give the same signals.
    """

    name: StrategyName
    window: StrategyWindow

    def on_bars(self, bars: Mapping[str, Bar], at: datetime) -> list[Signal]:
        """React to one minute of bars, by symbol; `at` is when they are delivered (the end
        of their minute)."""
        ...

    def step(self, frame: MinuteFrame) -> list[Signal]:
        """React to one minute given as columns (any symbol index: it is re-indexed to the
        strategy's own); the same signals `on_bars` gives for the same minute."""
        ...

    def watched_symbols(self) -> tuple[str, ...]:
        """Every symbol whose bars the strategy reads: its universe, then its pool."""
        ...

    def block(self, symbols: Iterable[str]) -> None:
        """Never enter `symbols` this session (an outside check ruled them out)."""
        ...

    def on_entry_filled(
        self, instrument: str, quantity: Decimal, price: Decimal, at: datetime
    ) -> None:
        """The engine reports a buy fill; partial fills add up."""
        ...

    def on_exit_filled(
        self, instrument: str, quantity: Decimal, price: Decimal, at: datetime
    ) -> None:
        """The engine reports a sell fill; the holding shrinks by `quantity`."""
        ...

    def on_exit_rejected(self, instrument: str) -> None:
        """The exit order for `instrument` was refused or ended unfilled: the strategy may
        emit its exit again on later bars."""
        ...

    def holdings(self) -> Mapping[str, Decimal]:
        """Instrument → quantity the strategy believes it holds."""
        ...

    def adopt_position(
        self,
        instrument: str,
        quantity: Decimal,
        average_cost: Decimal,
        last_price: Decimal,
        at: datetime,
        *,
        short: bool = False,
    ) -> None:
        """After a restart, take over a position found at the broker for this strategy
        (`quantity` shares; `short`: sold short, so its stops sit above the price); its
        exit tracking restarts from `last_price`."""
        ...

    def self_check(self) -> list[str]:
        """Problems in the strategy's own configuration or state; empty when fine."""
        ...

    def snapshot(self) -> dict[str, object]:
        """JSON-ready state for `engine.status` and the console."""
        ...
