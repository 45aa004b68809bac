"""Booking: broker records turned into ledger drafts and the session's report files.

Where things live:

- `broker_accounts`: which chart accounts each broker's cash, holdings, gains and fees use.
- `fifo_lots`: the FIFO lots of each symbol, and their rebuild from the ledger on restart.
- `fill_entries`: `FillBooker`, one balanced `EntryDraft` (with its trade row) per fill,
  and the funding entry of a deposit.
- `trade_records`: one `TradeRecord` per round trip, appended to the trade history file.
- `strategy_logs`: the per-strategy log lines and the unresolved-orders JSON lines.
- `daily_summary`: the session's statistics and the daily summary file.

This room may import `tbot.broker.models`, `tbot.ledger` and `tbot.config`; it never imports
the engine. Posting is the engine's job (through `LedgerWriter`): the drafts made here are
plain values until then.
"""
