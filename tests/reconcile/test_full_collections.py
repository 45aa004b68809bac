"""Full collections wait while a sync holds its records; the young ones do not, and the
collector's thresholds come back as they were, however the holders nest."""

from __future__ import annotations

import gc

from tbot.reconcile.full_collections import postponed_full_collections


def test_only_full_collections_wait_and_the_thresholds_come_back_after_nesting():
    before = gc.get_threshold()
    with postponed_full_collections():
        inside = gc.get_threshold()
        with postponed_full_collections():
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside  # still held by the outer one
    assert inside[:2] == before[:2]  # young generations collected as usual
    assert inside[2] > 10**9
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_when_the_block_raises():
    before = gc.get_threshold()
    try:
        with postponed_full_collections():
            raise ValueError("the sync failed")
    except ValueError:
        pass
    assert gc.get_threshold() == before
