"""The close strategy's VIX gate: blocks below the threshold, fails closed with an alert
whenever the level is unknown, and is off (saying so) when disabled."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tbot.config.bot_settings import BotSettings
from tbot.errors import TbotError
from tbot.strategy.filters.vix_gate import VixGate

AT = datetime(2026, 11, 20, 19, 35, tzinfo=UTC)


class FixedVix:
    """A VIX source answering one value (or raising it) and recording what it was asked."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.asked: list[datetime] = []

    def vix_at(self, at: datetime) -> Decimal | None:
        self.asked.append(at)
        if isinstance(self.value, Exception):
            raise self.value
        return self.value  # type: ignore[return-value]


def gate(value: object, threshold: str = "15") -> VixGate:
    return VixGate(FixedVix(value), Decimal(threshold), enabled=True)


def test_a_vix_at_or_above_the_threshold_allows() -> None:
    verdict = gate(Decimal("18.2")).check(AT)
    assert verdict.allowed and verdict.filter == "vix" and not verdict.alert
    assert verdict.reason == "VIX 18.2 ≥ 15"
    assert gate(Decimal(15)).check(AT).allowed


def test_a_vix_below_the_threshold_blocks_without_alert() -> None:
    verdict = gate(Decimal("12.40")).check(AT)
    assert not verdict.allowed and not verdict.alert
    assert verdict.reason == "VIX 12.40 < 15: too calm to enter"
    assert verdict.context["vix"] == "12.40"


def test_no_vix_value_blocks_and_alerts() -> None:
    verdict = gate(None).check(AT)
    assert not verdict.allowed and verdict.alert
    assert verdict.reason == "no VIX value at 19:35 UTC: entries blocked until the VIX is known"


@pytest.mark.parametrize(
    "error", [RuntimeError("socket closed"), TbotError("market data feed down")]
)
def test_a_source_that_raises_blocks_and_alerts(error: Exception) -> None:
    verdict = gate(error).check(AT)
    assert not verdict.allowed and verdict.alert
    assert verdict.reason.startswith("no VIX value at 19:35 UTC: the source failed (")


def test_an_unexpected_error_is_named_by_type_only() -> None:
    assert "(RuntimeError)" in gate(RuntimeError("detail")).check(AT).reason
    assert "(market data feed down)" in gate(TbotError("market data feed down")).check(AT).reason


@pytest.mark.parametrize("value", [Decimal(0), Decimal(-3), Decimal("NaN"), "18", True])
def test_a_value_that_is_not_a_level_blocks_and_alerts(value: object) -> None:
    verdict = gate(value).check(AT)
    assert not verdict.allowed and verdict.alert
    assert verdict.reason.startswith("no usable VIX value at 19:35 UTC")


def test_int_and_float_levels_are_read() -> None:
    assert gate(18).check(AT).allowed
    assert gate(14.5).check(AT).reason == "VIX 14.5 < 15: too calm to enter"


def test_no_source_blocks_and_alerts() -> None:
    verdict = VixGate(None, Decimal(15), enabled=True).check(AT)
    assert not verdict.allowed and verdict.alert
    assert verdict.reason.startswith("no VIX source configured at 19:35 UTC")


def test_disabled_allows_and_says_so_without_asking() -> None:
    source = FixedVix(None)
    verdict = VixGate(source, Decimal(15), enabled=False).check(AT)
    assert verdict.allowed and verdict.reason == "VIX gate off" and source.asked == []


def test_the_instant_asked_is_utc_and_naive_ones_are_refused() -> None:
    source = FixedVix(Decimal(20))
    VixGate(source, Decimal(15), enabled=True).check(AT)
    assert source.asked == [AT]
    with pytest.raises(ValueError, match="naive"):
        VixGate(source, Decimal(15), enabled=True).check(datetime(2026, 11, 20, 19, 35))  # noqa: DTZ001


def test_from_settings_reads_the_toggle_and_the_threshold(template_bot: BotSettings) -> None:
    on = VixGate.from_settings(template_bot, FixedVix(Decimal(20)))
    assert (on.enabled, on.threshold) == (True, Decimal(15))
    assert on.self_check() == []
    off = VixGate.from_settings(template_bot.model_copy(update={"ENABLE_VIX_GATE": False}), None)
    assert not off.enabled and off.check(AT).allowed and off.self_check() == []


def test_self_check() -> None:
    assert gate(Decimal(20)).self_check() == []
    assert VixGate(None, Decimal(0), enabled=True).self_check() == [
        "vix: threshold 0 never blocks; set STRAT_CLOSE_VIX_THRESHOLD above 0 (e.g. 15)",
        "vix: the gate is on but has no VIX source: it would block every entry",
    ]
