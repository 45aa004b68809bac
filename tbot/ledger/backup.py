"""The former home of the ledger's backups, kept as an import path: they now live in the
`tbot.ledger.backups` package (sets of a full snapshot plus pre-write increments)."""

from tbot.ledger.backups import BackupPolicy, LedgerBackups

__all__ = ["BackupPolicy", "LedgerBackups"]
