"""The fundamentals screen a window's universe goes through: each block logged with its
reason to the strategy log, a source that cannot answer blocks (or allows) and alerts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from tbot.admin.bot_home import open_home
from tbot.booking.strategy_logs import StrategyLogs
from tbot.clock import FrozenClock
from tbot.config.bot_settings import UnavailablePolicy
from tbot.config.setting_types import StrategyName
from tbot.engine.entry_screen import EntryScreen
from tbot.market.fundamentals import Fundamentals, FundamentalsUnavailable
from tbot.strategy.filters.fundamentals_guard import FundamentalsGuard
from tbot.strategy.window import StrategyWindow, window_from_settings
from tests.engine.engine_process import init_home

DAY = date(2026, 11, 20)


class Figures:
    """A fundamentals source with set figures; `down` makes it unable to answer."""

    def __init__(self, down: bool = False) -> None:
        self.down = down

    def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
        if self.down:
            raise FundamentalsUnavailable("the service did not answer")
        known = {
            "GOOD": Fundamentals("GOOD", Decimal("18"), Decimal("0.6"), Decimal("5e9")),
            "DEAR": Fundamentals("DEAR", Decimal("90"), Decimal("0.6"), Decimal("5e9")),
        }
        return {s: known[s] for s in symbols if s in known}


def screened(tmp_path: Path, source: Figures, **settings: object
             ) -> tuple[set[str], list[tuple[str, str]], list[str]]:
    home = open_home(init_home(tmp_path / "home"))
    bot = home.config.bot.model_copy(update=settings)
    paths = home.paths
    logs = StrategyLogs(paths, FrozenClock(datetime(2026, 11, 20, 15, 30, tzinfo=UTC)))
    alerts: list[tuple[str, str]] = []
    screen = EntryScreen.from_settings(
        bot, paths, source,  # type: ignore[arg-type]
        log_block=lambda strategy, symbol, reason: logs.log(strategy, "SKIP", symbol=symbol,
                                                            reason=reason),
        alert=lambda key, message: alerts.append((key, message)))
    window = window_from_settings(bot, StrategyName.MID, DAY)
    outcome = asyncio.run(screen.screen(window, ["GOOD", "DEAR", "NEWCO"]))
    logs.close()
    log_file = paths.strategy_log_file("mid")
    lines = log_file.read_text().splitlines() if log_file.exists() else []
    return set(outcome.blocked), alerts, lines


def test_each_block_is_logged_with_its_reason(tmp_path: Path) -> None:
    blocked, alerts, lines = screened(tmp_path, Figures())
    assert blocked == {"DEAR", "NEWCO"}
    assert alerts == []
    [dear] = [line for line in lines if " SKIP DEAR " in line]
    assert "P/E" in dear and "90" in dear
    assert any(" SKIP NEWCO " in line for line in lines)


def test_an_unreachable_source_blocks_and_alerts(tmp_path: Path) -> None:
    blocked, alerts, _ = screened(tmp_path, Figures(down=True))
    assert blocked == {"GOOD", "DEAR", "NEWCO"}
    [(_, message)] = alerts
    assert "the service did not answer" in message


def test_an_unreachable_source_may_allow_but_still_alerts(tmp_path: Path) -> None:
    blocked, alerts, _ = screened(tmp_path, Figures(down=True),
                                  FUNDAMENTALS_UNAVAILABLE=UnavailablePolicy.ALLOW)
    assert blocked == set()
    assert len(alerts) == 1


def test_the_filter_switched_off_blocks_nothing(tmp_path: Path) -> None:
    blocked, alerts, _ = screened(tmp_path, Figures(down=True),
                                  ENABLE_FINNHUB_FUNDAMENTALS_FILTER=False)
    assert (blocked, alerts) == (set(), [])


class Slow(Figures):
    """Figures that take `seconds` to come, counting the asks."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.asks = 0

    def fundamentals(self, symbols: Sequence[str], day: date) -> Mapping[str, Fundamentals]:
        self.asks += 1
        time.sleep(self.seconds)
        return super().fundamentals(symbols, day)


def slow_screen(tmp_path: Path, source: Slow, wait: float
                ) -> tuple[EntryScreen, list[tuple[str, str]], StrategyWindow]:
    home = open_home(init_home(tmp_path / "home"))
    alerts: list[tuple[str, str]] = []
    screen = EntryScreen(FundamentalsGuard.from_settings(home.config.bot, source), "slow",
                         log_block=lambda *_: None,
                         alert=lambda key, message: alerts.append((key, message)),
                         wait_seconds=wait)
    return screen, alerts, window_from_settings(home.config.bot, StrategyName.MID, DAY)


def test_figures_that_do_not_come_in_time_count_as_unavailable(tmp_path: Path) -> None:
    screen, alerts, window = slow_screen(tmp_path, Slow(1.0), wait=0.2)
    outcome = asyncio.run(screen.screen(window, ["GOOD", "DEAR"]))
    assert set(outcome.blocked) == {"GOOD", "DEAR"}
    [(_, message)] = alerts
    assert "still being fetched after 0.2 s" in message


def test_a_prefetch_at_the_day_s_start_answers_the_window(tmp_path: Path) -> None:
    source = Slow(0.3)
    screen, alerts, window = slow_screen(tmp_path, source, wait=5)

    async def day() -> set[str]:
        screen.prefetch(DAY, ["GOOD", "DEAR"])
        outcome = await screen.screen(window, ["GOOD", "DEAR"])
        return set(outcome.blocked)

    assert asyncio.run(day()) == {"DEAR"}
    assert alerts == []
