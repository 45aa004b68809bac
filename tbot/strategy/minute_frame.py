"""One minute of the market as columns: the input of every strategy's step.

A `MinuteFrame` holds a minute's bars for a fixed list of symbols (a `SymbolIndex`) as
float64 arrays, one element per symbol, with `present` False where a symbol had no bar
(its prices are NaN then and must not be read). Strategies compute their indicators over
whole arrays at once; only the few symbols that signal are looked at one by one, and their
prices are then read back as exact `Decimal`s (`decimal`), so money never passes through a
float on its way to an order.

Live, a frame is built from the feed's `Bar`s (`frame_from_bars`) and `decimal` returns the
bar's own Decimal. A backtester that holds the market as arrays builds frames directly and
`decimal` formats the float on the price grid (`price_decimal`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tbot.market.bars import Bar

PriceField = Literal["open", "high", "low", "close"]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

TOLERANCE = 1e-9
"""Relative slack of a float comparison against a threshold. Prices sit on a grid of at
least 0.0001, so two grid prices differ by far more than this, while a product such as
``high × 1.02`` computed in floats misses its exact value by far less: comparing with this
slack gives the same answer as the exact Decimal comparison."""


class SymbolIndex:
    """Symbols in a fixed column order, and where each one is."""

    __slots__ = ("_positions", "symbols")

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(symbols))
        self._positions = {symbol: i for i, symbol in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._positions

    def position(self, symbol: str) -> int | None:
        """The column of `symbol`, None when it is not in the index."""
        return self._positions.get(symbol)

    def columns_of(self, symbols: Sequence[str]) -> NDArray[np.intp]:
        """The column of each of `symbols` in this index, -1 where absent."""
        return np.array([self._positions.get(s, -1) for s in symbols], dtype=np.intp)


def price_decimal(value: float) -> Decimal:
    """A float price back on the price grid as a Decimal: cents when it is a whole number
    of cents (as `Decimal("46.50")`), else four places (sub-dollar prices)."""
    cents = round(value * 100)
    if abs(value * 100 - cents) < 1e-6:
        return Decimal(cents).scaleb(-2)
    return Decimal(round(value * 10_000)).scaleb(-4)


class MinuteFrame:
    """The bars of one minute over `index`. `start` is the minute's start, `at` when the
    bars are delivered (the minute's end); both aware UTC."""

    __slots__ = (
        "_decimal",
        "at",
        "close",
        "high",
        "index",
        "low",
        "open",
        "present",
        "start",
        "volume",
    )

    def __init__(
        self,
        index: SymbolIndex,
        start: datetime,
        at: datetime,
        *,
        open: FloatArray,
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        volume: FloatArray,
        present: BoolArray,
        decimal: Callable[[PriceField, int], Decimal] | None = None,
    ) -> None:
        self.index = index
        self.start = start
        self.at = at
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.present = present
        self._decimal = decimal

    def decimal(self, field: PriceField, column: int) -> Decimal:
        """The exact price `field` of the symbol in `column` (which must be present)."""
        if self._decimal is not None:
            return self._decimal(field, column)
        return price_decimal(float(getattr(self, field)[column]))

    def reindex(self, index: SymbolIndex, columns: NDArray[np.intp]) -> MinuteFrame:
        """This minute over `index`, whose symbols sit at `columns` of this frame (-1: a
        symbol this frame does not carry, absent in the result)."""
        parent = self

        def decimal(field: PriceField, column: int) -> Decimal:
            return parent.decimal(field, int(columns[column]))

        if columns.size and columns.min() >= 0:  # the common case: every symbol carried
            return MinuteFrame(
                index, self.start, self.at, open=self.open[columns], high=self.high[columns],
                low=self.low[columns], close=self.close[columns],
                volume=self.volume[columns], present=self.present[columns], decimal=decimal)
        known = columns >= 0
        safe = np.where(known, columns, 0)

        def take(values: FloatArray) -> FloatArray:
            return np.where(known, values[safe], np.nan)

        return MinuteFrame(
            index, self.start, self.at,
            open=take(self.open), high=take(self.high), low=take(self.low),
            close=take(self.close), volume=take(self.volume),
            present=self.present[safe] & known, decimal=decimal,
        )


def frame_from_bars(index: SymbolIndex, bars: Mapping[str, Bar], start: datetime,
                    at: datetime) -> MinuteFrame:
    """The frame of `bars` (one minute's, by symbol) over `index`; bars of other symbols
    are left out, symbols without a bar are absent."""
    size = len(index)
    values = np.full((5, size), np.nan)
    present = np.zeros(size, dtype=np.bool_)
    held: dict[int, Bar] = {}
    for symbol, bar in bars.items():
        column = index.position(symbol)
        if column is None:
            continue
        values[:, column] = (float(bar.open), float(bar.high), float(bar.low),
                             float(bar.close), float(bar.volume))
        present[column] = True
        held[column] = bar

    def decimal(field: PriceField, column: int) -> Decimal:
        value: Decimal = getattr(held[column], field)
        return value

    return MinuteFrame(index, start, at, open=values[0], high=values[1], low=values[2],
                       close=values[3], volume=values[4], present=present, decimal=decimal)
