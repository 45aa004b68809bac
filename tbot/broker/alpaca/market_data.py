"""Alpaca market data for tbot: where to find it.

- `AlpacaBarFeed` (`live_feed`): today's minute bars as a live `BarFeed`: history backfill
  (`bar_history`) plus the bar stream (`bar_stream`), gaps and health.
- `check_data_feed` / `DataFeedCheck` (`data_check`): `tbot broker check`'s one-request
  answer to "does this key get bars from its feed?".

Wire records become `Bar`s in `bar_records`; the REST client and its errors are in
`data_client`.
"""

from __future__ import annotations

from tbot.broker.alpaca.data_check import DataFeedCheck, check_data_feed
from tbot.broker.alpaca.live_feed import AlpacaBarFeed

__all__ = ["AlpacaBarFeed", "DataFeedCheck", "check_data_feed"]
