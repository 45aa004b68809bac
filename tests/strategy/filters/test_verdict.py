"""The shared verdict: always a reason, an alert flag, context as text, and every filter
shaped as `EntryFilter`."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tbot.strategy.filters import (
    BsmFilter,
    EntryFilter,
    FilterVerdict,
    FundamentalsGuard,
    FundamentalsLimits,
    ImbalanceGate,
    VixGate,
)
from tbot.strategy.filters.verdict import FilterVerdict as Direct


def test_constructors_set_allowed_and_turn_context_into_text() -> None:
    allowed = FilterVerdict.allow("vix", "VIX 18.2 ≥ 15", vix=Decimal("18.2"))
    blocked = FilterVerdict.block("vix", "no VIX value", alert=True, at=None)
    assert (allowed.allowed, allowed.blocked, allowed.alert) == (True, False, False)
    assert (blocked.allowed, blocked.blocked, blocked.alert) == (False, True, True)
    assert allowed.context == {"vix": "18.2"} and blocked.context == {"at": "None"}
    assert Direct is FilterVerdict


def test_text_form_for_logs() -> None:
    assert str(FilterVerdict.allow("vix", "VIX 18.2 ≥ 15")) == "vix: allowed: VIX 18.2 ≥ 15"
    assert str(FilterVerdict.block("vix", "no VIX value", alert=True)) == (
        "vix: blocked: no VIX value [ALERT]"
    )


def test_verdicts_are_frozen_and_hashable() -> None:
    verdict = FilterVerdict.block("bsm", "overpriced", spot=42)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.allowed = True  # type: ignore[misc]
    assert len({verdict, FilterVerdict.block("bsm", "overpriced", spot=42)}) == 1


def test_every_filter_is_an_entry_filter() -> None:
    limits = FundamentalsLimits(Decimal(50), Decimal("2.5"), {})
    filters: list[EntryFilter] = [
        BsmFilter(True, Decimal("0.15"), Decimal("0.045")),
        VixGate(None, Decimal(15), enabled=True),
        ImbalanceGate(None),
        FundamentalsGuard(None, limits),
    ]
    assert [f.name for f in filters] == ["bsm", "vix", "imbalance", "fundamentals"]
    for entry_filter in filters:
        assert isinstance(entry_filter.enabled, bool)
        assert isinstance(entry_filter.self_check(), list)
