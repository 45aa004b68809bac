"""What a strategy says after seeing bars: enter, exit, or a note on why it did not trade.

Signals are plain frozen records. The engine turns entries and exits into orders (through
the risk gate) and writes skip notes to the strategy log; the backtester does the same with
a simulated broker. Prices are `Decimal`, instants aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tbot.config.setting_types import StrategyName

TAG_NONE = "none"
TAG_INVERSE_ETF = "InverseETF"
TAG_SHORT_SELL = "ShortSell"


class Direction(StrEnum):
    """The view behind an entry. A bearish view is a long order of an inverse ETF (tag
    ``InverseETF``) or a short sale of the stock itself (tag ``ShortSell``: the entry
    sells, the exit buys to cover)."""

    LONG = "long"
    BEARISH = "bearish"


class ExitReason(StrEnum):
    """Why a holding is being sold."""

    TRAILING_STOP = "trailing_stop"
    STOP_LOSS = "stop_loss"
    VWAP_TOUCH = "vwap_touch"
    SESSION_END = "session_end"
    TIMEOUT = "timeout"
    KILL_SWITCH = "kill_switch"
    SHUTDOWN = "shutdown"
    OPERATOR = "operator"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    DRAWDOWN_GUARD = "drawdown_guard"
    DATA_FAILURE = "data_failure"


@dataclass(frozen=True, slots=True)
class EntrySignal:
    """Buy `instrument` because `underlying` broke out.

    `instrument` is what to trade: the stock itself (bought, or sold short when `tag` is
    ``ShortSell``), or an inverse ETF bought for a bearish signal.
    `trigger_price` is the underlying's price that fired the signal; `reference_price` the
    instrument's last price, which sizing divides by. `tag` is ``none`` or ``InverseETF``
    and `leverage_multiplier` the ETF's leverage (1 for a stock), both for the trades row.
    """

    strategy: StrategyName
    underlying: str
    instrument: str
    direction: Direction
    trigger_price: Decimal
    reference_price: Decimal
    at: datetime
    reason: str
    tag: str
    leverage_multiplier: int


@dataclass(frozen=True, slots=True)
class ExitSignal:
    """Sell all of `instrument`. `trigger_price` is the price that fired it, when one did."""

    strategy: StrategyName
    instrument: str
    reason: ExitReason
    at: datetime
    detail: str
    trigger_price: Decimal | None


@dataclass(frozen=True, slots=True)
class SkipNote:
    """A decision not to trade `symbol`, for the strategy log (and the daily summary).
    `alert` asks the engine to tell the operator too: a filter that blocked because it
    could not decide (no VIX value, fundamentals unavailable) rather than on a figure."""

    strategy: StrategyName
    symbol: str
    at: datetime
    reason: str
    alert: bool = False
    code: str = field(default="", compare=False)
    """The rule that said no (``no_range``, ``adx_trend``, ``vix``...), for counting."""


Signal = EntrySignal | ExitSignal | SkipNote
