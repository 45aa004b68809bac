"""The close strategy's imbalance gate: off without a source, blocks only strong opposing
pressure, fails closed when the source cannot tell; and the simulated source."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tbot.strategy.filters.imbalance_gate import (
    Imbalance,
    ImbalanceGate,
    ImbalanceSide,
    SimulatedImbalanceSource,
)
from tbot.strategy.signals import Direction

AT = datetime(2026, 11, 20, 20, 45, tzinfo=UTC)
BUY, SELL = ImbalanceSide.BUY, ImbalanceSide.SELL


class OneImbalance:
    """A source answering one imbalance (or None, or raising)."""

    def __init__(self, answer: Imbalance | Exception | None) -> None:
        self.answer = answer

    def imbalance(self, symbol: str, at: datetime) -> Imbalance | None:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def gate_with(side: ImbalanceSide, shares: int, paired: int) -> ImbalanceGate:
    return ImbalanceGate(OneImbalance(Imbalance("AAPL", side, shares, paired, AT)))


def test_without_a_source_the_gate_is_off_and_says_so() -> None:
    gate = ImbalanceGate(None)
    verdict = gate.check("AAPL", "long", AT)
    assert not gate.enabled and verdict.allowed
    assert verdict.reason == "imbalance gate off: no imbalance source (IBKR only)"


def test_switched_off_with_a_source() -> None:
    verdict = ImbalanceGate(OneImbalance(None), enabled=False).check("AAPL", "long", AT)
    assert verdict.allowed and verdict.reason == "imbalance gate off: switched off"


def test_a_strong_sell_imbalance_blocks_a_long_entry() -> None:
    verdict = gate_with(SELL, 60_000, 200_000).check("AAPL", Direction.LONG, AT)
    assert not verdict.allowed and not verdict.alert and verdict.filter == "imbalance"
    assert verdict.reason == (
        "SELL imbalance of 60,000 shares on 200,000 paired (0.30) opposes a long entry "
        "(strong: ≥ 0.25 of paired and ≥ 10,000 shares)"
    )
    assert verdict.context["ratio"] == "0.30"


def test_a_strong_buy_imbalance_blocks_a_bearish_entry() -> None:
    assert not gate_with(BUY, 60_000, 200_000).check("AAPL", "bearish", AT).allowed


def test_an_imbalance_on_our_side_allows() -> None:
    verdict = gate_with(BUY, 500_000, 100_000).check("AAPL", "long", AT)
    assert verdict.allowed and verdict.reason.endswith("is on the side of a long entry")


def test_a_weak_opposing_imbalance_allows() -> None:
    below_ratio = gate_with(SELL, 40_000, 200_000).check("AAPL", "long", AT)
    below_floor = gate_with(SELL, 9_900, 10_000).check("AAPL", "long", AT)
    assert below_ratio.allowed and below_ratio.reason.endswith("opposes a long entry but is weak")
    assert below_floor.allowed


def test_the_ratio_boundary_blocks() -> None:
    assert not gate_with(SELL, 50_000, 200_000).check("AAPL", "long", AT).allowed


def test_nothing_paired_makes_any_sizeable_imbalance_strong() -> None:
    verdict = gate_with(SELL, 20_000, 0).check("AAPL", "long", AT)
    assert not verdict.allowed and "(∞)" in verdict.reason


def test_the_thresholds_are_parameters() -> None:
    source = OneImbalance(Imbalance("AAPL", SELL, 60_000, 200_000, AT))
    lenient = ImbalanceGate(source, strong_ratio=Decimal("0.5"), min_shares=0)
    assert lenient.check("AAPL", "long", AT).allowed


def test_no_imbalance_published_allows() -> None:
    verdict = ImbalanceGate(OneImbalance(None)).check("AAPL", "long", AT)
    assert verdict.allowed and not verdict.alert
    assert verdict.reason == "no imbalance published for AAPL at 20:45 UTC"


def test_a_source_that_cannot_tell_blocks_and_alerts() -> None:
    verdict = ImbalanceGate(OneImbalance(ConnectionError("gone"))).check("AAPL", "long", AT)
    assert not verdict.allowed and verdict.alert
    assert verdict.reason == (
        "no imbalance data for AAPL at 20:45 UTC: the source failed (ConnectionError)"
    )


def test_an_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError):
        ImbalanceGate(OneImbalance(None)).check("AAPL", "sideways", AT)


def test_self_check() -> None:
    assert ImbalanceGate(None).self_check() == []
    assert ImbalanceGate(None, strong_ratio=Decimal(0), min_shares=-1).self_check() == [
        "imbalance: strong_ratio 0 must be above 0 (e.g. 0.25)",
        "imbalance: min_shares -1 must be 0 or more",
    ]


# -- the simulated source ------------------------------------------------------------------

SYMBOLS = [f"S{n:03d}" for n in range(200)]


def test_simulated_imbalances_are_deterministic() -> None:
    first, second = SimulatedImbalanceSource(7), SimulatedImbalanceSource(7)
    assert [first.imbalance(s, AT) for s in SYMBOLS] == [second.imbalance(s, AT) for s in SYMBOLS]
    other_seed = SimulatedImbalanceSource(8)
    assert [first.imbalance(s, AT) for s in SYMBOLS] != [
        other_seed.imbalance(s, AT) for s in SYMBOLS
    ]


@pytest.mark.parametrize("clock", ["19:35", "20:29", "21:00", "14:31"])
def test_nothing_is_published_outside_the_window(clock: str) -> None:
    hour, minute = map(int, clock.split(":"))
    at = datetime(2026, 11, 20, hour, minute, 59, tzinfo=UTC)
    source = SimulatedImbalanceSource(7)
    assert all(source.imbalance(s, at) is None for s in SYMBOLS)


def test_simulated_values_are_plausible() -> None:
    source = SimulatedImbalanceSource(7)
    found = [source.imbalance(s, AT) for s in SYMBOLS]
    published = [i for i in found if i is not None]
    assert 0.5 < len(published) / len(found) < 0.8  # about a third are quiet
    assert {i.side for i in published} == {BUY, SELL}
    for item in published:
        assert item.paired_shares >= 1_000 and item.shares >= 100
        assert item.shares % 100 == 0 and item.paired_shares % 100 == 0
        assert item.shares <= item.paired_shares * 1.5 * 1.2 + 100
        assert item.at == AT.replace(second=0)
    ratios = sorted(i.shares / i.paired_shares for i in published)
    assert ratios[len(ratios) // 2] < 0.3  # mostly small


def test_a_symbol_keeps_its_side_and_drifts_from_minute_to_minute() -> None:
    source = SimulatedImbalanceSource(7)
    symbol = next(s for s in SYMBOLS if source.imbalance(s, AT) is not None)
    minutes = [source.imbalance(symbol, AT + timedelta(minutes=n)) for n in range(5)]
    assert all(m is not None for m in minutes)
    assert len({m.side for m in minutes if m}) == 1
    assert len({m.shares for m in minutes if m}) > 1


def test_days_differ() -> None:
    source = SimulatedImbalanceSource(7)
    next_day = AT + timedelta(days=1)
    assert next_day.date() == date(2026, 11, 21)
    assert [source.imbalance(s, AT) for s in SYMBOLS[:50]] != [
        source.imbalance(s, next_day) for s in SYMBOLS[:50]
    ]


def test_the_gate_over_the_simulated_source_before_the_window() -> None:
    gate = ImbalanceGate(SimulatedImbalanceSource(7))
    early = datetime(2026, 11, 20, 19, 35, tzinfo=UTC)  # the template's close entries
    verdicts = [gate.check(s, "long", early) for s in SYMBOLS[:20]]
    assert all(v.allowed and v.reason.startswith("no imbalance published") for v in verdicts)
    in_window = [gate.check(s, "long", AT) for s in SYMBOLS]
    assert any(not v.allowed for v in in_window) and any(v.allowed for v in in_window)
