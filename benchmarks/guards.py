"""The drawdown guard's reaction times on a simulated crash day: prints the figures of
issue 15.

A fresh bot home (`tbot init`) with MAX_DRAWDOWN_PCT lowered to --limit (0.5%: the
template's sizing puts about 1.6% of the account in three positions), the generated
market of 2026-11-20 replayed with every price falling --drop (40%) over five minutes from
14:48Z, and the real engine (in this process, simulated broker, real ledger) running its
own loop at --speed. Three positions are bought at 14:41Z, as a strategy's entry signals
would; then the engine runs until the guard has halted.

Measured, on the engine's clock (simulated seconds) and on the wall clock:

1. from the end of the minute that breaches the limit (its bars complete) to the warning
   event (`alerts`, level critical), and the guard's own share of it: from the equity
   reading that breached to the warning (wall);
2. from the end of the warning (its deadline) to the last close order sent (`orders`
   event of the last flatten order), and on to flat (the close orders filled).

3. the per-minute overhead of every guard together with --symbols (500) symbols, at the
   engine's seams, on a session of 390 minutes: the market guard's check of the minute's
   closes and quotes, the drawdown guard's check of the equity, the close throttle's due
   closes, the approval queue's sweep (ten entries waiting) and the telemetry counting
   the minute's events (target: under 1 ms a minute).

The alert fan-out throughput to a local webhook is `benchmarks/alerts.py`.

Run: .venv/bin/python benchmarks/guards.py [--speed 60,600] [--limit 0.5] [--drop 0.4]
     [--symbols 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tbot.admin.bot_home import open_home
from tbot.config.setting_types import StrategyName
from tbot.engine import order_flow
from tbot.engine.approval_queue import ApprovalQueue
from tbot.engine.engine import Engine, EngineOptions
from tbot.engine.minutes import MINUTE
from tbot.engine.telemetry import EngineTelemetry, GaugeSample
from tbot.market.crash_day import write_crash_day
from tbot.market.quotes import Quote
from tbot.risk.close_throttle import CloseThrottle
from tbot.risk.drawdown_guard import DrawdownGuard, DrawdownLimits
from tbot.risk.market_guard import MarketGuard, MarketLimits
from tbot.strategy.signals import TAG_NONE, Direction, EntrySignal

REPO = Path(__file__).resolve().parent.parent
START = datetime.fromisoformat("2026-11-20T14:40:00+00:00")
CRASH_AT = START + 8 * MINUTE
SEED = 20261121  # the template's SIM_SEED
HELD = ("PFE", "F", "INTC")


@dataclass
class Timeline:
    """What the engine published, stamped with its clock and the wall clock."""

    breach_equity_wall: float | None = None
    warning: Mapping[str, Any] | None = None
    warning_at: datetime | None = None
    warning_wall: float | None = None
    last_close: tuple[datetime, float] | None = None
    flat: tuple[datetime, float] | None = None
    closes: int = 0
    equities: list[tuple[Decimal, float]] = field(default_factory=list)


def new_home(root: Path, limit: str) -> Path:
    """`tbot init`, then MAX_DRAWDOWN_PCT=limit in `.env_bot`."""
    home = root / "home"
    subprocess.run([sys.executable, "-m", "tbot.cli.main", "init", "--home", str(home)],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    path = home / ".env_bot"
    lines = [f"MAX_DRAWDOWN_PCT={limit}" if line.startswith("MAX_DRAWDOWN_PCT=") else line
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return home


async def run_day(engine: Engine, timeline: Timeline) -> None:
    """Buy HELD, then let the engine's own loop run the crash until the guard halts."""
    await engine.start()
    for minute in (START, START + MINUTE):
        if engine.clock.now() < minute + MINUTE:
            with contextlib.suppress(ValueError):  # the fast clock got there meanwhile
                engine.clock.jump_to(minute + MINUTE)  # type: ignore[attr-defined]
        await engine._process_minute(minute)
        engine._cursor = minute + MINUTE
        if minute == START:
            for symbol in HELD:
                price = engine.last_prices[symbol]
                await order_flow.on_entry_signal(engine, EntrySignal(
                    strategy=StrategyName.CLOSE, underlying=symbol, instrument=symbol,
                    direction=Direction.LONG, trigger_price=price, reference_price=price,
                    at=START + MINUTE, reason="benchmark entry", tag=TAG_NONE,
                    leverage_multiplier=1))
    await asyncio.wait_for(engine.run(), timeout=600)


def measure(speed: float, limit: str, drop: Decimal) -> Timeline:
    """One crash day at `speed`; the timeline the engine published."""
    with tempfile.TemporaryDirectory(prefix="tbot-guards-") as tmp:
        root = Path(tmp)
        home = new_home(root, limit)
        bars = write_crash_day(root / "crash.csv", SEED, CRASH_AT, drop)
        engine = Engine(open_home(home), EngineOptions(sim=True, speed=speed, start=START,
                                                       bars_file=bars))
        engine.start_blocking()
        timeline = Timeline()
        guard = engine.drawdown.guard

        def heard(topic: str, data: Mapping[str, Any]) -> None:
            wall = time.perf_counter()
            if topic == "equity":
                timeline.equities.append((data["equity"], wall))
            elif topic == "alerts" and data.get("level") == "critical" and data.get("guard"):
                timeline.warning, timeline.warning_wall = data, wall
                timeline.warning_at = engine.clock.now()
                breach = guard.breach
                # the equity reading that breached: the newest equal to the breach's
                for equity, at in reversed(timeline.equities):
                    if breach is not None and equity == breach.equity:
                        timeline.breach_equity_wall = at
                        break
            elif topic == "orders" and str(data.get("client_order_id", "")).find(
                    "-flatten") > 0 and guard.phase.value == "closing":
                timeline.last_close = (engine.clock.now(), wall)
                timeline.closes += 1
            elif topic == "state" and isinstance(data.get("guard"), Mapping) and \
                    data["guard"]["phase"] == "halted":
                timeline.flat = (engine.clock.now(), wall)
                engine.request_stop("the guard has halted")

        engine.bus.subscribe_all(heard)
        try:
            asyncio.run(run_day(engine, timeline))
        finally:
            engine.close_blocking()
        return timeline


