"""Array types and the small helpers every indicator shares."""

from __future__ import annotations

import operator
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

_Array = TypeVar("_Array", bound=NDArray[Any])

TINY = float(np.finfo(np.float64).tiny)
"""The smallest normal float64 (~2.2e-308). ``maximum(x, TINY)`` is `x` for any x a price,
range or volume can produce and turns an exact 0 into a divisor that gives 0 for a 0
numerator, with no 0/0 warning (and normal, since dividing by a subnormal is slow)."""


def universe_size(n: int) -> int:
    """`n` as a column count: a non-negative int."""
    size = operator.index(n)
    if size < 0:
        raise ValueError(f"universe size must be >= 0, got {size}")
    return size


def read_only(array: _Array) -> _Array:
    """A view of `array` that callers cannot write through; it follows every in-place update
    of `array`, so it is built once and handed out at no cost."""
    view = array.view()
    view.flags.writeable = False
    return view


def column_mask(columns: BoolArray | None, n: int) -> BoolArray:
    """`columns` checked as a boolean mask over `n` columns; None means every column."""
    if columns is None:
        return np.ones(n, dtype=np.bool_)
    mask = np.asarray(columns)
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise ValueError(f"columns must be a boolean mask of shape ({n},), "
                         f"got {mask.dtype} {mask.shape}")
    return mask
