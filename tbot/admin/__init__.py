"""Administrative operations on a bot home that span configuration and ledger: creating a
home, changing secrets or the encrypted config, rotating keys. Each one is backed up first
and leaves an audit row in the bot's ledger. The CLI is a thin layer over this package."""
