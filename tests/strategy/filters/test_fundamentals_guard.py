"""The fundamentals guard: each threshold blocks with its reason, an unavailable source
blocks or allows per FUNDAMENTALS_UNAVAILABLE and alerts either way; and the screener."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tbot.config.bot_settings import BotSettings, UnavailablePolicy
from tbot.config.setting_types import StrategyName
from tbot.market.finnhub import FinnhubFundamentals
from tbot.market.fundamentals import Fundamentals, FundamentalsUnavailable
from tbot.market.fundamentals_cache import CachedFundamentals
from tbot.strategy.filters.fundamentals_guard import (
    FundamentalsGuard,
    FundamentalsLimits,
    ScreenLimits,
    ScreenQuote,
)
from tests.market.fake_finnhub import FakeFinnhub

DAY = date(2026, 11, 20)
B = Decimal(10) ** 9
OPEN, CLOSE = StrategyName.OPEN, StrategyName.CLOSE


class StubSource:
    """Fundamentals from a dict; records each request; can be made to fail."""

    name = "stub"

    def __init__(self, companies: Mapping[str, Fundamentals], fail: str | None = None) -> None:
        self.companies = dict(companies)
        self.fail = fail
        self.asked: list[list[str]] = []
        self.problems: list[str] = []

    def fundamentals(self, symbols: Sequence[str], day: date) -> dict[str, Fundamentals]:
        self.asked.append(list(symbols))
        if self.fail:
            raise FundamentalsUnavailable(self.fail)
        return {s: self.companies[s] for s in symbols if s in self.companies}

    def self_check(self) -> list[str]:
        return self.problems


def company(
    symbol: str, pe: str | None = "20", debt: str | None = "1", cap: Decimal | None = 5 * B
) -> Fundamentals:
    return Fundamentals(
        symbol,
        None if pe is None else Decimal(pe),
        None if debt is None else Decimal(debt),
        cap,
    )


LIMITS = FundamentalsLimits(
    max_pe_ratio=Decimal(50),
    max_debt_equity=Decimal("2.5"),
    market_cap={
        StrategyName.OPEN: (2 * B, 10 * B),
        StrategyName.MID: (2 * B, 10 * B),
        StrategyName.CLOSE: (8 * B, 100 * B),
    },
)
SCREEN = ScreenLimits(
    min_price=Decimal(5),
    max_price=Decimal(100),
    min_volume=Decimal(1_000_000),
    max_gap={name: Decimal("0.1") for name in StrategyName},
)


def guard_over(*companies: Fundamentals, **options: object) -> FundamentalsGuard:
    source = StubSource({c.symbol: c for c in companies})
    return FundamentalsGuard(source, LIMITS, SCREEN, **options)  # type: ignore[arg-type]


def test_a_company_within_every_threshold_is_allowed_with_its_figures() -> None:
    verdict = guard_over(company("AAPL")).check("AAPL", DAY, "open")
    assert verdict.allowed and verdict.filter == "fundamentals" and not verdict.alert
    assert verdict.reason == (
        "AAPL P/E 20 ≤ 50, debt/equity 1 ≤ 2.5, market cap $5B within $2B..$10B"
    )
    assert verdict.context["market_cap"] == str(5 * B)


@pytest.mark.parametrize(
    ("figures", "reason"),
    [
        (company("X", pe="50.01"), "X P/E 50.01 > MAX_PE_RATIO 50"),
        (company("X", pe=None), "X has no P/E (no earnings, or not reported)"),
        (company("X", pe="-12.5"), "X P/E -12.5 ≤ 0: losses, no meaningful valuation"),
        (company("X", pe="0"), "X P/E 0 ≤ 0: losses, no meaningful valuation"),
        (company("X", debt="2.6"), "X debt/equity 2.6 > MAX_DEBT_EQUITY 2.5"),
        (company("X", debt=None), "X has no debt/equity figure"),
        (company("X", debt="-0.4"), "X debt/equity -0.4 < 0: negative equity"),
        (company("X", cap=Decimal(1_500_000_000)), "X market cap $1.5B < MIN_MARKET_CAP_OPEN $2B"),
        (company("X", cap=12 * B), "X market cap $12B > MAX_MARKET_CAP_OPEN $10B"),
        (company("X", cap=None), "X has no market cap"),
    ],
)
def test_each_threshold_blocks_with_its_reason(figures: Fundamentals, reason: str) -> None:
    verdict = guard_over(figures).check("X", DAY, OPEN)
    assert not verdict.allowed and not verdict.alert
    assert verdict.reason == reason


def test_the_limits_themselves_pass() -> None:
    edge = company("X", pe="50", debt="2.5", cap=10 * B)
    assert guard_over(edge).check("X", DAY, OPEN).allowed
    assert guard_over(company("X", cap=2 * B)).check("X", DAY, OPEN).allowed


def test_market_cap_bands_are_per_strategy() -> None:
    guard = guard_over(company("X", cap=5 * B))
    assert guard.check("X", DAY, OPEN).allowed
    verdict = guard.check("X", DAY, CLOSE)
    assert verdict.reason == "X market cap $5B < MIN_MARKET_CAP_CLOSE $8B"


def test_an_unknown_symbol_blocks_without_alert() -> None:
    verdict = guard_over().check("ZZZZ", DAY, OPEN)
    assert not verdict.allowed and not verdict.alert
    assert verdict.reason == "the fundamentals source has no figures for ZZZZ"


def test_unavailable_blocks_by_default_and_alerts() -> None:
    guard = FundamentalsGuard(StubSource({}, fail="Finnhub answered HTTP 503"), LIMITS)
    verdict = guard.check("AAPL", DAY, OPEN)
    assert not verdict.allowed and verdict.alert
    assert verdict.reason == (
        "fundamentals of AAPL unavailable (Finnhub answered HTTP 503); blocked by "
        "FUNDAMENTALS_UNAVAILABLE=block"
    )


def test_unavailable_with_allow_lets_the_entry_through_and_still_alerts() -> None:
    guard = FundamentalsGuard(
        StubSource({}, fail="Finnhub refused the API key (HTTP 401)"), LIMITS,
        on_unavailable="allow",
    )  # fmt: skip
    verdict = guard.check("AAPL", DAY, OPEN)
    assert verdict.allowed and verdict.alert
    assert verdict.reason.endswith("allowed by FUNDAMENTALS_UNAVAILABLE=allow")


@pytest.mark.parametrize("policy", [UnavailablePolicy.BLOCK, UnavailablePolicy.ALLOW])
def test_no_source_while_enabled_is_unavailable(policy: UnavailablePolicy) -> None:
    verdict = FundamentalsGuard(None, LIMITS, on_unavailable=policy).check("AAPL", DAY, OPEN)
    assert verdict.alert and verdict.allowed is (policy is UnavailablePolicy.ALLOW)
    assert "no fundamentals source is configured" in verdict.reason


def test_disabled_allows_without_asking() -> None:
    source = StubSource({})
    verdict = FundamentalsGuard(source, LIMITS, enabled=False).check("AAPL", DAY, OPEN)
    assert verdict.allowed and verdict.reason == "fundamentals filter off"
    assert source.asked == []


def test_inverse_etfs_are_not_checked() -> None:
    source = StubSource({})
    verdict = FundamentalsGuard(source, LIMITS).check("SQQQ", DAY, OPEN)
    assert verdict.allowed and verdict.reason == "SQQQ is an inverse ETF: fundamentals do not apply"
    assert source.asked == []


def test_many_symbols_are_asked_in_one_request() -> None:
    source = StubSource({"A": company("A"), "B": company("B", pe="90")})
    verdicts = FundamentalsGuard(source, LIMITS).check_many(["A", "B", "SH"], DAY, OPEN)
    assert [v.allowed for v in verdicts.values()] == [True, False, True]
    assert source.asked == [["A", "B"]]


def test_from_settings_reads_the_template(template_bot: BotSettings) -> None:
    source = StubSource({})
    guard = FundamentalsGuard.from_settings(template_bot, source)
    assert guard.enabled and guard.on_unavailable is UnavailablePolicy.BLOCK
    assert guard.limits.max_pe_ratio == Decimal(50)
    assert guard.limits.max_debt_equity == Decimal("2.5")
    assert guard.limits.market_cap[CLOSE] == (Decimal(2_000_000_000), Decimal(10_000_000_000))
    assert guard.screen_limits == ScreenLimits(
        Decimal(5), Decimal(100), Decimal(1_000_000), {n: Decimal("0.1") for n in StrategyName}
    )
    assert guard.self_check() == []


# -- self-check ----------------------------------------------------------------------------


def test_self_check_reports_thresholds_no_company_passes_and_a_missing_source() -> None:
    limits = FundamentalsLimits(
        Decimal(0), Decimal("2.5"), {OPEN: (5 * B, 2 * B), CLOSE: (0, Decimal(0))}
    )
    screen = ScreenLimits(Decimal(100), Decimal(5), Decimal(0), {})
    assert FundamentalsGuard(None, limits, screen).self_check() == [
        "screener: MIN_PRICE 100 must be below MAX_PRICE 5",
        "fundamentals: MAX_PE_RATIO 0 refuses every company",
        f"fundamentals: no company fits MIN_MARKET_CAP_OPEN={5 * B}..MAX_MARKET_CAP_OPEN={2 * B}",
        "fundamentals: no company fits MIN_MARKET_CAP_CLOSE=0..MAX_MARKET_CAP_CLOSE=0",
        "fundamentals: the filter is on but has no source: every entry would be blocked "
        "with an alert",
    ]


def test_self_check_passes_on_the_source_problems() -> None:
    guard = FundamentalsGuard(FinnhubFundamentals(None), LIMITS)
    assert [p.split(":")[0] for p in guard.self_check()] == ["finnhub"]
    assert FundamentalsGuard(FinnhubFundamentals(None), LIMITS, enabled=False).self_check() == []


# -- the screener --------------------------------------------------------------------------


def quote(price: str = "50", opened: str = "49", volume: int = 2_000_000) -> ScreenQuote:
    return ScreenQuote(Decimal(price), Decimal(opened), volume)


def test_screen_drops_on_price_volume_and_gap_before_asking_fundamentals() -> None:
    source = StubSource({s: company(s) for s in ("OK", "CHEAP", "DEAR", "THIN", "GAPPY")})
    guard = FundamentalsGuard(source, LIMITS, SCREEN)
    quotes = {
        "OK": quote(),
        "CHEAP": quote(price="4.99", opened="4.99"),
        "DEAR": quote(price="100.01", opened="100"),
        "THIN": quote(volume=999_999),
        "GAPPY": quote(price="56", opened="50"),
    }
    result = guard.screen(["OK", "CHEAP", "DEAR", "THIN", "GAPPY", "NOQUOTE"], DAY, OPEN, quotes)
    assert result.kept == ("OK",)
    assert {s: v.reason for s, v in result.dropped.items()} == {
        "CHEAP": "CHEAP price 4.99 outside MIN_PRICE..MAX_PRICE 5..100",
        "DEAR": "DEAR price 100.01 outside MIN_PRICE..MAX_PRICE 5..100",
        "THIN": "THIN volume 999,999 < MIN_VOLUME_THRESHOLD 1,000,000",
        "GAPPY": "GAPPY gap 12.00% from the open 50 > MAX_GAP_PCT_OPEN 10.00%",
        "NOQUOTE": "no quote for NOQUOTE",
    }
    assert {v.filter for v in result.dropped.values()} == {"screener"}
    assert source.asked == [["OK"]]  # only the survivor cost a request
    assert result.alerts == []


def test_screen_gap_at_the_limit_passes_and_above_drops() -> None:
    source = StubSource({"A": company("A"), "B": company("B")})
    quotes = {"A": quote(price="55", opened="50"), "B": quote(price="44.9", opened="50")}
    result = FundamentalsGuard(source, LIMITS, SCREEN).screen(["A", "B"], DAY, OPEN, quotes)
    assert result.kept == ("A",)
    assert result.dropped["B"].reason == "B gap 10.20% from the open 50 > MAX_GAP_PCT_OPEN 10.00%"


def test_screen_applies_the_fundamentals_to_survivors() -> None:
    source = StubSource({"A": company("A"), "B": company("B", debt="3")})
    quotes = {"A": quote(), "B": quote()}
    result = FundamentalsGuard(source, LIMITS, SCREEN).screen(["B", "A"], DAY, OPEN, quotes)
    assert result.kept == ("A",)
    assert result.dropped["B"].reason == "B debt/equity 3 > MAX_DEBT_EQUITY 2.5"
    assert list(result.verdicts) == ["B", "A"]


def test_screen_with_the_filter_off_keeps_the_cheap_checks() -> None:
    source = StubSource({})
    guard = FundamentalsGuard(source, LIMITS, SCREEN, enabled=False)
    result = guard.screen(["A", "B"], DAY, OPEN, {"A": quote(), "B": quote(price="1", opened="1")})
    assert result.kept == ("A",) and source.asked == []
    assert result.verdicts["A"].reason == "fundamentals filter off"


@pytest.mark.parametrize(("policy", "kept"), [("block", ()), ("allow", ("A", "B"))])
def test_screen_when_fundamentals_are_unavailable(policy: str, kept: tuple[str, ...]) -> None:
    source = StubSource({}, fail="cannot reach Finnhub")
    guard = FundamentalsGuard(source, LIMITS, SCREEN, on_unavailable=policy)
    result = guard.screen(["A", "B"], DAY, OPEN, {"A": quote(), "B": quote()})
    assert result.kept == kept
    assert len(result.alerts) == 2 and source.asked == [["A", "B"]]


def test_screen_needs_screen_limits() -> None:
    with pytest.raises(ValueError, match="no screen limits"):
        FundamentalsGuard(StubSource({}), LIMITS).screen(["A"], DAY, OPEN, {})


def test_a_source_that_breaks_is_an_outage_not_a_crash() -> None:
    class Broken:
        def fundamentals(self, symbols: Sequence[str], day: date) -> dict[str, Fundamentals]:
            raise KeyError("bug")

    verdict = FundamentalsGuard(Broken(), LIMITS).check("AAPL", DAY, OPEN)
    assert not verdict.allowed and verdict.alert
    assert "the source failed (KeyError)" in verdict.reason


def test_over_cached_finnhub_end_to_end(tmp_path: Path) -> None:
    with FakeFinnhub("k") as fake:
        fake.add_company("AAPL", {"peTTM": 28.5, "totalDebt/totalEquityQuarterly": 1.87,
                                  "marketCapitalization": 5000})  # fmt: skip
        fake.add_company("KHC", {"peTTM": None, "totalDebt/totalEquityQuarterly": 0.53,
                                 "marketCapitalization": 28779.943})  # fmt: skip
        client = FinnhubFundamentals("k", fake.base_url, timeout=2)
        cached = CachedFundamentals(client, tmp_path / "data" / "cache")
        guard = FundamentalsGuard(cached, LIMITS, SCREEN)
        try:
            verdicts = guard.check_many(["AAPL", "KHC", "ZZZZ"], DAY, OPEN)
            again = guard.check_many(["AAPL", "KHC", "ZZZZ"], DAY, OPEN)
        finally:
            client.close()
        assert [v.reason for v in verdicts.values()] == [
            "AAPL P/E 28.5 ≤ 50, debt/equity 1.87 ≤ 2.5, market cap $5B within $2B..$10B",
            "KHC has no P/E (no earnings, or not reported)",
            "the fundamentals source has no figures for ZZZZ",
        ]
        assert again == verdicts
        assert fake.count() == 4  # AAPL 1, KHC 1, ZZZZ 2 (metric, profile); nothing again
