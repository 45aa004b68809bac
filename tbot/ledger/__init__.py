"""The bot's double-entry ledger: exact money, append-only SQLite files, an audit hash chain.

Where things live:

- `chart`, `coa_file`: the chart of accounts (seed data, the COA file).
- `amounts`, `timestamps`, `fields`, `models`, `schema`, `database`, `new_file`: how money,
  time and rows are stored (Peewee models over SQLite, triggers, connections, creating files).
- `ledger_file`: creating a bot's ledger file.
- `drafts`, `validation`, `posting`: the one write path (`LedgerWriter`), single writer under
  `writer_lock.WriterLock`, with an online `backup` before every write.
- `audit_chain`: the canonical serialisations and SHA-256 hashes shared by writer and verify.
- `verify` (with `verify_scan`, its share that can run in a helper process), `reports`:
  read-only checks and the trial balance.
- `errors`: every error reported to a person (`LedgerError` and subclasses).

The package knows nothing of brokers or config loading: callers hand it a `BotPaths`, a
`Clock` and a `BackupPolicy`. docs/ledger-schema.md documents the files.
"""
