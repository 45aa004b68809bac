"""Market data: minute bars (generated or replayed), the trading calendar, the universe."""
