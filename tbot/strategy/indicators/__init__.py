"""Incremental indicators over a whole universe at once, for the columnar step.

Each indicator is built for a fixed universe of `n` symbols (columns, in the caller's
order) and is fed once a minute with float64 arrays of shape (n,) — `high`, `low`,
`close`, `volume` as it needs them — plus `present`, a bool array that is False where a
symbol had no bar that minute. An absent column's inputs may be NaN or garbage: they are
never read into the state, that symbol's state is unchanged, and the minute does not count
for it (its bar counts and windows advance only on its own present bars).

Results are read as float64 (or int/bool) arrays of shape (n,), NaN where a symbol has not
enough data yet. They are read-only *live views* of the indicator's state: the next
`update` changes them in place, so copy what must be kept. `reset()` starts a new session;
`reset(mask)` forgets only the columns in a boolean mask.

Cost model: `update` is a fixed sequence of vectorised numpy calls on preallocated arrays
(no loop over symbols or over a window, no array allocated by this code): about 5 calls
for OpeningRange and TrailingExtremes, 15 for SessionVwap, 23 for Bollinger, 38 for Adx.
At n = 500 each call costs roughly its ~1 µs dispatch overhead, so the cost is set by the
call count and grows with n only through memory bandwidth (Bollinger also passes over its
(length, n) ring): about 5-10 µs, 15-30 µs, ~50 µs and ~60 µs per update on a shared
2-vCPU EPYC host.
Absent columns are handled by copying the present inputs into clean buffers and masking
the commits, never by `where=` on the arithmetic (several times slower per call).

Pure numpy and the standard library: nothing here imports the rest of tbot, so strategies,
the engine and the backtester share it.
"""

from tbot.strategy.indicators.adx import Adx
from tbot.strategy.indicators.bollinger import Bollinger
from tbot.strategy.indicators.opening_range import OpeningRange
from tbot.strategy.indicators.trailing import TrailingExtremes
from tbot.strategy.indicators.vwap import SessionVwap

__all__ = ["Adx", "Bollinger", "OpeningRange", "SessionVwap", "TrailingExtremes"]
