"""The bot's double-entry ledger: exact money, append-only SQLite files, an audit hash chain.

Where things live:

- `chart`, `coa_file`: the chart of accounts (seed data, the COA file).
- `amounts`, `timestamps`, `fields`, `models`, `schema`, `database`, `new_file`: how money,
  time and rows are stored (Peewee models over SQLite, triggers, connections, creating files).
- `recon_models`: the reconciliation tables kept in the ledger file (sync runs, broker
  records, reconciliation log, position checks, balance assertions).
- `ledger_file`: creating a bot's ledger file; `migration`: adding the reconciliation tables
  to a file made before them (done by the writer when it opens the file).
- `drafts`, `validation`, `batch`, `posting`: the one write path (`LedgerWriter`, with
  `commit_batch` for entries, reversals and reconciliation rows at once), single writer under
  `writer_lock.WriterLock`, with an online `backup` before every write.
- `canonical`, `audit_chain`: canonical JSON, and the canonical serialisations and SHA-256
  hashes shared by writer and verify.
- `verify` (with `verify_scan`, its share that can run in a helper process, and
  `verify_recon`, the reconciliation tables' checks), `reports`: read-only checks and the
  trial balance.
- `errors`: every error reported to a person (`LedgerError` and subclasses).

The package knows nothing of brokers or config loading: callers hand it a `BotPaths`, a
`Clock` and a `BackupPolicy`. docs/ledger-schema.md documents the files.
"""
