"""The operator console: a Textual app that watches and steers one bot's engine.

It talks to the engine only over the control socket (`tui.link`) and reads history from the
bot's ledger read-only (`tui.ledger`). Nothing here imports the engine's runtime packages
(`tbot.engine`, `tbot.broker`, `tbot.strategy`, `tbot.risk`, `tbot.booking`); a test pins it.
"""
