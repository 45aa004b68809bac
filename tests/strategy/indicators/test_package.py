"""The package as a whole: self-contained, every indicator usable at any universe size."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import tbot.strategy.indicators as indicators
from tbot.strategy.indicators import (
    Adx,
    Bollinger,
    OpeningRange,
    SessionVwap,
    TrailingExtremes,
)

pytestmark = pytest.mark.filterwarnings("error")


def test_imports_nothing_else_from_tbot() -> None:
    # Strategies, the engine and the backtester all use it: numpy and the stdlib only.
    for path in Path(indicators.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in {"__future__", "numpy", "operator", "typing"} or name.startswith(
                    "tbot.strategy.indicators"), f"{path.name} imports {name}"


@pytest.mark.parametrize("n", [0, 1])
def test_every_indicator_runs_on_tiny_universes(n: int) -> None:
    values = np.full(n, 10.0)
    present = np.ones(n, dtype=bool)
    vwap, adx, bands = SessionVwap(n), Adx(n, period=2), Bollinger(n, length=2)
    ranges, trailing = OpeningRange(n), TrailingExtremes(n)
    trailing.arm(present, values)
    for _ in range(5):
        vwap.update(values, values, values, values, present)
        adx.update(values + 1, values - 1, values, present)
        bands.update(values, present)
        ranges.update(values + 1, values - 1, present, values)
        trailing.update(values + 1, values - 1, present)
    for result in (vwap.value, adx.adx, bands.middle, ranges.high, trailing.peak):
        assert result.shape == (n,)
    np.testing.assert_array_equal(vwap.value, values)
    np.testing.assert_array_equal(adx.adx, np.zeros(n))
    np.testing.assert_array_equal(bands.upper, values)
    for indicator in (vwap, adx, bands, ranges, trailing):
        indicator.reset()
