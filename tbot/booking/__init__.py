"""Booking: broker records turned into ledger drafts and the session's report files.

Where things live:

- `broker_accounts`: which chart accounts each broker's cash, holdings, gains and fees use.
- `fifo_lots`: the FIFO lots of each symbol, and their rebuild from the ledger on restart
  (corrections included: `correction_ids` names a corrected entry's FITID).
- `fill_entries`: `FillBooker`, one balanced `EntryDraft` (with its trade row) per fill,
  and the funding entry of a deposit.
- `ledger_results`: a day's (or a range's) realized gains, fees and round trips read from
  the ledger's entries: the one source of every money figure a report shows.
- `trade_records`: one `TradeRecord` per exit fill, appended to the trade history file.
- `strategy_logs`: the per-strategy log lines and the unresolved-orders JSON lines.
- `daily_summary`: the session's statistics and the daily summary file.

This room may import `tbot.broker.models`, `tbot.ledger` and `tbot.config`; it never imports
the engine. Posting is the engine's job (through `LedgerWriter`): the drafts made here are
plain values until then.
"""
