"""The three intraday strategies (`open`, `mid`, `close`) and the windows they trade in.

Strategy code is pure: bars in, signals out, no I/O and no event loop, so the engine and
the backtester run the very same objects (built through `registry.build_strategy`).

The columnar step — how to drive a strategy fast:

- A strategy watches a fixed `SymbolIndex` (`watched_symbols()`: its universe, then its
  inverse-ETF pool). Each minute it receives a `MinuteFrame` (`minute_frame`): float64
  arrays `open, high, low, close, volume` over an index, `present` False where a symbol
  had no bar (its values are NaN), `start` the minute's start and `at` its delivery (the
  minute's end), both aware UTC. Call `strategy.step(frame)` once per minute of the
  session, from the open (mid and close read the whole day: VWAP, ADX, Bollinger, the
  day's open and volume), bars or not (timeouts fire from the clock).
- A frame over a different index is re-indexed to the strategy's own (a fancy-index per
  array); build frames over the union of the strategies' indexes and reuse them.
- Indicators are arrays updated incrementally (`indicators`); rules are array masks; only
  the few symbols that signal are handled one by one, and their prices are read back as
  exact `Decimal`s (`MinuteFrame.decimal`): from the `Bar`s live, or the float put back on
  the price grid when the frame was built from arrays. Money never goes to an order through
  a float; float comparisons against thresholds carry a 1e-9 relative slack that makes them
  agree with the exact Decimal ones on grid prices.
- `on_bars(bars, at)` (the engine's way in) builds the frame from `Bar`s and steps.
- Signals (`signals`): entries, exits and skip notes, as before. Fills come back through
  `on_entry_filled` / `on_exit_filled`; `block(symbols)` rules symbols out for the session
  (the engine's fundamentals screen).

Cost: a minute of 500 symbols costs the three strategies a few hundred microseconds
(`benchmarks/strategy_step.py` prints the rate against the old per-bar ORB).
"""
