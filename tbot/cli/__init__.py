"""The `tbot` command line: thin handlers over tbot.admin, tbot.config and tbot.ledger."""