def report(speed: float, timeline: Timeline) -> None:
    warning = timeline.warning
    if warning is None or timeline.warning_at is None or timeline.warning_wall is None:
        print(f"speed x{speed:g}: the guard never warned")
        return
    breach_at: datetime = warning["deadline"] - timedelta(
        seconds=int(warning["countdown_seconds"]))
    # the breaching minute's bars complete at the end of the minute the check ran in
    minute_end = breach_at.replace(second=0, microsecond=0)
    to_warning = (timeline.warning_at - minute_end).total_seconds()
    guard_wall = ((timeline.warning_wall - timeline.breach_equity_wall) * 1000
                  if timeline.breach_equity_wall is not None else float("nan"))
    print(f"speed x{speed:g}  (drawdown {warning['drawdown_pct']}% from peak "
          f"{warning['peak']:.2f}, equity {warning['equity']:.2f})")
    print(f"  breach minute ended {minute_end:%H:%M:%S}Z -> warning at "
          f"{timeline.warning_at:%H:%M:%S.%f}Z: {to_warning:.3f} s simulated "
          f"({to_warning / speed * 1000:.1f} ms real); breaching equity reading -> warning "
          f"{guard_wall:.2f} ms wall")
    deadline: datetime = warning["deadline"]
    if timeline.last_close is None or timeline.flat is None:
        print("  the close-all did not complete")
        return
    close_at, close_wall = timeline.last_close
    to_close = (close_at - deadline).total_seconds()
    print(f"  end of warning {deadline:%H:%M:%S.%f}Z -> last of {timeline.closes} close "
          f"orders sent at {close_at:%H:%M:%S.%f}Z: {to_close:.3f} s simulated "
          f"({to_close / speed * 1000:.1f} ms real)")
    flat_at, flat_wall = timeline.flat
    print(f"  -> flat and HALTED at {flat_at:%H:%M:%S}Z: "
          f"{(flat_at - deadline).total_seconds():.1f} s simulated after the deadline "
          f"(the close orders fill on the next minute's bars); "
          f"{(flat_wall - close_wall) * 1000:.0f} ms wall after the last close order")


def guards_overhead(symbols: int, minutes: int = 390) -> tuple[float, float]:
    """Mean and 99th-percentile seconds per minute of every guard's per-minute work."""
    rng = random.Random(15)
    names = [f"S{i:03d}" for i in range(symbols)]
    prices = {name: 20.0 + 180.0 * rng.random() for name in names}
    at = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    minute_bars = []
    for index in range(minutes):
        closes: dict[str, Decimal] = {}
        quotes: dict[str, Quote] = {}
        for name in names:
            prices[name] *= 1 + rng.gauss(0, 0.002)
            close = Decimal(f"{prices[name]:.2f}")
            spread = Decimal("0.01") * (1 + rng.randrange(4))
            closes[name] = close
            quotes[name] = Quote(name, at + index * MINUTE, close - spread, close + spread,
                                 100, 100)
        minute_bars.append((at + (index + 1) * MINUTE, closes, quotes))
    market = MarketGuard(MarketLimits(Decimal(5), Decimal(150), timedelta(seconds=60)))
    drawdown = DrawdownGuard(DrawdownLimits(Decimal(20), Decimal(100), timedelta(seconds=10),
                                            timedelta(seconds=30)))
    closes_throttle = CloseThrottle(timedelta(seconds=30))
    approvals = ApprovalQueue(Decimal(50))
    for index in range(10):
        name = names[index]
        approvals.add(f"open-x-{name}-entry", EntrySignal(
            StrategyName.OPEN, name, name, Direction.LONG, Decimal(1), Decimal(1), at,
            "waiting", TAG_NONE, 1), at, at + timedelta(days=1))
    telemetry = EngineTelemetry(lambda: GaugeSample(5, Decimal(100000), Decimal(0), "active"))
    equity = Decimal(100000)
    spent: list[float] = []
    for end, closes, quotes in minute_bars:
        started = time.perf_counter()
        market.observe(closes, quotes, end)
        drawdown.observe(equity, end)
        closes_throttle.due(end)
        approvals.sweep(end, {})
        telemetry.on_event("pnl", {"realized": "0"})
        telemetry.on_event("minute", {"at": end})
        spent.append(time.perf_counter() - started)
    spent.sort()
    return sum(spent) / len(spent), spent[int(len(spent) * 0.99) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", default="60,600",
                        help="simulated speeds to run, comma-separated (default 60,600)")
    parser.add_argument("--limit", default="0.5", help="MAX_DRAWDOWN_PCT (default 0.5)")
    parser.add_argument("--drop", default="0.4", help="the crash's fall (default 0.4)")
    parser.add_argument("--symbols", type=int, default=500,
                        help="symbols for the per-minute overhead (default 500)")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the engine's own lines; the figures are printed
    for speed in (float(value) for value in args.speed.split(",")):
        report(speed, measure(speed, args.limit, Decimal(args.drop)))
    mean, p99 = guards_overhead(args.symbols)
    print(f"every guard's per-minute work with {args.symbols} symbols: mean "
          f"{mean * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms a minute (target under 1 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
