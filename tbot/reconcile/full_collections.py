"""Full (oldest-generation) garbage collections postponed while a sync holds its records.

A sync of 100,000 fills keeps millions of long-lived objects (the broker's payloads, the
ledger's side, the rows it will write) until its one commit. Each time the heap grows by a
quarter, CPython's cyclic collector walks all of them once more: a dozen full collections,
six seconds in which every thread (the broker's, the ledger's) stands still, and none of
which frees anything, since the records are still in use.

Inside `postponed_full_collections()` the young generations are collected as usual (cycles
made meanwhile are freed), only the full collections wait; the threshold is put back when
the last holder leaves, and the next full collection then runs on CPython's usual rule.
Re-entrant and safe to nest: one process-wide setting, one holder count.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_NEVER = 2**31 - 1
"""A third threshold no count of young collections reaches."""

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def postponed_full_collections() -> Iterator[None]:
    """Postpone full collections for the duration of the block (see the module doc)."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            first, second, third = gc.get_threshold()
            _saved = (first, second, third)
            gc.set_threshold(first, second, _NEVER)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
