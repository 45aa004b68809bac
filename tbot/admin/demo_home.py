"""A throwaway home with one sample trading day: the fixture ledger of the console tests.

The day is a float injection and one round trip in AAPL, posted through the same posting
API the engine uses, so the trial balance, the trades table and `ledger verify` all have
something real to show.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from tbot.admin.bot_home import BotHome
from tbot.admin.init_home import init_home
from tbot.clock import Clock
from tbot.config.identity import BotIdentity
from tbot.ledger.posting import EntryDraft, LedgerWriter, PostingDraft, TradeDraft

DEMO_IDENTITY = BotIdentity(
    ENTITY_CODE="DEMO", JURISDICTION_CODE="US", BROKER_CODE="SIM", BOT_ID="BOT01"
)

# The simulated broker's own accounts (chart v1.1.0): cash, equities, float, gains, fees.
CASH, EQUITIES, FLOAT, GAINS, FEES = "1070", "1115", "3010", "4045", "5045"


def sample_day(day_start: datetime) -> list[EntryDraft]:
    """A float injection and one AAPL round trip (buy 100 @ 187.25, sell @ 189.10)."""
    quantity, buy_price, sell_price, fee = (
        Decimal("100"),
        Decimal("187.25"),
        Decimal("189.10"),
        Decimal("0.35"),
    )
    cost = quantity * buy_price
    proceeds = quantity * sell_price
    gain = proceeds - cost
    bought_at = day_start + timedelta(hours=14, minutes=52)
    sold_at = day_start + timedelta(hours=15, minutes=21)
    return [
        EntryDraft(
            fitid="DEMO-FLOAT-0001",
            dtposted=day_start + timedelta(hours=13),
            trntype="CREDIT",
            memo="Float injection from the accounting system",
            source="demo",
            postings=(
                PostingDraft(CASH, Decimal("100000.00")),
                PostingDraft(FLOAT, Decimal("-100000.00")),
            ),
        ),
        EntryDraft(
            fitid="DEMO-TRADE-0001-BUY",
            dtposted=bought_at,
            trntype="BUY",
            memo="Opening-range breakout entry: buy 100 AAPL @ 187.25",
            source="demo",
            postings=(
                PostingDraft(EQUITIES, cost, quantity=quantity, symbol="AAPL"),
                PostingDraft(FEES, fee),
                PostingDraft(CASH, -(cost + fee)),
            ),
            trade=TradeDraft(
                trntype="BUY",
                strategy="open",
                symbol="AAPL",
                side="long",
                size=quantity,
                entry_price=buy_price,
                exit_price=None,
                pnl=-fee,
                broker="SIM",
            ),
        ),
        EntryDraft(
            fitid="DEMO-TRADE-0001-SELL",
            dtposted=sold_at,
            trntype="SELL",
            memo="Trailing-stop exit: sell 100 AAPL @ 189.10",
            source="demo",
            postings=(
                PostingDraft(CASH, proceeds - fee),
                PostingDraft(FEES, fee),
                PostingDraft(EQUITIES, -cost, quantity=-quantity, symbol="AAPL"),
                PostingDraft(GAINS, -gain),
            ),
            trade=TradeDraft(
                trntype="SELL",
                strategy="open",
                symbol="AAPL",
                side="long",
                size=quantity,
                entry_price=buy_price,
                exit_price=sell_price,
                pnl=gain - 2 * fee,
                broker="SIM",
            ),
        ),
    ]


def previous_weekday(clock: Clock) -> datetime:
    """Midnight UTC of the last weekday before today, so the sample day is in the past."""
    day = clock.now().date() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=UTC)


def create_demo_home(home: Path, clock: Clock, *, actor: str) -> BotHome:
    """Initialise `home` with the demo identity and post today's sample day into it."""
    bot = init_home(home, DEMO_IDENTITY, clock, actor=actor)
    with LedgerWriter(bot.paths, clock, bot.backup_policy) as writer:
        writer.post_batch(sample_day(previous_weekday(clock)), actor=actor)
    return bot
