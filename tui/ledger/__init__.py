"""The ledger views: the bot's books read-only from SQLite, paged so a million entries
scroll at once (`ledger_reader`, `sources`), and the screens that drill from the trial
balance to an account, to an entry and its audit rows (`screens`)."""
