"""The bot's double-entry ledger: exact money, append-only SQLite files, an audit hash chain.

Where things live:

- `chart`, `coa_file`: the chart of accounts (seed data, the COA file).
- `amounts`, `timestamps`, `fields`, `models`, `schema`, `database`: how money, time and rows
  are stored (Peewee models over SQLite, triggers, connections).
- `drafts`, `validation`, `posting`: the one write path (`LedgerWriter`), single writer under
  `writer_lock.WriterLock`, with an online `backup` before every write.
- `audit_chain`: the canonical serialisations and SHA-256 hashes shared by writer and verify.
- `verify`, `reports`: read-only checks and the trial balance.

The package knows nothing of brokers or config loading: callers hand it a `BotPaths`, a
`Clock` and a `BackupPolicy`.
"""
